"""Shared data of the benchmarks: made once per session, in code (benchmarks/__init__.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import batch_signal, long_signal


@pytest.fixture(scope="session")
def batch_np() -> np.ndarray:
    """(256, 88200) float32: 256 clips x 4 s at 22050 Hz."""
    return batch_signal()


@pytest.fixture(scope="session")
def long_np() -> np.ndarray:
    """(1323000,) float32: one 60 s clip at 22050 Hz."""
    return long_signal()


@pytest.fixture(scope="session")
def batch_torch(batch_np) -> torch.Tensor:
    return torch.from_numpy(batch_np)


@pytest.fixture(scope="session")
def long_torch(long_np) -> torch.Tensor:
    return torch.from_numpy(long_np)


@pytest.fixture(params=[
    pytest.param("batch", id="batch_256x4s"),
    pytest.param("long", id="clip_60s",
                 marks=pytest.mark.benchmark(group="frame_features_60s")),
])
def workload(request):
    """(numpy array, torch tensor sharing its memory) of the workload."""
    name = "batch" if request.param == "batch" else "long"
    y = request.getfixturevalue(f"{name}_np")
    x = request.getfixturevalue(f"{name}_torch")
    return y, x
