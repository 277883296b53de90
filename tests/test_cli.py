"""The ``audiofx`` command: ``demo --out`` writes its files (checked against librosa here, not
only by the demo itself), ``info`` reports what the header and the samples say, ``--help``."""
from __future__ import annotations

import csv
import json
import os
import wave

import librosa
import matplotlib.image
import numpy as np
import pytest

from audiofx.cli import demo_signals, main
from recordings import speak


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("demo", "extract", "plot", "info"):
        assert cmd in text


def test_demo_writes_features_figure_and_report(tmp_path, capsys):
    out = str(tmp_path / "demo_out")
    rc = main(["demo", "--batch", "3", "--seconds", "1.5", "--repeats", "1", "--out", out])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "result: features agree with librosa" in text and "speedup" in text
    for name in ("report.md", "report.json", "demo_plot.png", "features/manifest.csv"):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "features", "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok"] * 3
    # The saved features are librosa's features of the demo signals (computed here).
    y = demo_signals(3, 1.5, 22050)
    for b in range(3):
        with np.load(os.path.join(out, "features", f"demo_{b:02d}.wav.npz")) as z:
            np.testing.assert_allclose(z["rms"], librosa.feature.rms(y=y[b])[0], rtol=2e-5,
                                       atol=1e-7)
            np.testing.assert_allclose(
                z["centroid"], librosa.feature.spectral_centroid(y=y[b], sr=22050)[0],
                rtol=1e-5, atol=1e-3)
            assert z["mfcc"].shape == (20, 1 + y.shape[1] // 512)
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["ok"] is True
    assert set(report["extract_vs_librosa"]) == {"ae", "rms", "zcr", "centroid", "bandwidth",
                                                  "rolloff", "flatness", "mel", "mfcc"}
    assert report["frame_features"]["amplitude envelope"] == 0.0
    assert "| mfcc |" in open(os.path.join(out, "report.md")).read()
    img = matplotlib.image.imread(os.path.join(out, "demo_plot.png"))
    assert img.shape[:2] == (700, 1100) and img[..., :3].std() > 0.1


def test_demo_rejects_bad_arguments(capsys):
    assert main(["demo", "--batch", "0"]) == 2
    assert "--batch" in capsys.readouterr().err


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speak(str(tmp_path_factory.mktemp("cli") / "info.wav"), "what is in this file",
                 "en-us")


def test_info_json_matches_header_and_samples(speech, capsys):
    assert main(["info", speech, "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    with wave.open(speech, "rb") as w:
        frames, sr, ch = w.getnframes(), w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(frames), dtype="<i2").astype(np.float64) / 32768.0
    assert (facts["frames"], facts["sample_rate"], facts["channels"]) == (frames, sr, ch)
    assert facts["duration_s"] == pytest.approx(frames / sr)
    assert facts["format"] == "WAV" and facts["subtype"] == "PCM_16"
    assert facts["peak_dbfs"] == pytest.approx(20 * np.log10(np.max(np.abs(pcm))), abs=1e-6)
    assert facts["rms_dbfs"] == pytest.approx(10 * np.log10(np.mean(pcm ** 2)), abs=1e-6)
    rms = librosa.feature.rms(y=pcm)[0]
    c = librosa.feature.spectral_centroid(y=pcm, sr=sr)[0]
    assert facts["n_frames"] == rms.size
    assert facts["rms"]["mean"] == pytest.approx(rms.mean(), rel=1e-5)
    assert facts["rms"]["max"] == pytest.approx(rms.max(), rel=1e-5)
    assert facts["centroid"]["mean"] == pytest.approx(c.mean(), rel=1e-5)
    zcr = librosa.feature.zero_crossing_rate(pcm)[0]
    assert facts["zcr"]["min"] == pytest.approx(zcr.min(), abs=1e-7)


def test_info_text_and_bad_file(speech, tmp_path, capsys):
    assert main(["info", speech]) == 0
    text = capsys.readouterr().out
    for word in ("duration", "sample rate", "22050 Hz", "channels", "dBFS", "centroid (Hz)"):
        assert word in text
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert main(["info", str(empty)]) == 1
    assert "empty file (0 bytes)" in capsys.readouterr().err
