"""The report as a markdown document: a header (the run, the machine), then its sections."""
from __future__ import annotations

import os
import platform
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from .cuda import cuda_lines
from .implementations import librosa_module
from .op_results import memory_targets, results_table, targets_table
from .size_sweep import sweep_table
from .timing import MIN_SPAN_S

#: The report's sections, in document order.
SECTIONS = ("ops", "sweep", "cuda")


def machine_description() -> List[str]:
    from .. import _ops

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    lib = librosa_module()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        f"CPU: {cpu}, {os.cpu_count()} logical cores; torch intra-op threads: "
        f"{torch.get_num_threads()}; CPU kernels: {_ops.cpu_isa()}; GPU: {gpu}",
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}, "
        f"librosa {lib.__version__ if lib else 'not installed'}",
    ]


def ops_section(results) -> Tuple[List[str], bool]:
    tgt, ok = targets_table(results)
    out = ["## DESIGN §6 targets (CPU, float32, N = n_fft = 2048, H = 512)", "",
           "`measured`: the median over the rounds of the ratio of the two samples one round "
           "took (tens of ms apart, so a slow phase of this shared machine scales both); the "
           "`/ audiofx` column of the table of all ops is the ratio of the two medians.", ""]
    out += tgt + [""]
    mem = memory_targets(results)
    if mem:
        out += ["Peak extra memory of one audiofx call (RSS high-water mark in a fresh process, "
                "minus the resident set before the call):", ""] + mem + [""]
    out += ["## All ops", "",
            "`/ audiofx`: the implementation's time over audiofx's (above 1: audiofx is faster). "
            "`librosa`: its multichannel call or a loop over the clips, whichever was faster. "
            "Floors: `dot` = one `torch.dot(x, x)` over the batch, `clone` = `x.clone()`, "
            "`rfft` = bare batched `torch.fft.rfft` of the materialised windowed frames.", ""]
    out += results_table(results) + [""]
    errs = [(r.workload, r.op, r.err_vs_librosa) for r in results if r.err_vs_librosa is not None]
    if errs:
        out += ["Agreement of each audiofx result with librosa's in this run "
                "(max |audiofx - librosa| / max |librosa|): "
                + "; ".join(f"{w}, {o}: {e:.1e}" for w, o, e in errs) + ".", ""]
    return out, ok


def sweep_section(sweeps, png: Optional[str], results_path: Optional[str]) -> List[str]:
    out = ["## How cost grows with work", ""]
    if png:
        out += [f"Plot: `{png}` (time per call vs clip length and vs batch size, log-log).", ""]
        if results_path:
            rel = os.path.relpath(os.path.abspath(png),
                                  os.path.dirname(os.path.abspath(results_path)))
            out += [f"![time per call vs clip length and batch size]({rel})", ""]
    for op, sw in sweeps.items():
        out += sweep_table(op, sw)
    return out


def cuda_section(rows) -> List[str]:
    return ["## CUDA", ""] + cuda_lines(rows) + [""]


def build_report(command_line: str, repeats: int, sections: Dict[str, List[str]],
                 load_before: float, elapsed: float) -> str:
    """The document: header, machine, then each section of ``sections`` (name -> lines) in
    :data:`SECTIONS` order."""
    out = ["# audiofx benchmarks", "",
           f"`{command_line}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
           f"{elapsed:.0f} s; median of {repeats} interleaved rounds (up to {4 * repeats} for "
           f"the fast workloads, spread over >= {MIN_SPAN_S:g} s); load average "
           f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after.", ""]
    out += ["## Machine", ""] + [f"- {ln}" for ln in machine_description()] + [""]
    for name in SECTIONS:
        if name in sections:
            out += sections[name]
    return "\n".join(out)
