"""The DESIGN §6 comparison: every op on the two §6 workloads against librosa, plain torch and
the floors, its peak memory, and the tables of it (all ops; the §6 targets)."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .formatting import fmt_memory, fmt_ms, fmt_rate, yes_no
from .implementations import implementations, pick_librosa
from .memory import peak_memory
from .targets import TARGETS
from .timing import MIN_SPAN_S, Samples, measured_ratio, time_interleaved
from .workloads import SR, WORKLOADS, make_signal, workload_seed


@dataclass
class OpResult:
    workload: str
    shape: Tuple[int, ...]
    op: str
    seconds: Dict[str, float]
    audio_s: float
    err_vs_librosa: Optional[float] = None
    librosa_choice: Optional[str] = None
    memory: Dict[str, dict] = field(default_factory=dict)
    #: Every timed sample, {impl: {round: seconds per call}} (time_interleaved).
    samples: Samples = field(default_factory=dict)


def max_rel_err(a, ref) -> float:
    """max |a - ref| / max |ref| over all elements of (tuples of) arrays/tensors."""
    if isinstance(ref, (tuple, list)):
        return max(max_rel_err(x, r) for x, r in zip(a, ref))
    a = a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    ref = np.asarray(ref)
    if a.shape != ref.shape:
        return float("nan")
    scale = float(np.max(np.abs(ref))) or 1.0
    return float(np.max(np.abs(a.astype(np.complex128) - ref.astype(np.complex128)))) / scale


def run_ops(ops: Sequence[str], workloads: Dict[str, Tuple[int, ...]], repeats: int,
            with_librosa: bool = True, log=print) -> List[OpResult]:
    results = []
    for wname, shape in workloads.items():
        x = make_signal(shape, seed=workload_seed(shape))
        y = x.numpy()
        audio_s = x.numel() / SR
        for op in ops:
            t0 = time.perf_counter()
            impls, choice = pick_librosa(implementations(op, x, y, with_librosa))
            samples: Samples = {}
            sec, outs = time_interleaved(impls, repeats, min_span_s=MIN_SPAN_S, samples=samples)
            err = (max_rel_err(outs["audiofx"], outs["librosa"]) if "librosa" in outs else None)
            results.append(OpResult(wname, tuple(shape), op, sec, audio_s, err, choice,
                                    samples=samples))
            log(f"  [{wname}] {op}: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in sec.items())
                + f"  ({time.perf_counter() - t0:.0f} s)")
    return results


def run_memory(results: List[OpResult], ops: Sequence[str], impls: Sequence[str],
               workload: str, log=print) -> None:
    """Peak extra memory of one call per (op, impl) on ``workload``, into the results."""
    shape = WORKLOADS[workload]
    y = make_signal(shape, seed=workload_seed(shape)).numpy()
    with tempfile.TemporaryDirectory() as d:
        for r in results:
            if r.workload != workload or r.op not in ops:
                continue
            for impl in impls:
                if impl in r.seconds:
                    # librosa: the variant that was timed (multichannel call or loop).
                    child = ("librosa (loop)" if impl == "librosa"
                             and r.librosa_choice == "loop over clips" else impl)
                    r.memory[impl] = peak_memory(r.op, child, y, d, torch.get_num_threads())
            log(f"  [{workload}] {r.op} peak memory: " + ", ".join(
                f"{k} {v.get('peak_mib', float('nan')):.0f} MiB" for k, v in r.memory.items()))


def results_table(results: List[OpResult]) -> List[str]:
    impl_order = ("audiofx", "librosa", "torch", "dot", "clone", "rfft")
    lines = ["| workload | op | implementation | median ms | / audiofx | s of audio per s "
             "| peak extra MiB (output MiB) |", "|---|---|---|---:|---:|---:|---:|"]
    for r in results:
        base = r.seconds["audiofx"]
        for impl in impl_order:
            if impl not in r.seconds:
                continue
            s = r.seconds[impl]
            name = impl
            if impl == "librosa" and r.librosa_choice:
                name = f"librosa ({r.librosa_choice})"
            ratio = "1" if impl == "audiofx" else f"{s / base:.2f}x"
            lines.append(f"| {r.workload} | {r.op} | {name} | {fmt_ms(s)} | {ratio} | "
                         f"{fmt_rate(r.audio_s / s)} | {fmt_memory(r.memory.get(impl))} |")
    return lines


def targets_table(results: List[OpResult]) -> Tuple[List[str], bool]:
    """The §6 targets of each result, judged on :func:`measured_ratio`; and whether all hold."""
    lines = ["| workload | target (DESIGN §6) | measured | holds |", "|---|---|---:|---|"]
    all_ok = True
    for r in results:
        for t in TARGETS:
            if r.op != t.op or t.baseline not in r.seconds:
                continue
            v = measured_ratio(r.samples, r.seconds, t.num, t.den)
            ok = t.holds(v)
            all_ok &= ok
            lines.append(f"| {r.workload} | {t.op}: {t.describe()} | {v:.2f}x | {yes_no(ok)} |")
    return lines, all_ok


def memory_targets(results: List[OpResult]) -> List[str]:
    lines = []
    for r in results:
        m = r.memory.get("audiofx")
        if m and "peak_mib" in m:
            lines.append(f"- {r.workload}, {r.op}: audiofx peak extra {m['peak_mib']:.1f} MiB "
                         f"for {m['out_mib']:.1f} MiB of output")
    return lines
