"""Parity of audiofx's ops with librosa itself (DESIGN §3: defaults and values equal librosa's).

* ``rms`` vs ``librosa.feature.rms(y=..., dtype=...)`` with ``dtype=np.float64`` for float64
  input (max relative error <= 1e-10) and librosa's default float32 for float32 input
  (<= 2e-5: librosa accumulates in float32, audiofx in float64);
* ``zero_crossing_rate`` vs ``librosa.feature.zero_crossing_rate``: exactly (librosa's float64
  rate, rounded once to float32 for float32 input);
* the framing itself (``frame``, ``amplitude_envelope``) vs ``librosa.util.frame`` of the
  ``np.pad``-ded signal, exactly.

The worst errors are recorded (terminal summary; JSON file when AUDIOFX_PARITY_REPORT is set).
"""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

import audiofx as afx
from reference import FRAME_HOP, LENGTHS, SIGNAL_KINDS, make_signal, rel_err, valid_config

DTYPES = [np.float64, np.float32]
RMS_TOL = {np.float64: 1e-10, np.float32: 2e-5}

# librosa pads with np.pad when centring and does not pad otherwise (no end-wrap convention).
LIBROSA_CONFIGS = [(True, "constant"), (True, "edge"), (True, "reflect"), (True, "wrap"),
                   (False, None)]

CASES = [
    pytest.param(N, H, center, mode, id=f"N{N}-H{H}-{'c' if center else 'nc'}-{mode}")
    for N, H in FRAME_HOP
    for center, mode in LIBROSA_CONFIGS
]


def _name(dtype) -> str:
    return np.dtype(dtype).name


def _signals(N, center, mode, dtype, shape=()):
    for T in LENGTHS:
        if not valid_config(T, N, center, mode):
            continue
        for kind in SIGNAL_KINDS:
            yield T, kind, make_signal(kind, T, dtype, seed=11, shape=shape)


def _librosa_rms(y, N, H, center, mode, dtype):
    kw = dict(y=y, frame_length=N, hop_length=H, center=center)
    if center:
        kw["pad_mode"] = mode
    if dtype == np.float64:
        kw["dtype"] = np.float64
    return librosa.feature.rms(**kw)[..., 0, :]


@pytest.mark.parametrize("shape", [(), (2, 3)], ids=["mono", "multichannel"])
@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_rms_matches_librosa(N, H, center, mode, dtype, shape, record_error):
    checked = 0
    for T, kind, y in _signals(N, center, mode, dtype, shape):
        expected = _librosa_rms(y, N, H, center, mode, dtype)
        got = afx.rms(torch.from_numpy(y), N, H, center=center, pad_mode=mode)
        assert got.dtype == torch.from_numpy(y).dtype
        assert tuple(got.shape) == expected.shape
        err = rel_err(got, expected)
        case = f"N={N} H={H} center={center} {mode} T={T} {kind} shape={shape}"
        record_error(f"librosa/rms/{_name(dtype)}", err, case)
        assert err <= RMS_TOL[dtype], f"rms vs librosa: rel err {err:.3e} ({case})"
        checked += 1
    assert checked


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_rms_uncentred_ignores_pad_mode_like_librosa(mode):
    y = make_signal("chirp", 3001)
    expected = librosa.feature.rms(y=y, frame_length=512, hop_length=128, center=False,
                                   pad_mode=mode, dtype=np.float64)[0]
    got = afx.rms(torch.from_numpy(y), 512, 128, center=False, pad_mode=mode)
    assert rel_err(got, expected) <= 1e-10


@pytest.mark.parametrize("zero_pos", [True, False])
@pytest.mark.parametrize("threshold", [1e-10, 0.05])
@pytest.mark.parametrize("shape", [(), (2, 3)], ids=["mono", "multichannel"])
@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
@pytest.mark.parametrize("N,H,center", [
    pytest.param(N, H, c, id=f"N{N}-H{H}-{'c' if c else 'nc'}")
    for N, H in FRAME_HOP for c in (True, False)
])
def test_zero_crossing_rate_matches_librosa(N, H, center, dtype, shape, threshold, zero_pos,
                                            record_error):
    checked = 0
    # librosa pads with 'edge' when centring, not at all otherwise: audiofx's defaults.
    mode = "edge" if center else None
    for T, kind, y in _signals(N, center, mode, dtype, shape):
        expected = librosa.feature.zero_crossing_rate(
            y, frame_length=N, hop_length=H, center=center, threshold=threshold,
            zero_pos=zero_pos)[..., 0, :]
        assert expected.dtype == np.float64
        got = afx.zero_crossing_rate(torch.from_numpy(y), N, H, center=center,
                                     threshold=threshold, zero_pos=zero_pos)
        assert tuple(got.shape) == expected.shape
        g = got.numpy()
        assert g.dtype == dtype
        case = f"N={N} H={H} center={center} T={T} {kind} thr={threshold} zero_pos={zero_pos}"
        diff = float(np.max(np.abs(g.astype(np.float64) - expected.astype(dtype))))
        record_error(f"librosa/zero_crossing_rate/{_name(dtype)}", diff, case)
        if not np.array_equal(g, expected.astype(dtype)):
            bad = np.argwhere(g != expected.astype(dtype))[0]
            pytest.fail(f"zcr vs librosa ({case}) at {tuple(bad)}: got {g[tuple(bad)]!r}, "
                        f"librosa {expected[tuple(bad)]!r}")
        checked += 1
    assert checked


@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_framing_matches_librosa_util_frame(N, H, center, mode, dtype, record_error):
    """frame / amplitude_envelope / frame_features vs librosa.util.frame of np.pad(y)."""
    for T, kind, y in _signals(N, center, mode, dtype, shape=(2,)):
        padded = np.pad(y, [(0, 0), (N // 2, N // 2)], mode=mode) if center else y
        lib_frames = librosa.util.frame(padded, frame_length=N, hop_length=H)  # (2, N, nf)
        got = afx.frame(torch.from_numpy(y), N, H, center=center, pad_mode=mode)
        np.testing.assert_array_equal(got.numpy(), np.swapaxes(lib_frames, -1, -2))
        ae, r, _ = afx.frame_features(torch.from_numpy(y), N, H, center, mode)
        np.testing.assert_array_equal(ae.numpy(), lib_frames.max(axis=-2))
        ae_abs = afx.amplitude_envelope(torch.from_numpy(y), N, H, center, mode, absolute=True)
        np.testing.assert_array_equal(ae_abs.numpy(), np.abs(lib_frames).max(axis=-2))
        record_error(f"librosa/amplitude_envelope/{_name(dtype)}",
                     float(np.max(np.abs(ae.numpy() - lib_frames.max(axis=-2)))), "exact")
        err = rel_err(r, librosa.feature.rms(S=None, y=y, frame_length=N, hop_length=H,
                                             center=center, pad_mode=mode or "constant",
                                             dtype=dtype)[..., 0, :])
        record_error(f"librosa/frame_features.rms/{_name(dtype)}", err,
                     f"N={N} H={H} center={center} {mode} T={T} {kind}")
        assert err <= RMS_TOL[dtype]
