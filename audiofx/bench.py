"""Benchmarks of DESIGN.md §6: audiofx against librosa, plain torch and the memory/compute floors.

    audiofx bench [--repeats 5] [--full] [--write-results benchmarks/RESULTS.md]
    python -m benchmarks.report          # the same, run from a checkout

One process runs every comparison interleaved (each timed round takes one sample of every
implementation in turn, so load drifts on a shared machine hit them alike) and prints markdown
tables: the median time per call of each implementation of each op on the two workloads of §6
(256 clips x 4 s and one 60 s clip, float32 at 22.05 kHz, N = n_fft = 2048, H = 512,
center=True), its ratio to audiofx, its throughput in seconds of audio per second, and its peak
extra memory (the resident-set high-water mark of one call in a fresh subprocess, minus the
resident set before it: torch allocations are invisible to tracemalloc); then the §6 targets with
their ratios, and a sweep over clip length (0.5 s .. 10 min) and batch size (1 .. 1024) plotted as
time vs length per tool (PNG). On a CUDA device it also times the kernels against a
device-to-device copy (achieved GB/s) and cuFFT alone.

The implementations compared, for each op:

* ``audiofx``: the public function (``audiofx.frame_features``, ``audiofx.spectral_features``…);
* ``librosa``: the librosa call on the multichannel array, or a Python loop over the clips when
  that is faster (both are timed once at warm-up; the faster is kept and named);
* ``torch``: plain torch, ``F.pad`` + ``unfold`` + reductions for the frame ops,
  ``torch.stft(...).abs()`` + reductions for the spectral ones;
* floors: ``dot`` (one ``torch.dot(x, x)`` over all samples: one read of the signal), ``clone``
  (``x.clone()``: one read and one write) and, for the spectral ops, ``rfft`` (one bare batched
  ``torch.fft.rfft`` of the same frames, materialised beforehand and not timed).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

SR = 22050
FRAME_LENGTH = 2048
HOP_LENGTH = 512
ZCR_THRESHOLD = 1e-10

#: The workloads of DESIGN §6: name -> shape (float32).
WORKLOADS: Dict[str, Tuple[int, ...]] = {
    "256 clips x 4 s": (256, 4 * SR),
    "one 60 s clip": (60 * SR,),
}

#: DESIGN §6 targets: (op, baseline, kind, bound). kind "faster": baseline / audiofx >= bound;
#: "within": audiofx / baseline <= bound.
TARGETS = (
    ("frame_features", "librosa", "faster", 50.0),
    ("frame_features", "torch", "faster", 3.0),
    ("frame_features", "dot", "within", 2.0),
    ("centroid+bandwidth", "librosa", "faster", 5.0),
    ("centroid+bandwidth", "torch", "faster", 2.0),
    ("centroid+bandwidth", "rfft", "within", 1.5),
)


def make_signal(shape: Sequence[int], seed: int = 0, sr: int = SR) -> torch.Tensor:
    """A deterministic float32 ``shape`` signal, about [-1, 1], made in code (no audio files).

    Per row: a linear chirp (random start and end frequency in 30 Hz .. 8 kHz), a slower
    amplitude modulation, white noise of a random level, and one silence (exact zeros) of 10 ms
    .. 300 ms at a random place, so that zero crossings, silent frames and loud frames all occur.
    Vectorised over rows in torch (the 256 x 4 s batch takes well under a second)."""
    shape = tuple(int(s) for s in shape)
    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    T = shape[-1]
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(rows, 7, generator=g, dtype=torch.float64)
    t = torch.arange(T, dtype=torch.float64) / sr
    dur = T / sr
    f0 = 30.0 + 7970.0 * u[:, 0:1]
    f1 = 30.0 + 7970.0 * u[:, 1:2]
    phase = 2 * math.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t * t + u[:, 2:3])
    am = 0.55 + 0.45 * torch.sin(2 * math.pi * (0.2 + 2.8 * u[:, 3:4]) * t)
    out = (0.6 * am * torch.sin(phase)).to(torch.float32)
    del phase, am
    out += (0.01 + 0.29 * u[:, 4:5]).to(torch.float32) * torch.randn(rows, T, generator=g)
    start = (u[:, 5] * T).long()
    length = (sr // 100 + u[:, 6] * (3 * sr // 10 - sr // 100)).long()
    idx = torch.arange(T)
    out[(idx >= start[:, None]) & (idx < (start + length)[:, None])] = 0.0
    return out.reshape(shape)


# ---- the implementations --------------------------------------------------------------------

def torch_frame_features(x: torch.Tensor, N: int = FRAME_LENGTH, H: int = HOP_LENGTH,
                         threshold: float = ZCR_THRESHOLD):
    """The plain torch way: pad + unfold (a strided view of the frames), then reductions over
    them. Zero crossings as librosa: |x| <= threshold counts as 0, class = sign bit, edge
    padding. Returns (ae, rms, zcr), each ``(..., n_frames)``."""
    return (torch_amplitude_envelope(x, N, H), torch_rms(x, N, H),
            torch_zero_crossing_rate(x, N, H, threshold))


def _torch_frames(x, N, H):
    p = N // 2
    return F.pad(x, (p, p)).unfold(-1, N, H)  # (..., n_frames, N) view, constant padding


def torch_amplitude_envelope(x, N=FRAME_LENGTH, H=HOP_LENGTH):
    return _torch_frames(x, N, H).amax(dim=-1)


def torch_rms(x, N=FRAME_LENGTH, H=HOP_LENGTH):
    return _torch_frames(x, N, H).pow(2).mean(dim=-1).sqrt()


def torch_zero_crossing_rate(x, N=FRAME_LENGTH, H=HOP_LENGTH, threshold=ZCR_THRESHOLD):
    p = N // 2
    y = torch.where(x.abs() <= threshold, torch.zeros((), dtype=x.dtype), x)
    edge = torch.cat([y[..., :1].expand(*y.shape[:-1], p), y,
                      y[..., -1:].expand(*y.shape[:-1], p)], dim=-1)
    s = torch.signbit(edge).unfold(-1, N, H)
    return (s[..., 1:] != s[..., :-1]).sum(dim=-1).to(x.dtype) / N


def torch_stft(x, n_fft=FRAME_LENGTH, hop=HOP_LENGTH):
    w = torch.hann_window(n_fft, dtype=x.dtype)
    return torch.stft(x, n_fft, hop, window=w, center=True, pad_mode="constant",
                      return_complex=True)


def torch_centroid_bandwidth(x, sr=SR, n_fft=FRAME_LENGTH, hop=HOP_LENGTH):
    """Centroid and bandwidth (p=2) with ``torch.stft(...).abs()`` and torch reductions."""
    S = torch_stft(x, n_fft, hop).abs()
    freq = torch.fft.rfftfreq(n_fft, 1.0 / sr, dtype=x.dtype)[:, None]
    total = S.sum(-2, keepdim=True)
    Sn = S / torch.where(total < torch.finfo(x.dtype).tiny, torch.ones_like(total), total)
    c = (freq * Sn).sum(-2, keepdim=True)
    b = (Sn * (freq - c).square()).sum(-2).sqrt()
    return c[..., 0, :], b


def dot_floor(x: torch.Tensor):
    """One read of the signal: ``torch.dot(x, x)`` over all samples (memory-bandwidth floor)."""
    v = x.reshape(-1)
    return torch.dot(v, v)


def stft_frames(x: torch.Tensor, n_fft: int = FRAME_LENGTH, hop: int = HOP_LENGTH):
    """The centred, zero-padded, Hann-windowed frames of ``x`` as a contiguous
    ``(frames, n_fft)`` tensor: the input of the bare-FFT floor."""
    p = n_fft // 2
    w = torch.hann_window(n_fft, dtype=x.dtype)
    return (F.pad(x.reshape(-1, x.shape[-1]), (p, p)).unfold(-1, n_fft, hop) * w).reshape(-1, n_fft)


def _librosa():
    try:
        import librosa
    except ImportError:
        return None
    return librosa


def _librosa_ops():
    """op -> f(y) for librosa on one array (any leading dims; librosa's multichannel call)."""
    librosa = _librosa()
    if librosa is None:
        return {}
    N, H = FRAME_LENGTH, HOP_LENGTH

    def ae(y):
        pad = [(0, 0)] * (y.ndim - 1) + [(N // 2, N // 2)]
        return librosa.util.frame(np.pad(y, pad), frame_length=N, hop_length=H).max(axis=-2)

    def rms(y):
        return librosa.feature.rms(y=y, frame_length=N, hop_length=H)[..., 0, :]

    def zcr(y):
        return librosa.feature.zero_crossing_rate(y, frame_length=N, hop_length=H)[..., 0, :]

    def frame(y):
        return np.ascontiguousarray(np.moveaxis(
            librosa.util.frame(y, frame_length=N, hop_length=H), -2, -1))

    def cb(y):
        c = librosa.feature.spectral_centroid(y=y, sr=SR, n_fft=N, hop_length=H)[..., 0, :]
        b = librosa.feature.spectral_bandwidth(y=y, sr=SR, n_fft=N, hop_length=H)[..., 0, :]
        return c, b

    return {
        "frame_features": lambda y: (ae(y), rms(y), zcr(y)),
        "amplitude_envelope": ae,
        "rms": rms,
        "zero_crossing_rate": zcr,
        "frame": frame,
        "stft": lambda y: librosa.stft(y, n_fft=N, hop_length=H),
        "centroid+bandwidth": cb,
    }


def _audiofx_ops():
    import audiofx

    N, H = FRAME_LENGTH, HOP_LENGTH

    def cb(x):
        out = audiofx.spectral_features(x, sr=SR, n_fft=N, hop_length=H,
                                        features=("centroid", "bandwidth"))
        return out["centroid"], out["bandwidth"]

    return {
        "frame_features": lambda x: tuple(audiofx.frame_features(x, N, H)),
        "amplitude_envelope": lambda x: audiofx.amplitude_envelope(x, N, H),
        "rms": lambda x: audiofx.rms(x, N, H),
        "zero_crossing_rate": lambda x: audiofx.zero_crossing_rate(x, N, H),
        "frame": lambda x: audiofx.frame(x, N, H, center=False, pad_mode=None),
        "stft": lambda x: audiofx.stft(x, n_fft=N, hop_length=H),
        "centroid+bandwidth": cb,
    }


TORCH_OPS: Dict[str, Callable] = {
    "frame_features": torch_frame_features,
    "amplitude_envelope": torch_amplitude_envelope,
    "rms": torch_rms,
    "zero_crossing_rate": torch_zero_crossing_rate,
    "frame": lambda x: x.unfold(-1, FRAME_LENGTH, HOP_LENGTH).contiguous(),
    "stft": torch_stft,
    "centroid+bandwidth": torch_centroid_bandwidth,
}

#: Ops in table order; the fused paths first.
OPS = ("frame_features", "centroid+bandwidth", "amplitude_envelope", "rms", "zero_crossing_rate",
       "frame", "stft")
SPECTRAL_OPS = ("stft", "centroid+bandwidth")
FLOORS = ("dot", "clone", "rfft")


def _stack(per_row: list, lead: Tuple[int, ...]):
    """The per-clip results of a loop, stacked into the multichannel call's layout."""
    if isinstance(per_row[0], tuple):
        return tuple(_stack([r[i] for r in per_row], lead) for i in range(len(per_row[0])))
    a = np.stack(per_row)
    return a.reshape(*lead, *a.shape[1:])


def implementations(op: str, x: torch.Tensor, y: np.ndarray,
                    with_librosa: bool = True) -> Dict[str, Callable[[], object]]:
    """name -> zero-argument callable for one op on one workload (x and y share memory).

    librosa appears twice here, ``librosa`` (multichannel call) and ``librosa (loop)`` (a Python
    loop over the clips) for batched input; :func:`time_interleaved` callers keep the faster."""
    impls: Dict[str, Callable[[], object]] = {}
    impls["audiofx"] = (lambda f: lambda: f(x))(_audiofx_ops()[op])
    lib = _librosa_ops().get(op) if with_librosa else None
    if lib is not None:
        impls["librosa"] = lambda: lib(y)
        if y.ndim > 1:
            rows = y.reshape(-1, y.shape[-1])
            impls["librosa (loop)"] = lambda: _stack([lib(r) for r in rows], y.shape[:-1])
    impls["torch"] = (lambda f: lambda: f(x))(TORCH_OPS[op])
    impls["dot"] = lambda: dot_floor(x)
    impls["clone"] = lambda: x.clone()
    if op in SPECTRAL_OPS:
        frames = stft_frames(x)
        impls["rfft"] = lambda: torch.fft.rfft(frames)
    return impls


# ---- timing ---------------------------------------------------------------------------------

#: An implementation whose warm-up call took longer than this (librosa's and torch's spectral
#: paths on the batch: seconds per call) is sampled in only SLOW_ROUNDS of the rounds, so that
#: the report stays near 3 minutes; the fast ones keep every round.
SLOW_CALL_S = 0.5
SLOW_ROUNDS = 3
#: Seconds the rounds of one (workload, op) should span at least (see time_interleaved).
MIN_SPAN_S = 1.5


def time_interleaved(impls: Dict[str, Callable], repeats: int,
                     min_sample_s: float = 0.02,
                     min_span_s: float = 0.0,
                     samples: Optional[Dict[str, Dict[int, float]]] = None,
                     ) -> Tuple[Dict[str, float], Dict[str, object]]:
    """Median seconds per call of each implementation, and the warm-up call's result of each.

    One warm-up call each (allocator, thread pool, FFT plans, lazy imports), which also sizes the
    sample: a fast implementation is called ``n`` times back to back per sample (``n`` such that
    a sample lasts >= ``min_sample_s``), so that timer resolution does not decide the median of a
    0.1 ms call. Then ``repeats`` rounds, each taking one sample of every implementation in turn
    (one whose warm-up took over SLOW_CALL_S only in SLOW_ROUNDS rounds spread over the run).
    With ``min_span_s``, rounds are added (up to 4x ``repeats``) until they span about that many
    seconds, so that a burst of load from the machine's other tenants, which can last a few
    hundred ms, meets only a minority of a fast workload's samples and not the median.
    ``samples``, when given, receives every sample: ``{impl: {round: seconds per call}}``, for
    ratios taken within a round (:func:`paired_ratio`).
    """
    inner, warm, results, slow = {}, {}, {}, set()
    for k, fn in impls.items():
        t0 = time.perf_counter()
        results[k] = fn()
        dt = time.perf_counter() - t0
        warm[k] = dt
        inner[k] = max(1, min(1000, math.ceil(min_sample_s / max(dt, 1e-7))))
        if dt > SLOW_CALL_S:
            slow.add(k)
    rounds: Dict[str, Dict[int, float]] = {} if samples is None else samples
    for k in impls:
        rounds.setdefault(k, {})
    if min_span_s > 0:
        round_s = max(1e-3, sum(max(min_sample_s, warm[k]) for k in impls if k not in slow))
        repeats = max(repeats, min(4 * repeats, math.ceil(min_span_s / round_s)))
    # The rounds a slow implementation is sampled in, spread over the run (first and last).
    slow_rounds = {round(j * (repeats - 1) / max(1, SLOW_ROUNDS - 1)) for j in range(SLOW_ROUNDS)}
    for i in range(repeats):
        for k, fn in impls.items():
            if k in slow and i not in slow_rounds:
                continue
            n = inner[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            rounds[k][i] = (time.perf_counter() - t0) / n
    return {k: statistics.median(rounds[k].values()) for k in impls}, results


def paired_ratio(samples: Dict[str, Dict[int, float]], num: str, den: str) -> Optional[float]:
    """Median over the rounds that sampled both of ``num``'s time over ``den``'s (None when no
    round did). The two samples of a round are tens of ms apart, so a slow phase of the machine
    (another tenant's burst, which can outlast several rounds of a fast workload) scales both
    and cancels, where a ratio of the two medians would keep it whenever it met one more of the
    numerator's samples than of the denominator's."""
    a, b = samples.get(num, {}), samples.get(den, {})
    both = sorted(set(a) & set(b))
    return statistics.median(a[i] / b[i] for i in both) if both else None


def _pick_librosa(impls: Dict[str, Callable]) -> Dict[str, Callable]:
    """Keeps the faster of librosa's multichannel call and the loop over clips (one timed call
    each after a warm-up), under the name ``librosa`` with the choice noted in LIBROSA_CHOICE."""
    if "librosa (loop)" not in impls:
        return impls
    t = {}
    impls["librosa"]()  # warm-up of what both share (imports, caches)
    for k in ("librosa", "librosa (loop)"):
        t0 = time.perf_counter()
        impls[k]()
        t[k] = time.perf_counter() - t0
    keep = min(t, key=t.get)
    out = {k: v for k, v in impls.items() if k not in ("librosa", "librosa (loop)")}
    out["librosa"] = impls[keep]
    _pick_librosa.choice = "loop over clips" if keep == "librosa (loop)" else "multichannel"
    return out


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


# ---- peak memory in a subprocess ------------------------------------------------------------

def _rss_kib(field_name: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _peak_child(op: str, impl: str, npy: str) -> dict:
    """In a fresh process: load the workload, reset the RSS high-water mark, call ``impl`` of
    ``op`` once, and return the peak extra resident memory of the call in MiB (the high-water
    mark after minus the resident set before) and the output's size."""
    y = np.load(npy)
    x = torch.from_numpy(y)
    fn = implementations(op, x, y, with_librosa=impl.startswith("librosa"))[impl]
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
    outs = out if isinstance(out, (tuple, list)) else (out,)
    nbytes = 0
    for o in outs:
        if isinstance(o, torch.Tensor):
            nbytes += o.numel() * o.element_size()
        elif isinstance(o, np.ndarray):
            nbytes += o.nbytes
        elif isinstance(o, (tuple, list)):
            nbytes += sum(getattr(p, "nbytes", 0) for q in o
                          for p in (q if isinstance(q, (tuple, list)) else (q,)))
    return {"peak_mib": max(0, after - before) / 1024.0, "out_mib": nbytes / 2**20}


def peak_memory(op: str, impl: str, y: np.ndarray, workdir: str, threads: int) -> dict:
    """:func:`_peak_child` of (op, impl) on ``y`` in a subprocess (so that earlier calls do not
    raise the high-water mark)."""
    npy = os.path.join(workdir, f"x_{y.shape}.npy".replace(" ", ""))
    if not os.path.exists(npy):
        np.save(npy, y)
    code = ("import json, sys, torch; torch.set_num_threads(%d); from audiofx.bench import "
            "_peak_child; print(json.dumps(_peak_child(%r, %r, %r)))" % (threads, op, impl, npy))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=600)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- the report -----------------------------------------------------------------------------

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
    samples: Dict[str, Dict[int, float]] = field(default_factory=dict)


def run_ops(ops: Sequence[str], workloads: Dict[str, Tuple[int, ...]], repeats: int,
            with_librosa: bool = True, log=print) -> List[OpResult]:
    results = []
    for wname, shape in workloads.items():
        x = make_signal(shape, seed=0 if len(shape) > 1 else 1)
        y = x.numpy()
        audio_s = x.numel() / SR
        for op in ops:
            t0 = time.perf_counter()
            impls = implementations(op, x, y, with_librosa)
            _pick_librosa.choice = None
            impls = _pick_librosa(impls)
            samples: Dict[str, Dict[int, float]] = {}
            sec, outs = time_interleaved(impls, repeats, min_span_s=MIN_SPAN_S, samples=samples)
            err = (max_rel_err(outs["audiofx"], outs["librosa"]) if "librosa" in outs else None)
            results.append(OpResult(wname, tuple(shape), op, sec, audio_s, err,
                                    _pick_librosa.choice, samples=samples))
            log(f"  [{wname}] {op}: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in sec.items())
                + f"  ({time.perf_counter() - t0:.0f} s)")
    return results


def run_memory(results: List[OpResult], ops: Sequence[str], impls: Sequence[str],
               workload: str, log=print) -> None:
    """Peak extra memory of one call per (op, impl) on ``workload``, into the results."""
    shape = WORKLOADS[workload]
    y = make_signal(shape, seed=0 if len(shape) > 1 else 1).numpy()
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


#: Sweep: (label, shape) for time vs clip length (batch 1) and vs batch size (4 s clips).
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


def run_cuda(repeats: int, log=print) -> Optional[List[dict]]:
    """On a CUDA device: frame features vs a device-to-device copy (achieved GB/s: bytes read by
    the kernel per second; for the copy, bytes read + written), and centroid+bandwidth vs cuFFT
    alone on the same frames. None without a GPU."""
    if not torch.cuda.is_available():
        return None
    import audiofx

    dev = torch.device("cuda")
    rows = []
    for wname, shape in WORKLOADS.items():
        x = make_signal(shape, seed=0 if len(shape) > 1 else 1).to(dev)
        frames = stft_frames(x)
        dst = torch.empty_like(x)
        cases = {
            "frame_features": lambda: audiofx.frame_features(x, FRAME_LENGTH, HOP_LENGTH),
            "copy_ (device to device)": lambda: dst.copy_(x),
            "centroid+bandwidth": lambda: audiofx.spectral_features(
                x, sr=SR, n_fft=FRAME_LENGTH, hop_length=HOP_LENGTH),
            "rfft of the frames (cuFFT)": lambda: torch.fft.rfft(frames),
        }

        def synced(fn):
            def run():
                fn()
                torch.cuda.synchronize()
            return run

        sec, _ = time_interleaved({k: synced(f) for k, f in cases.items()}, repeats)
        nbytes = x.numel() * x.element_size()
        gbs = {
            "frame_features": nbytes / sec["frame_features"] / 1e9,
            "copy_ (device to device)": 2 * nbytes / sec["copy_ (device to device)"] / 1e9,
        }
        rows.append({"workload": wname, "seconds": sec, "gbs": gbs,
                     "device": torch.cuda.get_device_name(dev)})
        log(f"  [cuda {wname}] " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in sec.items()))
    return rows


def machine_description() -> List[str]:
    from . import _ops

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    lib = _librosa()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        f"CPU: {cpu}, {os.cpu_count()} logical cores; torch intra-op threads: "
        f"{torch.get_num_threads()}; CPU kernels: {_ops.cpu_isa()}; GPU: {gpu}",
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}, "
        f"librosa {lib.__version__ if lib else 'not installed'}",
    ]


def _fmt_ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _fmt_rate(r: float) -> str:
    return f"{r:,.0f}" if r >= 10 else f"{r:.2f}"


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
            mem = r.memory.get(impl)
            if mem is None:
                mtxt = ""
            elif "error" in mem:
                mtxt = "error: " + mem["error"][:40]
            else:
                mtxt = f"{mem['peak_mib']:.1f} ({mem['out_mib']:.1f})"
            ratio = "1" if impl == "audiofx" else f"{s / base:.2f}x"
            lines.append(f"| {r.workload} | {r.op} | {name} | {_fmt_ms(s)} | {ratio} | "
                         f"{_fmt_rate(r.audio_s / s)} | {mtxt} |")
    return lines


def targets_table(results: List[OpResult]) -> Tuple[List[str], bool]:
    lines = ["| workload | target (DESIGN §6) | measured | holds |", "|---|---|---:|---|"]
    all_ok = True
    for r in results:
        for op, base, kind, bound in TARGETS:
            if r.op != op or base not in r.seconds:
                continue
            num, den = (base, "audiofx") if kind == "faster" else ("audiofx", base)
            v = paired_ratio(r.samples, num, den)
            if v is None:  # no round sampled both: the ratio of the medians
                v = r.seconds[num] / r.seconds[den]
            if kind == "faster":
                ok, txt = v >= bound, f"{op}: {base} / audiofx >= {bound:g}x"
            else:
                ok, txt = v <= bound, f"{op}: audiofx / {base} <= {bound:g}x"
            all_ok &= ok
            lines.append(f"| {r.workload} | {txt} | {v:.2f}x | {'yes' if ok else 'NO'} |")
    return lines, all_ok


def memory_targets(results: List[OpResult]) -> List[str]:
    lines = []
    for r in results:
        m = r.memory.get("audiofx")
        if m and "peak_mib" in m:
            lines.append(f"- {r.workload}, {r.op}: audiofx peak extra {m['peak_mib']:.1f} MiB "
                         f"for {m['out_mib']:.1f} MiB of output")
    return lines


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
            lines.append(f"| {v:g} | " + " | ".join(_fmt_ms(sec[i]) if i in sec else "" for i in impls)
                         + f" | {_fmt_rate(audio / sec['audiofx'])} |")
        lines.append("")
    return lines


def cuda_lines(rows: Optional[List[dict]]) -> List[str]:
    if rows is None:
        return ["No CUDA device in this run: the CUDA kernels were not timed (no GPU figure is "
                "claimed). Where a GPU exists this section gives achieved GB/s of the frame "
                "features against a device-to-device `copy_`, and centroid+bandwidth against "
                "cuFFT alone on the same frames."]
    lines = [f"Device: {rows[0]['device']}", "",
             "| workload | frame_features ms | GB/s read | copy_ ms | copy GB/s (read+write) "
             "| centroid+bandwidth ms | rfft (cuFFT) ms | cb / rfft |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, g = r["seconds"], r["gbs"]
        lines.append(
            f"| {r['workload']} | {_fmt_ms(s['frame_features'])} | {g['frame_features']:.0f} | "
            f"{_fmt_ms(s['copy_ (device to device)'])} | {g['copy_ (device to device)']:.0f} | "
            f"{_fmt_ms(s['centroid+bandwidth'])} | {_fmt_ms(s['rfft of the frames (cuFFT)'])} | "
            f"{s['centroid+bandwidth'] / s['rfft of the frames (cuFFT)']:.2f}x |")
    return lines


def build_report(args, results, sweeps, cuda_rows, png, load_before, elapsed) -> Tuple[str, bool]:
    tgt, ok = targets_table(results)
    out = ["# audiofx benchmarks", "",
           f"`{args.command_line}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
           f"{elapsed:.0f} s; median of {args.repeats} interleaved rounds (up to "
           f"{4 * args.repeats} for the fast workloads, spread over >= {MIN_SPAN_S:g} s); "
           f"load average "
           f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after.", ""]
    out += ["## Machine", ""] + [f"- {ln}" for ln in machine_description()] + [""]
    out += ["## DESIGN §6 targets (CPU, float32, N = n_fft = 2048, H = 512)", "",
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
    if sweeps:
        out += ["## How cost grows with work", ""]
        if png:
            out += [f"Plot: `{png}` (time per call vs clip length and vs batch size, log-log).", ""]
            if args.write_results:
                rel = os.path.relpath(os.path.abspath(png),
                                      os.path.dirname(os.path.abspath(args.write_results)))
                out += [f"![time per call vs clip length and batch size]({rel})", ""]
        for op, sw in sweeps.items():
            out += sweep_table(op, sw)
    out += ["## CUDA", ""] + cuda_lines(cuda_rows) + [""]
    return "\n".join(out), ok


def run(args) -> int:
    """Runs the report (see the module docstring); returns 0 when every §6 target holds."""
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    log = (lambda *a, **k: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    if load > 0.5 * cores:
        log(f"warning: load average {load:.2f} on {cores} cores: other processes compete for the "
            f"cores; multithreaded implementations suffer most, so the ratios are unreliable")
    with_librosa = _librosa() is not None and not args.no_librosa
    ops = tuple(args.ops) if args.ops else OPS
    log("timing the ops on the DESIGN §6 workloads ...")
    results = run_ops(ops, WORKLOADS, args.repeats, with_librosa, log)
    if not args.no_memory:
        log("peak memory per call, one subprocess each ...")
        mem_ops = [o for o in ("frame_features", "centroid+bandwidth", "stft") if o in ops]
        impls = ("audiofx", "librosa", "torch")
        run_memory(results, mem_ops, impls, "256 clips x 4 s", log)
        if args.full:
            run_memory(results, mem_ops, impls, "one 60 s clip", log)
    sweeps = {}
    png = None
    if not args.no_sweep:
        log("size sweep ...")
        lengths = SWEEP_LENGTHS_S
        batches = SWEEP_BATCHES
        sweep_ops = ["frame_features"] + (["centroid+bandwidth"] if args.full else [])
        for op in sweep_ops:
            sweeps[op] = run_sweep(op, lengths, batches, max(3, args.repeats // 2 + 1),
                                   with_librosa, log)
        png = plot_sweep(sweeps, args.png)
    cuda_rows = run_cuda(args.repeats, log)
    text, ok = build_report(args, results, sweeps, cuda_rows, png, load,
                            time.perf_counter() - t_start)
    print(text)
    if args.write_results:
        os.makedirs(os.path.dirname(os.path.abspath(args.write_results)), exist_ok=True)
        with open(args.write_results, "w") as f:
            f.write(text + "\n")
        log(f"wrote {args.write_results}")
    return 0 if ok else 1


def add_arguments(p: argparse.ArgumentParser, png_default: str, results_default: str) -> None:
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per implementation "
                   "(default 5)")
    p.add_argument("--full", action="store_true",
                   help="also the spectral sweep and the 60 s clip's memory (about 3x longer)")
    p.add_argument("--ops", nargs="+", choices=OPS, default=None,
                   help="only these ops (default: all)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's, one per core)")
    p.add_argument("--no-librosa", action="store_true", help="skip librosa")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--no-sweep", action="store_true", help="skip the size sweep and the plot")
    p.add_argument("--png", default=png_default, help=f"plot path (default {png_default})")
    p.add_argument("--write-results", nargs="?", const=results_default, default=None,
                   metavar="PATH", help=f"write the report there (default {results_default})")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _check_args(args) -> Optional[str]:
    if args.repeats < 1:
        return "--repeats must be >= 1"
    if args.threads is not None and args.threads < 1:
        return "--threads must be >= 1"
    return None


def main(argv=None, prog="audiofx bench", png_default="bench_time_vs_length.png",
         results_default="RESULTS.md") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(p, png_default, results_default)
    args = p.parse_args(argv)
    err = _check_args(args)
    if err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    args.command_line = " ".join([prog] + list(sys.argv[1:] if argv is None else argv))
    return run(args)


def add_subcommands(subparsers) -> None:
    """``audiofx bench``: the §6 benchmark report (see :mod:`audiofx.bench`)."""
    p = subparsers.add_parser("bench", help="time audiofx against librosa, plain torch and the "
                              "memory floor (DESIGN §6); prints a markdown report")
    add_arguments(p, "bench_time_vs_length.png", "RESULTS.md")

    def func(args) -> int:
        err = _check_args(args)
        if err:
            print(f"audiofx bench: {err}", file=sys.stderr)
            return 2
        args.command_line = "audiofx bench " + " ".join(sys.argv[2:])
        return run(args)

    p.set_defaults(func=func)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
