"""Peak extra memory of one call: the resident-set high-water mark in a fresh subprocess on the
CPU (torch allocations are invisible to tracemalloc), ``torch.cuda.max_memory_allocated`` on
CUDA."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Callable, Optional

import numpy as np
import torch

from .workloads import FRAME_LENGTH, HOP_LENGTH


def output_bytes(out) -> int:
    """Bytes held by a result: tensors and arrays, in (nested) tuples and lists."""
    if isinstance(out, torch.Tensor):
        return out.numel() * out.element_size()
    if isinstance(out, np.ndarray):
        return out.nbytes
    if isinstance(out, (tuple, list)):
        return sum(output_bytes(o) for o in out)
    if isinstance(out, dict):
        return sum(output_bytes(o) for o in out.values())
    return 0


def _rss_kib(field_name: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_child(op: str, impl: str, npy: str, frame_length: int = FRAME_LENGTH,
               hop_length: int = HOP_LENGTH) -> dict:
    """In a fresh process: load the workload, reset the RSS high-water mark, call ``impl`` of
    ``op`` (framed with ``frame_length``, ``hop_length``) once, and return the peak extra
    resident memory of the call in MiB (the high-water mark after minus the resident set
    before) and the output's size."""
    from .implementations import implementations

    y = np.load(npy)
    x = torch.from_numpy(y)
    fn = implementations(op, x, y, with_librosa=impl.startswith("librosa"),
                         frame_length=frame_length, hop_length=hop_length)[impl]
    peak_mib, out = rss_peak_of(fn)
    return {"peak_mib": peak_mib, "out_mib": output_bytes(out) / 2**20}


def rss_peak_of(fn: Callable[[], object]):
    """``(peak extra resident MiB, result)`` of one call of ``fn``: the RSS high-water mark
    after the call minus the resident set before it (the mark reset first where Linux allows,
    else the process's lifetime maximum)."""
    before = _rss_kib("VmRSS")
    try:  # Linux >= 4.0: writing 5 resets VmHWM to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    if not reset or before is None:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = fn()
    if reset and before is not None:
        after = _rss_kib("VmHWM")
    else:
        import resource

        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(0, after - before) / 1024.0, out


def peak_memory(op: str, impl: str, y: np.ndarray, workdir: str, threads: int,
                frame_length: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH) -> dict:
    """:func:`peak_child` of (op, impl) on ``y`` in a subprocess (so that earlier calls do not
    raise the high-water mark); ``{"error": last line of its stderr}`` when it failed."""
    npy = os.path.join(workdir, f"x_{y.shape}.npy".replace(" ", ""))
    if not os.path.exists(npy):
        np.save(npy, y)
    code = ("import json, sys, torch; torch.set_num_threads(%d); "
            "from audiofx.bench.memory import peak_child; "
            "print(json.dumps(peak_child(%r, %r, %r, %d, %d)))"
            % (threads, op, impl, npy, frame_length, hop_length))
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(
        [root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=600)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def cuda_peak_memory(fn: Callable[[], object]) -> dict:
    """Peak extra CUDA memory of one call of ``fn`` (``max_memory_allocated`` during the call
    minus ``memory_allocated`` before it; the output counts, as it does on the CPU) and the
    output's size, in MiB."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    return {"peak_mib": max(0, peak) / 2**20, "out_mib": output_bytes(out) / 2**20}
