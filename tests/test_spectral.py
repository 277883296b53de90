"""STFT, spectral centroid and spectral bandwidth against librosa (DESIGN §3, issue 3).

Every expected value comes from librosa, scipy or numpy, never from audiofx. Error measure:
``max|a - ref| / max|ref|`` per case. Tolerances (the issue's acceptance): stft 1e-9 (float64) /
3e-5 (float32) relative to ``max|S|``; centroid and bandwidth 1e-6 (float64) / 3e-4 (float32).
``wrap`` (centred) and end-wrap (``center=False, pad_mode="wrap"``), which ``librosa.stft``
rejects, are checked against a numpy STFT (``np.pad(..., mode="wrap")``, frames * window,
``np.fft.rfft``) and librosa's features of that spectrogram.

The worst error per (function, dtype) goes into the suite's parity report (printed at the
end of the run; JSON in $AUDIOFX_PARITY_REPORT).
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import scipy.signal
import torch

import audiofx as afx
from reference import check, checked_rel_err, record_error
from audiofx import _ops
from audiofx.compat import librosa as alibrosa

librosa = pytest.importorskip("librosa")

SR = 22050
DTYPES = [torch.float64, torch.float32]
NP = {torch.float64: np.float64, torch.float32: np.float32}
STFT_TOL = {torch.float64: 1e-9, torch.float32: 3e-5}
FEATURE_TOL = {torch.float64: 1e-6, torch.float32: 3e-4}

_record = record_error  # the suite-wide parity report (tests/reference.py)
rel_err = checked_rel_err


# ---------------------------------------------------------------------------------------------
# Signals


def make_signal(kind: str, T: int, dtype=np.float64, shape=(), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, T, len(kind)])
    full = tuple(shape) + (T,)
    t = np.arange(T) / SR
    if kind == "chirp":
        base = scipy.signal.chirp(t, f0=50.0, t1=max(t[-1], 1.0 / SR), f1=8000.0,
                                  method="logarithmic")
        y = base * rng.uniform(0.5, 1.5, size=tuple(shape) + (1,))
    elif kind == "noise":
        y = rng.standard_normal(full)
    elif kind == "silences":
        # Noise with stretches of exact zeros longer than the largest frame, and all-zero
        # leading/trailing parts: whole silent frames (centroid and bandwidth 0, not NaN).
        y = rng.standard_normal(full) * 0.1
        y[..., : T // 8] = 0.0
        y[..., T // 3: T // 3 + 2600] = 0.0
        y[..., -(T // 10):] = 0.0
    elif kind == "tone":
        # A narrow-band high tone: the case where a raw-moment bandwidth cancels.
        y = np.sin(2 * np.pi * 7919.0 * t) + 1e-3 * rng.standard_normal(full)
    elif kind == "sine":
        # A pure low tone: its spectrum falls far below float32 round-off away from the peak, so
        # a float32 FFT would move the bandwidth by ~1e-3 (p=2); librosa's float32 STFT is
        # float64 inside.
        y = np.sin(2 * np.pi * 440.0 * t + rng.uniform(0, 1, size=tuple(shape) + (1,)))
    else:
        raise ValueError(kind)
    return np.ascontiguousarray(np.broadcast_to(y, full).astype(dtype))


def np_window(window, win_length: int, n_fft: int) -> np.ndarray:
    w = scipy.signal.get_window(window, win_length, fftbins=True)
    lpad = (n_fft - win_length) // 2
    return np.pad(w, (lpad, n_fft - win_length - lpad))


def np_stft(y, n_fft, hop, win_length, window, center, pad_mode) -> np.ndarray:
    """Plain numpy STFT for the modes librosa rejects: np.pad(mode) (centred) or end-wrap."""
    T = y.shape[-1]
    if center:
        padded = np.pad(y.astype(np.float64), [(0, 0)] * (y.ndim - 1) + [(n_fft // 2,) * 2],
                        mode=pad_mode)
        nf = 1 + (padded.shape[-1] - n_fft) // hop
    else:
        assert pad_mode == "wrap"
        nf = 1 + math.ceil(max(T - n_fft, 0) / hop)
        padded = y.astype(np.float64)[..., np.arange((nf - 1) * hop + n_fft) % T]
    idx = np.arange(nf)[:, None] * hop + np.arange(n_fft)[None, :]
    frames = padded[..., idx] * np_window(window, win_length, n_fft)
    return np.swapaxes(np.fft.rfft(frames, axis=-1), -1, -2)


# ---------------------------------------------------------------------------------------------
# STFT


# (n_fft, win_length, hop_length): every n_fft of the issue, win_length < n_fft cases, hops that
# do not divide n_fft, and librosa's default hop (None = win_length // 4).
STFT_GEOMETRY = [
    (2048, None, 512),
    (2048, 1500, None),
    (1024, 1000, 333),
    (512, None, 300),
    (512, 400, 128),
    (400, None, 160),
    (400, 300, 100),
    (256, None, None),
    (256, 200, 100),
]
# (center, pad_mode) that librosa.stft supports.
LIBROSA_PADS = [(True, "constant"), (True, "edge"), (True, "reflect"), (False, "constant")]


def _stft_cases():
    cases = []
    kinds = ["chirp", "noise", "silences"]
    for i, (n_fft, win, hop) in enumerate(STFT_GEOMETRY):
        for j, (center, mode) in enumerate(LIBROSA_PADS):
            kind = kinds[(i + j) % len(kinds)]
            # Mostly long signals, some shorter than n_fft (centred only; reflect needs
            # T > n_fft // 2).
            T = 7001 if (i + j) % 4 else (n_fft // 2 + 37 if center else n_fft + 5)
            shape = (2, 3) if (i + j) % 3 == 0 else ()
            cases.append(pytest.param(n_fft, win, hop, center, mode, kind, T, shape,
                                      id=f"n{n_fft}-w{win}-h{hop}-{'c' if center else 'nc'}-"
                                         f"{mode}-{kind}-T{T}-b{len(shape)}"))
    return cases


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_fft,win,hop,center,mode,kind,T,shape", _stft_cases())
def test_stft_matches_librosa(n_fft, win, hop, center, mode, kind, T, shape, dtype):
    y = make_signal(kind, T, NP[dtype], shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, center=center,
                           pad_mode=mode)
    got = afx.stft(torch.from_numpy(y), n_fft=n_fft, hop_length=hop, win_length=win,
                   center=center, pad_mode=mode if center else None)
    assert got.dtype == (torch.complex128 if dtype == torch.float64 else torch.complex64)
    assert got.is_contiguous()
    check(f"stft/{NP[dtype].__name__}", got, ref, STFT_TOL[dtype],
          f"n_fft={n_fft} win={win} hop={hop} center={center} {mode} {kind} T={T}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_fft,win,hop", [(512, None, 128), (400, 300, 160), (2048, None, 512)])
def test_stft_matches_torch_stft(n_fft, win, hop, dtype):
    y = torch.from_numpy(make_signal("noise", 9000, NP[dtype], (2,)))
    w = torch.hann_window(win or n_fft, periodic=True, dtype=dtype)
    ref = torch.stft(y, n_fft, hop_length=hop, win_length=win, window=w, center=True,
                     pad_mode="constant", return_complex=True)
    got = afx.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, window=w)
    check(f"stft-vs-torch/{NP[dtype].__name__}", got, ref.numpy(), STFT_TOL[dtype], f"{n_fft}")


WRAP_CASES = [
    pytest.param(n_fft, win, hop, center, T, id=f"n{n_fft}-w{win}-h{hop}-"
                 f"{'c' if center else 'endwrap'}-T{T}")
    for n_fft, win, hop, center, T in [
        (512, None, 128, True, 3000),
        (400, 300, 160, True, 250),     # shorter than n_fft: wrap repeats the signal
        (256, None, 100, True, 1001),
        (512, None, 300, False, 3000),  # end-wrap: the last frame completed from the start
        (1024, 1000, 333, False, 700),  # end-wrap, T < n_fft: one frame of x repeated
        (2048, None, 512, False, 9000),
    ]
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_fft,win,hop,center,T", WRAP_CASES)
def test_stft_wrap_matches_numpy(n_fft, win, hop, center, T, dtype):
    y = make_signal("chirp", T, NP[dtype], (2,))
    ref = np_stft(y, n_fft, hop, win or n_fft, "hann", center, "wrap")
    got = afx.stft(torch.from_numpy(y), n_fft=n_fft, hop_length=hop, win_length=win,
                   center=center, pad_mode="wrap")
    check(f"stft-wrap/{NP[dtype].__name__}", got, ref, STFT_TOL[dtype],
          f"n_fft={n_fft} hop={hop} center={center} T={T}")


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "rectangular", "boxcar",
                                    "ones"])
@pytest.mark.parametrize("M", [1, 2, 7, 300, 2048])
def test_get_window_matches_scipy(window, M):
    name = "boxcar" if window in ("rectangular", "ones") else window
    ref = scipy.signal.get_window(name, M, fftbins=True)
    got = afx.get_window(window, M)
    assert got.dtype == torch.float64 and got.shape == (M,)
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("window", ["hamming", "blackman", "rectangular"])
def test_stft_windows_match_librosa(window):
    y = make_signal("noise", 5000)
    ref = librosa.stft(y, n_fft=512, hop_length=128, win_length=400,
                       window="boxcar" if window == "rectangular" else window)
    got = afx.stft(torch.from_numpy(y), n_fft=512, hop_length=128, win_length=400, window=window)
    check("stft/float64", got, ref, STFT_TOL[torch.float64], f"window={window}")
    # An explicit window tensor is used as given.
    w = torch.from_numpy(scipy.signal.get_window("hann", 400, fftbins=True) ** 2)
    ref = librosa.stft(y, n_fft=512, hop_length=128, win_length=400, window=w.numpy())
    got = afx.stft(torch.from_numpy(y), n_fft=512, hop_length=128, win_length=400, window=w)
    check("stft/float64", got, ref, STFT_TOL[torch.float64], "window=tensor")


# ---------------------------------------------------------------------------------------------
# Spectral centroid and bandwidth


def _feature_cases():
    cases = []
    geoms = [(2048, None, 512), (1024, 1000, 333), (512, None, 300), (400, 300, 160),
             (256, None, 64)]
    kinds = ["chirp", "noise", "silences", "tone", "sine"]
    pads = LIBROSA_PADS + [(True, "wrap"), (False, "wrap")]
    for i, (n_fft, win, hop) in enumerate(geoms):
        for j, (center, mode) in enumerate(pads):
            if (i + j) % 2:  # half of the grid keeps the file fast; every pad per geometry pair
                continue
            kind = kinds[(i + j) % len(kinds)]
            T = 9001 if (i + j) % 3 else (n_fft // 2 + 11 if center else n_fft + 3)
            if mode == "wrap" and not center and (i + j) % 3 == 0:
                T = n_fft // 3  # end-wrap of a signal shorter than a frame
            shape = (3,) if (i + j) % 4 == 0 else ()
            cases.append(pytest.param(n_fft, win, hop, center, mode, kind, T, shape,
                                      id=f"n{n_fft}-w{win}-h{hop}-{'c' if center else 'nc'}-"
                                         f"{mode}-{kind}-T{T}-b{len(shape)}"))
    return cases


def librosa_features(y, n_fft, win, hop, center, mode, p):
    """librosa's centroid and bandwidth from y; for wrap, librosa's features of the numpy STFT."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "wrap":
            S = np.abs(np_stft(y, n_fft, hop, win or n_fft, "hann", center, "wrap"))
            S = S.astype(y.dtype)
            c = librosa.feature.spectral_centroid(S=S, sr=SR, n_fft=n_fft)
            b = librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=n_fft, p=p)
        else:
            kw = dict(y=y, sr=SR, n_fft=n_fft, hop_length=hop, win_length=win, center=center,
                      pad_mode=mode)
            c = librosa.feature.spectral_centroid(**kw)
            b = librosa.feature.spectral_bandwidth(**kw, p=p)
    return c[..., 0, :], b[..., 0, :]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_fft,win,hop,center,mode,kind,T,shape", _feature_cases())
def test_features_from_x_match_librosa(n_fft, win, hop, center, mode, kind, T, shape, dtype):
    y = make_signal(kind, T, NP[dtype], shape)
    x = torch.from_numpy(y)
    kw = dict(sr=SR, n_fft=n_fft, hop_length=hop, win_length=win, center=center,
              pad_mode=mode if (center or mode == "wrap") else None)
    case = f"n_fft={n_fft} win={win} hop={hop} center={center} {mode} {kind} T={T}"
    c = afx.spectral_centroid(x, **kw)
    assert c.dtype == dtype and c.is_contiguous()
    for p in (1, 2, 3):
        ref_c, ref_b = librosa_features(y, n_fft, win, hop, center, mode, p)
        if p == 2:
            check(f"centroid(x)/{NP[dtype].__name__}", c, ref_c, FEATURE_TOL[dtype], case)
        b = afx.spectral_bandwidth(x, **kw, p=p)
        check(f"bandwidth(x)/{NP[dtype].__name__}", b, ref_b, FEATURE_TOL[dtype],
              f"{case} p={p}")
    feats = afx.spectral_features(x, **kw)
    assert set(feats) == {"centroid", "bandwidth"}
    torch.testing.assert_close(feats["centroid"], c, rtol=0, atol=0)
    torch.testing.assert_close(feats["bandwidth"], afx.spectral_bandwidth(x, **kw), rtol=0,
                               atol=0)


def _S_layouts(S: np.ndarray):
    """The same spectrogram as a contiguous tensor, as a view with contiguous bins (frames
    major), and as a non-contiguous slice along frames (with its expected columns)."""
    t = torch.from_numpy(np.ascontiguousarray(S))
    by_frame = torch.from_numpy(np.ascontiguousarray(np.swapaxes(S, -1, -2))).transpose(-1, -2)
    sliced = torch.from_numpy(np.ascontiguousarray(S))[..., ::2]
    return [("contiguous", t, S), ("bins-contiguous", by_frame, S),
            ("strided", sliced, np.ascontiguousarray(S[..., ::2]))]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_fft,kind,shape", [(2048, "silences", (2,)), (512, "chirp", ()),
                                              (400, "tone", (2, 2)), (256, "noise", ())])
def test_features_from_S_match_librosa(n_fft, kind, shape, dtype):
    y = make_signal(kind, 12000, NP[dtype], shape)
    S_np = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4))
    freq = np.linspace(0, SR / 2, S_np.shape[-2]) ** 1.1  # a non-uniform frequency table
    for layout, S, S_ref in _S_layouts(S_np):
        case = f"n_fft={n_fft} {kind} {layout}"
        ref_c = librosa.feature.spectral_centroid(S=S_ref, sr=SR)[..., 0, :]
        check(f"centroid(S)/{NP[dtype].__name__}", afx.spectral_centroid(S=S, sr=SR), ref_c,
              FEATURE_TOL[dtype], case)
        for p in (1, 2, 3):
            ref_b = librosa.feature.spectral_bandwidth(S=S_ref, sr=SR, p=p)[..., 0, :]
            check(f"bandwidth(S)/{NP[dtype].__name__}", afx.spectral_bandwidth(S=S, sr=SR, p=p),
                  ref_b, FEATURE_TOL[dtype], f"{case} p={p}")
        # freq, norm=False and a precomputed centroid.
        ref_c = librosa.feature.spectral_centroid(S=S_ref, freq=freq)
        check(f"centroid(S)/{NP[dtype].__name__}", afx.spectral_centroid(S=S, freq=freq),
              ref_c[..., 0, :], FEATURE_TOL[dtype], f"{case} freq")
        ref_b = librosa.feature.spectral_bandwidth(S=S_ref, freq=freq, norm=False)[..., 0, :]
        check(f"bandwidth(S)/{NP[dtype].__name__}",
              afx.spectral_bandwidth(S=S, freq=torch.from_numpy(freq), norm=False), ref_b,
              FEATURE_TOL[dtype], f"{case} freq norm=False")
        given = ref_c * 0.9 + 100.0
        ref_b = librosa.feature.spectral_bandwidth(S=S_ref, freq=freq, centroid=given, p=3)
        got = afx.spectral_bandwidth(S=S, freq=freq, centroid=torch.from_numpy(given[..., 0, :]),
                                     p=3)
        check(f"bandwidth(S)/{NP[dtype].__name__}", got, ref_b[..., 0, :], FEATURE_TOL[dtype],
              f"{case} freq centroid p=3")


@pytest.mark.parametrize("n_fft", [511, 400])
def test_features_from_S_keep_a_matching_n_fft(n_fft):
    """librosa keeps n_fft for S when n_fft // 2 + 1 matches its bins (odd n_fft stays odd), and
    falls back to 2 * (n_bins - 1) otherwise."""
    y = make_signal("chirp", 6000, np.float64, ())
    S_np = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=128))
    S = torch.from_numpy(S_np)
    for given in (n_fft, 2048):
        ref_c = librosa.feature.spectral_centroid(S=S_np, sr=SR, n_fft=given)[0]
        ref_b = librosa.feature.spectral_bandwidth(S=S_np, sr=SR, n_fft=given)[0]
        check("centroid(S)/float64", afx.spectral_centroid(S=S, sr=SR, n_fft=given), ref_c,
              FEATURE_TOL[torch.float64], f"S of n_fft={n_fft}, n_fft={given} given")
        check("bandwidth(S)/float64", afx.spectral_bandwidth(S=S, sr=SR, n_fft=given), ref_b,
              FEATURE_TOL[torch.float64], f"S of n_fft={n_fft}, n_fft={given} given")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_silence_gives_zero_not_nan(dtype):
    x = torch.zeros(2, 5000, dtype=dtype)
    x[1, 2000:2100] = 0.5  # one row with a click: its silent frames still give exactly 0
    for out in (afx.spectral_centroid(x), afx.spectral_bandwidth(x),
                *afx.spectral_features(x).values(),
                afx.spectral_bandwidth(S=afx.stft(x).abs(), p=1)):
        assert torch.isfinite(out).all()
        assert (out[0] == 0).all()
        assert (out[1, :2] == 0).all() and (out[1, -2:] == 0).all()
    # A column summing below the dtype's tiny is left unnormalised (librosa's threshold).
    tiny = torch.finfo(dtype).tiny
    S = torch.zeros(5, 3, dtype=dtype)
    S[2, 1] = tiny / 4
    ref = librosa.feature.spectral_centroid(S=S.numpy(), sr=SR)[0]
    got = afx.spectral_centroid(S=S, sr=SR)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6, atol=0)
    assert got[1] < 1e-30


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_spectral_features_chunks_across_rows(chunk):
    """Chunks that split rows (and rows split across chunks) give the same features."""
    x = torch.from_numpy(make_signal("chirp", 4000, np.float64, (2, 3)))
    ref = afx.spectral_features(x, n_fft=512, hop_length=300, p=3)
    got = afx.spectral_features(x, n_fft=512, hop_length=300, p=3, chunk_frames=chunk)
    for name in ("centroid", "bandwidth"):
        torch.testing.assert_close(got[name], ref[name], rtol=1e-12, atol=0)
    S = afx.stft(x, n_fft=512, hop_length=300).abs()
    torch.testing.assert_close(got["centroid"], afx.spectral_centroid(S=S), rtol=1e-12, atol=0)
    torch.testing.assert_close(got["bandwidth"], afx.spectral_bandwidth(S=S, p=3), rtol=1e-12,
                               atol=0)


def test_spectral_features_subset_and_noncontiguous_input():
    base = torch.from_numpy(make_signal("noise", 6000, np.float32, (4,)))
    x = base[::2, 7:]  # non-contiguous
    out = afx.spectral_features(x, features="bandwidth")
    assert list(out) == ["bandwidth"] and out["bandwidth"].shape == (2, 1 + 5993 // 512)
    ref = afx.spectral_bandwidth(x.contiguous())
    torch.testing.assert_close(out["bandwidth"], ref, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# compat.librosa: signatures, shapes and dtypes


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
def test_compat_librosa(np_dtype):
    y = make_signal("chirp", 6000, np_dtype, (2,))
    ref = librosa.stft(y, n_fft=512, hop_length=128, win_length=400)
    got = alibrosa.stft(y, n_fft=512, hop_length=128, win_length=400)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert rel_err(got, ref) <= (1e-9 if np_dtype == np.float64 else 3e-5)
    out = np.zeros(ref.shape[:-1] + (ref.shape[-1] + 2,), dtype=ref.dtype)
    view = alibrosa.stft(y, n_fft=512, hop_length=128, win_length=400, out=out)
    assert np.shares_memory(view, out) and rel_err(out[..., :-2], ref) < 3e-5
    tol = 1e-6 if np_dtype == np.float64 else 3e-4
    for name, kw in [("spectral_centroid", {}), ("spectral_bandwidth", {"p": 3}),
                     ("spectral_bandwidth", {"norm": False})]:
        r = getattr(librosa.feature, name)(y=y, sr=16000, n_fft=1024, hop_length=256, **kw)
        g = getattr(alibrosa.feature, name)(y=y, sr=16000, n_fft=1024, hop_length=256, **kw)
        assert g.dtype == r.dtype and g.shape == r.shape
        assert rel_err(g, r) <= tol, name
    S = np.abs(ref)
    c = librosa.feature.spectral_centroid(S=S)
    r = librosa.feature.spectral_bandwidth(S=S, centroid=c)
    g = alibrosa.feature.spectral_bandwidth(S=S, centroid=c)
    assert g.dtype == r.dtype and g.shape == r.shape and rel_err(g, r) <= tol
    assert alibrosa.feature.spectral_centroid(S=S).shape == c.shape
    with pytest.raises(ValueError, match="non-negative"):
        alibrosa.feature.spectral_centroid(S=-S)


# ---------------------------------------------------------------------------------------------
# Argument checks


def test_argument_errors_name_the_argument():
    x = torch.randn(3000)
    with pytest.raises(ValueError, match="window"):
        afx.stft(x, window="kaiser")
    with pytest.raises(ValueError, match="window"):
        afx.stft(x, n_fft=512, window=torch.ones(400))
    with pytest.raises(ValueError, match="win_length"):
        afx.stft(x, n_fft=512, win_length=600)
    with pytest.raises(ValueError, match="hop_length"):
        afx.stft(x, n_fft=2, win_length=2)
    with pytest.raises(ValueError, match="pad_mode"):
        afx.stft(x, pad_mode="symmetric")
    with pytest.raises(TypeError, match="n_fft"):
        afx.stft(x, n_fft=512.0)
    with pytest.raises(ValueError, match="exactly one of x"):
        afx.spectral_centroid(x, S=torch.ones(5, 4))
    with pytest.raises(ValueError, match="exactly one of x"):
        afx.spectral_centroid()
    with pytest.raises(TypeError, match="S must be a real"):
        afx.spectral_centroid(S=torch.ones(5, 4, dtype=torch.complex64))
    with pytest.raises(ValueError, match="freq"):
        afx.spectral_centroid(S=torch.ones(5, 4), freq=torch.ones(4))
    with pytest.raises(ValueError, match="p must be"):
        afx.spectral_bandwidth(x, p=0)
    with pytest.raises(ValueError, match="sr must be"):
        afx.spectral_bandwidth(x, sr=-1)
    with pytest.raises(ValueError, match="centroid"):
        afx.spectral_bandwidth(S=torch.ones(5, 4), centroid=torch.ones(3))
    with pytest.raises(ValueError, match="features"):
        afx.spectral_features(x, features=("centroid", "rolloff"))
    with pytest.raises(ValueError, match="chunk_frames"):
        afx.spectral_features(x, chunk_frames=0)


# ---------------------------------------------------------------------------------------------
# Op contract: opcheck, torch.compile, CUDA registration


def _opcheck_samples():
    x = torch.randn(2, 1500, dtype=torch.float64)
    w = torch.hann_window(512, dtype=torch.float64)
    S = torch.rand(2, 257, 9, dtype=torch.float32)
    freq = torch.linspace(0, 8000, 257, dtype=torch.float64)
    ops = torch.ops.audiofx
    return [
        (ops.stft_frames, (x, w, 512, 128, True, "constant")),
        (ops.stft_frames, (x, w, 512, 300, True, "reflect")),
        (ops.stft_frames, (x.float(), w.float(), 512, 100, False, "wrap")),
        (ops.stft_frames, (x[:, :700], w, 512, 64, False, "none")),
        (ops.stft, (x, w, 512, 128, True, "constant", 0)),
        (ops.stft, (x.float()[:, ::2], w.float(), 512, 100, False, "wrap", 3)),
        (ops.spectral_stats, (S, None, 43.06640625, None, 2.0, True)),
        (ops.spectral_stats, (S.mT.contiguous().mT, freq, 0.0, None, 3.0, False)),
        (ops.spectral_stats, (S.double(), None, 43.0, torch.rand(2, 9, dtype=torch.float64) * 4e3,
                              1.0, True)),
        (ops.spectral_features, (x, w, 512, 128, True, "edge", None, 43.06640625, 2.0, True, 0)),
        (ops.spectral_features, (x.float(), w, 512, 200, False, "wrap", freq, 0.0, 1.5,
                                 False, 3)),
    ]


@pytest.mark.parametrize("i", range(len(_opcheck_samples())))
def test_opcheck(i):
    op, args = _opcheck_samples()[i]
    torch.library.opcheck(op, args)


def test_compile_spectral_features_fullgraph():
    def features(x):
        out = afx.spectral_features(x, n_fft=512, hop_length=128, win_length=400, p=3)
        return out["centroid"] + 1.0, out["bandwidth"]

    x = torch.from_numpy(make_signal("chirp", 5000, np.float32, (2,)))
    compiled = torch.compile(features, fullgraph=True, backend="aot_eager")
    got = compiled(x)
    ref = features(x)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


def test_compile_stft_fullgraph():
    x = torch.randn(2, 3000)
    compiled = torch.compile(lambda t: afx.stft(t, n_fft=256, hop_length=100).abs(),
                             fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), afx.stft(x, n_fft=256, hop_length=100).abs())


def test_spectral_ops_registered():
    """A CPU kernel for every spectral op, and a CUDA kernel for each in a CUDA build."""
    assert set(_ops.SPECTRAL_OP_NAMES) == {"stft_frames", "stft", "spectral_stats",
                                           "spectral_features"}
    cuda_build = any(_ops.has_kernel(name, "CUDA")
                     for name in _ops.OP_NAMES + _ops.SPECTRAL_OP_NAMES)
    for name in _ops.SPECTRAL_OP_NAMES:
        assert hasattr(torch.ops.audiofx, name)
        assert _ops.has_kernel(name, "CPU"), name
        if cuda_build:
            assert _ops.has_kernel(name, "CUDA"), f"CUDA build without a CUDA kernel for {name}"


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    x = torch.from_numpy(make_signal("silences", 20000, NP[dtype], (3,)))
    xc = x.cuda()
    tol = STFT_TOL[dtype]
    assert rel_err(afx.stft(xc, n_fft=400, hop_length=160).cpu(),
                   afx.stft(x, n_fft=400, hop_length=160).numpy()) <= tol
    assert rel_err(afx.stft(xc, pad_mode="wrap", center=False).cpu(),
                   afx.stft(x, pad_mode="wrap", center=False).numpy()) <= tol
    ftol = FEATURE_TOL[dtype]
    for kw in ({}, {"p": 1, "norm": False}, {"p": 3, "n_fft": 1024, "hop_length": 333}):
        got = afx.spectral_features(xc, **kw)
        ref = afx.spectral_features(x, **kw)
        for name in got:
            assert rel_err(got[name].cpu(), ref[name].numpy()) <= ftol, (name, kw)
    S = afx.stft(x).abs()
    for Sd in (S.cuda(), S.cuda().mT.contiguous().mT):
        c = afx.spectral_centroid(S=Sd)
        b = afx.spectral_bandwidth(S=Sd, p=3)
        assert rel_err(c.cpu(), afx.spectral_centroid(S=S).numpy()) <= ftol
        assert rel_err(b.cpu(), afx.spectral_bandwidth(S=S, p=3).numpy()) <= ftol


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_features(dtype):
    x = torch.from_numpy(make_signal("chirp", 20000, np.float32, (2,)))
    ref = afx.spectral_features(x.double())
    got = afx.spectral_features(x.to("cuda", dtype))
    for name in got:
        assert got[name].dtype == dtype
        assert rel_err(got[name].double().cpu(), ref[name].numpy()) <= 2e-2, name


# ---------------------------------------------------------------------------------------------
# The chunked STFT (torch.ops.audiofx.stft builds the spectrogram a few frames at a time on the
# CPU): same values, layout and dtype as the one-shot path (stft_frames + torch.fft.rfft) and
# librosa, whatever the chunks (ragged, across rows), under autograd too.

@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", [(True, "constant"), (True, "reflect"), (False, "wrap")])
def test_stft_chunks_match_librosa_and_the_one_shot_path(dtype, center, mode):
    n_fft, hop = 256, 64
    y = make_signal("chirp", 3001, NP[dtype], (5,))
    x = torch.from_numpy(y)
    w = afx.get_window("hann", n_fft, dtype=x.dtype)
    op_mode = mode
    frames = torch.ops.audiofx.stft_frames(x, w, n_fft, hop, center, op_mode)
    one_shot = torch.fft.rfft(frames, dim=-1).transpose(-1, -2)
    nf = one_shot.shape[-1]
    for chunk in (0, 1, 10, nf + 3):  # automatic, single frames, ragged, across rows
        got = torch.ops.audiofx.stft(x, w, n_fft, hop, center, op_mode, chunk)
        assert got.shape == one_shot.shape and got.dtype == one_shot.dtype
        assert got.is_contiguous()
        assert checked_rel_err(got, one_shot.numpy()) <= STFT_TOL[dtype] / 100
    got = afx.stft(x, n_fft=n_fft, hop_length=hop, center=center, pad_mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if center:
            ref = librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True, pad_mode=mode)
        else:  # end-wrap: the frames of the signal extended by its own start
            idx = np.arange((nf - 1) * hop + n_fft) % y.shape[-1]
            ref = librosa.stft(y[..., idx], n_fft=n_fft, hop_length=hop, center=False)
    check(f"stft/{NP[dtype].__name__}", got, ref, STFT_TOL[dtype], f"chunks {mode}")
    one_row = afx.stft(x[3], n_fft=n_fft, hop_length=hop, center=center, pad_mode=mode)
    assert torch.equal(one_row, got[3])
    xg = x.clone().requires_grad_(True)
    afx.stft(xg, n_fft=n_fft, hop_length=hop, center=center, pad_mode=mode).abs().sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()
