"""``librosa.filters`` mirrors."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch

from ... import spectral as _spectral

__all__ = ["mel"]

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def mel(*, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
        fmax: Optional[float] = None, htk: bool = False,
        norm: Union[str, float, None] = "slaney", dtype=np.float32) -> np.ndarray:
    """``librosa.filters.mel``: the ``(n_mels, 1 + n_fft // 2)`` mel filterbank of ``dtype``
    (float32 by default), computed by :func:`audiofx.mel_filterbank` (float64 inside, librosa's
    rounding order for float32)."""
    dtype = np.dtype(dtype)
    tdtype = _TORCH_DTYPES.get(dtype, torch.float64)
    weights = _spectral.mel_filterbank(sr=sr, n_fft=int(n_fft), n_mels=int(n_mels), fmin=fmin,
                                       fmax=fmax, htk=bool(htk), norm=norm, dtype=tdtype)
    return weights.numpy().astype(dtype, copy=False)
