"""The cost of ``lengths=`` (issue 12): each variable-length op called with random per-row
lengths in [T/2, T] against the same call without them, on the CPU and, where one exists, on a
CUDA device. The target (:data:`~audiofx.bench.targets.LENGTHS_TARGETS`): at most 1.15x the
plain call for the frame features and the spectral statistics, 1.3x for ``frame`` and ``stft``
(whose outputs are large), judged on the median of within-round ratios."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import torch

from .formatting import fmt_ms, fmt_ratio, yes_no
from .implementations import audiofx_ops
from .targets import LENGTHS_TARGETS, Target
from .timing import MIN_SPAN_S, Samples, measured_ratio, synced, time_interleaved
from .workloads import FRAME_LENGTH, HOP_LENGTH, make_signal, workload_seed

#: The ops timed with and without lengths, in table order (as :data:`OPS` names them:
#: ``centroid+bandwidth`` is ``audiofx.spectral_features``).
LENGTHS_OPS = ("frame_features", "centroid+bandwidth", "frame", "stft")
#: The public function each op name calls.
FUNCTION = {"frame_features": "frame_features", "centroid+bandwidth": "spectral_features",
            "frame": "frame", "stft": "stft"}


def random_lengths(lead: Sequence[int], T: int, seed: int = 0) -> torch.Tensor:
    """int64 lengths of shape ``lead``, uniform over the integers of [ceil(T/2), T], from a
    seeded generator (the same on every machine)."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    g = torch.Generator().manual_seed(seed)
    return torch.randint((T + 1) // 2, T + 1, tuple(lead), generator=g, dtype=torch.int64)


@dataclass
class LengthsResult:
    device: str
    op: str
    seconds: Dict[str, float]
    samples: Samples = field(default_factory=dict)
    #: (min, max) of the lengths used.
    span: Tuple[int, int] = (0, 0)
    frame_length: int = FRAME_LENGTH
    hop_length: int = HOP_LENGTH

    @property
    def target(self) -> Target:
        return LENGTHS_TARGETS[self.op]

    def ratio(self) -> float:
        t = self.target
        return measured_ratio(self.samples, self.seconds, t.num, t.den)

    def ok(self) -> bool:
        return self.target.holds(self.ratio())


def run_lengths(shape: Sequence[int], repeats: int, ops: Sequence[str] = LENGTHS_OPS,
                device: str = "cpu", seed: int = 0, frame_length: int = FRAME_LENGTH,
                hop_length: int = HOP_LENGTH, min_span_s: float = MIN_SPAN_S,
                log=print) -> List[LengthsResult]:
    """Times each op of ``ops`` on a float32 signal of ``shape`` on ``device``, without and with
    :func:`random_lengths` (``seed``), interleaved."""
    shape = tuple(shape)
    x = make_signal(shape, seed=workload_seed(shape)).to(device)
    L = random_lengths(shape[:-1], shape[-1], seed).to(device)
    span = (int(L.min()), int(L.max()))
    plain = audiofx_ops(frame_length, hop_length)
    with_lengths = audiofx_ops(frame_length, hop_length, lengths=L)
    wrap = synced if device != "cpu" else (lambda f: f)
    results = []
    for op in ops:
        t0 = time.perf_counter()
        impls = {"plain": wrap(lambda f=plain[op]: f(x)),
                 "lengths=": wrap(lambda f=with_lengths[op]: f(x))}
        samples: Samples = {}
        sec, _ = time_interleaved(impls, repeats, min_span_s=min_span_s, samples=samples)
        r = LengthsResult(device, op, sec, samples, span, frame_length, hop_length)
        results.append(r)
        log(f"  [lengths {device}] {op}: plain {sec['plain'] * 1e3:.2f} ms, lengths= "
            f"{sec['lengths='] * 1e3:.2f} ms, {r.ratio():.2f}x  ({time.perf_counter() - t0:.0f} s)")
        del impls
    return results


def lengths_table(results: List[LengthsResult]) -> Tuple[List[str], bool]:
    """The markdown table of the results (any devices), and whether every target holds."""
    lines = ["| device | op (function) | plain ms | lengths= ms | lengths= / plain | target "
             "| holds |", "|---|---|---:|---:|---:|---|---|"]
    all_ok = True
    for r in results:
        ok = r.ok()
        all_ok &= ok
        lines.append(f"| {r.device} | {r.op} (`{FUNCTION[r.op]}`) | {fmt_ms(r.seconds['plain'])} "
                     f"| {fmt_ms(r.seconds['lengths='])} | {fmt_ratio(r.ratio())} "
                     f"| <= {r.target.bound:g}x | {yes_no(ok)} |")
    return lines, all_ok


def lengths_lines(results: List[LengthsResult], workload: str, shape: Sequence[int],
                  seed: int = 0) -> Tuple[List[str], bool]:
    """The lengths section's body: what was run, the table, a count."""
    if not results:
        return [], True
    T = shape[-1]
    lo, hi = results[0].span
    N, H = results[0].frame_length, results[0].hop_length
    table, ok = lengths_table(results)
    held = sum(r.ok() for r in results)
    return [f"float32, {workload}, N = n_fft = {N}, H = {H}; per-row "
            f"lengths drawn uniformly from [T/2, T] = [{(T + 1) // 2}, {T}] (seed {seed}; "
            f"drawn: {lo} .. {hi}); the same call with and without `lengths=`, interleaved. "
            f"`frame` without padding (`center=False, pad_mode=None`), the others centred. "
            f"Ratios: medians of within-round ratios.", ""] + table + [
            "", f"The target holds for {held} of {len(results)} (device, op) pairs.", ""], ok
