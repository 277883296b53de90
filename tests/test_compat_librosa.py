"""audiofx.compat.librosa against librosa itself: same shapes, same dtypes, and values within
rms float32 <= 2e-5 relative (librosa accumulates in float32), rms float64 <= 1e-10, zero-crossing
rate and frames exactly."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from audiofx.compat import librosa as alibrosa
from reference import FRAME_HOP, make_signal, rel_err

SHAPES = [(), (2,), (2, 3)]
LEN = 3001


def _y(kind, dtype, shape, seed=0, T=LEN):
    return make_signal(kind, T, dtype, seed=seed, shape=shape)


def _shape_id(s):
    return "x".join(map(str, s)) or "mono"


def test_module_layout():
    assert alibrosa.feature.rms is alibrosa.rms
    assert alibrosa.feature.zero_crossing_rate is alibrosa.zero_crossing_rate
    assert alibrosa.util.frame is alibrosa.frame


# ---------------------------------------------------------------------------------------------
# feature.rms


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("in_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("out_dtype", [None, np.float32, np.float64])
@pytest.mark.parametrize("center,pad_mode", [(True, "constant"), (True, "edge"),
                                             (True, "reflect"), (True, "wrap"),
                                             (False, "constant")])
@pytest.mark.parametrize("N,H", [(2048, 512), (400, 160), (7, 3), (5, 8)])
def test_rms(N, H, center, pad_mode, out_dtype, in_dtype, shape, record_error):
    y = _y("chirp", in_dtype, shape, seed=N)
    kw = dict(frame_length=N, hop_length=H, center=center, pad_mode=pad_mode)
    if out_dtype is not None:
        kw["dtype"] = out_dtype
    expected = librosa.feature.rms(y=y, **kw)
    got = alibrosa.feature.rms(y=y, **kw)
    assert isinstance(got, np.ndarray)
    assert got.shape == expected.shape == shape + (1, expected.shape[-1])
    assert got.dtype == expected.dtype
    # librosa squares and averages in the output dtype; float64 only if both are float64.
    exact64 = expected.dtype == np.float64 and in_dtype == np.float64
    tol = 1e-10 if exact64 else 2e-5
    err = rel_err(got, expected)
    record_error(f"compat/rms/{np.dtype(in_dtype).name}->{expected.dtype.name}", err,
                 f"N={N} H={H} center={center} {pad_mode} shape={shape}")
    assert err <= tol, err


def test_rms_defaults():
    y = _y("normal", np.float32, ())
    expected = librosa.feature.rms(y=y)
    got = alibrosa.feature.rms(y=y)
    assert got.shape == expected.shape and got.dtype == expected.dtype == np.float32
    assert rel_err(got, expected) <= 2e-5


def test_rms_short_signal_centred():
    y = _y("normal", np.float64, (2,), T=100)
    expected = librosa.feature.rms(y=y, dtype=np.float64)
    got = alibrosa.feature.rms(y=y, dtype=np.float64)
    assert got.shape == expected.shape == (2, 1, 1)
    assert rel_err(got, expected) <= 1e-10


# ---------------------------------------------------------------------------------------------
# feature.zero_crossing_rate

ZCR_OPTIONS = [
    dict(),
    dict(threshold=0.05),
    dict(threshold=0.0),
    dict(zero_pos=False),
    dict(zero_pos=False, threshold=0.05),
    dict(pad=True),
    dict(pad=True, zero_pos=False),
    dict(ref_magnitude=np.max),
    dict(ref_magnitude=np.max, threshold=0.2),
    dict(ref_magnitude=0.5, threshold=0.1),
    dict(ref_magnitude=2.0),
]


def _opt_id(o):
    return ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in o.items()) or "defaults"


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", ZCR_OPTIONS, ids=_opt_id)
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("N,H", [(2048, 512), (400, 160), (7, 3), (5, 8), (1, 1)])
def test_zero_crossing_rate(N, H, center, options, dtype, shape):
    for kind in ("normal", "tiny", "small", "alternating"):
        y = _y(kind, dtype, shape, seed=H)
        kw = dict(frame_length=N, hop_length=H, center=center, **options)
        expected = librosa.feature.zero_crossing_rate(y, **kw)
        got = alibrosa.feature.zero_crossing_rate(y, **kw)
        assert isinstance(got, np.ndarray)
        assert got.shape == expected.shape == shape + (1, expected.shape[-1]), kind
        assert got.dtype == expected.dtype, kind
        np.testing.assert_array_equal(got, expected, err_msg=kind)


# ---------------------------------------------------------------------------------------------
# util.frame


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,H", FRAME_HOP + [(LEN, 1)])
def test_frame_last_axis(N, H, dtype, shape):
    y = _y("normal", dtype, shape, seed=1)
    expected = librosa.util.frame(y, frame_length=N, hop_length=H)
    got = alibrosa.util.frame(y, frame_length=N, hop_length=H)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    got = alibrosa.util.frame(y, frame_length=N, hop_length=H, axis=-1)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,H", FRAME_HOP)
def test_frame_first_axis(N, H, dtype, shape):
    # Time in the first axis: (T, *shape).
    y = np.ascontiguousarray(np.moveaxis(_y("chirp", dtype, shape, seed=2), -1, 0))
    expected = librosa.util.frame(y, frame_length=N, hop_length=H, axis=0)
    got = alibrosa.util.frame(y, frame_length=N, hop_length=H, axis=0)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_frame_of_non_contiguous_array():
    big = _y("normal", np.float64, (3,), T=2 * LEN)
    y = big[:, ::2]
    expected = librosa.util.frame(y, frame_length=400, hop_length=160)
    np.testing.assert_array_equal(alibrosa.util.frame(y, frame_length=400, hop_length=160),
                                  expected)
    yt = big.T  # (T, 3), Fortran-ordered
    expected = librosa.util.frame(yt, frame_length=400, hop_length=160, axis=0)
    np.testing.assert_array_equal(
        alibrosa.util.frame(yt, frame_length=400, hop_length=160, axis=0), expected)
