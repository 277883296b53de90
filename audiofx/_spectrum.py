"""The windowed spectrum of the frames, defined once: what the STFT-based functions
(:func:`audiofx.functional.spectral.magnitude_spectrogram`, the spectral set of
:mod:`audiofx.spectral`) and the spectral backward (:mod:`audiofx._ops`) transform.

Below the functional layer (no argument checks here: callers pass checked arguments)."""
from __future__ import annotations

from typing import Optional

import torch

from . import _C  # noqa: F401  (loading the library registers torch.ops.audiofx.*)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The precision in which the spectral functions window and transform the frames of ``x``:
    float64 on CPU (as librosa, whose float32 STFT is float64 inside) and for float64; float32
    on CUDA for float32/float16/bfloat16."""
    return torch.float64 if x.dtype == torch.float64 or x.device.type == "cpu" else torch.float32


def frame_spectrum(x: torch.Tensor, window: torch.Tensor, n_fft: int, hop_length: int,
                   center: bool, pad_mode: str,
                   lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``rfft`` of the windowed frames of ``x`` in :func:`compute_dtype`: complex
    ``(..., n_frames, n_fft // 2 + 1)`` (frames first: the layout the FFT writes).

    ``window``: ``(n_fft,)`` (any real dtype; used in the compute dtype); ``pad_mode``: the op's
    string; ``lengths``: the ops' per-row lengths (int64 on x's device) or None."""
    dt = compute_dtype(x)
    frames = torch.ops.audiofx.stft_frames(x.to(dt), window.to(dt), n_fft, hop_length, center,
                                           pad_mode, lengths)
    return torch.fft.rfft(frames, dim=-1)
