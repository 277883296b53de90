"""audiofx.io against independent decoders: the stdlib ``wave`` module (PCM WAV bytes read by
hand), ``sox`` (formats, rates, channels made by another program) and analytic signals."""
from __future__ import annotations

import os
import wave

import numpy as np
import pytest

from audiofx import io as aio
from recordings import make_recordings, sox, speak


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return make_recordings(str(tmp_path_factory.mktemp("io_recordings")))


def _wave_pcm16(path):
    """(samples float64 (channels, T) in [-1, 1), sr) from the raw PCM16 bytes."""
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        ch = w.getnchannels()
        return raw.reshape(-1, ch).T.astype(np.float64) / 32768.0, w.getframerate()


def test_load_wav_equals_pcm_bytes(rec):
    path = rec["speech"]["en_one"]
    ref, sr_ref = _wave_pcm16(path)
    y, sr = aio.load(path)
    assert sr == sr_ref == 22050
    assert y.dtype == np.float32 and y.shape == (ref.shape[1],)
    np.testing.assert_array_equal(y.astype(np.float64), ref[0])


def test_info_matches_header(rec):
    path = rec["speech"]["us_four"]
    with wave.open(path, "rb") as w:
        frames, sr, ch = w.getnframes(), w.getframerate(), w.getnchannels()
    i = aio.info(path)
    assert (i.frames, i.sample_rate, i.channels, i.format) == (frames, sr, ch, "WAV")
    assert i.duration == pytest.approx(frames / sr)
    st = aio.info([p for p in rec["good"] if p.endswith("stereo_44k.flac")][0])
    assert (st.channels, st.sample_rate, st.format) == (2, 44100, "FLAC")


def test_flac_is_lossless_and_ogg_mp3_decode(rec):
    ref, _ = _wave_pcm16(rec["speech"]["fr_f3"])
    folder = os.path.dirname(rec["speech"]["fr_f3"])
    flac = os.path.join(folder, "fr_same_rate.flac")
    sox(rec["speech"]["fr_f3"], flac)
    y, sr = aio.load(flac)
    assert sr == 22050
    np.testing.assert_array_equal(y.astype(np.float64), ref[0])
    for path in (os.path.join(folder, "more", "scot.ogg"), os.path.join(folder, "de.mp3")):
        y, sr = aio.load(path)
        assert sr == 22050 and y.dtype == np.float32 and y.size > 0.5 * sr
        assert 0.01 < np.max(np.abs(y)) <= 1.0


def test_stereo_mono_mix_is_the_channel_mean(tmp_path, rec):
    a, b = rec["speech"]["en_one"], rec["speech"]["us_four"]
    st = str(tmp_path / "st.wav")
    sox("-M", a, b, st)  # sox pads the shorter channel with silence
    ra, _ = _wave_pcm16(a)
    rb, _ = _wave_pcm16(b)
    n = max(ra.shape[1], rb.shape[1])
    ref = np.zeros((2, n))
    ref[0, : ra.shape[1]] = ra[0]
    ref[1, : rb.shape[1]] = rb[0]
    y2, _ = aio.load(st, mono=False)
    assert y2.shape == (2, n)
    np.testing.assert_array_equal(y2.astype(np.float64), ref)
    y, _ = aio.load(st)
    np.testing.assert_allclose(y, ref.mean(axis=0), rtol=0, atol=1e-7)


@pytest.mark.parametrize("orig, target", [(44100, 22050), (22050, 16000), (16000, 22050)])
def test_resample_length_and_content(tmp_path, orig, target):
    # A 441 Hz tone made by sox at `orig` Hz: resampled, it is the same tone at `target` Hz.
    path = str(tmp_path / "tone.wav")
    sox("-n", "-r", str(orig), "-b", "32", "-e", "floating-point", path, "synth", "0.5", "sine",
        "441", "vol", "0.5")
    T = aio.info(path).frames
    y, sr = aio.load(path, sr=target)
    assert sr == target
    assert abs(y.size - T * target / orig) <= 0.5  # the rounded duration
    t = np.arange(y.size) / target
    ref = 0.5 * np.sin(2 * np.pi * 441 * t)
    mid = slice(y.size // 10, -y.size // 10)  # the filter's edge transients left out
    assert np.max(np.abs(y[mid] - ref[mid])) < 2e-3


def test_max_seconds(rec):
    y, sr = aio.load(rec["speech"]["en_one"], max_seconds=0.25)
    assert y.size == round(0.25 * sr)


def test_failure_reasons(rec, tmp_path):
    for path, reason in rec["bad"].items():
        with pytest.raises(aio.AudioDecodeError) as e:
            aio.load(path)
        assert e.value.reason.startswith(reason), e.value.reason
        assert e.value.path == path
    with pytest.raises(aio.AudioDecodeError, match="empty file"):
        aio.info([p for p in rec["bad"] if p.endswith("empty.wav")][0])
    with pytest.raises(aio.AudioDecodeError, match="no such file"):
        aio.load(str(tmp_path / "missing.wav"))
    with pytest.raises(aio.AudioDecodeError, match="folder"):
        aio.load(str(tmp_path))


def test_truncated_wav_reports_counts(tmp_path):
    full = speak(str(tmp_path / "full.wav"), "truncate me please")
    with wave.open(full, "rb") as w:
        declared = w.getnframes()
    cut = str(tmp_path / "cut.wav")
    with open(full, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[:44 + 2 * 1000])  # the 44-byte header and 1000 samples
    with pytest.raises(aio.AudioDecodeError) as e:
        aio.load(cut)
    assert e.value.reason == (f"truncated: the header declares {declared} frames, the file "
                              f"holds 1000")


@pytest.mark.parametrize("sr", [0, -1, 22050.0, True])
def test_bad_sr(rec, sr):
    with pytest.raises(ValueError, match="sr"):
        aio.load(rec["speech"]["en_one"], sr=sr)
