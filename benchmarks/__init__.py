"""Benchmarks of DESIGN.md §6 ("what fast means").

The workloads, the implementations compared (audiofx, librosa, plain torch, the floors) and the
report live in :mod:`audiofx.bench`, so that the pytest-benchmark cases here
(``pytest benchmarks/``), ``python -m benchmarks.report`` and ``audiofx bench`` all time exactly
the same code.
"""
from audiofx.bench import (  # noqa: F401  (re-exported for the benchmark cases)
    FRAME_LENGTH,
    HOP_LENGTH,
    OPS,
    SPECTRAL_OPS,
    SR,
    WORKLOADS,
    dot_floor,
    implementations,
    make_signal,
    torch_centroid_bandwidth,
    torch_frame_features,
)
