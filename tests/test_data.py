"""audiofx.data: AudioFolder (folder / CSV forms, decoding, mono, resampling, crop/pad, bad files
reported and skipped) and collate.

The recordings are real: words spoken by ``espeak-ng`` and tones from ``sox``, converted by
``sox`` to wav/flac/ogg (and mp3 where this sox writes it) at several rates, mono and stereo.
Expected values come from soundfile/numpy directly, never from the code under test.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from audiofx import io as audio_io
from audiofx.data import AudioFolder, SkippedFileWarning, collate


def _run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def _try(*cmd) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A two-class folder of short recordings plus three bad files.

    Returns a dict: ``root``, ``good`` {path: class}, ``bad`` {path: expected reason words},
    ``stereo`` (a stereo file whose channels differ), ``tone44k`` / ``tone8k`` (1 kHz tones).
    """
    root = tmp_path_factory.mktemp("corpus")
    src = tmp_path_factory.mktemp("src")
    (root / "yes").mkdir()
    (root / "no").mkdir()
    (root / "no" / "nested").mkdir()
    for word in ("yes", "no"):
        _run("espeak-ng", "-w", str(src / f"{word}.wav"), word)  # 22050 Hz mono 16-bit
    good = {}

    def convert(word, name, *opts):
        out = root / word / name
        _run("sox", str(src / f"{word}.wav"), *opts, str(out))
        good[str(out)] = word
        return str(out)

    convert("yes", "yes_22k.wav")
    convert("yes", "yes_44k_stereo.flac", "-r", "44100", "-c", "2")
    convert("yes", "yes_8k.ogg", "-r", "8000")
    convert("no", "no_16k.flac", "-r", "16000")
    convert("no", "no_48k_stereo.ogg", "-r", "48000", "-c", "2")
    shutil.copy(src / "no.wav", root / "no" / "nested" / "no_22k.WAV")
    good[str(root / "no" / "nested" / "no_22k.WAV")] = "no"
    mp3 = root / "no" / "no_22k.mp3"
    if _try("sox", str(src / "no.wav"), str(mp3)):
        good[str(mp3)] = "no"

    # A stereo file whose channels differ (a 440 Hz tone left, 880 Hz at half level right).
    _run("sox", "-n", "-r", "22050", str(src / "l.wav"), "synth", "0.3", "sine", "440")
    _run("sox", "-n", "-r", "22050", str(src / "r.wav"), "synth", "0.3", "sine", "880", "vol",
         "0.5")
    stereo = root / "yes" / "tones_stereo.wav"
    _run("sox", "-M", str(src / "l.wav"), str(src / "r.wav"), str(stereo))
    good[str(stereo)] = "yes"
    tone44k = root / "yes" / "tone_1k_44k.wav"
    _run("sox", "-n", "-r", "44100", str(tone44k), "synth", "0.5", "sine", "1000", "vol", "0.5")
    good[str(tone44k)] = "yes"
    tone8k = root / "no" / "tone_1k_8k.flac"
    _run("sox", "-n", "-r", "8000", str(tone8k), "synth", "0.5", "sine", "1000", "vol", "0.5")
    good[str(tone8k)] = "no"

    bad = {}
    empty = root / "no" / "empty.wav"
    empty.write_bytes(b"")
    bad[str(empty)] = "empty"
    whole = (src / "yes.wav").read_bytes()
    truncated = root / "yes" / "truncated.wav"
    truncated.write_bytes(whole[: len(whole) // 2])
    bad[str(truncated)] = "truncated"
    text = root / "no" / "text.wav"
    text.write_text("this is a text file, not a recording\n" * 20)
    bad[str(text)] = "not an audio file"
    (root / "yes" / "notes.txt").write_text("not audio, and not named as audio")
    return dict(root=str(root), good=good, bad=bad, stereo=str(stereo), tone44k=str(tone44k),
                tone8k=str(tone8k))


@pytest.fixture(scope="module")
def dataset(corpus):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        return AudioFolder(corpus["root"], sr=16000)


def test_folder_classes_and_files(corpus, dataset):
    assert dataset.classes == ["no", "yes"]
    got = {path: dataset.classes[label] for path, label in dataset.files}
    assert got == corpus["good"]
    assert len(dataset) == len(corpus["good"])
    assert dataset.targets == [label for _, label in dataset.files]
    assert all(not p.endswith("notes.txt") for p, _ in dataset.files + dataset.skipped)


def test_bad_files_skipped_and_reported_once_each(corpus):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = AudioFolder(corpus["root"], sr=16000)
    skipped = dict(ds.skipped)
    assert set(skipped) == set(corpus["bad"])
    for path, words in corpus["bad"].items():
        assert words in skipped[path], (path, skipped[path])
    reports = [w for w in caught if issubclass(w.category, SkippedFileWarning)]
    assert len(reports) == len(corpus["bad"])
    for path in corpus["bad"]:
        assert sum(path in str(w.message) for w in reports) == 1
        assert any(skipped[path] in str(w.message) for w in reports if path in str(w.message))
    assert not set(skipped) & {p for p, _ in ds.files}


def test_items_are_mono_float32_resampled_to_sr(corpus, dataset):
    for i, (path, label) in enumerate(dataset.files):
        wave, lab = dataset[i]
        assert lab == label
        assert wave.dtype == torch.float32 and wave.dim() == 1
        # The decoded sample count (an mp3 header's count is only an estimate).
        frames, file_sr = sf.read(path, dtype="float32", always_2d=True)
        expected = frames.shape[0] * 16000 / file_sr
        assert abs(wave.shape[0] - expected) <= 1, (path, wave.shape[0], expected)
        assert dataset.durations[i] == pytest.approx(frames.shape[0] / file_sr)
        assert float(wave.abs().max()) > 0.01


def test_stereo_is_mixed_by_averaging(corpus):
    path = corpus["stereo"]
    y, file_sr = sf.read(path, dtype="float32", always_2d=True)
    assert y.shape[1] == 2 and np.abs(y[:, 0] - y[:, 1]).max() > 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        ds = AudioFolder(corpus["root"], sr=file_sr)
    i = [p for p, _ in ds.files].index(path)
    wave, _ = ds[i]
    np.testing.assert_allclose(wave.numpy(), y.mean(axis=1), rtol=0, atol=1e-7)


@pytest.mark.parametrize("which", ["tone44k", "tone8k"])
def test_resampled_tone_keeps_its_frequency(corpus, dataset, which):
    path = corpus[which]
    i = [p for p, _ in dataset.files].index(path)
    wave = dataset[i][0].numpy().astype(np.float64)
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    freqs = np.fft.rfftfreq(len(wave), d=1 / 16000)
    assert abs(freqs[np.argmax(spectrum)] - 1000.0) <= freqs[1]
    # The tone's level (0.5) survives too, away from the filter's edge transients.
    assert np.abs(wave[800:-800]).max() == pytest.approx(0.5, abs=0.01)


def test_csv_form(corpus, tmp_path):
    rows = [(os.path.relpath(p, tmp_path), c) for p, c in sorted(corpus["good"].items())]
    rows.append(("does/not/exist.wav", "maybe"))
    text_file = [p for p, words in corpus["bad"].items() if words == "not an audio file"][0]
    bad_rel = os.path.relpath(text_file, tmp_path)
    rows.append((bad_rel, "no"))
    csv_path = tmp_path / "list.csv"
    csv_path.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in rows))
    with pytest.warns(SkippedFileWarning) as caught:
        ds = AudioFolder(csv_path, sr=16000)
    assert ds.classes == ["maybe", "no", "yes"]
    got = {os.path.normpath(p): ds.classes[label] for p, label in ds.files}
    assert got == {os.path.normpath(p): c for p, c in corpus["good"].items()}
    skipped = dict(ds.skipped)
    assert len(skipped) == 2 and len(caught) == 2
    assert skipped[str(tmp_path / "does/not/exist.wav")] == "no such file"
    assert "not an audio file" in skipped[str(tmp_path / bad_rel)]
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("file,class\na.wav,x\n")
    with pytest.raises(ValueError, match="'path' and 'label'"):
        AudioFolder(bad_header)


def test_crop_and_pad(corpus, dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        cropped = AudioFolder(corpus["root"], sr=16000, crop_seconds=0.25)
        rand = AudioFolder(corpus["root"], sr=16000, crop_seconds=0.25, random_crop=True)
        padded = AudioFolder(corpus["root"], sr=16000, crop_seconds=2.0)
        rand_pad = AudioFolder(corpus["root"], sr=16000, crop_seconds=2.0, random_crop=True)
        no_pad = AudioFolder(corpus["root"], sr=16000, crop_seconds=2.0, pad=False)
    torch.manual_seed(0)
    offsets = set()
    for i in range(len(dataset)):
        full = dataset[i][0].numpy()
        assert full.shape[0] > 4000
        np.testing.assert_array_equal(cropped[i][0].numpy(), full[:4000])
        r = rand[i][0].numpy()
        assert r.shape == (4000,)
        starts = [s for s in range(full.shape[0] - 3999) if np.array_equal(full[s:s + 4000], r)]
        assert starts, "a random crop must be a contiguous slice of the clip"
        offsets.add(starts[0])
        p = padded[i][0].numpy()
        assert p.shape == (32000,)
        np.testing.assert_array_equal(p[: full.shape[0]], full)
        assert not p[full.shape[0]:].any()
        rp = rand_pad[i][0].numpy()
        nz = np.flatnonzero(rp)
        assert rp.shape == (32000,)
        left = int(nz[0]) - int(np.flatnonzero(full)[0])
        np.testing.assert_array_equal(rp[left: left + full.shape[0]], full)
        assert not rp[:left].any() and not rp[left + full.shape[0]:].any()
        assert no_pad[i][0].shape == full.shape
    assert len(offsets) > 1, "random crops should not all start at the same sample"


def test_transform_is_applied(corpus, dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        ds = AudioFolder(corpus["root"], sr=16000, transform=lambda w: 2 * w)
    np.testing.assert_array_equal(ds[0][0].numpy(), 2 * dataset[0][0].numpy())


def test_verify_false_reads_headers_and_raises_on_a_bad_decode(corpus):
    with pytest.warns(SkippedFileWarning):
        ds = AudioFolder(corpus["root"], sr=16000, verify=False)
    truncated = [p for p, words in corpus["bad"].items() if words == "truncated"][0]
    # The header of a cut-off WAV is fine; only decoding finds it, and then it is an error.
    assert truncated not in dict(ds.skipped)
    i = [p for p, _ in ds.files].index(truncated)
    with pytest.raises(audio_io.AudioDecodeError, match="truncated"):
        ds[i]
    assert {p for p, _ in ds.skipped} == set(corpus["bad"]) - {truncated}


def test_collate_pads_with_zeros_and_returns_lengths(dataset):
    items = [dataset[i] for i in range(4)]
    x, lengths, labels = collate(items)
    T = [w.shape[0] for w, _ in items]
    assert x.shape == (4, max(T)) and x.dtype == torch.float32
    assert lengths.dtype == torch.int64 and lengths.tolist() == T
    assert labels.dtype == torch.int64 and labels.tolist() == [lab for _, lab in items]
    for b, (w, _) in enumerate(items):
        np.testing.assert_array_equal(x[b, : T[b]].numpy(), w.numpy())
        assert not x[b, T[b]:].any()
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=collate)
    total = 0
    for xb, lb, yb in loader:
        assert xb.shape[0] == lb.shape[0] == yb.shape[0]
        assert xb.shape[1] == int(lb.max())
        total += xb.shape[0]
    assert total == len(dataset)


def test_collate_rejects_bad_batches():
    with pytest.raises(ValueError, match="at least one"):
        collate([])
    with pytest.raises(ValueError, match="1-D"):
        collate([(torch.zeros(2, 10), 0)])
    with pytest.raises(ValueError, match="non-empty"):
        collate([(torch.zeros(0), 0)])


def test_bad_arguments(corpus, tmp_path):
    with pytest.raises(ValueError, match="sr"):
        AudioFolder(corpus["root"], sr=0)
    with pytest.raises(ValueError, match="crop_seconds"):
        AudioFolder(corpus["root"], crop_seconds=-1)
    with pytest.raises(ValueError, match="root_or_csv"):
        AudioFolder(tmp_path / "missing")
    with pytest.raises(ValueError, match="sub-folder"):
        AudioFolder(tmp_path)
