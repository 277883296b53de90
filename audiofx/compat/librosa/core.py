"""``librosa`` core mirrors (``librosa.stft``) and the argument conversions the spectral mirrors
share."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ... import functional as F
from ._convert import audio_to_tensor

__all__ = ["stft"]


def window_arg(window):
    """librosa's ``window`` as :func:`audiofx.functional.get_window` takes it: a supported name,
    or an array/tensor of window values (float64)."""
    if isinstance(window, str):
        return window
    if isinstance(window, (np.ndarray, torch.Tensor, list, tuple)) and not (
            isinstance(window, tuple) and window and isinstance(window[0], str)):
        return torch.as_tensor(np.asarray(window, dtype=np.float64))
    raise TypeError(f"window must be one of 'hann', 'hamming', 'blackman', 'rectangular' "
                    f"('boxcar', 'ones') or an array of window values; window functions and "
                    f"parameterised windows such as {window!r} are not supported")


def pad_mode_arg(center: bool, pad_mode):
    """librosa ignores ``pad_mode`` without centring: no padding."""
    return pad_mode if center else None


def stft(y: np.ndarray, *, n_fft: int = 2048, hop_length: Optional[int] = None,
         win_length: Optional[int] = None, window="hann", center: bool = True, dtype=None,
         pad_mode: str = "constant", out: Optional[np.ndarray] = None) -> np.ndarray:
    """``librosa.stft``: complex STFT ``(..., 1 + n_fft // 2, n_frames)``.

    Args:
        y: audio, ``(..., n)`` float32/float64.
        n_fft, hop_length, win_length, center, pad_mode: as librosa (``pad_mode="wrap"`` is
            supported here; librosa rejects it).
        window: a name among hann, hamming, blackman, rectangular/boxcar/ones, or an array of
            ``win_length`` values (librosa also takes callables and parameterised windows).
        dtype: complex output dtype; default the complex type of ``y`` (complex64 for float32).
        out: optional preallocated complex array, filled as librosa fills it.

    Returns:
        ``(..., 1 + n_fft // 2, n_frames)`` complex array (``out`` or a view of it when given).
        float32 input is transformed in float32 (librosa windows in float64, then rounds), so
        results agree to float32 rounding.
    """
    x = audio_to_tensor(y)
    S = F.stft(x, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
               window=window_arg(window), center=center,
               pad_mode=pad_mode_arg(center, pad_mode)).numpy()
    if dtype is not None:
        S = S.astype(dtype, copy=False)
    if out is None:
        return S
    if not np.iscomplexobj(out):
        raise TypeError(f"out must be a complex array, got dtype {out.dtype}")
    if out.shape[:-1] != S.shape[:-1] or out.shape[-1] < S.shape[-1]:
        raise ValueError(f"out has shape {out.shape}; expected {S.shape} (or more frames)")
    target = out if out.shape == S.shape else out[..., : S.shape[-1]]
    target[...] = S
    return target
