"""Benchmarks of DESIGN.md §6 ("what fast means"): workloads and the baseline implementations.

Shared by the pytest-benchmark cases (``pytest benchmarks/``) and the one-process ratio scripts
(``python -m benchmarks.frame_features_ratio``), so that both time exactly the same code.

Workload: float32 at sr 22050, a batch of 256 clips x 4 s (shape ``(256, 88200)``) and one 60 s
clip (shape ``(1323000,)``); N = 2048, H = 512, center=True. The signals are a deterministic mix
of chirps and noise made in code (no audio files).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SR = 22050
BATCH_SHAPE = (256, 4 * SR)
LONG_SHAPE = (60 * SR,)
FRAME_LENGTH = 2048
HOP_LENGTH = 512
ZCR_THRESHOLD = 1e-10


def make_signal(shape, seed: int = 0, sr: int = SR) -> np.ndarray:
    """float32 ``shape`` signal in [-1, 1]-ish: per row a linear chirp (random start/end
    frequency, 30 Hz .. 8 kHz), a slower amplitude modulation, white noise, and short silences
    (exact zeros) so that zero crossings, silent frames and loud frames all occur."""
    rng = np.random.default_rng(seed)
    rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
    T = shape[-1]
    t = np.arange(T, dtype=np.float64) / sr
    dur = T / sr
    out = np.empty((rows, T), dtype=np.float32)
    for r in range(rows):
        f0, f1 = rng.uniform(30.0, 8000.0, size=2)
        phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t * t) + rng.uniform(0, 2 * np.pi)
        am = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(0.2, 3.0) * t)
        row = 0.6 * am * np.sin(phase) + rng.uniform(0.01, 0.3) * rng.standard_normal(T)
        n_gaps = rng.integers(0, 4)
        for _ in range(n_gaps):  # silences of 10 ms .. 300 ms
            start = rng.integers(0, T)
            row[start:start + rng.integers(sr // 100, 3 * sr // 10)] = 0.0
        out[r] = row
    return out.reshape(shape)


def batch_signal() -> np.ndarray:
    return make_signal(BATCH_SHAPE, seed=0)


def long_signal() -> np.ndarray:
    return make_signal(LONG_SHAPE, seed=1)


# ---- the implementations compared ---------------------------------------------------------------

def audiofx_frame_features(x: torch.Tensor, N: int = FRAME_LENGTH, H: int = HOP_LENGTH):
    import audiofx

    return tuple(audiofx.frame_features(x, frame_length=N, hop_length=H))


def librosa_frame_features(y: np.ndarray, N: int = FRAME_LENGTH, H: int = HOP_LENGTH):
    """librosa's rms + zero_crossing_rate (multichannel) + per-frame max of the zero-padded frames,
    librosa's singleton feature axis dropped: each ``(..., n_frames)``."""
    import librosa

    rms = librosa.feature.rms(y=y, frame_length=N, hop_length=H)[..., 0, :]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N, hop_length=H)[..., 0, :]
    pad = [(0, 0)] * (y.ndim - 1) + [(N // 2, N // 2)]
    ae = librosa.util.frame(np.pad(y, pad), frame_length=N, hop_length=H).max(axis=-2)
    return ae, rms, zcr


def torch_frame_features(x: torch.Tensor, N: int = FRAME_LENGTH, H: int = HOP_LENGTH,
                         threshold: float = ZCR_THRESHOLD):
    """The plain torch way: pad + unfold (a strided view of the frames), then reductions over them.
    Zero crossings as librosa: |x| <= threshold counts as 0, class = sign bit, edge padding."""
    p = N // 2
    frames = F.pad(x, (p, p)).unfold(-1, N, H)  # (..., n_frames, N) view, constant padding
    ae = frames.amax(dim=-1)
    rms = frames.pow(2).mean(dim=-1).sqrt()
    y = torch.where(x.abs() <= threshold, torch.zeros((), dtype=x.dtype), x)
    edge = torch.cat([y[..., :1].expand(*y.shape[:-1], p), y,
                      y[..., -1:].expand(*y.shape[:-1], p)], dim=-1)
    s = torch.signbit(edge).unfold(-1, N, H)
    crossings = (s[..., 1:] != s[..., :-1]).sum(dim=-1)
    zcr = crossings.to(x.dtype) / N
    return ae, rms, zcr


def dot_floor(x: torch.Tensor):
    """One read of the signal: ``torch.dot(x, x)`` over all samples (memory-bandwidth floor)."""
    v = x.reshape(-1)
    return torch.dot(v, v)
