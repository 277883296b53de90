"""Shared data of the benchmarks: the DESIGN §6 workloads, made once per session in code."""
from __future__ import annotations

import pytest

from benchmarks import WORKLOADS, make_signal

_IDS = {"256 clips x 4 s": "batch_256x4s", "one 60 s clip": "clip_60s"}


@pytest.fixture(scope="session")
def signals():
    """workload name -> (numpy array, torch tensor sharing its memory), made on first use."""
    cache = {}

    def get(name):
        if name not in cache:
            shape = WORKLOADS[name]
            x = make_signal(shape, seed=0 if len(shape) > 1 else 1)
            cache[name] = (x.numpy(), x)
        return cache[name]

    return get


@pytest.fixture(params=list(WORKLOADS), ids=[_IDS[w] for w in WORKLOADS])
def workload(request, signals):
    """(name, numpy array, torch tensor) of one §6 workload."""
    y, x = signals(request.param)
    return request.param, y, x
