"""numpy <-> torch at the compat boundary, with librosa's checks on audio buffers."""
from __future__ import annotations

import numpy as np
import torch


def audio_to_tensor(y, name: str = "y", finite: bool = True) -> torch.Tensor:
    """A float numpy array (..., n) as a CPU tensor sharing memory where possible.

    ``finite``: reject NaN and infinite samples with a ``ValueError``, where librosa's function
    rejects them (``util.valid_audio``: its STFT and everything built on it, the zero-crossing
    rate) with a ``ParameterError``; its ``feature.rms`` does not check (NaN frames)."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point numpy array (float32 or float64), "
                        f"got dtype {y.dtype}")
    if y.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {y.dtype}")
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (..., n), got {y.shape}")
    if finite and not np.isfinite(y).all():
        raise ValueError(f"{name} must be finite: audio buffer is not finite everywhere "
                         f"(librosa raises ParameterError)")
    return torch.from_numpy(np.ascontiguousarray(y))
