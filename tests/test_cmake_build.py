"""The CMake build of the op library (DESIGN.md §5): CMakeLists.txt builds the same sources as
setup.py into ``libaudiofx_ops.so`` for C++/libtorch users.

The library is configured and built once per session into a pytest tmp dir (or taken from
``$AUDIOFX_CMAKE_BUILD_DIR`` when that folder already holds a built ``libaudiofx_ops.so``, as CI
may prebuild it), then loaded with ``torch.ops.load_library`` in a fresh Python process that does
not import audiofx (whose own extension registers the same op names), and ``rms`` /
``frame_features`` are checked there against a float64 numpy reference.

cmake missing is a failure, not a skip: CI installs it (the ``cmake`` pip package of the ``test``
extra, or a system cmake).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB_NAME = "libaudiofx_ops.so"
BUILD_DIR_ENV = "AUDIOFX_CMAKE_BUILD_DIR"

pytestmark = pytest.mark.slow


def _venv_tool(name: str) -> str | None:
    """``name`` next to this interpreter (a venv's bin/, where pip puts cmake and ninja), else on
    PATH."""
    cand = Path(sys.executable).parent / name
    if cand.is_file() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which(name)


def _cmake() -> str | None:
    exe = _venv_tool("cmake")
    if exe:
        return exe
    try:  # the `cmake` pip package, when its script is not on PATH
        import cmake  # type: ignore[import-not-found]

        cand = Path(cmake.CMAKE_BIN_DIR) / "cmake"
        if cand.is_file():
            return str(cand)
    except (ImportError, AttributeError):
        pass
    return None


def _run(cmd, log, timeout):
    log.append("$ " + " ".join(map(str, cmd)))
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=timeout,
    )
    log.append(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(log)[-8000:]
        pytest.fail(f"{cmd[0]} failed with exit code {proc.returncode}:\n{tail}")


@pytest.fixture(scope="session")
def cmake_library(tmp_path_factory) -> Path:
    """Path of a built libaudiofx_ops.so."""
    prebuilt = os.environ.get(BUILD_DIR_ENV)
    if prebuilt and (Path(prebuilt) / LIB_NAME).is_file():
        return Path(prebuilt) / LIB_NAME

    cmake = _cmake()
    if cmake is None:
        pytest.fail(
            "cmake not found (neither next to the Python interpreter nor on PATH): install it, "
            "e.g. `pip install cmake`, to build the CMake op library"
        )
    import torch  # only for its CMake prefix path; the library is loaded in a subprocess

    build = tmp_path_factory.mktemp("cmake-build")
    configure = [
        cmake, "-S", ROOT, "-B", build,
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    ninja = _venv_tool("ninja")
    if ninja:
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    log: list[str] = []
    _run(configure, log, timeout=600)
    _run([cmake, "--build", build, "-j", str(max(1, os.cpu_count() or 1))], log, timeout=1800)
    lib = build / LIB_NAME
    if not lib.is_file():
        pytest.fail(f"the build did not produce {lib}:\n" + "\n".join(log)[-4000:])
    return lib


# Runs in a fresh interpreter: loads the library with torch.ops.load_library (never importing
# audiofx) and compares rms / frame_features with numpy in float64.
CHECK_SCRIPT = textwrap.dedent(
    r"""
    import sys

    import numpy as np
    import torch

    lib = sys.argv[1]
    torch.ops.load_library(lib)
    assert "audiofx" not in sys.modules, "the check must not import the audiofx package"
    ops = torch.ops.audiofx
    for name in ("rms", "frame_features"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"audiofx::{name}", "CPU"), name

    THRESHOLD = 1e-10

    def signal(shape, seed):
        # chirps + noise, exact zeros and sub-threshold values (zcr's "counts as 0" rule)
        rng = np.random.default_rng(seed)
        T = shape[-1]
        t = np.arange(T) / 22050.0
        f0 = rng.uniform(50, 400, size=shape[:-1] + (1,))
        x = np.sin(2 * np.pi * f0 * t * (1 + 3 * t)) + 0.3 * rng.standard_normal(shape)
        x[..., ::97] = 0.0
        x[..., 5::101] = -0.0
        x[..., 7::89] = rng.choice([-1.0, 1.0], size=x[..., 7::89].shape) * 1e-12
        return x

    def frames(x, N, H, mode):
        pad = [(0, 0)] * (x.ndim - 1) + [(N // 2, N // 2)]
        p = np.pad(x, pad, mode=mode)
        return np.lib.stride_tricks.sliding_window_view(p, N, axis=-1)[..., ::H, :]

    def reference(x, N, H):
        f = frames(x, N, H, "constant")
        rms = np.sqrt(np.mean(f * f, axis=-1))
        ae = f.max(axis=-1)
        ae_abs = np.abs(f).max(axis=-1)
        # librosa.zero_crossings: |x| <= threshold -> 0, class = sign bit, 'edge' padding
        y = x.copy()
        y[np.abs(y) <= THRESHOLD] = 0
        s = frames(np.signbit(y), N, H, "edge")
        zcr = (s[..., 1:] != s[..., :-1]).sum(axis=-1) / N
        return rms, ae, ae_abs, zcr

    def max_rel(a, b):
        a = a.numpy()
        assert a.shape == b.shape, (a.shape, b.shape)
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))

    def max_abs(a, b):
        a = a.numpy()
        assert a.shape == b.shape, (a.shape, b.shape)
        return float(np.max(np.abs(a - b)))

    cases = [  # (shape, N, H)
        ((3, 88200), 2048, 512),
        ((22050,), 2048, 512),
        ((2, 3, 5001), 300, 128),
        ((4, 1000), 2048, 512),  # T < N: frames made mostly of padding
        ((2, 257), 7, 3),
    ]
    worst = {"rms": 0.0, "ae": 0.0, "zcr": 0.0}
    for i, (shape, N, H) in enumerate(cases):
        x = signal(shape, seed=i)
        xt = torch.from_numpy(x)
        rms_ref, ae_ref, ae_abs_ref, zcr_ref = reference(x, N, H)

        r = ops.rms(xt, N, H, True, "constant")
        assert r.dtype == torch.float64 and r.is_contiguous()
        e_rms = max_rel(r, rms_ref)
        ae, r2, z = ops.frame_features(xt, N, H, True, "constant", "edge", False, THRESHOLD, True)
        e_rms2 = max_rel(r2, rms_ref)
        e_ae = max_abs(ae, ae_ref)
        e_zcr = max_abs(z, zcr_ref)
        ae_abs, _, _ = ops.frame_features(xt, N, H, True, "constant", "edge", True, THRESHOLD, True)
        e_ae_abs = max_abs(ae_abs, ae_abs_ref)
        print(f"shape={shape} N={N} H={H}: rms rel {e_rms:.2e} / {e_rms2:.2e} (frame_features), "
              f"ae abs {e_ae:.2e}, |ae| abs {e_ae_abs:.2e}, zcr abs {e_zcr:.2e}")
        worst["rms"] = max(worst["rms"], e_rms, e_rms2)
        worst["ae"] = max(worst["ae"], e_ae, e_ae_abs)
        worst["zcr"] = max(worst["zcr"], e_zcr)

    print("max errors:", worst)
    assert worst["rms"] < 1e-12, worst
    assert worst["ae"] == 0.0, worst
    assert worst["zcr"] < 1e-12, worst
    assert "audiofx" not in sys.modules
    print("CMAKE_LIBRARY_OK")
    """
)


def test_cmake_library_loads_and_matches_numpy(cmake_library, tmp_path):
    proc = subprocess.run(  # cwd outside the checkout: nothing of it is on the path
        [sys.executable, "-c", CHECK_SCRIPT, str(cmake_library)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600,
    )
    print(proc.stdout)
    assert proc.returncode == 0, f"check process failed (exit {proc.returncode}):\n{proc.stdout}"
    assert "CMAKE_LIBRARY_OK" in proc.stdout, proc.stdout
