"""pytest-benchmark cases: every op of audiofx.bench.OPS on both DESIGN §6 workloads, against
librosa (multichannel call), plain torch and the floors (dot, clone, bare rfft).

    pytest benchmarks/ --benchmark-group-by=param:op,param:workload
    python -m benchmarks.report        # the §6 ratios, interleaved in one process, as a report

Timings are for reading, never asserted; each case checks the result's shape against librosa's
(or the workload's frame count) so that a broken implementation cannot time as fast. librosa
runs 3 rounds only (slow).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import FRAME_LENGTH, HOP_LENGTH, OPS, implementations

pytestmark = [pytest.mark.slow]

IMPLS = ("audiofx", "librosa", "torch", "dot", "clone", "rfft")


def _shapes(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [tuple(o.shape) for o in outs]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", OPS)
def test_op(benchmark, op, impl, workload):
    name, y, x = workload
    impls = implementations(op, x, y)
    if impl not in impls:
        pytest.skip(f"{impl} is not a baseline of {op} (floors: rfft only for spectral ops)")
    benchmark.group = f"{op} | {name}"
    fn = impls[impl]
    if impl == "librosa":
        out = benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)
    else:
        out = benchmark(fn)
    if impl in ("audiofx", "torch"):
        ref = impls["librosa"]() if "librosa" in impls else None
        if ref is not None:
            assert _shapes(out) == _shapes(ref)
        if op != "frame" and op != "stft":
            n_frames = 1 + (y.shape[-1] + 2 * (FRAME_LENGTH // 2) - FRAME_LENGTH) // HOP_LENGTH
            assert all(s == (*y.shape[:-1], n_frames) for s in _shapes(out))
