"""numpy <-> torch at the compat boundary, with librosa's checks on audio buffers."""
from __future__ import annotations

import numpy as np
import torch


def audio_to_tensor(y, name: str = "y") -> torch.Tensor:
    """A float numpy array (..., n) as a CPU tensor sharing memory where possible."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point numpy array (float32 or float64), "
                        f"got dtype {y.dtype}")
    if y.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {y.dtype}")
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (..., n), got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"{name} must be finite (librosa rejects non-finite audio)")
    return torch.from_numpy(np.ascontiguousarray(y))
