"""``librosa.power_to_db`` / ``librosa.amplitude_to_db`` mirrors (numpy in, numpy out)."""
from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np
import torch

from ... import spectral as _spectral

__all__ = ["power_to_db", "amplitude_to_db"]


def _as_tensor(S) -> tuple:
    S = np.asarray(S)
    if np.iscomplexobj(S):
        S = np.abs(S)
    if S.dtype not in (np.float32, np.float64):
        S = S.astype(np.float64)
    return S, torch.from_numpy(np.ascontiguousarray(S))


def _ref(ref, magnitude: np.ndarray):
    if callable(ref):
        return float(ref(magnitude))
    return float(np.abs(ref))


def power_to_db(S, *, ref: Union[float, Callable] = 1.0, amin: float = 1e-10,
                top_db: Optional[float] = 80.0) -> np.ndarray:
    """``librosa.power_to_db``: ``10 log10(max(amin, S) / max(amin, ref))``, floored at
    ``max - top_db`` over the whole array. A callable ``ref`` (``np.max``) is applied to ``S``
    (its magnitude when complex). Returns an array of ``S``'s float dtype (float64 for
    integers)."""
    S, t = _as_tensor(S)
    return _spectral.power_to_db(t, ref=_ref(ref, S), amin=amin, top_db=top_db).numpy()


def amplitude_to_db(S, *, ref: Union[float, Callable] = 1.0, amin: float = 1e-5,
                    top_db: Optional[float] = 80.0) -> np.ndarray:
    """``librosa.amplitude_to_db``: ``power_to_db(|S| ** 2, ref=ref ** 2, amin=amin ** 2,
    top_db=top_db)``, a callable ``ref`` applied to ``|S|``."""
    S, t = _as_tensor(S)
    mag = np.abs(S)
    return _spectral.amplitude_to_db(t, ref=_ref(ref, mag), amin=amin, top_db=top_db).numpy()
