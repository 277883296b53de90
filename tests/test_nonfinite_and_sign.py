"""Non-finite samples and mixed-sign spectrograms (issue 14, items 5 and 6).

A NaN or infinite sample gives NaN (or another non-finite value) in exactly the frames that hold
it, in every spectral function, never a plausible number (``spectral_rolloff`` used to give
0.0 Hz there; ``mfcc`` and ``spectral_contrast`` turned every frame of the batch into NaN); the
compat layer raises as librosa does. A spectrogram with negative values is a ``ValueError`` for
the functions librosa defines on energies only (centroid, bandwidth, rolloff, flatness), also
inside ``torch.compile`` (an assertion in the graph)."""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

import audiofx
from audiofx.compat import librosa as compat
from audiofx.functional import spectrogram_chunks as chunks

N, H = 2048, 512
T = 22050
BAD_AT = 10000


def _touched(s: int, n_frames: int):
    """Frames (centred, N//2 padding) whose samples include sample ``s``."""
    return [t for t in range(n_frames) if t * H - N // 2 <= s < t * H - N // 2 + N]


def _spectral(x):
    """Every spectral function, as (name, (..., frames) or (..., k, frames) tensor)."""
    S = audiofx.stft(x).abs()
    return {
        "stft": audiofx.stft(x),
        "centroid": audiofx.spectral_centroid(x),
        "bandwidth": audiofx.spectral_bandwidth(x),
        "features": torch.stack(list(audiofx.spectral_features(x).values()), dim=-2),
        "rolloff": audiofx.spectral_rolloff(x),
        "flatness": audiofx.spectral_flatness(x),
        "contrast": audiofx.spectral_contrast(x),
        "mel": audiofx.melspectrogram(x),
        "mfcc": audiofx.mfcc(x),
        "magnitude": audiofx.functional.magnitude_spectrogram(x),
        "centroid(S)": audiofx.spectral_centroid(S=S),
        "bandwidth(S)": audiofx.spectral_bandwidth(S=S),
        "rolloff(S)": audiofx.spectral_rolloff(S=S),
        "flatness(S)": audiofx.spectral_flatness(S=S),
        "contrast(S)": audiofx.spectral_contrast(S=S),
        "mel(S)": audiofx.melspectrogram(S=S ** 2),
        "rms(S)": audiofx.rms_from_spectrogram(audiofx.stft(x)),
    }


@pytest.fixture(scope="module")
def clean_results():
    clean = 0.3 * torch.randn(2, T, generator=torch.Generator().manual_seed(0))
    return clean, _spectral(clean)


@pytest.mark.parametrize("bad, blocks", [(float("nan"), "whole"), (float("inf"), "whole"),
                                        (-float("inf"), "whole"),
                                        (float("nan"), "blocks of 5 frames")])
def test_nonfinite_sample_gives_nan_in_its_frames_only(monkeypatch, clean_results, bad, blocks):
    if blocks != "whole":  # the NaN falls in an edge block; another row's blocks are clean
        monkeypatch.setattr(chunks, "block_budget", lambda total: N * 8 * 5)
    clean, want = clean_results
    x = clean.clone()
    x[0, BAD_AT] = bad
    n_frames = 1 + T // H
    touched = _touched(BAD_AT, n_frames)
    assert touched == [18, 19, 20, 21]
    got = _spectral(x)
    for name, out in got.items():
        frame_bad = ~torch.isfinite(out)
        if out.dim() == 3:  # (batch, k, frames): every row of a touched frame
            assert frame_bad[0].all(dim=0).tolist() == frame_bad[0].any(dim=0).tolist(), name
            frame_bad = frame_bad.any(dim=1)
        hit = frame_bad[0].nonzero().flatten().tolist()
        assert hit == touched, (name, hit)
        assert not frame_bad[1].any(), name  # the other row of the batch is untouched
        keep = [t for t in range(n_frames) if t not in touched]
        if name not in ("mfcc", "contrast", "contrast(S)"):  # dB floors use the whole batch
            torch.testing.assert_close(out[..., keep], want[name][..., keep], rtol=1e-5, atol=1e-5,
                                       msg=name)
    # rolloff: NaN, not the 0 Hz it gave before.
    assert torch.isnan(got["rolloff"][0, touched]).all()


def test_zero_crossing_rate_documents_its_nan_rule():
    """Not a spectral function (a frame kernel): a NaN is classed as positive (zero_pos), an
    infinity by its sign (librosa refuses non-finite audio here); documented."""
    x = torch.tensor([1.0, -1.0, float("nan"), -1.0, 1.0, -float("nan"), -float("inf")])
    positive = np.array([True, False, True, False, True, True, False])
    want = [(positive[t + 1:t + 4] != positive[t:t + 3]).sum() / 4 for t in range(4)]
    got = audiofx.zero_crossing_rate(x, 4, 1, center=False, pad_mode=None).numpy()
    np.testing.assert_allclose(got, want)
    doc = " ".join(audiofx.zero_crossing_rate.__doc__.split())
    assert "a NaN (whatever its sign bit) as positive" in doc


_COMPAT = {
    "stft": lambda y: compat.stft(y),
    "rms": lambda y: compat.feature.rms(y=y),
    "zero_crossing_rate": lambda y: compat.feature.zero_crossing_rate(y),
    "spectral_centroid": lambda y: compat.feature.spectral_centroid(y=y),
    "spectral_bandwidth": lambda y: compat.feature.spectral_bandwidth(y=y),
    "spectral_rolloff": lambda y: compat.feature.spectral_rolloff(y=y),
    "spectral_flatness": lambda y: compat.feature.spectral_flatness(y=y),
    "spectral_contrast": lambda y: compat.feature.spectral_contrast(y=y),
    "melspectrogram": lambda y: compat.feature.melspectrogram(y=y),
    "mfcc": lambda y: compat.feature.mfcc(y=y),
}


@pytest.mark.parametrize("name", sorted(_COMPAT))
def test_compat_raises_as_librosa_does(name):
    y = np.random.default_rng(0).standard_normal(8192).astype(np.float32)
    y[4000] = np.nan
    ref = getattr(librosa, name) if name == "stft" else getattr(librosa.feature, name)
    if name == "rms":  # librosa's rms does not check: NaN in the frames holding the NaN
        want = ref(y=y)
        got = _COMPAT[name](y)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        assert np.isnan(want).sum() == 4
        return
    with pytest.raises(librosa.util.exceptions.ParameterError):
        ref(y) if name == "zero_crossing_rate" else ref(y=y)
    with pytest.raises(ValueError, match="finite"):
        _COMPAT[name](y)


_SIGNED = {
    "centroid": lambda S: audiofx.spectral_centroid(S=S),
    "bandwidth": lambda S: audiofx.spectral_bandwidth(S=S),
    "rolloff": lambda S: audiofx.spectral_rolloff(S=S),
    "flatness": lambda S: audiofx.spectral_flatness(S=S),
}


@pytest.mark.parametrize("name", sorted(_SIGNED))
def test_mixed_sign_S_is_rejected(name):
    """The user's S: a real STFT part (mixed signs) passed as a magnitude."""
    x = torch.randn(4096, generator=torch.Generator().manual_seed(3))
    S = audiofx.stft(x).real
    with pytest.raises(ValueError, match="non-negative") as e:
        _SIGNED[name](S)
    assert "spectral" in str(e.value) and f"{float(S.min()):.4g}" in str(e.value)
    out = _SIGNED[name](S.abs())  # the magnitude is fine
    assert torch.isfinite(out).all()
    S2 = S.abs()
    S2[3, 2] = float("nan")  # NaN is not negative: a NaN frame, no error
    out = _SIGNED[name](S2)
    assert torch.isnan(out[2]) and torch.isfinite(out[torch.arange(out.numel()) != 2]).all()


def test_mixed_sign_S_is_rejected_under_compile():
    fn = torch.compile(lambda S: audiofx.spectral_centroid(S=S), fullgraph=True,
                       backend="aot_eager")
    S = torch.rand(1025, 7, dtype=torch.float64)
    torch.testing.assert_close(fn(S), audiofx.spectral_centroid(S=S))
    S[5, 3] = -1.0
    with pytest.raises(RuntimeError, match="non-negative"):
        fn(S)
