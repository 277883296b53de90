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

from benchmarks import FRAME_LENGTH, HOP_LENGTH, OPS, SPECTRAL_OPS, implementations

pytestmark = [pytest.mark.slow]

IMPLS = ("audiofx", "librosa", "torch", "dot", "clone")
#: (op, implementation): every op against every baseline, plus the bare-rfft floor for the
#: spectral ops (the only ones it is a floor of).
CASES = [(op, impl) for op in OPS for impl in IMPLS + (("rfft",) if op in SPECTRAL_OPS else ())]


def _shapes(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [tuple(o.shape) for o in outs]


@pytest.mark.parametrize("op,impl", CASES)
def test_op(benchmark, op, impl, workload):
    name, y, x = workload
    impls = implementations(op, x, y)
    benchmark.group = f"{op} | {name}"
    fn = impls[impl]
    if impl == "librosa":
        out = benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)
    else:
        out = benchmark(fn)
    if impl in ("audiofx", "torch"):
        assert _shapes(out) == _shapes(impls["librosa"]())
        if op != "frame" and op != "stft":
            n_frames = 1 + (y.shape[-1] + 2 * (FRAME_LENGTH // 2) - FRAME_LENGTH) // HOP_LENGTH
            assert all(s == (*y.shape[:-1], n_frames) for s in _shapes(out))
