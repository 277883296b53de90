"""Peak memory on one long recording (issue 14, item 4): the spectrogram-based functions on one
2**26-sample float32 signal (50.7 minutes at 22.05 kHz), audiofx against librosa.

Each call runs in a fresh subprocess (:func:`long_peak_child`): the signal is loaded, the
function is called once on a short signal (first-call set-up: FFT plans, thread pools), the
resident-set high-water mark is reset, the function is called on the long signal, and the peak
extra resident memory is the high-water mark minus the resident set before the call (as
:mod:`.memory`). The target: at most ``1.5 x the output + 256 MiB`` and never above librosa's.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .formatting import yes_no
from .memory import output_bytes, rss_peak_of
from .workloads import FRAME_LENGTH, HOP_LENGTH, SR

#: Samples of the long signal.
LONG_SAMPLES = 1 << 26
#: The functions measured, in table order (audiofx's name; librosa's call alongside).
LONG_FUNCTIONS = ("melspectrogram", "mfcc", "spectral_rolloff", "spectral_flatness",
                  "spectral_contrast", "stft")
#: The bound: peak extra memory <= FACTOR x output + SLACK_MIB (and <= librosa's).
FACTOR = 1.5
SLACK_MIB = 256.0


def long_signal(n: int = LONG_SAMPLES, seed: int = 0) -> np.ndarray:
    """A deterministic float32 ``(n,)`` recording: a slow chirp with harmonics under noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64) / SR
    f = 200.0 + 1800.0 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 97.0))
    phase = 2 * np.pi * np.cumsum(f) / SR
    y = 0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase) + 0.05 * rng.standard_normal(n)
    return y.astype(np.float32)


def _call(name: str, impl: str, y: np.ndarray):
    kw = dict(n_fft=FRAME_LENGTH, hop_length=HOP_LENGTH)
    if impl == "librosa":
        import librosa

        if name == "stft":
            return lambda: librosa.stft(y, **kw)
        fn = getattr(librosa.feature, name)
        if name == "spectral_flatness":
            return lambda: fn(y=y, **kw)
        return lambda: fn(y=y, sr=SR, **kw)
    import torch

    import audiofx

    x = torch.from_numpy(y)
    if name == "stft":
        return lambda: audiofx.stft(x, **kw)
    fn = getattr(audiofx, name)
    if name == "spectral_flatness":
        return lambda: fn(x, **kw)
    return lambda: fn(x, sr=SR, **kw)


def long_peak_child(name: str, impl: str, npy: str) -> dict:
    """In a fresh process: ``impl``'s (``"audiofx"`` or ``"librosa"``) ``name`` of the signal in
    ``npy``: ``{"peak_mib", "out_mib", "seconds"}``."""
    y = np.load(npy)
    _call(name, impl, y[:SR].copy())()  # first-call set-up, not counted
    fn = _call(name, impl, y)
    t0 = time.perf_counter()
    peak_mib, out = rss_peak_of(fn)
    return {"peak_mib": peak_mib, "out_mib": output_bytes(out) / 2**20,
            "seconds": time.perf_counter() - t0}


def long_peak_memory(name: str, impl: str, npy: str, threads: int) -> dict:
    """:func:`long_peak_child` in a subprocess; ``{"error": ...}`` when it failed."""
    code = ("import json, torch; torch.set_num_threads(%d); "
            "from audiofx.bench.long_memory import long_peak_child; "
            "print(json.dumps(long_peak_child(%r, %r, %r)))" % (threads, name, impl, npy))
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(
        [root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=1800)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


@dataclass
class LongMemoryResult:
    name: str
    memory: Dict[str, dict] = field(default_factory=dict)

    def bound_mib(self) -> Optional[float]:
        m = self.memory.get("audiofx", {})
        return FACTOR * m["out_mib"] + SLACK_MIB if "out_mib" in m else None

    def ok(self) -> Optional[bool]:
        a, lib = self.memory.get("audiofx", {}), self.memory.get("librosa", {})
        if "peak_mib" not in a:
            return None
        good = a["peak_mib"] <= self.bound_mib()
        if "peak_mib" in lib:
            good = good and a["peak_mib"] <= lib["peak_mib"]
        return good


def run_long_memory(workdir: str, threads: int, functions: Sequence[str] = LONG_FUNCTIONS,
                    with_librosa: bool = True, n: int = LONG_SAMPLES,
                    log=print) -> List[LongMemoryResult]:
    """Every function of ``functions`` on one ``n``-sample signal, audiofx then librosa, one
    subprocess each."""
    npy = os.path.join(workdir, f"long_{n}.npy")
    if not os.path.exists(npy):
        np.save(npy, long_signal(n))
    impls = ("audiofx", "librosa") if with_librosa else ("audiofx",)
    results = []
    for name in functions:
        res = LongMemoryResult(name)
        for impl in impls:
            res.memory[impl] = long_peak_memory(name, impl, npy, threads)
            m = res.memory[impl]
            log(f"  {name} {impl}: " + (m["error"] if "error" in m else
                                        f"{m['peak_mib']:.0f} MiB peak, {m['out_mib']:.0f} MiB "
                                        f"out, {m['seconds']:.1f} s"))
        results.append(res)
    return results


def _mib(m: dict, key: str = "peak_mib") -> str:
    if not m:
        return ""
    if "error" in m:
        return "error: " + m["error"][:40]
    return f"{m[key]:,.0f}"


def long_memory_lines(results: Sequence[LongMemoryResult],
                      n: int = LONG_SAMPLES) -> Tuple[List[str], bool]:
    out = [f"One float32 signal of {n:,} samples ({n / SR / 60:.1f} min at {SR} Hz), n_fft = "
           f"{FRAME_LENGTH}, hop = {HOP_LENGTH}, librosa's defaults otherwise; one call per "
           f"fresh process, after a first call on 1 s of it. Peak extra memory: RSS high-water "
           f"mark minus the resident set before the call (the signal itself not counted). "
           f"Target: at most {FACTOR:g}x the output + {SLACK_MIB:.0f} MiB, and at most "
           f"librosa's.", "",
           "| function | output MiB | audiofx peak MiB | bound MiB | librosa peak MiB | "
           "audiofx s | librosa s | holds |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    ok = True
    for r in results:
        a, lib = r.memory.get("audiofx", {}), r.memory.get("librosa", {})
        bound = r.bound_mib()
        good = r.ok()
        ok &= good is not False
        secs = [f"{m['seconds']:.1f}" if "seconds" in m else "" for m in (a, lib)]
        out.append(f"| `{r.name}` | {_mib(a, 'out_mib')} | {_mib(a)} | "
                   f"{'' if bound is None else f'{bound:,.0f}'} | {_mib(lib)} | {secs[0]} | "
                   f"{secs[1]} | {yes_no(good)} |")
    return out + [""], ok
