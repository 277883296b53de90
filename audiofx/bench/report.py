"""The report as a markdown document: a header (the run, the machine), then one block per
section, each between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` so that a partial run
(``--only``) can replace its sections in an existing RESULTS.md and leave the others."""
from __future__ import annotations

import os
import platform
import re
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .cuda import cuda_lines
from .geometry import geometry_lines
from .implementations import librosa_module
from .lengths import lengths_lines
from .long_memory import long_memory_lines
from .loss import loss_lines
from .op_results import memory_targets, results_table, targets_table
from .size_sweep import sweep_table
from .timing import MIN_SPAN_S

#: The report's sections, in document order.
SECTIONS = ("ops", "geometry", "lengths", "loss", "sweep", "memory_long", "cuda")
#: The sections of a run without ``--only``: all but ``loss`` (forward + backward of three
#: STFT resolutions on the batch, minutes and GBs on a CPU) and ``memory_long`` (about 4
#: minutes, and librosa needs ~3 GiB for it), which ``--full`` or ``--only`` add.
DEFAULT_SECTIONS = tuple(s for s in SECTIONS if s not in ("loss", "memory_long"))


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


def geometry_section(results, workload: str, notes: Sequence[str] = ()) -> Tuple[List[str], bool]:
    body, ok = geometry_lines(results, workload)
    return ["## Frame/hop geometries (issue 12)", "",
            "`frame_features` for each frame/hop pair (N, H): audiofx against librosa (rms + "
            "zcr + the max of its frames, its multichannel call or a loop over the clips, "
            "whichever was faster), plain torch (`pad` + `unfold` + reductions) and the `dot` "
            "floor; targets per geometry: audiofx / dot <= 2x, librosa / audiofx >= 20x, and "
            "the peak extra memory of one audiofx call (RSS high-water mark in a fresh process "
            "on the CPU, `torch.cuda.max_memory_allocated` on CUDA) below 2x its output + "
            "8 MiB.", ""] + list(notes) + body, ok


def lengths_section(results, workload: str, shape, seed: int,
                    notes: Sequence[str] = ()) -> Tuple[List[str], bool]:
    body, ok = lengths_lines(results, workload, shape, seed)
    return ["## Variable-length rows: `lengths=` (issue 12)", ""] + list(notes) + body, ok


def loss_section(results, workload: str, notes: Sequence[str] = ()) -> Tuple[List[str], bool]:
    body, ok = loss_lines(results, workload)
    return ["## Multi-resolution STFT loss: forward + backward (issue 13)", ""] + list(notes) \
        + body, ok


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


def long_memory_section(results) -> Tuple[List[str], bool]:
    body, ok = long_memory_lines(results)
    return ["## Peak memory on one long recording (issue 14)", ""] + body, ok


def cuda_section(rows) -> List[str]:
    return ["## CUDA", ""] + cuda_lines(rows) + [""]


def begin_marker(name: str) -> str:
    return f"<!-- bench:{name} -->"


def end_marker(name: str) -> str:
    return f"<!-- /bench:{name} -->"


def wrap_section(name: str, lines: List[str]) -> List[str]:
    """A section's lines between its markers."""
    return [begin_marker(name)] + lines + [end_marker(name)]


def _section_re(name: str):
    return re.compile(re.escape(begin_marker(name)) + r".*?" + re.escape(end_marker(name)),
                      re.S)


def extract_section(text: str, name: str) -> Optional[str]:
    """The block of section ``name`` in ``text``, markers included (None when absent)."""
    m = _section_re(name).search(text)
    return m.group(0) if m else None


def merge_sections(old: str, new: str, names: Sequence[str]) -> str:
    """``old`` with the sections ``names`` replaced by their blocks in ``new``. A section that
    ``old`` lacks goes after the nearest earlier section (by :data:`SECTIONS` order) that
    ``old`` has, else before the first later one it has, else at the end."""
    out = old
    for name in names:
        block = extract_section(new, name)
        if block is None:
            continue
        if extract_section(out, name) is not None:
            out = _section_re(name).sub(lambda _: block, out, count=1)
            continue
        i = SECTIONS.index(name)
        before = [s for s in SECTIONS[:i] if extract_section(out, s) is not None]
        after = [s for s in SECTIONS[i + 1:] if extract_section(out, s) is not None]
        if before:
            at = out.index(end_marker(before[-1])) + len(end_marker(before[-1]))
            out = out[:at] + "\n\n" + block + out[at:]
        elif after:
            at = out.index(begin_marker(after[0]))
            out = out[:at] + block + "\n\n" + out[at:]
        else:
            out = out.rstrip("\n") + "\n\n" + block + "\n"
    return out


def build_report(command_line: str, repeats: int, sections: Dict[str, List[str]],
                 load_before: float, elapsed: float, partial: bool) -> str:
    """The document: header, machine, then each section of ``sections`` (name -> lines) in
    :data:`SECTIONS` order between its markers. ``partial``: a run of some sections only
    (``--only``); each of them then says which run made it, for when it is merged into a
    RESULTS.md written by another."""
    stamp = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    load_after = os.getloadavg()[0]
    run_line = (f"`{command_line}`, {stamp}, {elapsed:.0f} s; median of {repeats} interleaved "
                f"rounds (up to {4 * repeats} for the fast workloads, spread over >= "
                f"{MIN_SPAN_S:g} s); load average {load_before:.2f} before, {load_after:.2f} "
                f"after.")
    provenance = (f"_From `{command_line}` ({stamp}; load average {load_before:.2f} before, "
                  f"{load_after:.2f} after), a run of some sections only._")
    out = ["# audiofx benchmarks", "", run_line, ""]
    out += ["## Machine", ""] + [f"- {ln}" for ln in machine_description()] + [""]
    for name in SECTIONS:
        if name not in sections:
            continue
        lines = list(sections[name])
        if partial:
            lines[2:2] = [provenance, ""]
        out += wrap_section(name, lines) + [""]
    return "\n".join(out)
