"""audiofx.nn: the modules against librosa / the numpy references, their buffers (``.to``,
``.double()``, ``state_dict``), ``torch.compile``, and FeatureStack (values, lengths and mask,
running standardisation, config round trip).

Expected values come from librosa or tests/reference.py, never from audiofx. Error measure:
``max|a - ref| / max|ref|``; tolerances 1e-6 (float64) and 3e-4 (float32), as the spectral
suites.
"""
from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import torch

import audiofx.nn as afn
from reference import check, make_signal, ref_amplitude_envelope, ref_rms

TOL = {torch.float64: 1e-6, torch.float32: 3e-4}
NP = {torch.float64: np.float64, torch.float32: np.float32}
DTYPES = [torch.float64, torch.float32]


def _signal(length=22050, n=2, seed=0):
    """A log chirp (50 Hz - 8 kHz) plus noise, ``(n, length)`` float64: every bin has energy."""
    y = make_signal("chirp", length, seed=seed, shape=(n,))
    return 0.8 * y + 0.05 * make_signal("normal", length, seed=seed + 1, shape=(n,))


def _module(m, dtype):
    return m.double() if dtype == torch.float64 else m


def _x(y, dtype):
    return torch.from_numpy(y.astype(NP[dtype]))


# ---------------------------------------------------------------------------------------------
# The single-feature modules against librosa


@pytest.mark.parametrize("dtype", DTYPES)
def test_frame_modules_match_references(dtype):
    y = _signal(9000)
    x = _x(y, dtype)
    yd = y.astype(NP[dtype])
    check("nn/ae", afn.AmplitudeEnvelope(1024, 256)(x),
          ref_amplitude_envelope(yd, 1024, 256), TOL[dtype], str(dtype))
    check("nn/ae-abs", afn.AmplitudeEnvelope(1024, 256, absolute=True)(x),
          ref_amplitude_envelope(yd, 1024, 256, absolute=True), TOL[dtype], str(dtype))
    check("nn/rms", afn.RMS(1024, 256)(x),
          librosa.feature.rms(y=yd, frame_length=1024, hop_length=256)[:, 0], TOL[dtype],
          str(dtype))
    check("nn/zcr", afn.ZeroCrossingRate(1024, 256)(x),
          librosa.feature.zero_crossing_rate(yd, frame_length=1024, hop_length=256)[:, 0],
          TOL[dtype], str(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_stft_and_spectrogram_match_librosa(dtype):
    y = _signal(8000)
    x = _x(y, dtype)
    ref = librosa.stft(y, n_fft=512, hop_length=128, win_length=400)
    check("nn/stft", _module(afn.STFT(512, 128, 400), dtype)(x), ref, TOL[dtype], str(dtype))
    for power in (1, 2):
        check(f"nn/spectrogram-p{power}",
              _module(afn.Spectrogram(512, 128, 400, power=power), dtype)(x),
              np.abs(ref) ** power, TOL[dtype], str(dtype))
    check("nn/spectrogram-db", _module(afn.Spectrogram(512, 128, power=2, db=True), dtype)(x),
          librosa.power_to_db(np.abs(librosa.stft(y, n_fft=512, hop_length=128)) ** 2,
                              top_db=None), TOL[dtype], str(dtype))
    check("nn/spectrogram-amp-db",
          _module(afn.Spectrogram(512, 128, power=1, db=True, top_db=60), dtype)(x),
          librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=512, hop_length=128)),
                                  top_db=60), TOL[dtype], str(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_spectral_centroid_bandwidth_match_librosa(dtype):
    y = _signal(8000)
    x = _x(y, dtype)
    kw = dict(sr=16000, n_fft=1024, hop_length=160)
    check("nn/centroid", _module(afn.SpectralCentroid(**kw), dtype)(x),
          librosa.feature.spectral_centroid(y=y, **kw)[:, 0], TOL[dtype], str(dtype))
    check("nn/bandwidth-p1",
          _module(afn.SpectralBandwidth(**kw, p=1), dtype)(x),
          librosa.feature.spectral_bandwidth(y=y, **kw, p=1)[:, 0], TOL[dtype], str(dtype))
    check("nn/bandwidth", _module(afn.SpectralBandwidth(**kw), dtype)(x),
          librosa.feature.spectral_bandwidth(y=y, **kw)[:, 0], TOL[dtype], str(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mel_and_mfcc_match_librosa(dtype):
    y = _signal(11025)
    x = _x(y, dtype)
    kw = dict(sr=22050, n_fft=1024, hop_length=256, n_mels=40)
    mel = librosa.feature.melspectrogram(y=y, **kw)
    check("nn/melspectrogram", _module(afn.MelSpectrogram(**kw), dtype)(x), mel, TOL[dtype],
          str(dtype))
    check("nn/melspectrogram-db", _module(afn.MelSpectrogram(**kw, db=True), dtype)(x),
          librosa.power_to_db(mel, top_db=None), TOL[dtype], str(dtype))
    mel_p1 = librosa.feature.melspectrogram(y=y, **kw, power=1.0, fmin=100.0, fmax=6000.0,
                                            htk=True)
    check("nn/melspectrogram-p1-htk",
          _module(afn.MelSpectrogram(**kw, power=1, fmin=100.0, fmax=6000.0, htk=True),
                  dtype)(x), mel_p1, TOL[dtype], str(dtype))
    # librosa's mfcc clips at top_db=80 against the whole array; the module's default does not
    # clip (batch items stay independent), and top_db=80 gives librosa's numbers per clip.
    S_db = librosa.power_to_db(mel, top_db=None)
    check("nn/mfcc", _module(afn.MFCC(**kw, n_mfcc=13), dtype)(x),
          librosa.feature.mfcc(S=S_db, n_mfcc=13), TOL[dtype], str(dtype))
    check("nn/mfcc-lifter", _module(afn.MFCC(**kw, n_mfcc=13, lifter=22), dtype)(x),
          librosa.feature.mfcc(S=S_db, n_mfcc=13, lifter=22), TOL[dtype], str(dtype))
    one = y[:1]
    check("nn/mfcc-top_db", _module(afn.MFCC(**kw, n_mfcc=13, top_db=80.0), dtype)(x[:1]),
          librosa.feature.mfcc(y=one, **kw, n_mfcc=13), TOL[dtype], str(dtype))


def test_module_buffers_are_not_saved_and_move_with_the_module():
    m = afn.MFCC(sr=16000, n_fft=512, hop_length=160, n_mels=32, n_mfcc=13)
    assert m.state_dict() == {}
    names = {n for n, _ in m.named_buffers()}
    assert names == {"window", "mel_basis", "dct"}
    m64 = m.double()
    assert all(b.dtype == torch.float64 for b in m64.buffers())
    y = _signal(4000)
    S_db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512,
                                                              hop_length=160, n_mels=32),
                               top_db=None)
    ref = librosa.feature.mfcc(S=S_db, n_mfcc=13)
    out = m64(torch.from_numpy(y))
    assert out.dtype == torch.float64
    check("nn/mfcc-double", out, ref, 1e-6, "after .double()")
    fresh = afn.MFCC(sr=16000, n_fft=512, hop_length=160, n_mels=32, n_mfcc=13).double()
    fresh.load_state_dict(m64.state_dict())
    torch.testing.assert_close(fresh(torch.from_numpy(y)), out, rtol=0, atol=0)


def test_bad_module_arguments():
    with pytest.raises(ValueError, match="power"):
        afn.Spectrogram(power=3)
    with pytest.raises(ValueError, match="win_length"):
        afn.STFT(256, win_length=512)
    with pytest.raises(ValueError, match="n_mfcc"):
        afn.MFCC(n_mels=10, n_mfcc=20)
    with pytest.raises(ValueError, match="window"):
        afn.STFT(window="kaiser")
    with pytest.raises(ValueError, match="hop_length"):
        afn.RMS(hop_length=0)


# ---------------------------------------------------------------------------------------------
# FeatureStack

SR = 16000
FS_KW = dict(sr=SR, frame_length=512, hop_length=160, n_mels=32, n_mfcc=13)


def _librosa_rows(y, names=afn.FEATURE_NAMES, N=512, H=160, n_mels=32, n_mfcc=13):
    """The FeatureStack rows of one clip ``y`` (T,), from librosa / the numpy references."""
    rows = []
    S_db = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=N, hop_length=H, n_mels=n_mels), top_db=None)
    for name in names:
        if name == "ae":
            rows.append(ref_amplitude_envelope(y, N, H)[None])
        elif name == "rms":
            # numpy float64 (librosa's rms returns float32 whatever the input).
            rows.append(ref_rms(y, N, H)[None])
        elif name == "zcr":
            rows.append(librosa.feature.zero_crossing_rate(y, frame_length=N, hop_length=H))
        elif name == "centroid":
            rows.append(librosa.feature.spectral_centroid(y=y, sr=SR, n_fft=N, hop_length=H))
        elif name == "bandwidth":
            rows.append(librosa.feature.spectral_bandwidth(y=y, sr=SR, n_fft=N, hop_length=H))
        elif name == "mel":
            rows.append(S_db)
        elif name == "mfcc":
            rows.append(librosa.feature.mfcc(S=S_db, n_mfcc=n_mfcc))
    return np.concatenate(rows, axis=0)


def _check_rows(got, ref, dtype, names, case):
    """Per feature block: each block has its own scale (Hz, dB, rates)."""
    start = 0
    for name in names:
        n = 32 if name == "mel" else 13 if name == "mfcc" else 1
        check(f"nn/featurestack/{name}", got[..., start:start + n, :],
              ref[..., start:start + n, :], TOL[dtype], case)
        start += n


@pytest.mark.parametrize("dtype", DTYPES)
def test_featurestack_rows_match_librosa(dtype):
    y = _signal(8000, n=2)
    fs = _module(afn.FeatureStack(afn.FEATURE_NAMES, **FS_KW), dtype)
    assert fs.feature_dim == 5 + 32 + 13
    out = fs(_x(y, dtype))
    assert out.shape == (2, fs.feature_dim, 1 + 8000 // 160) and out.dtype == dtype
    ref = np.stack([_librosa_rows(y[b].astype(NP[dtype])) for b in range(2)])
    _check_rows(out, ref, dtype, afn.FEATURE_NAMES, str(dtype))


def test_featurestack_order_and_subsets():
    y = _signal(6000, n=1)
    names = ("mfcc", "zcr", "centroid")
    fs = afn.FeatureStack(names, **FS_KW).double()
    assert fs.feature_dim == 13 + 1 + 1
    assert fs.rows == {"mfcc": slice(0, 13), "zcr": slice(13, 14), "centroid": slice(14, 15)}
    out = fs(torch.from_numpy(y))
    _check_rows(out, _librosa_rows(y[0], names)[None], torch.float64, names, "subset")
    # Without mel / MFCC the spectral statistics come from the chunked spectral_features path.
    for dtype in DTYPES:
        names = ("bandwidth", "ae", "centroid")
        fs = _module(afn.FeatureStack(names, **FS_KW), dtype)
        out = fs(_x(y, dtype))
        _check_rows(out, _librosa_rows(y[0].astype(NP[dtype]), names)[None], dtype, names,
                    f"spectral_features path, {dtype}")
    # Odd frame lengths are fine while frame and spectral features share the parity.
    odd = afn.FeatureStack(("rms", "mel"), sr=SR, frame_length=401, hop_length=160, n_mels=16)
    assert odd(torch.from_numpy(y).float()).shape == (1, 17, 1 + (6000 - 1) // 160)


@pytest.mark.parametrize("names", [afn.FEATURE_NAMES, ("centroid", "zcr", "bandwidth")],
                         ids=["all", "spectral_features-path"])
def test_featurestack_lengths_give_each_clip_alone_and_a_mask(names):
    """Needs the functional layer's ``lengths=`` (issue 4, engineer A2)."""
    y = _signal(8000, n=3)
    lengths = [8000, 5001, 700]
    x = torch.from_numpy(y).clone()
    for b, L in enumerate(lengths):
        x[b, L:] = 0.5  # padding that must not leak into the clip's features
    fs = afn.FeatureStack(names, **FS_KW).double()
    feats, mask = fs(x, torch.tensor(lengths))
    n_frames = 1 + 8000 // 160
    assert feats.shape == (3, fs.feature_dim, n_frames)
    assert mask.dtype == torch.bool and mask.shape == (3, n_frames)
    for b, L in enumerate(lengths):
        valid = 1 + L // 160  # centred frames of a clip of L samples, even frame length
        assert mask[b].tolist() == [t < valid for t in range(n_frames)]
        _check_rows(feats[b, :, :valid], _librosa_rows(y[b, :L], names), torch.float64,
                    names, f"row {b} of a padded batch, length {L}")
        assert not feats[b, :, valid:].any()


def test_featurestack_standardize_uses_valid_frames_only():
    """Needs the functional layer's ``lengths=`` (issue 4, engineer A2)."""
    names = ("rms", "zcr", "mel")
    y1, y2 = _signal(6000, n=2, seed=3), _signal(6000, n=2, seed=5)
    lengths = torch.tensor([6000, 2500])
    fs = afn.FeatureStack(names, **FS_KW, standardize=True, momentum=0.01).double()
    assert set(fs.state_dict()) == {"running_mean", "running_var", "num_batches_tracked"}

    def valid_frames(y):
        rows = [_librosa_rows(y[b, :int(L)], names) for b, L in enumerate(lengths)]
        return np.concatenate(rows, axis=1)  # (F, all valid frames)

    v1, v2 = valid_frames(y1), valid_frames(y2)
    fs.train()
    out1, mask = fs(torch.from_numpy(y1), lengths)
    # The first batch sets the statistics, from the valid frames only (librosa's float32 mel
    # filterbank limits the agreement to ~1e-7 of the dB values).
    check("nn/featurestack/running_mean", fs.running_mean, v1.mean(1), 1e-6, "first batch")
    check("nn/featurestack/running_var", fs.running_var, v1.var(1), 1e-6, "first batch")
    all_frames = np.concatenate([_librosa_rows(y1[b], names) for b in range(2)], axis=1)
    assert np.abs(fs.running_mean.numpy() - all_frames.mean(1)).max() > 1e-2, \
        "the padded frames' features differ, so including them would move the mean"
    ref1 = (v1 - v1.mean(1, keepdims=True)) / np.sqrt(v1.var(1, keepdims=True) + 1e-5)
    got1 = torch.cat([out1[b, :, mask[b]] for b in range(2)], dim=1)
    check("nn/featurestack/standardized", got1, ref1, 1e-6, "first batch")
    assert not out1[~mask.unsqueeze(1).expand_as(out1)].any()
    # The second: factor max(momentum, 1/2) = 1/2, a cumulative average.
    fs(torch.from_numpy(y2), lengths)
    check("nn/featurestack/running_mean", fs.running_mean, (v1.mean(1) + v2.mean(1)) / 2, 1e-6,
          "second batch")
    check("nn/featurestack/running_var", fs.running_var, (v1.var(1) + v2.var(1)) / 2, 1e-6,
          "second batch")
    assert int(fs.num_batches_tracked) == 2
    # Eval mode applies the statistics without changing them.
    fs.eval()
    before = {k: v.clone() for k, v in fs.state_dict().items()}
    out_eval, _ = fs(torch.from_numpy(y1), lengths)
    for k, v in fs.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    mean, var = fs.running_mean.numpy()[:, None], fs.running_var.numpy()[:, None]
    got = torch.cat([out_eval[b, :, mask[b]] for b in range(2)], dim=1)
    check("nn/featurestack/standardized", got, (v1 - mean) / np.sqrt(var + 1e-5), 1e-6, "eval")


def test_featurestack_momentum_after_warmup():
    fs = afn.FeatureStack(("rms",), **FS_KW, standardize=True, momentum=0.25).double()
    ys = [_signal(3000, n=2, seed=s) for s in range(4)]
    stats = [ref_rms(y, 512, 160) for y in ys]
    expected = None
    for n, (y, r) in enumerate(zip(ys, stats), start=1):
        fs(torch.from_numpy(y))
        factor = max(0.25, 1.0 / n)
        m = r.mean()
        expected = m if expected is None else (1 - factor) * expected + factor * m
    assert fs.running_mean.item() == pytest.approx(expected, rel=1e-9)


def test_featurestack_state_dict_round_trip_and_config():
    names = ("ae", "bandwidth", "mel", "mfcc")
    fs = afn.FeatureStack(names, **FS_KW, standardize=True, fmin=50.0, fmax=7000.0)
    x = torch.from_numpy(_signal(4000, n=2)).float()
    fs.train()
    for _ in range(3):
        fs(x)
    fs.eval()
    cfg = json.loads(json.dumps(fs.config()))
    fresh = afn.FeatureStack(**cfg)
    assert fresh.feature_dim == fs.feature_dim and fresh.features == fs.features
    fresh.load_state_dict(fs.state_dict())
    fresh.eval()
    torch.testing.assert_close(fresh(x), fs(x), rtol=0, atol=0)
    # The statistics are what makes them agree: an untrained copy gives other values.
    assert not torch.equal(afn.FeatureStack(**cfg).eval()(x), fs(x))


def test_featurestack_to_float64():
    fs = afn.FeatureStack(afn.FEATURE_NAMES, **FS_KW, standardize=True)
    fs64 = fs.to(torch.float64)
    assert all(b.dtype == torch.float64 for n, b in fs64.named_buffers()
               if n != "num_batches_tracked")
    assert fs64.num_batches_tracked.dtype == torch.long
    y = _signal(5000, n=1)
    out = fs64.eval()(torch.from_numpy(y))
    assert out.dtype == torch.float64
    # Untrained statistics (mean 0, variance 1) scale by 1 / sqrt(1 + eps).
    ref = _librosa_rows(y[0])[None] / np.sqrt(1 + 1e-5)
    _check_rows(out, ref, torch.float64, afn.FEATURE_NAMES, ".to(float64)")


def test_featurestack_compiles_fullgraph():
    fs = afn.FeatureStack(afn.FEATURE_NAMES, **FS_KW, standardize=True).eval()
    x = torch.from_numpy(_signal(4000, n=2)).float()
    fs.train()
    fs(x)
    fs.eval()
    compiled = torch.compile(fs, fullgraph=True)
    torch.testing.assert_close(compiled(x), fs(x), rtol=1e-5, atol=1e-5)


def test_featurestack_with_lengths_compiles_fullgraph():
    """Needs the functional layer's ``lengths=`` under torch.compile (issue 4, engineer A2)."""
    fs = afn.FeatureStack(("rms", "zcr", "centroid", "mel"), **FS_KW, standardize=True)
    x = torch.from_numpy(_signal(4000, n=2)).float()
    lengths = torch.tensor([4000, 1234])
    compiled = torch.compile(fs, fullgraph=True)
    eager = afn.FeatureStack(("rms", "zcr", "centroid", "mel"), **FS_KW, standardize=True)
    got, mask = compiled(x, lengths)
    ref, ref_mask = eager(x, lengths)
    assert torch.equal(mask, ref_mask)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fs.running_mean, eager.running_mean, rtol=1e-6, atol=1e-6)


def test_featurestack_bad_arguments():
    with pytest.raises(ValueError, match="features"):
        afn.FeatureStack(("rms", "loudness"))
    with pytest.raises(ValueError, match="repeat"):
        afn.FeatureStack(("rms", "rms"))
    with pytest.raises(ValueError, match="features"):
        afn.FeatureStack(())
    with pytest.raises(ValueError, match="even"):
        afn.FeatureStack(("rms", "mel"), frame_length=512, n_fft=511)
    with pytest.raises(ValueError, match="n_mfcc"):
        afn.FeatureStack(("mfcc",), n_mels=8, n_mfcc=13)
    with pytest.raises(ValueError, match="momentum"):
        afn.FeatureStack(("rms",), standardize=True, momentum=0)
    with pytest.raises(TypeError, match="lengths"):
        afn.FeatureStack(("rms",))(torch.zeros(1, 100), lengths=[100])


@pytest.mark.cuda
def test_featurestack_on_cuda_matches_cpu():
    fs = afn.FeatureStack(afn.FEATURE_NAMES, **FS_KW, standardize=True)
    x = torch.from_numpy(_signal(8000, n=3)).float()
    lengths = torch.tensor([8000, 4000, 999])
    fs.train()
    ref, ref_mask = fs(x, lengths)
    fs_cuda = afn.FeatureStack(afn.FEATURE_NAMES, **FS_KW, standardize=True).to("cuda").train()
    got, mask = fs_cuda(x.cuda(), lengths.cuda())
    assert got.device.type == "cuda" and mask.device.type == "cuda"
    assert torch.equal(mask.cpu(), ref_mask)
    torch.testing.assert_close(got.cpu(), ref, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(fs_cuda.running_mean.cpu(), fs.running_mean, rtol=1e-4,
                               atol=1e-4)
