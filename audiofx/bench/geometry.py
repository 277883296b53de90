"""Frame features over the frame/hop pairs users hit (issue 12): audiofx against librosa, plain
torch and the ``dot`` floor for each (N, H), coprime pairs and H > N included, with the peak
extra memory of one audiofx call; on the CPU and, where one exists, on a CUDA device.

The targets (:data:`~audiofx.bench.targets.GEOMETRY_TARGETS`) are judged per geometry on the
median of within-round ratios, as the §6 targets: ``audiofx / dot <= 2x`` and
``librosa / audiofx >= 20x`` (librosa: rms + zcr + the max of its frames, CPU only), and the
peak extra memory below ``2x the output + 8 MiB``.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .formatting import fmt_memory, fmt_ms, fmt_ratio, yes_no
from .implementations import (audiofx_ops, dot_floor, implementations, pick_librosa,
                              torch_ops)
from .memory import cuda_peak_memory, peak_memory
from .op_results import max_rel_err
from .targets import GEOMETRY_TARGETS, Target, memory_bound_mib, memory_holds
from .timing import MIN_SPAN_S, Samples, measured_ratio, synced, time_interleaved
from .workloads import make_signal, workload_seed

#: (frame_length N, hop_length H): the §6 pair, common 10 ms hops at 44.1 and 22.05 kHz
#: (coprime: gcd 1), speech framing, overlapping and non-overlapping powers of 2, and H > N.
GEOMETRIES: Tuple[Tuple[int, int], ...] = (
    (2048, 512), (2048, 441), (1103, 441), (551, 220), (400, 160), (512, 128), (1024, 1024),
    (256, 300),
)
#: Implementations of the geometry table, in column order.
GEOMETRY_IMPLS = ("audiofx", "librosa", "torch", "dot")

OP = "frame_features"


@dataclass
class GeometryResult:
    device: str
    frame_length: int
    hop_length: int
    seconds: Dict[str, float]
    samples: Samples = field(default_factory=dict)
    librosa_choice: Optional[str] = None
    #: Peak extra memory of one audiofx call: {"peak_mib", "out_mib"} or {"error"}; None when
    #: not measured.
    memory: Optional[dict] = None
    #: max |audiofx - librosa| / max |librosa| of the warm-up calls (None without librosa).
    err_vs_librosa: Optional[float] = None

    @property
    def gcd(self) -> int:
        return math.gcd(self.frame_length, self.hop_length)

    def checks(self) -> List[Tuple[Target, float, bool]]:
        """(target, measured ratio, holds) for each geometry target whose baseline was timed."""
        out = []
        for t in GEOMETRY_TARGETS:
            if t.num in self.seconds and t.den in self.seconds:
                v = measured_ratio(self.samples, self.seconds, t.num, t.den)
                out.append((t, v, t.holds(v)))
        return out

    def memory_ok(self) -> Optional[bool]:
        """Whether the peak extra memory stays under the bound (None when not measured)."""
        if not self.memory or "peak_mib" not in self.memory:
            return None
        return memory_holds(self.memory["peak_mib"], self.memory["out_mib"])

    def ok(self) -> bool:
        """Every judged target holds (a failed memory measurement counts as a miss)."""
        mem = self.memory_ok()
        mem_failed = self.memory is not None and "error" in self.memory
        return all(ok for _, _, ok in self.checks()) and mem is not False and not mem_failed


def run_geometry(shape: Sequence[int], repeats: int, geometries=GEOMETRIES, device: str = "cpu",
                 with_librosa: bool = True, memory: bool = True,
                 min_span_s: float = MIN_SPAN_S, log=print) -> List[GeometryResult]:
    """Times ``frame_features`` per (N, H) on a float32 signal of ``shape`` on ``device``
    ("cpu" or "cuda"), interleaved with librosa (CPU only), plain torch and ``dot``; with
    ``memory``, also the peak extra memory of one audiofx call (a subprocess per geometry on
    the CPU, ``torch.cuda.max_memory_allocated`` on CUDA)."""
    x = make_signal(shape, seed=workload_seed(shape))
    y = x.numpy()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for N, H in geometries:
            t0 = time.perf_counter()
            if device == "cpu":
                impls = implementations(OP, x, y, with_librosa, frame_length=N, hop_length=H)
                impls = {k: f for k, f in impls.items() if k.split(" ")[0] in GEOMETRY_IMPLS}
                impls, choice = pick_librosa(impls)
            else:
                xd = x.to(device)
                fa, ft = audiofx_ops(N, H)[OP], torch_ops(N, H)[OP]
                impls = {"audiofx": synced(lambda: fa(xd)), "torch": synced(lambda: ft(xd)),
                         "dot": synced(lambda: dot_floor(xd))}
                choice = None
            samples: Samples = {}
            sec, outs = time_interleaved(impls, repeats, min_span_s=min_span_s, samples=samples)
            err = max_rel_err(outs["audiofx"], outs["librosa"]) if "librosa" in outs else None
            r = GeometryResult(device, N, H, sec, samples, choice, err_vs_librosa=err)
            if memory:
                if device == "cpu":
                    r.memory = peak_memory(OP, "audiofx", y, workdir, torch.get_num_threads(),
                                           frame_length=N, hop_length=H)
                else:
                    r.memory = cuda_peak_memory(impls["audiofx"])
            results.append(r)
            log(f"  [geometry {device} N={N} H={H}] "
                + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in sec.items())
                + (f", audiofx peak {fmt_memory(r.memory)} MiB" if r.memory else "")
                + f"  ({time.perf_counter() - t0:.0f} s)")
            del impls
    return results


def geometry_table(results: List[GeometryResult]) -> Tuple[List[str], bool]:
    """The markdown table of one device's results, and whether every geometry holds."""
    impls = [i for i in GEOMETRY_IMPLS if any(i in r.seconds for r in results)]
    targets = [t for t in GEOMETRY_TARGETS
               if any(t.num in r.seconds and t.den in r.seconds for r in results)]
    with_mem = any(r.memory is not None for r in results)
    head = ["N, H", "gcd"] + [f"{i} ms" for i in impls] + [t.describe() for t in targets]
    align = ["---", "---:"] + ["---:"] * (len(impls) + len(targets))
    if with_mem:
        head += ["audiofx peak extra MiB (output MiB)", "< 2x output + 8 MiB"]
        align += ["---:", "---"]
    head.append("holds")
    align.append("---")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    all_ok = True
    for r in results:
        cells = [f"{r.frame_length}, {r.hop_length}", str(r.gcd)]
        for i in impls:
            txt = fmt_ms(r.seconds[i]) if i in r.seconds else ""
            if i == "librosa" and r.librosa_choice == "loop over clips":
                txt += " (loop)"
            cells.append(txt)
        checks = {t: (v, ok) for t, v, ok in r.checks()}
        for t in targets:
            v, ok = checks.get(t, (None, None))
            cells.append(fmt_ratio(v) + ("" if ok is None or ok else " NO"))
        if with_mem:
            m = r.memory
            bound = (f" (bound {memory_bound_mib(m['out_mib']):.1f})"
                     if m and "out_mib" in m else "")
            cells += [fmt_memory(m), yes_no(r.memory_ok()) + bound]
        ok = r.ok()
        all_ok &= ok
        cells.append(yes_no(ok))
        lines.append("| " + " | ".join(cells) + " |")
    return lines, all_ok


def geometry_lines(results: List[GeometryResult], workload: str) -> Tuple[List[str], bool]:
    """The geometry section's body: per device, a sentence, the table and a count."""
    out, all_ok = [], True
    for device in dict.fromkeys(r.device for r in results):
        rs = [r for r in results if r.device == device]
        table, ok = geometry_table(rs)
        all_ok &= ok
        held = sum(r.ok() for r in rs)
        errs = [r.err_vs_librosa for r in rs if r.err_vs_librosa is not None]
        agree = ([f"Agreement with librosa (max |audiofx - librosa| / max |librosa| over the "
                  f"three features): at most {max(errs):.1e} over these geometries.", ""]
                 if errs else [])
        out += [f"**{device.upper()}**, float32, {workload}, centred (`constant` padding, "
                f"`edge` for the crossing rate): median ms per call; the ratios are medians of "
                f"within-round ratios.", ""] + table + [
                "", f"Every target holds in {held} of {len(rs)} geometries on {device.upper()}.",
                ""] + agree
    return out, all_ok
