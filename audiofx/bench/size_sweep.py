"""How cost grows with work: one op timed over clip length (batch 1) and batch size (4 s clips),
as a table and a log-log plot of time per call per implementation."""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

from .formatting import fmt_ms, fmt_rate
from .implementations import implementations
from .timing import time_interleaved
from .workloads import SR, make_signal

#: Sweep: clip lengths in seconds (batch 1) and batch sizes (clips of 4 s).
SWEEP_LENGTHS_S = (0.5, 2.0, 8.0, 30.0, 120.0, 600.0)
SWEEP_BATCHES = (1, 4, 16, 64, 256, 1024)


def run_sweep(op: str, lengths_s: Sequence[float], batches: Sequence[int], repeats: int,
              with_librosa: bool, log=print) -> Dict[str, List[Tuple[float, Dict[str, float]]]]:
    """{"length": [(seconds, {impl: s/call})], "batch": [(batch, {impl: s/call})]}."""
    out = {"length": [], "batch": []}
    points = [("length", s, (int(round(s * SR)),)) for s in lengths_s]
    points += [("batch", b, (b, 4 * SR)) for b in batches]
    for axis, v, shape in points:
        x = make_signal(shape, seed=2)
        y = x.numpy()
        impls = implementations(op, x, y, with_librosa)
        # librosa's multichannel call only here (the tables above compare it with the loop).
        impls = {k: f for k, f in impls.items() if k in ("audiofx", "librosa", "torch", "dot")}
        sec, _ = time_interleaved(impls, repeats, min_sample_s=0.01)
        out[axis].append((v, sec))
        log(f"  sweep {op} {axis}={v:g}: " + ", ".join(f"{k} {t * 1e3:.3g} ms"
                                                         for k, t in sec.items()))
        del x, y, impls
    return out


def plot_sweep(sweeps: Dict[str, dict], path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sweeps), 2, figsize=(11, 4.2 * len(sweeps)), squeeze=False)
    for row, (op, sw) in enumerate(sweeps.items()):
        for col, (axis, xlabel) in enumerate((("length", "clip length (s), batch 1"),
                                              ("batch", "batch size (clips of 4 s)"))):
            ax = axes[row][col]
            pts = sw[axis]
            for impl in pts[0][1]:
                xs = [v for v, s in pts if impl in s]
                ax.loglog(xs, [s[impl] * 1e3 for v, s in pts if impl in s], "o-", label=impl)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("median time per call (ms)")
            ax.set_title(f"{op}, float32, N=2048, H=512")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def sweep_table(op: str, sw: dict) -> List[str]:
    lines = []
    for axis, label in (("length", "clip length (s), batch 1"), ("batch", "batch (4 s clips)")):
        pts = sw[axis]
        impls = list(pts[0][1])
        lines.append(f"| {op}: {label} | " + " | ".join(f"{i} ms" for i in impls)
                     + " | audiofx s of audio per s |")
        lines.append("|---:|" + "---:|" * (len(impls) + 1))
        for v, sec in pts:
            audio = v if axis == "length" else v * 4.0
            lines.append(f"| {v:g} | " + " | ".join(fmt_ms(sec[i]) if i in sec else "" for i in impls)
                         + f" | {fmt_rate(audio / sec['audiofx'])} |")
        lines.append("")
    return lines
