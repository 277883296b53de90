"""Shared fixtures: deterministic test signals, the error measure, hypothesis settings, and the
``cuda`` mark's skip when no GPU is present."""
from __future__ import annotations

import json
import os
import sys

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


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


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
