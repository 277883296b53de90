"""Shared fixtures: deterministic test signals, the error measure, hypothesis settings, and what
the ``cuda`` mark does: skip without a GPU; with a GPU, fail when audiofx was built without its
CUDA kernels (a GPU machine must never pass its CUDA tests by skipping them), unless
``AUDIOFX_CUDA=0`` says that build was meant."""
from __future__ import annotations

import json
import os
import sys
from typing import Mapping, Optional, Tuple

import pytest
import torch
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

from reference import WORST_ERRORS as _WORST_ERRORS  # noqa: E402
from reference import make_signal, rel_err as _rel_err  # noqa: E402
from reference import record_error as _record_error  # noqa: E402

# Property tests are derandomized so CI sees the same examples on every run.
settings.register_profile(
    "audiofx",
    derandomize=True,
    deadline=None,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("AUDIOFX_HYPOTHESIS_PROFILE", "audiofx"))


def cuda_mark_action(has_gpu: bool, built_with_cuda: bool,
                     env: Mapping[str, str]) -> Optional[Tuple[str, str]]:
    """What happens to a test marked ``cuda``: None (it runs), ``("skip", reason)`` or
    ``("fail", reason)``."""
    if not has_gpu:
        return "skip", "needs a CUDA device"
    if built_with_cuda:
        return None
    if env.get("AUDIOFX_CUDA", "").strip() == "0":
        return "skip", "audiofx was built without its CUDA kernels on purpose (AUDIOFX_CUDA=0)"
    return "fail", ("a CUDA device is present but audiofx was built without its CUDA kernels "
                    "(audiofx._ops.built_with_cuda() is False): rebuild where nvcc and the CUDA "
                    "headers are found (bash scripts/install.sh; AUDIOFX_CUDA=1 makes a missing "
                    "toolkit a build error), or set AUDIOFX_CUDA=0 to skip the CUDA tests")


def _built_with_cuda() -> bool:
    try:
        from audiofx import _ops
    except ImportError:  # the extension is not built at all: every test fails on import anyway
        return False
    return _ops.built_with_cuda()


_CUDA_ACTION = pytest.StashKey[Optional[Tuple[str, str]]]()


def pytest_collection_modifyitems(config, items):
    has_gpu = torch.cuda.is_available()
    config.stash[_CUDA_ACTION] = cuda_mark_action(has_gpu, has_gpu and _built_with_cuda(),
                                                  os.environ)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Runs before the skip marks of the test itself are read (``skipif`` no kernels, in
    tests/test_cuda.py), so that the decision and its reason are the same for every ``cuda``
    test."""
    action = item.config.stash.get(_CUDA_ACTION, None)
    if action is None or "cuda" not in item.keywords:
        return
    kind, reason = action
    if kind == "fail":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def signals():
    """Factory ``signals(kind, length, dtype=np.float64, seed=0, shape=())`` -> numpy array."""
    return make_signal


@pytest.fixture
def rel_err():
    """``rel_err(a, ref)`` = max|a - ref| / max|ref| (absolute when ref is all zero)."""
    return _rel_err


@pytest.fixture(scope="session")
def record_error():
    """``record_error(key, err, case)`` keeps the largest ``err`` seen per ``key``."""
    return _record_error


def pytest_terminal_summary(terminalreporter):
    if not _WORST_ERRORS:
        return
    terminalreporter.section("audiofx worst measured errors (max|a-ref| / max|ref|)")
    for key in sorted(_WORST_ERRORS):
        err, case = _WORST_ERRORS[key]
        where = case if err > 0 else "(exact in every case)"
        terminalreporter.write_line(f"{key:40s} {err:.3e}   {where}")


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("AUDIOFX_PARITY_REPORT")
    if path and _WORST_ERRORS:
        with open(path, "w") as f:
            json.dump({k: {"max_err": err, "worst_case": case if err > 0 else "exact in every case"}
                       for k, (err, case) in sorted(_WORST_ERRORS.items())}, f, indent=2)
