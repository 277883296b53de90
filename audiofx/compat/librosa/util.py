"""``librosa.util`` mirrors."""
from __future__ import annotations

import numpy as np
import torch

from ... import functional as F

__all__ = ["frame"]


def frame(x: np.ndarray, *, frame_length: int, hop_length: int, axis: int = -1,
          writeable: bool = False, subok: bool = False) -> np.ndarray:
    """``librosa.util.frame``: frames of ``x`` without padding, librosa's layout.

    Args:
        x: ``(..., n)`` float array (``axis=-1``) or ``(n, ...)`` (``axis=0``).
        frame_length, hop_length: as librosa; requires ``n >= frame_length``.
        writeable, subok: accepted for compatibility; the result is always a new, writeable
            array (librosa returns a read-only view).

    Returns:
        ``(..., frame_length, n_frames)`` for ``axis=-1``, ``(n_frames, frame_length, ...)`` for
        ``axis=0``.
    """
    if axis not in (-1, 0):
        raise ValueError(f"axis must be -1 or 0, got {axis}")
    xa = np.asarray(x)
    if not np.issubdtype(xa.dtype, np.floating) or xa.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be a float32 or float64 array, got dtype {xa.dtype}")
    if axis == 0:
        xa = np.moveaxis(xa, 0, -1)
    frames = F.frame(torch.from_numpy(np.ascontiguousarray(xa)), frame_length, hop_length,
                     center=False, pad_mode=None).numpy()
    out = np.swapaxes(frames, -1, -2)  # (..., N, n_frames)
    if axis == 0:
        out = np.moveaxis(out, (-2, -1), (1, 0))
    return np.ascontiguousarray(out)
