"""Frame arguments users mistype or push to extremes (issue 14, item 9): ``num_frames`` of a
negative, fractional or boolean length raises; a frame of 2**34 samples over 8,000 samples is
computed in milliseconds (an exact equivalent shorter frame, not a kernel pass over 2**34
padding samples) and equals the direct result; a hop of 2**63 is one frame, not a dispatcher
error."""
from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import audiofx
from audiofx import _ops
from audiofx.functional import long_frames


@pytest.mark.parametrize("length, error", [(-5, ValueError), (0, ValueError), (2.5, TypeError),
                                           (True, TypeError), ("100", TypeError)])
def test_num_frames_rejects_bad_lengths(length, error):
    with pytest.raises(error, match="length"):
        audiofx.num_frames(length)


def test_num_frames_values():
    assert audiofx.num_frames(22050) == 1 + 22050 // 512
    assert audiofx.num_frames(5, 8, 2, center=False, pad_mode="wrap") == 1
    with pytest.raises(ValueError, match="frame_length"):
        audiofx.num_frames(5, 8, 2, center=False, pad_mode=None)


def test_frame_of_2_34_samples_over_8000():
    x = torch.randn(8000, dtype=torch.float64)
    N = 2 ** 34
    t0 = time.perf_counter()
    r = audiofx.rms(x, frame_length=N)
    ae, r2, z = audiofx.frame_features(x, N)
    assert time.perf_counter() - t0 < 2.0  # the direct kernel took minutes
    # Every frame holds all of x and zeros: sqrt(sum x^2 / N); its max is max(x, 0).
    want = torch.sqrt((x * x).sum() / N)
    assert r.shape == (1 + 8000 // 512,)
    torch.testing.assert_close(r, want.expand_as(r), rtol=1e-14, atol=0)
    torch.testing.assert_close(r2, r, rtol=0, atol=0)
    assert torch.equal(ae, torch.clamp_min(x.max(), 0).expand_as(ae))
    # zcr pads with the edge values: the crossings of x over N.
    sign = x >= 0
    assert torch.equal(z, ((sign[1:] != sign[:-1]).sum() / N).expand_as(z))
    assert audiofx.rms(x, frame_length=2 ** 70).shape == r.shape  # beyond int64 too


def test_hop_beyond_int64_is_one_frame():
    x = torch.randn(3, 1000)
    for fn in (audiofx.rms, audiofx.zero_crossing_rate, audiofx.amplitude_envelope):
        torch.testing.assert_close(fn(x, hop_length=2 ** 63), fn(x, hop_length=1001))
        assert fn(x, hop_length=2 ** 63).shape == (3, 1)
    assert audiofx.stft(x, hop_length=2 ** 63).shape == (3, 1025, 1)
    assert audiofx.spectral_centroid(x, hop_length=2 ** 63).shape == (3, 1)
    # End-wrap keeps a second frame at hop_length in the repeated signal: modulo T.
    y = torch.randn(2, 65, dtype=torch.float64)
    for hop in (67, 2 ** 63 + 2):
        ae = audiofx.amplitude_envelope(y, 1, hop, center=False, pad_mode="wrap")
        assert torch.equal(ae, y[:, [0, hop % 65]])
    with pytest.raises(ValueError, match="materialise"):
        audiofx.frame(x, 2 ** 40, 512, center=True, pad_mode="constant")


@pytest.fixture(scope="module")
def low_threshold():
    """The shortcut for every frame; one thread (tiny calls: a parallel region per call costs
    ~10 ms on a loaded 2-core machine)."""
    old, threads = long_frames.MIN_LONG_FRAME, torch.get_num_threads()
    long_frames.MIN_LONG_FRAME = 0
    torch.set_num_threads(1)
    yield
    long_frames.MIN_LONG_FRAME = old
    torch.set_num_threads(threads)


_FRAMINGS = [(True, "constant"), (True, "edge"), (True, "wrap"), (False, "wrap")]


@given(T=st.integers(1, 60), N=st.integers(100, 2000), H=st.integers(1, 80),
       framing=st.sampled_from(_FRAMINGS), zframing=st.sampled_from(["edge", "same"]),
       double=st.booleans(), absolute=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_long_frame_shortcut_equals_the_kernel(low_threshold, T, N, H, framing, zframing, double,
                                               absolute, seed):
    """With the shortcut's threshold lowered to 0, every frame function equals the kernel
    called directly with the long frame, for every padding it applies to."""
    center, mode = framing
    zmode = mode if zframing == "same" or not center else "edge"
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, T, generator=g, dtype=torch.float64 if double else torch.float32)
    x[0, ::3] = 0
    ops = _ops.ops
    tol = dict(rtol=1e-12, atol=1e-15) if double else dict(rtol=3e-7, atol=1e-9)
    torch.testing.assert_close(audiofx.rms(x, N, H, center, mode), ops.rms(x, N, H, center, mode),
                               **tol)
    assert torch.equal(audiofx.amplitude_envelope(x, N, H, center, mode, absolute),
                       ops.amplitude_envelope(x, N, H, center, mode, absolute))
    torch.testing.assert_close(audiofx.zero_crossing_rate(x, N, H, center, 0.1, True, zmode),
                               ops.zero_crossing_rate(x, N, H, center, zmode, 0.1, True), **tol)
    got = audiofx.frame_features(x, N, H, center, mode, zcr_pad_mode=zmode, absolute=absolute)
    want = ops.frame_features(x, N, H, center, mode, zmode, absolute, 1e-10, True, None)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, **tol)
