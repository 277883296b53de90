"""The workloads of DESIGN §6: the fixed geometry and the deterministic test signal."""
from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import torch

SR = 22050
FRAME_LENGTH = 2048
HOP_LENGTH = 512
ZCR_THRESHOLD = 1e-10

#: The workloads of DESIGN §6: name -> shape (float32).
WORKLOADS: Dict[str, Tuple[int, ...]] = {
    "256 clips x 4 s": (256, 4 * SR),
    "one 60 s clip": (60 * SR,),
}
#: The §6 batch: the workload of the geometry and lengths tables and of the memory figures.
BATCH_WORKLOAD = "256 clips x 4 s"


def workload_seed(shape: Sequence[int]) -> int:
    """The signal seed of a workload: 0 for a batch, 1 for a single clip (as every table uses)."""
    return 0 if len(shape) > 1 else 1


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
