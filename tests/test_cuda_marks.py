"""What the ``cuda`` mark does (tests/conftest.py): skip without a GPU; with a GPU, fail when
audiofx was built without its CUDA kernels, unless AUDIOFX_CUDA=0 says so. The decision by
hand, then the hooks in a pytest subprocess that sees a GPU and a CPU-only build."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import cuda_mark_action

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


def test_no_gpu_skips_with_the_usual_reason():
    for built in (False, True):
        for env in ({}, {"AUDIOFX_CUDA": "0"}, {"AUDIOFX_CUDA": "1"}):
            assert cuda_mark_action(False, built, env) == ("skip", "needs a CUDA device")


def test_gpu_with_cuda_kernels_runs():
    assert cuda_mark_action(True, True, {}) is None
    assert cuda_mark_action(True, True, {"AUDIOFX_CUDA": "0"}) is None


def test_gpu_without_cuda_kernels_fails_unless_audiofx_cuda_0():
    kind, reason = cuda_mark_action(True, False, {})
    assert kind == "fail" and "built without its CUDA kernels" in reason
    assert cuda_mark_action(True, False, {"AUDIOFX_CUDA": "1"})[0] == "fail"
    kind, reason = cuda_mark_action(True, False, {"AUDIOFX_CUDA": "0"})
    assert kind == "skip" and "AUDIOFX_CUDA=0" in reason


_SHIM = """
import importlib.util

import torch

spec = importlib.util.spec_from_file_location("audiofx_tests_conftest", {conftest!r})
real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real)
torch.cuda.is_available = lambda: True   # a GPU machine ...
real._built_with_cuda = lambda: False     # ... with a CPU-only build
pytest_collection_modifyitems = real.pytest_collection_modifyitems
pytest_runtest_setup = real.pytest_runtest_setup
"""

_TESTS = """
import pytest

# as tests/test_cuda.py marks its tests: its own skip when the build has no CUDA kernels
needs_kernels = pytest.mark.skipif(True, reason="this build has no CUDA kernels")


@pytest.mark.cuda
@needs_kernels
def test_marked():
    pass


def test_unmarked():
    pass
"""


@pytest.mark.parametrize("audiofx_cuda", [None, "0"])
def test_hooks_fail_marked_tests_on_a_gpu_machine_without_kernels(tmp_path, audiofx_cuda):
    (tmp_path / "conftest.py").write_text(_SHIM.format(conftest=os.path.join(TESTS,
                                                                             "conftest.py")))
    (tmp_path / "test_shim.py").write_text(textwrap.dedent(_TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    cuda: needs a CUDA device\n")
    env = {k: v for k, v in os.environ.items() if k != "AUDIOFX_CUDA"}
    if audiofx_cuda is not None:
        env["AUDIOFX_CUDA"] = audiofx_cuda
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                        str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=300)
    out = r.stdout + r.stderr
    if audiofx_cuda is None:
        assert r.returncode == 1, out
        assert "built without its CUDA kernels" in out and "1 passed, 1 error" in out, out
    else:
        assert r.returncode == 0, out
        assert "1 passed, 1 skipped" in out and "AUDIOFX_CUDA=0" in out, out
