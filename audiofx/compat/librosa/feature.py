"""``librosa.feature`` mirrors: same keyword arguments, defaults and ``(..., 1, t)`` shapes."""
from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from ... import functional as F
from ._convert import audio_to_tensor

__all__ = ["rms", "zero_crossing_rate"]


def rms(*, y: np.ndarray, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
        pad_mode: str = "constant", dtype=np.float32) -> np.ndarray:
    """``librosa.feature.rms(y=...)``: root-mean-square energy per frame.

    Args:
        y: audio, ``(..., n)`` float32/float64.
        frame_length, hop_length, center, pad_mode: as librosa.
        dtype: output dtype (librosa also accumulates in it; audiofx accumulates in float64 and
            rounds once, so it is at least as accurate).

    Returns:
        ``(..., 1, t)`` array of ``dtype``.
    """
    x = audio_to_tensor(y)
    out = F.rms(x, frame_length, hop_length, center=center, pad_mode=pad_mode)
    return out.numpy()[..., None, :].astype(dtype, copy=False)


def zero_crossing_rate(y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True, threshold: float = 1e-10,
                       ref_magnitude: Optional[Union[float, Callable]] = None,
                       pad: bool = False, zero_pos: bool = True) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate``: crossings per frame / ``frame_length``.

    Args:
        y: audio, ``(..., n)``.
        frame_length, hop_length, center: as librosa (centring pads with ``edge``).
        threshold, ref_magnitude, zero_pos: as ``librosa.zero_crossings``; a callable
            ``ref_magnitude`` is applied to ``|frames|``, as librosa does.
        pad: count the first sample of every frame as a crossing (librosa's ``pad``).

    Returns:
        ``(..., 1, t)`` float64 array (librosa's dtype: a mean of booleans).
    """
    x = audio_to_tensor(y)
    if callable(ref_magnitude):
        frames = F.frame(x, frame_length, hop_length, center=center,
                         pad_mode="edge" if center else None)
        threshold = threshold * float(ref_magnitude(np.abs(frames.numpy())))
    elif ref_magnitude is not None:
        threshold = threshold * float(ref_magnitude)
    out = F.zero_crossing_rate(x, frame_length, hop_length, center=center,
                               threshold=float(threshold), zero_pos=zero_pos)
    # librosa's rate is a float64 mean of booleans; a float32 rate is count / N rounded once, so
    # the count is recovered exactly and divided again in float64.
    counts = np.rint(out.numpy().astype(np.float64) * frame_length) + (1.0 if pad else 0.0)
    return (counts / frame_length)[..., None, :]
