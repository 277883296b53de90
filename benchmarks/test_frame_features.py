"""pytest-benchmark cases for the frame features (DESIGN.md §6): ae + rms + zcr together.

    pytest benchmarks/test_frame_features.py            # timings, grouped per workload
    python -m benchmarks.frame_features_ratio           # the §6 ratios, measured in one process

Groups: ``frame_features`` (256 clips x 4 s) and ``frame_features_60s`` (one 60 s clip); in each,
audiofx, librosa (rms + zero_crossing_rate + per-frame max), a plain torch pad + unfold
implementation, and the memory floor ``torch.dot(x, x)``. librosa runs 3 rounds only (slow).
Timings are for reading, not asserted: the targets are checked as ratios by the script.
"""
from __future__ import annotations

import pytest

from benchmarks import (
    FRAME_LENGTH,
    HOP_LENGTH,
    audiofx_frame_features,
    dot_floor,
    librosa_frame_features,
    torch_frame_features,
)

pytestmark = [pytest.mark.slow, pytest.mark.benchmark(group="frame_features")]


def _n_frames(T: int) -> int:
    return 1 + (T + 2 * (FRAME_LENGTH // 2) - FRAME_LENGTH) // HOP_LENGTH


def _check_shapes(out, shape):
    expected = (*shape[:-1], _n_frames(shape[-1]))
    for o in out:
        assert tuple(o.shape) == expected, (tuple(o.shape), expected)


def test_audiofx(benchmark, workload):
    _, x = workload
    out = benchmark(audiofx_frame_features, x)
    _check_shapes(out, x.shape)


def test_librosa(benchmark, workload):
    y, _ = workload
    out = benchmark.pedantic(librosa_frame_features, args=(y,), rounds=3, iterations=1)
    _check_shapes(out, y.shape)


def test_torch_unfold(benchmark, workload):
    _, x = workload
    out = benchmark(torch_frame_features, x)
    _check_shapes(out, x.shape)


def test_dot_floor(benchmark, workload):
    _, x = workload
    benchmark(dot_floor, x)
