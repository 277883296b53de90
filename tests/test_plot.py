"""``audiofx plot`` / :mod:`audiofx.plot`: the PNG is opened and checked (size, axes regions not
blank), and the curves drawn are checked against librosa's features of the same samples."""
from __future__ import annotations

import os

import librosa
import matplotlib.image
import numpy as np
import pytest
import torch

from audiofx import io as aio
from audiofx import plot
from recordings import speak


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speak(str(tmp_path_factory.mktemp("plot") / "speech.wav"),
                 "a picture of three words", "en-gb-scotland")


def _axes(fig):
    by = {}
    for ax in fig.axes:
        if ax.get_xlabel() == "time (s)":
            by["spec"] = ax
        elif ax.get_ylabel().startswith("amplitude"):
            by["wave"] = ax
        elif ax.get_ylabel().startswith("zero-crossing"):
            by["zcr"] = ax
        elif "dB" in ax.get_ylabel():
            by["cbar"] = ax
    assert set(by) == {"spec", "wave", "zcr", "cbar"}, [a.get_ylabel() for a in fig.axes]
    return by


def _line(ax, label):
    lines = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(lines) == 1, label
    return lines[0]


def test_png_size_and_axes_not_blank(speech, tmp_path, capsys):
    from audiofx.cli import main

    out = str(tmp_path / "out.png")
    assert main(["plot", speech, "-o", out, "--width", "900", "--height", "600"]) == 0
    assert "wrote" in capsys.readouterr().out
    img = matplotlib.image.imread(out)
    assert img.shape[:2] == (600, 900)
    # Re-draw the same figure to learn where its axes lie in the image.
    fig = plot.plot_file(speech, figsize=(9, 6), dpi=100)
    fig.canvas.draw()
    ax = _axes(fig)
    gray = img[..., :3].mean(axis=-1)
    for name in ("wave", "spec", "cbar"):
        x0, y0, x1, y1 = ax[name].get_window_extent().extents
        region = gray[int(600 - y1) + 2:int(600 - y0) - 2, int(x0) + 2:int(x1) - 2]
        assert region.size > 1000, name
        assert region.std() > 0.05, (name, region.std())  # curves / image, not a blank box
    # The background is white (so the variance above is the drawing's).
    assert np.all(gray[:3, :3] == 1.0)


def test_curves_are_librosa_features(speech):
    y, sr = aio.load(speech)
    fig = plot.plot_file(speech, frame_length=1024, hop_length=256, n_fft=1024)
    ax = _axes(fig)
    y64 = y.astype(np.float64)
    times = librosa.frames_to_time(np.arange(1 + y.size // 256), sr=sr, hop_length=256)
    rms = _line(ax["wave"], "RMS")
    np.testing.assert_allclose(rms.get_xdata(), times, rtol=1e-12)
    np.testing.assert_allclose(rms.get_ydata(),
                               librosa.feature.rms(y=y64, frame_length=1024, hop_length=256)[0],
                               rtol=1e-5, atol=1e-7)
    zcr = librosa.feature.zero_crossing_rate(y64, frame_length=1024, hop_length=256)[0]
    np.testing.assert_allclose(_line(ax["zcr"], "zero-crossing rate").get_ydata(), zcr,
                               atol=1e-7)
    env = librosa.util.frame(np.pad(y64, 512), frame_length=1024, hop_length=256).max(axis=0)
    np.testing.assert_allclose(_line(ax["wave"], "amplitude envelope").get_ydata(), env,
                               atol=1e-7)
    c = librosa.feature.spectral_centroid(y=y64, sr=sr, n_fft=1024, hop_length=256)[0]
    b = librosa.feature.spectral_bandwidth(y=y64, sr=sr, n_fft=1024, hop_length=256)[0]
    np.testing.assert_allclose(_line(ax["spec"], "spectral centroid").get_ydata(), c,
                               rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(_line(ax["spec"], "centroid ± bandwidth").get_ydata(), c + b,
                               rtol=1e-5, atol=1e-2)
    # The image is the dB magnitude (re max, 80 dB range) of librosa's STFT.
    db = librosa.amplitude_to_db(np.abs(librosa.stft(y64, n_fft=1024, hop_length=256)),
                                 ref=np.max, top_db=80.0)
    mesh = ax["spec"].collections[0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(db.shape), db, atol=1e-6)
    lo, hi = mesh.get_clim()
    assert hi == pytest.approx(0.0, abs=1e-9) and lo == pytest.approx(-80.0, abs=1e-6)
    assert ax["spec"].get_ylim() == (0.0, sr / 2)
    assert ax["spec"].get_xlim() == pytest.approx((0.0, y.size / sr))
    assert fig._suptitle.get_text() == "speech.wav"


def test_plot_features_takes_a_tensor_and_checks_input():
    sr = 8000
    t = np.arange(sr) / sr
    y = torch.from_numpy((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    fig = plot.plot_features(y, sr, title="tone")
    c = _line(_axes(fig)["spec"], "spectral centroid").get_ydata()
    # A 1 kHz tone: the centroid sits at 1 kHz away from the ends (hand-derived).
    assert np.all(np.abs(c[4:-4] - 1000) < 20)
    with pytest.raises(ValueError, match="1-D"):
        plot.plot_features(np.zeros((2, 100), np.float32), sr)
    with pytest.raises(ValueError, match="sr"):
        plot.plot_features(y, 0)


def test_cli_plot_bad_file(tmp_path, capsys):
    from audiofx.cli import main

    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = tmp_path / "x.png"
    assert main(["plot", str(bad), "-o", str(out)]) == 1
    assert "not an audio file" in capsys.readouterr().err
    assert not os.path.exists(out)
