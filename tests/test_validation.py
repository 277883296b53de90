"""Argument checking: bad input raises ValueError/TypeError whose message names the argument, in
Python, before any ``torch.ops.audiofx`` kernel runs (DESIGN §1: functional does the checks);
the raw ops reject the same input with an exception (TORCH_CHECK_VALUE -> ValueError,
TORCH_CHECK_TYPE -> TypeError) instead of crashing.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import audiofx as afx

# ---------------------------------------------------------------------------------------------
# Helpers


class OpRecorder(TorchDispatchMode):
    """Records every ``audiofx::*`` op that reaches the dispatcher while active."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func).startswith("audiofx."):
            self.calls.append(str(func))
        return func(*args, **(kwargs or {}))


def raises_before_kernel(exc, match, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` raises ``exc`` matching ``match`` without calling any kernel."""
    rec = OpRecorder()
    with rec:
        with pytest.raises(exc, match=match) as info:
            fn(*args, **kwargs)
    assert rec.calls == [], f"validation ran after the kernel {rec.calls}: {info.value}"
    return info.value


X = torch.randn(1000, dtype=torch.float64)
DEFAULTS = dict(frame_length=16, hop_length=4)

PUBLIC = {
    "frame": afx.frame,
    "amplitude_envelope": afx.amplitude_envelope,
    "rms": afx.rms,
    "zero_crossing_rate": afx.zero_crossing_rate,
    "frame_features": afx.frame_features,
}
NAMES = list(PUBLIC)


def call(name, x=X, **overrides):
    kw = {**DEFAULTS, **overrides}
    return PUBLIC[name](x, **kw)


def test_recorder_sees_kernels():
    # The "before any kernel" check is only meaningful if the recorder sees the op calls.
    rec = OpRecorder()
    with rec:
        for name in NAMES:
            call(name)
    assert len(rec.calls) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_valid_call_passes(name):
    # Integral types other than int are accepted (numpy ints, e.g. from np.arange).
    call(name, frame_length=np.int64(16), hop_length=np.int32(4))


# ---------------------------------------------------------------------------------------------
# frame_length / hop_length


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arg", ["frame_length", "hop_length"])
@pytest.mark.parametrize("value", [0, -1, -2048])
def test_length_not_positive_is_value_error(name, arg, value):
    raises_before_kernel(ValueError, arg, call, name, **{arg: value})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arg", ["frame_length", "hop_length"])
@pytest.mark.parametrize("value", [True, False, 16.0, 2.5, "16", None, np.float64(16),
                                   torch.tensor(16)], ids=repr)
def test_length_not_int_is_type_error(name, arg, value):
    raises_before_kernel(TypeError, arg, call, name, **{arg: value})


# ---------------------------------------------------------------------------------------------
# pad_mode and center

ALLOWED_CENTER = r"'constant', 'edge', 'reflect', 'wrap'"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["zeros", "symmetric", "Constant", "", "none", None])
def test_unknown_centred_pad_mode(name, mode):
    err = raises_before_kernel(ValueError, "pad_mode", call, name, center=True, pad_mode=mode)
    assert ALLOWED_CENTER in str(err), str(err)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["zeros", "symmetric", "WRAP"])
def test_unknown_uncentred_pad_mode(name, mode):
    err = raises_before_kernel(ValueError, "pad_mode", call, name, center=False, pad_mode=mode)
    assert "'wrap'" in str(err) and "None" in str(err), str(err)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("N,T", [(16, 8), (16, 1), (2048, 1024), (3, 1)])
def test_reflect_needs_more_than_half_a_frame(name, N, T):
    x = torch.randn(T)
    raises_before_kernel(ValueError, "reflect", call, name, x, frame_length=N, center=True,
                         pad_mode="reflect")
    call(name, torch.randn(N // 2 + 1), frame_length=N, center=True, pad_mode="reflect")  # ok


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("N,T", [(16, 15), (2048, 100), (2, 1)])
def test_no_padding_needs_a_full_frame(name, N, T):
    raises_before_kernel(ValueError, "frame_length", call, name, torch.randn(T), frame_length=N,
                         center=False, pad_mode=None)
    call(name, torch.randn(N), frame_length=N, center=False, pad_mode=None)  # exactly N: ok


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0], ids=repr)
def test_center_not_bool(name, value):
    raises_before_kernel(TypeError, "center", call, name, center=value)


# ---------------------------------------------------------------------------------------------
# x


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 100), ()], ids=str)
def test_empty_or_shapeless_x(name, shape):
    x = torch.zeros(shape, dtype=torch.float32) if shape else torch.tensor(1.0)
    raises_before_kernel(ValueError, r"\bx\b", call, name, x)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8,
                                   torch.bool, torch.complex64, torch.complex128])
def test_non_floating_x(name, dtype):
    x = torch.ones(100, dtype=dtype)
    raises_before_kernel(TypeError, r"\bx\b.*" + str(dtype).replace("torch.", ""), call, name, x)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_cpu(name, dtype):
    raises_before_kernel(TypeError, "CUDA", call, name, torch.ones(100, dtype=dtype))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("x", [np.zeros(100), [0.0] * 100, 3.0, None],
                         ids=["ndarray", "list", "float", "None"])
def test_x_not_a_tensor(name, x):
    raises_before_kernel(TypeError, r"\bx\b.*torch\.Tensor", call, name, x)


# ---------------------------------------------------------------------------------------------
# Op-specific arguments

ZCR_NAMES = ["zero_crossing_rate", "frame_features"]


@pytest.mark.parametrize("name", ZCR_NAMES)
@pytest.mark.parametrize("value", [-1e-12, -0.5, math.nan, math.inf, -math.inf])
def test_threshold_out_of_range(name, value):
    raises_before_kernel(ValueError, "threshold", call, name, threshold=value)


@pytest.mark.parametrize("name", ZCR_NAMES)
@pytest.mark.parametrize("value", ["0.1", None, True, torch.tensor([0.1])], ids=repr)
def test_threshold_not_a_number(name, value):
    raises_before_kernel(TypeError, "threshold", call, name, threshold=value)


@pytest.mark.parametrize("name", ZCR_NAMES)
@pytest.mark.parametrize("value", [1, None, "True"])
def test_zero_pos_not_bool(name, value):
    raises_before_kernel(TypeError, "zero_pos", call, name, zero_pos=value)


@pytest.mark.parametrize("name", ["amplitude_envelope", "frame_features"])
@pytest.mark.parametrize("value", [1, None, "yes"])
def test_absolute_not_bool(name, value):
    raises_before_kernel(TypeError, "absolute", call, name, absolute=value)


@pytest.mark.parametrize("pad_mode,zcr_pad_mode", [
    ("wrap", "edge"), ("wrap", "constant"), (None, "wrap"), ("constant", "wrap"),
])
def test_frame_features_uncentred_zcr_pad_mode_must_match(pad_mode, zcr_pad_mode):
    raises_before_kernel(ValueError, "zcr_pad_mode", afx.frame_features, X, 16, 4, center=False,
                         pad_mode=pad_mode, zcr_pad_mode=zcr_pad_mode)


@pytest.mark.parametrize("center,zcr_pad_mode", [(True, "bogus"), (True, "none"),
                                                 (False, "symmetric")])
def test_frame_features_unknown_zcr_pad_mode(center, zcr_pad_mode):
    raises_before_kernel(ValueError, "zcr_pad_mode", afx.frame_features, X, 16, 4,
                         center=center, zcr_pad_mode=zcr_pad_mode)


def test_frame_features_zcr_reflect_too_short():
    raises_before_kernel(ValueError, "zcr_pad_mode", afx.frame_features, torch.randn(8), 16, 4,
                         center=True, pad_mode="constant", zcr_pad_mode="reflect")


# ---------------------------------------------------------------------------------------------
# num_frames


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(frame_length=0), ValueError, "frame_length"),
    (dict(hop_length=-3), ValueError, "hop_length"),
    (dict(hop_length=1.5), TypeError, "hop_length"),
    (dict(frame_length=True), TypeError, "frame_length"),
    (dict(pad_mode="zeros"), ValueError, "pad_mode"),
    (dict(center=1), TypeError, "center"),
    (dict(center=True, pad_mode="reflect", frame_length=4096), ValueError, "reflect"),
    (dict(center=False, pad_mode=None, frame_length=4096), ValueError, "frame_length"),
])
def test_num_frames_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        afx.num_frames(1000, **kwargs)


# ---------------------------------------------------------------------------------------------
# The raw ops reject bad arguments with an exception (the C++ checks), not a crash.
#
# A C++ kernel that divides by a zero hop or reads out of bounds would kill the interpreter (and
# with it the whole test session), so the bad calls run in a child interpreter that imports torch
# once and forks one grandchild per case; a grandchild killed by a signal marks its case crashed.

RAW = torch.ops.audiofx


def raw_call(name, x, N=16, H=4, center=True, mode="constant", zcr_mode=None, thr=1e-10):
    if name == "frame":
        return RAW.frame(x, N, H, center, mode)
    if name == "amplitude_envelope":
        return RAW.amplitude_envelope(x, N, H, center, mode, False)
    if name == "rms":
        return RAW.rms(x, N, H, center, mode)
    if name == "zero_crossing_rate":
        return RAW.zero_crossing_rate(x, N, H, center, mode, thr, True)
    if zcr_mode is None:
        zcr_mode = "edge" if center else mode
    return RAW.frame_features(x, N, H, center, mode, zcr_mode, False, thr, True)


RAW_INPUTS = {
    "x1000": lambda: torch.randn(1000, dtype=torch.float64),
    "empty": lambda: torch.zeros(0),
    "empty_rows": lambda: torch.zeros(3, 0),
    "scalar": lambda: torch.tensor(1.0),
    "int64": lambda: torch.ones(100, dtype=torch.int64),
    "bool": lambda: torch.ones(100, dtype=torch.bool),
    "complex64": lambda: torch.ones(100, dtype=torch.complex64),
    "float16": lambda: torch.ones(100, dtype=torch.float16),
}

_V, _T = "ValueError", "TypeError"
_ARG_CASES = [
    # (id, input, kwargs, expected exception type names, message regex)
    ("N0", "x1000", dict(N=0), (_V,), "frame_length"),
    ("N-5", "x1000", dict(N=-5), (_V,), "frame_length"),
    ("H0", "x1000", dict(H=0), (_V,), "hop_length"),
    ("H0-endwrap", "x1000", dict(H=0, center=False, mode="wrap"), (_V,), "hop_length"),
    ("H0-none", "x1000", dict(H=0, center=False, mode="none"), (_V,), "hop_length"),
    ("H-1", "x1000", dict(H=-1), (_V,), "hop_length"),
    ("mode-bogus", "x1000", dict(mode="bogus"), (_V,), "pad_mode"),
    ("mode-none-centred", "x1000", dict(mode="none"), (_V,), "pad_mode"),
    ("mode-bogus-uncentred", "x1000", dict(center=False, mode="bogus"), (_V,), "pad_mode"),
    ("reflect-short", "x1000", dict(mode="reflect", N=2000), (_V,), "reflect"),
    ("none-short", "x1000", dict(center=False, mode="none", N=1001), (_V,), "frame_length"),
    ("empty", "empty", {}, (_V,), "x must be"),
    ("empty-rows", "empty_rows", {}, (_V,), "x must be"),
    ("scalar", "scalar", {}, (_V,), "x must be"),
    ("int64", "int64", {}, (_T,), "x must be"),
    ("bool", "bool", {}, (_T,), "x must be"),
    ("complex64", "complex64", {}, (_T,), "x must be"),
    # No CPU kernel for float16: any exception (the dispatch macro's), just not a crash.
    ("float16", "float16", {}, (_T, "NotImplementedError", "RuntimeError"), ""),
]
_ZCR_CASES = [
    ("thr-negative", "x1000", dict(thr=-1e-3), (_V,), "threshold"),
    ("thr-minus-inf", "x1000", dict(thr=-math.inf), (_V,), "threshold"),
]
_FF_CASES = [
    # center=False: end-wrap and no padding frame 1000 samples differently for N=16, H=5.
    ("zcr-mode-mismatch", "x1000", dict(H=5, center=False, mode="wrap", zcr_mode="none"),
     (_V,), "zcr_pad_mode"),
    ("zcr-mode-bogus", "x1000", dict(zcr_mode="bogus"), (_V,), "pad_mode"),
]

RAW_CASES = {}
for _name in NAMES:
    for _cid, _x, _kw, _exc, _match in (
        _ARG_CASES + (_ZCR_CASES if _name in ZCR_NAMES else [])
        + (_FF_CASES if _name == "frame_features" else [])
    ):
        RAW_CASES[f"{_name}-{_cid}"] = (_name, _x, _kw, _exc, _match)

_CHILD = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import test_validation as tv
results = {}
for cid in sys.argv[2:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # grandchild: run one case, report, exit without cleanup
        os.close(r)
        name, x, kw, _, _ = tv.RAW_CASES[cid]
        try:
            tv.raw_call(name, tv.RAW_INPUTS[x](), **kw)
            res = {"exc": None, "msg": ""}
        except Exception as e:
            res = {"exc": type(e).__name__, "msg": str(e)}
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        results[cid] = {"exc": "CRASH (killed by signal %d)" % os.WTERMSIG(status), "msg": ""}
    else:
        results[cid] = json.loads(b"".join(chunks))
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def raw_results():
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", _CHILD, here, *RAW_CASES],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", NAMES)
def test_raw_op_valid_call(name):
    out = raw_call(name, RAW_INPUTS["x1000"]())
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape[0] == 1 + 1000 // 4


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_raw_op_bad_arguments_raise(case, raw_results):
    name, x, kw, excs, match = RAW_CASES[case]
    res = raw_results[case]
    assert res["exc"] in excs, (
        f"torch.ops.audiofx.{name}({x}, {kw}): expected {' or '.join(excs)}, got "
        f"{res['exc']}: {res['msg']}")
    assert re.search(match, res["msg"]), res["msg"]
