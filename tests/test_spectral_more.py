"""Spectral rolloff, flatness, contrast, mel filterbank, mel spectrogram, dB scaling, MFCC and RMS
from a spectrogram (``audiofx.spectral``) against librosa (DESIGN §3, issue 3 items 3-4).

Every expected value comes from librosa (or scipy), never from audiofx. Error measure:
``max|a - ref| / max|ref|`` per case; tolerances (the issue's acceptance) 1e-6 (float64) and 3e-4
(float32). One exception, measured: librosa's own float32 ``spectral_flatness`` of a silent frame
is 1.00029 instead of 1 (the float32 mean of 1025 equal logs), which is 2.9e-4 of the result on
its own; float32 flatness is therefore compared with librosa run in float64 on the same float32
samples, and librosa's float32 gap is recorded next to it (``flatness-librosa-f32-own``).

The worst error per (function, dtype) goes into the suite's parity report (printed at the
end of the run; JSON in $AUDIOFX_PARITY_REPORT).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

import audiofx as afx
from reference import check, checked_rel_err, record_error
from audiofx import spectral
from audiofx.compat import librosa as alibrosa

librosa = pytest.importorskip("librosa")

SR = 22050
DTYPES = [torch.float64, torch.float32]
NP = {torch.float64: np.float64, torch.float32: np.float32}
TOL = {torch.float64: 1e-6, torch.float32: 3e-4}

_record = record_error  # the suite-wide parity report (tests/reference.py)
rel_err = checked_rel_err


def make_signal(kind: str, T: int, dtype=np.float64, shape=(), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, T, len(kind)])
    full = tuple(shape) + (T,)
    t = np.arange(T) / SR
    if kind == "chirp":
        y = scipy.signal.chirp(t, f0=50.0, t1=max(t[-1], 1.0 / SR), f1=9000.0,
                               method="logarithmic") * rng.uniform(0.5, 1.5, tuple(shape) + (1,))
    elif kind == "noise":
        y = rng.standard_normal(full)
    elif kind == "silences":
        # Exact zeros longer than the largest frame, at the start, the middle and the end.
        y = rng.standard_normal(full) * 0.1
        y[..., : T // 8] = 0.0
        y[..., T // 3: T // 3 + 2600] = 0.0
        y[..., -(T // 10):] = 0.0
    else:
        raise ValueError(kind)
    return np.ascontiguousarray(np.broadcast_to(y, full).astype(dtype))


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# From x: every function against librosa over the STFT geometry grid

# (n_fft, win_length, hop_length): every n_fft of the issue, win_length < n_fft, hops that do not
# divide n_fft.
GEOMS = [(2048, None, 512), (2048, 1500, 700), (1024, 1000, 333), (512, None, 300),
         (512, 400, 128), (400, None, 160), (400, 300, 100), (256, None, 64), (256, 200, 100)]
PADS = [(True, "constant"), (True, "reflect"), (False, "constant"), (True, "edge")]
KINDS = ["chirp", "noise", "silences"]


def _x_cases():
    cases = []
    for i, (n_fft, win, hop) in enumerate(GEOMS):
        for j in range(2):
            center, mode = PADS[(i + j) % len(PADS)]
            kind = KINDS[(i + 2 * j) % len(KINDS)]
            # Some signals shorter than n_fft (centred; reflect needs T > n_fft // 2).
            T = 7001 if (i + j) % 3 else (n_fft // 2 + 17 if center else n_fft + 3)
            shape = (2, 3) if (i + j) % 4 == 0 else ((2,) if (i + j) % 4 == 1 else ())
            cases.append(pytest.param(n_fft, win, hop, center, mode, kind, T, shape,
                                      id=f"n{n_fft}-w{win}-h{hop}-{'c' if center else 'nc'}-"
                                         f"{mode}-{kind}-T{T}-b{len(shape)}"))
    return cases


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_fft,win,hop,center,mode,kind,T,shape", _x_cases())
def test_from_x_match_librosa(n_fft, win, hop, center, mode, kind, T, shape, dtype):
    y = make_signal(kind, T, NP[dtype], shape)
    x = torch.from_numpy(y)
    stft_kw = dict(n_fft=n_fft, hop_length=hop, win_length=win, center=center)
    lkw = dict(y=y, sr=SR, **stft_kw, pad_mode=mode)
    akw = dict(sr=SR, **stft_kw, pad_mode=mode if center else None)
    case = f"n_fft={n_fft} win={win} hop={hop} center={center} {mode} {kind} T={T} {shape}"
    d = NP[dtype].__name__
    tol = TOL[dtype]
    n_mels = 128 if n_fft >= 1024 else 40

    got = afx.spectral_rolloff(x, **akw)
    assert got.dtype == dtype
    check(f"rolloff(x)/{d}", got, librosa.feature.spectral_rolloff(**lkw)[..., 0, :], tol, case)
    got = afx.spectral_rolloff(x, **akw, roll_percent=0.3)
    check(f"rolloff(x)/{d}", got,
          librosa.feature.spectral_rolloff(**lkw, roll_percent=0.3)[..., 0, :], tol, case)

    fkw = {k: v for k, v in lkw.items() if k != "sr"}
    got = afx.spectral_flatness(x, **{k: v for k, v in akw.items() if k != "sr"})
    assert got.dtype == dtype
    ref64 = librosa.feature.spectral_flatness(**{**fkw, "y": y.astype(np.float64)})[..., 0, :]
    check(f"flatness(x)/{d}", got, ref64, tol, case)
    if dtype == torch.float32:
        own = rel_err(librosa.feature.spectral_flatness(**fkw)[..., 0, :], ref64)
        _record("flatness-librosa-f32-own/float32", own, case)

    got = afx.spectral_contrast(x, **akw)
    assert got.dtype == dtype and got.shape[-2] == 7
    check(f"contrast(x)/{d}", got, librosa.feature.spectral_contrast(**lkw), tol, case)

    mel = quiet(afx.melspectrogram, x, **akw, n_mels=n_mels)
    assert mel.dtype == dtype
    check(f"melspectrogram(x)/{d}", mel,
          quiet(librosa.feature.melspectrogram, **lkw, n_mels=n_mels), tol, case)

    got = quiet(afx.mfcc, x, **akw, n_mels=n_mels, n_mfcc=13)
    assert got.dtype == dtype
    check(f"mfcc(x)/{d}", got, quiet(librosa.feature.mfcc, **lkw, n_mels=n_mels, n_mfcc=13), tol,
          case)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_mel_options_from_x(dtype):
    """htk, fmin/fmax, norm None, power 1 and liftering through melspectrogram and mfcc."""
    y = make_signal("chirp", 9000, NP[dtype], (2,))
    x = torch.from_numpy(y)
    d = NP[dtype].__name__
    for kw in [dict(htk=True, fmin=30.0, fmax=8000.0, n_mels=64),
               dict(norm=None, power=1.0, n_mels=96, n_fft=1024, hop_length=256),
               dict(htk=True, norm=None, n_mels=20, n_fft=400, win_length=300,
                    hop_length=123)]:
        check(f"melspectrogram(x)/{d}", afx.melspectrogram(x, **kw),
              librosa.feature.melspectrogram(y=y, **kw), TOL[dtype], f"{kw}")
        mkw = {("mel_norm" if k == "norm" else k): v for k, v in kw.items()}
        for extra in [dict(), dict(lifter=22), dict(n_mfcc=40, norm=None),
                      dict(dct_type=3, n_mfcc=12)]:
            check(f"mfcc(x)/{d}", afx.mfcc(x, **mkw, **extra),
                  librosa.feature.mfcc(y=y, **mkw, **extra), TOL[dtype], f"{kw} {extra}")


# ---------------------------------------------------------------------------------------------
# From S


def _S_for(kind, n_fft, dtype, shape=(2,), T=12000):
    y = make_signal(kind, T, NP[dtype], shape)
    return np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_fft,kind", [(2048, "silences"), (512, "chirp"), (400, "noise"),
                                        (256, "silences")])
def test_from_S_match_librosa(n_fft, kind, dtype):
    S = _S_for(kind, n_fft, dtype)
    St = torch.from_numpy(S)
    d = NP[dtype].__name__
    tol = TOL[dtype]
    case = f"n_fft={n_fft} {kind}"
    freq = np.linspace(0, SR / 2, S.shape[-2]) ** 1.05  # non-uniform bin frequencies
    for rp in (0.85, 0.5, 0.99):
        check(f"rolloff(S)/{d}", afx.spectral_rolloff(S=St, roll_percent=rp),
              librosa.feature.spectral_rolloff(S=S, roll_percent=rp)[..., 0, :], tol, case)
        check(f"rolloff(S)/{d}", afx.spectral_rolloff(S=St, freq=freq, roll_percent=rp),
              librosa.feature.spectral_rolloff(S=S, freq=freq, roll_percent=rp)[..., 0, :], tol,
              f"{case} freq")
    # Non-monotonic frequencies: librosa's nanmin over the qualifying bins.
    perm = freq[::-1].copy()
    check(f"rolloff(S)/{d}", afx.spectral_rolloff(S=St, freq=torch.from_numpy(perm)),
          librosa.feature.spectral_rolloff(S=S, freq=perm)[..., 0, :], tol, f"{case} rev freq")
    for kw in [dict(), dict(power=1.0), dict(amin=1e-4, power=3.0)]:
        ref = librosa.feature.spectral_flatness(S=S.astype(np.float64), **kw)[..., 0, :]
        check(f"flatness(S)/{d}", afx.spectral_flatness(S=St, **kw), ref, tol, f"{case} {kw}")
    for kw in [dict(), dict(linear=True), dict(n_bands=4, fmin=300.0, quantile=0.1),
               dict(freq=freq, n_bands=5), dict(quantile=0.3, sr=30000)]:
        ref = librosa.feature.spectral_contrast(S=S, **kw)
        check(f"contrast(S)/{d}", afx.spectral_contrast(S=St, **kw), ref, tol, f"{case} {kw}")
    P = S ** 2
    for kw in [dict(), dict(n_mels=40, htk=True, fmax=7000.0)]:
        M = quiet(librosa.feature.melspectrogram, S=P, **kw)
        check(f"melspectrogram(S)/{d}", quiet(afx.melspectrogram, S=torch.from_numpy(P), **kw),
              M, tol, f"{case} {kw}")
        D = librosa.power_to_db(M)
        for mk in [dict(), dict(n_mfcc=13, lifter=22), dict(norm=None, dct_type=3)]:
            check(f"mfcc(S)/{d}", afx.mfcc(S=torch.from_numpy(D), **mk),
                  librosa.feature.mfcc(S=D, **mk), tol, f"{case} {kw} {mk}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_melspectrogram_odd_n_fft_from_S(dtype):
    """librosa keeps an odd n_fft whose bins match S (n_fft // 2 + 1), as audiofx does."""
    y = make_signal("noise", 8000, NP[dtype])
    P = np.abs(librosa.stft(y, n_fft=401, hop_length=100)) ** 2
    ref = librosa.feature.melspectrogram(S=P, n_fft=401, n_mels=40)
    check(f"melspectrogram(S)/{NP[dtype].__name__}",
          afx.melspectrogram(S=torch.from_numpy(P), n_fft=401, n_mels=40), ref, TOL[dtype],
          "n_fft=401")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_silent_signal(dtype):
    """All-zero input: librosa's values (rolloff 0 Hz, flatness ~1, finite contrast and MFCC)."""
    y = np.zeros((2, 5000), NP[dtype])
    x = torch.from_numpy(y)
    assert torch.equal(afx.spectral_rolloff(x), torch.zeros(2, 10, dtype=dtype))
    ref = librosa.feature.spectral_flatness(y=y.astype(np.float64))[..., 0, :]  # 1 - ~3e-13
    check(f"flatness(x)/{NP[dtype].__name__}", afx.spectral_flatness(x), ref, TOL[dtype],
          "all zeros")
    for fn in ("spectral_contrast", "melspectrogram", "mfcc"):
        got = getattr(afx, fn)(x)
        ref = getattr(librosa.feature, fn)(y=y)
        check(f"{fn}(x)/{NP[dtype].__name__}", got, ref, TOL[dtype], "all zeros")


# ---------------------------------------------------------------------------------------------
# Mel filterbank, dB, DCT, RMS from S

MEL_GRID = [(22050, 2048, 128, 0.0, None), (16000, 400, 40, 20.0, 7600.0),
            (44100, 1024, 64, 100.0, None), (8000, 256, 80, 0.0, 4000.0),
            (48000, 4096, 256, 30.0, 20000.0), (22050, 513, 96, 0.0, 5000.0)]


@pytest.mark.parametrize("norm", ["slaney", None, 1.0, 2.0, np.inf])
@pytest.mark.parametrize("htk", [False, True])
def test_mel_filterbank_matches_librosa(htk, norm):
    for sr, n_fft, n_mels, fmin, fmax in MEL_GRID:
        for tdt, ndt in ((torch.float64, np.float64), (torch.float32, np.float32)):
            kw = dict(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                      norm=norm)
            ref = quiet(librosa.filters.mel, **kw, dtype=ndt)
            got = quiet(afx.mel_filterbank, **kw, dtype=tdt)
            assert got.dtype == tdt and tuple(got.shape) == ref.shape
            check(f"mel_filterbank/{ndt.__name__}", got, ref, 1e-6 if ndt is np.float64 else 3e-4,
                  f"{kw}")
            cg = alibrosa.filters.mel(**kw, dtype=ndt)
            assert cg.dtype == ref.dtype and cg.shape == ref.shape


def test_mel_filterbank_warns_on_empty_filters_as_librosa():
    with pytest.warns(UserWarning, match="Empty filters"):
        librosa.filters.mel(sr=8000, n_fft=128, n_mels=128)
    with pytest.warns(UserWarning, match="Empty filters"):
        afx.mel_filterbank(sr=8000, n_fft=128, n_mels=128)


def test_hz_mel_conversions_match_librosa():
    f = np.concatenate([np.linspace(0, 20000, 997), [999.9999, 1000.0, 1000.0001]])
    for htk in (False, True):
        m = librosa.hz_to_mel(f, htk=htk)
        check("hz_to_mel/float64", afx.hz_to_mel(torch.from_numpy(f), htk=htk), m, 1e-12, f"{htk}")
        check("mel_to_hz/float64", afx.mel_to_hz(torch.from_numpy(m), htk=htk),
              librosa.mel_to_hz(m, htk=htk), 1e-12, f"{htk}")
        assert float(afx.hz_to_mel(440.0, htk=htk)) == pytest.approx(
            float(librosa.hz_to_mel(440.0, htk=htk)), rel=1e-14)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_db_scaling_matches_librosa(dtype):
    S = _S_for("silences", 512, dtype)
    P = S ** 2
    d = NP[dtype].__name__
    for ref, tref in [(1.0, 1.0), (np.max, torch.amax), (0.5, 0.5), (np.mean, torch.mean)]:
        for top_db in (80.0, None, 30.0, 0.0):
            for amin in (1e-10, 1e-3):
                kw = dict(top_db=top_db, amin=amin)
                case = f"ref={getattr(ref, '__name__', ref)} {kw}"
                got = afx.power_to_db(torch.from_numpy(P), ref=tref, **kw)
                assert got.dtype == dtype
                check(f"power_to_db/{d}", got, librosa.power_to_db(P, ref=ref, **kw), TOL[dtype],
                      case)
                got = afx.amplitude_to_db(torch.from_numpy(S), ref=tref, **kw)
                check(f"amplitude_to_db/{d}", got, librosa.amplitude_to_db(S, ref=ref, **kw),
                      TOL[dtype], case)
                for fn in ("power_to_db", "amplitude_to_db"):
                    r = getattr(librosa, fn)(S, ref=ref, **kw)
                    g = getattr(alibrosa, fn)(S, ref=ref, **kw)
                    assert g.dtype == r.dtype and g.shape == r.shape
                    check(f"compat.{fn}/{d}", g, r, TOL[dtype], case)
    # Complex input: the magnitude, as librosa (which warns).
    D = librosa.stft(make_signal("noise", 3000, NP[dtype]), n_fft=256)
    check(f"amplitude_to_db/{d}", afx.amplitude_to_db(torch.from_numpy(D)),
          quiet(librosa.amplitude_to_db, D), TOL[dtype], "complex")


@pytest.mark.parametrize("n", [1, 2, 7, 20, 128])
@pytest.mark.parametrize("dct_type,norm", [(2, "ortho"), (2, None), (3, "ortho"), (3, None),
                                           (2, "forward")])
def test_dct_matrix_matches_scipy(n, dct_type, norm):
    x = np.random.default_rng(n).standard_normal((n, 5))
    ref = scipy.fft.dct(x, axis=0, type=dct_type, norm=norm)
    got = spectral.dct_matrix(n, dct_type=dct_type, norm=norm) @ torch.from_numpy(x)
    check("dct_matrix/float64", got, ref, 1e-12, f"n={n} type={dct_type} {norm}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("frame_length", [2048, 512, 401])
def test_rms_from_spectrogram_matches_librosa(frame_length, dtype):
    y = make_signal("silences", 9000, NP[dtype], (2,))
    D = librosa.stft(y, n_fft=frame_length, hop_length=128)
    for S in (D, np.abs(D)):
        ref = librosa.feature.rms(S=S, frame_length=frame_length, dtype=np.float64)[..., 0, :]
        got = afx.rms_from_spectrogram(torch.from_numpy(S), frame_length=frame_length)
        assert got.dtype == dtype
        check(f"rms_from_spectrogram/{NP[dtype].__name__}", got, ref, TOL[dtype],
              f"frame_length={frame_length} complex={np.iscomplexobj(S)}")
        r = librosa.feature.rms(S=S, frame_length=frame_length)
        g = alibrosa.feature.rms(S=S, frame_length=frame_length)
        assert g.dtype == r.dtype and g.shape == r.shape and rel_err(g, r) <= 3e-4


# ---------------------------------------------------------------------------------------------
# compat.librosa


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
def test_compat_librosa(np_dtype):
    y = make_signal("silences", 9000, np_dtype, (2,))
    tol = 1e-6 if np_dtype == np.float64 else 3e-4
    kw = dict(n_fft=1024, hop_length=300, win_length=900)
    for name, extra in [("spectral_rolloff", dict(sr=16000, roll_percent=0.9)),
                        ("spectral_contrast", dict(sr=16000, n_bands=5)),
                        ("melspectrogram", dict(sr=16000, n_mels=64, htk=True)),
                        ("melspectrogram", dict(n_mels=32, dtype=np.float64)),
                        ("mfcc", dict(sr=16000, n_mfcc=13, lifter=10, n_mels=40)),
                        ("mfcc", dict(mel_norm=None, n_mels=40, norm=None))]:
        r = getattr(librosa.feature, name)(y=y, **kw, **extra)
        g = getattr(alibrosa.feature, name)(y=y, **kw, **extra)
        assert g.dtype == r.dtype and g.shape == r.shape, (name, g.dtype, r.dtype)
        check(f"compat.{name}/{np.dtype(np_dtype).name}", g, r, tol, f"{extra}")
    r = librosa.feature.spectral_flatness(y=y, **kw)
    g = alibrosa.feature.spectral_flatness(y=y, **kw)
    assert g.dtype == r.dtype and g.shape == r.shape
    check(f"compat.spectral_flatness/{np.dtype(np_dtype).name}", g,
          librosa.feature.spectral_flatness(y=y.astype(np.float64), **kw), tol, "vs float64")
    S = np.abs(librosa.stft(y, **kw))
    for name in ("spectral_rolloff", "spectral_contrast", "spectral_flatness"):
        r = getattr(librosa.feature, name)(S=S)
        g = getattr(alibrosa.feature, name)(S=S)
        assert g.dtype == r.dtype and g.shape == r.shape
    M = librosa.feature.melspectrogram(S=S ** 2)
    g = alibrosa.feature.melspectrogram(S=S ** 2)
    assert g.dtype == M.dtype and g.shape == M.shape and rel_err(g, M) <= tol
    D = librosa.power_to_db(M)
    g = alibrosa.feature.mfcc(S=D, n_mfcc=30)
    r = librosa.feature.mfcc(S=D, n_mfcc=30)
    assert g.dtype == r.dtype and g.shape == r.shape and rel_err(g, r) <= tol
    with pytest.raises(ValueError, match="non-negative"):
        alibrosa.feature.spectral_rolloff(S=-S)


# ---------------------------------------------------------------------------------------------
# torch.compile, argument checks


def test_compile_melspectrogram_power_to_db_mfcc_fullgraph():
    def pipeline(x):
        mel = afx.melspectrogram(x, n_fft=512, hop_length=160, win_length=400, n_mels=40)
        db = afx.power_to_db(mel, ref=torch.amax, top_db=80.0)
        return afx.mfcc(S=db, n_mfcc=13, lifter=22), afx.amplitude_to_db(mel.sqrt())

    x = torch.from_numpy(make_signal("chirp", 6000, np.float32, (2,)))
    compiled = torch.compile(pipeline, fullgraph=True, backend="aot_eager")
    for g, r in zip(compiled(x), pipeline(x)):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-4)
    y = x.numpy()
    ref = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(
        y=y, n_fft=512, hop_length=160, win_length=400, n_mels=40), ref=np.max),
        n_mfcc=13, lifter=22)
    check("mfcc(compiled)/float32", compiled(x)[0], ref, 3e-4, "compile aot_eager")


def test_gradients_flow():
    x = torch.randn(2, 3000, dtype=torch.float64)
    mel = afx.melspectrogram(x, n_fft=256, hop_length=64, n_mels=20)
    S = mel.detach().requires_grad_()
    torch.autograd.gradcheck(lambda s: afx.mfcc(S=afx.power_to_db(s + 1e-3), n_mfcc=5),
                             (S[..., :3],))


def test_argument_errors_name_the_argument():
    x = torch.randn(3000)
    S = torch.rand(257, 9)
    cases = [
        (ValueError, "roll_percent", lambda: afx.spectral_rolloff(x, roll_percent=1.0)),
        (ValueError, "exactly one of x", lambda: afx.spectral_rolloff(x, S=S)),
        (ValueError, "amin", lambda: afx.spectral_flatness(S=S, amin=0)),
        (ValueError, "power", lambda: afx.spectral_flatness(S=S, power=-1)),
        (ValueError, "quantile", lambda: afx.spectral_contrast(S=S, quantile=0)),
        (ValueError, "fmin", lambda: afx.spectral_contrast(S=S, fmin=-5)),
        (ValueError, "Nyquist", lambda: afx.spectral_contrast(S=S, n_bands=9)),
        (TypeError, "n_bands", lambda: afx.spectral_contrast(S=S, n_bands=2.0)),
        (TypeError, "linear", lambda: afx.spectral_contrast(S=S, linear=1)),
        (ValueError, "n_mels", lambda: afx.mel_filterbank(sr=22050, n_fft=512, n_mels=0)),
        (TypeError, "n_fft", lambda: afx.mel_filterbank(sr=22050, n_fft=512.0)),
        (ValueError, "sr", lambda: afx.mel_filterbank(sr=0, n_fft=512)),
        (ValueError, "norm", lambda: afx.mel_filterbank(sr=22050, n_fft=512, norm="l2")),
        (TypeError, "htk", lambda: afx.mel_filterbank(sr=22050, n_fft=512, htk="yes")),
        (ValueError, "fmax", lambda: afx.mel_filterbank(sr=22050, n_fft=512, fmax=-1.0)),
        (ValueError, "amin", lambda: afx.power_to_db(S, amin=0.0)),
        (ValueError, "top_db", lambda: afx.power_to_db(S, top_db=-1.0)),
        (TypeError, "ref", lambda: afx.power_to_db(S, ref="max")),
        (TypeError, "S must be a torch.Tensor", lambda: afx.power_to_db(S.numpy())),
        (ValueError, "dct_type", lambda: afx.mfcc(S=S, dct_type=4)),
        (ValueError, "norm", lambda: afx.mfcc(S=S, norm="l1")),
        (ValueError, "lifter", lambda: afx.mfcc(S=S, lifter=-1)),
        (ValueError, "n_mfcc", lambda: afx.mfcc(S=S[:10], n_mfcc=20, lifter=5)),
        (ValueError, "frame_length", lambda: afx.rms_from_spectrogram(S, frame_length=100)),
    ]
    for exc, match, fn in cases:
        with pytest.raises(exc, match=match):
            fn()
