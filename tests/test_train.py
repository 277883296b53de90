"""``audiofx train/evaluate/predict`` (audiofx.train), the waveform augmentation
(audiofx.augment) and the spoken-digit data-set script, on a tiny set made with espeak-ng + sox.

References: scikit-learn's metrics for accuracy / macro-F1 / confusion matrix, numpy for the
augmentation's shifts and powers, the files on disk for the split and the checkpoint contents.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from audiofx import augment, cli
from audiofx import train as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "make_spoken_digits.py")
DIGITS3 = ["one", "two", "zero"]  # sorted, as AudioFolder's class order

needs_tools = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="needs espeak-ng and sox (apt-get install espeak-ng sox; .ci/run installs them)")


def make_digits(out, *extra):
    subprocess.run([sys.executable, SCRIPT, str(out), "--digits", "zero", "one", "two",
                    "--per-digit", "8", "--test-per-digit", "2", "--test-variants", "2",
                    "--seed", "3", *extra], check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("needs espeak-ng and sox (apt-get install espeak-ng sox)")
    return make_digits(tmp_path_factory.mktemp("digits") / "set")


# Small and quick: a two-block CNN, one thread (the CI machine's cores may be shared).
FAST = dict(features=("mel", "zcr"), batch_size=8, val_fraction=0.25, frame_length=512,
            hop_length=256, n_mels=32, lr=3e-3, device="cpu", progress=False, log_clips=0,
            model_kwargs=dict(channels=(8, 16)), threads=1)


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = T.train(digits / "train", out, model="cnn", epochs=2, seed=1,
                      **dict(FAST, log_clips=2))
    return out, summary


def state_dicts_equal(a, b):
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------
# The data-set script

@needs_tools
def test_spoken_digit_script_deterministic_and_holds_out_variants(digits, tmp_path):
    again = make_digits(tmp_path / "again")
    with open(digits / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    with open(again / "manifest.csv") as f:
        assert list(csv.DictReader(f)) == rows
    assert len(rows) == 3 * (8 + 2)
    for r in rows:
        a, sr = sf.read(digits / r["path"], dtype="int16")
        b, _ = sf.read(again / r["path"], dtype="int16")
        assert np.array_equal(a, b), r["path"]
        assert sr == 16000 and a.shape == (16000,)  # mono, exactly 1 s
        assert os.path.basename(os.path.dirname(r["path"])) == r["label"]
        # sox normalised the peak to -1 dBFS and the word starts after the 0.05 s lead-in.
        assert abs(np.abs(a).max() / 32768 - 10 ** (-1 / 20)) < 0.01
        assert np.all(a[:700] == 0) and np.abs(a[800:1200]).max() > 0
    train_v = {r["variant"] for r in rows if r["split"] == "train"}
    test_v = {r["variant"] for r in rows if r["split"] == "test"}
    assert test_v and not (train_v & test_v)


@needs_tools
def test_spoken_digit_script_rejects_unknown_variant(tmp_path):
    p = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "x"), "--variants", "nosuchvoice"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "nosuchvoice" in p.stderr


# ---------------------------------------------------------------------------------------------
# Metrics and split against scikit-learn

@pytest.mark.parametrize("seed", range(4))
def test_metrics_match_sklearn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    k = 5
    y = rng.integers(0, k, 200)
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, k - 1, 200))  # class 4 rarely guessed
    if seed == 3:
        y, p = y[y != 2], p[y != 2]  # a class absent from the truth
    cm = T.confusion_matrix(y, p, k)
    assert np.array_equal(cm, metrics.confusion_matrix(y, p, labels=range(k)))
    m = T.classification_metrics(cm)
    assert m["accuracy"] == pytest.approx(metrics.accuracy_score(y, p), abs=1e-12)
    assert m["macro_f1"] == pytest.approx(metrics.f1_score(y, p, average="macro"), abs=1e-12)


def test_stratified_split_is_stratified_and_seeded():
    labels = [0] * 20 + [1] * 10 + [2] * 3 + [3]
    tr, va = T.stratified_split(labels, 0.2, seed=5)
    assert sorted(tr + va) == list(range(len(labels)))
    counts = np.bincount(np.asarray(labels)[va], minlength=4)
    assert counts.tolist() == [4, 2, 1, 0]  # round(0.2 n), >= 1 where n >= 2, none of a singleton
    assert T.stratified_split(labels, 0.2, seed=5) == (tr, va)
    assert T.stratified_split(labels, 0.2, seed=6)[1] != va
    with pytest.raises(ValueError, match="val_fraction"):
        T.stratified_split(labels, 1.0, seed=0)


# ---------------------------------------------------------------------------------------------
# Augmentation against numpy

def test_time_shift_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 50)).astype(np.float32)
    lengths = np.array([50, 30, 10])
    x[1, 30:] = 0
    x[2, 10:] = 0
    shift = np.array([7, -4, 25])
    got = augment.time_shift(torch.from_numpy(x), torch.from_numpy(shift),
                             torch.from_numpy(lengths)).numpy()
    got_c = augment.time_shift(torch.from_numpy(x), torch.from_numpy(shift),
                               torch.from_numpy(lengths), circular=True).numpy()
    for b in range(3):
        n, s = lengths[b], shift[b]
        ref = np.zeros(50, np.float32)
        seg = x[b, :n]
        if s >= 0:
            ref[s:n] = seg[:n - s] if s < n else []
        else:
            ref[:n + s] = seg[-s:]
        assert np.array_equal(got[b], ref)
        ref_c = np.zeros(50, np.float32)
        ref_c[:n] = np.roll(seg, s)
        assert np.array_equal(got_c[b], ref_c)


def test_add_noise_reaches_the_snr_and_keeps_padding_zero():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(48000) / 16000
    x = torch.stack([0.5 * torch.sin(2 * np.pi * 440 * t), 0.05 * torch.sin(2 * np.pi * 90 * t)])
    lengths = torch.tensor([48000, 32000])
    x[1, 32000:] = 0
    snr = torch.tensor([10.0, 25.0])
    y = augment.add_noise(x, snr, lengths, generator=g)
    for b in range(2):
        n = int(lengths[b])
        sig = x[b, :n].double().numpy()
        noise = (y[b, :n] - x[b, :n]).double().numpy()
        measured = 10 * np.log10(np.mean(sig ** 2) / np.mean(noise ** 2))
        assert abs(measured - float(snr[b])) < 0.15  # 32k+ Gaussian draws: ~0.03 dB spread
    assert torch.all(y[1, 32000:] == 0)


def test_waveform_augment_gain_and_reproducibility():
    x = torch.randn(6, 4000)
    lengths = torch.tensor([4000, 4000, 3000, 2000, 4000, 1000])
    x[torch.arange(4000)[None] >= lengths[:, None]] = 0
    aug = augment.WaveformAugment(gain_db=(-6, 6), max_shift=0.01, sr=16000)
    a = aug(x, lengths, generator=torch.Generator().manual_seed(4))
    b = aug(x, lengths, generator=torch.Generator().manual_seed(4))
    c = aug(x, lengths, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.all(a[torch.arange(4000)[None] >= lengths[:, None]] == 0)
    # Gain only: the output is the input times 10^(g/20) with g in [-6, 6] dB.
    only_gain = augment.WaveformAugment(p_noise=0, p_shift=0, gain_db=(-6, 6))
    y = only_gain(x, lengths, generator=torch.Generator().manual_seed(1))
    ratio = (y.norm(dim=1) / x.norm(dim=1)).numpy()
    gains_db = 20 * np.log10(ratio)
    assert np.all(np.abs(gains_db) <= 6 + 1e-4) and np.ptp(gains_db) > 0.5
    np.testing.assert_allclose(y.numpy(), x.numpy() * ratio[:, None], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="snr_db"):
        augment.WaveformAugment(snr_db=(30, 10))
    with pytest.raises(ValueError, match="p_noise"):
        augment.WaveformAugment(p_noise=1.5)


# ---------------------------------------------------------------------------------------------
# train: checkpoint contents, rebuild, resume, determinism

def test_checkpoint_holds_what_rebuilds_the_classifier(digits, trained):
    out, summary = trained
    assert (out / "last.pt").exists() and (out / "best.pt").exists()
    assert (out / "summary.json").exists()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(out / "tensorboard"), size_guidance={"audio": 0, "images": 0})
    tb.Reload()
    tags = tb.Tags()
    assert {"loss/train", "loss/val", "val/accuracy", "val/macro_f1"} <= set(tags["scalars"])
    assert [e.value for e in tb.Scalars("val/accuracy")] == \
        pytest.approx([h["val"]["accuracy"] for h in summary["history"]], rel=1e-6)  # float32
    assert len([t for t in tags["audio"] if t.startswith("audio/")]) == 2
    assert len([t for t in tags["images"] if t.startswith("features/")]) == 2
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["classes"] == DIGITS3
    assert ckpt["sample_rate"] == 16000 and ckpt["epoch"] == 2
    fc = ckpt["features"]["config"]
    assert list(fc["features"]) == ["mel", "zcr"] and fc["sr"] == 16000
    assert fc["hop_length"] == 256 and fc["n_mels"] == 32
    assert ckpt["model"]["name"] == "cnn" and ckpt["model"]["config"]["n_classes"] == 3
    assert {"optimizer", "scheduler", "rng", "history", "split"} <= ckpt.keys()
    # The split: every training file exactly once, stratified, 2 of 8 per class for validation.
    on_disk = sorted(f"{d}/{f}" for d in DIGITS3 for f in os.listdir(digits / "train" / d))
    split = ckpt["split"]
    assert sorted(split["train"] + split["val"]) == on_disk
    assert sorted(p.split("/")[0] for p in split["val"]) == sorted(DIGITS3 * 2)
    # Rebuilt from the file alone, the classifier reproduces the stored validation metrics.
    with open(out / "val.csv", "w") as f:
        f.write("path,label\n" + "".join(f"{digits / 'train' / p},{p.split('/')[0]}\n"
                                         for p in split["val"]))
    m = T.evaluate(out / "last.pt", out / "val.csv", device="cpu", stream=open(os.devnull, "w"))
    assert m["confusion"] == ckpt["history"][-1]["val"]["confusion"]
    assert m["n"] == 6
    net, _ = T.load_checkpoint(out / "last.pt")
    assert state_dicts_equal(net.state_dict(), ckpt["state_dict"])
    assert summary["last"]["confusion"] == m["confusion"]


def test_resume_gives_the_uninterrupted_result(digits, tmp_path):
    full = T.train(digits / "train", tmp_path / "full", epochs=3, seed=2, **FAST)
    T.train(digits / "train", tmp_path / "cut", epochs=3, seed=2, stop_after_epoch=1, **FAST)
    part = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert part["epoch"] == 1
    resumed = T.train(digits / "train", tmp_path / "cut", epochs=3, seed=2, resume=True, **FAST)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert b["epoch"] == 3
    assert state_dicts_equal(a["state_dict"], b["state_dict"])
    assert not state_dicts_equal(a["state_dict"], part["state_dict"])  # it did train on
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)
    assert [h["train_loss"] for h in full["history"]] == \
        [h["train_loss"] for h in resumed["history"]]


def test_same_seed_same_weights(digits, trained, tmp_path):
    out, _ = trained
    T.train(digits / "train", tmp_path / "same", model="cnn", epochs=2, seed=1, **FAST)
    T.train(digits / "train", tmp_path / "other", model="cnn", epochs=2, seed=9, **FAST)
    a = torch.load(out / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "same" / "last.pt", weights_only=True)
    c = torch.load(tmp_path / "other" / "last.pt", weights_only=True)
    assert state_dicts_equal(a["state_dict"], b["state_dict"])
    assert a["split"] == b["split"]
    assert not state_dicts_equal(a["state_dict"], c["state_dict"])
    assert a["split"]["val"] != c["split"]["val"]


def test_bad_files_are_reported_and_skipped(digits, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(digits / "train", data)
    (data / "one" / "empty.wav").write_bytes(b"")
    good = (data / "two" / os.listdir(data / "two")[0]).read_bytes()
    (data / "two" / "cut.wav").write_bytes(good[: len(good) // 3])  # truncated
    with pytest.warns(Warning):
        summary = T.train(data, tmp_path / "run", epochs=1, seed=0, **FAST)
    skipped = {os.path.basename(p): reason for p, reason in summary["skipped"]}
    assert set(skipped) == {"empty.wav", "cut.wav"}
    assert "empty" in skipped["empty.wav"] and "truncated" in skipped["cut.wav"]
    err = capsys.readouterr().err
    assert "empty.wav" in err and "cut.wav" in err
    split = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["split"]
    kept = split["train"] + split["val"]
    assert len(kept) == 24 and not any(p.endswith(("empty.wav", "cut.wav")) for p in kept)


def test_train_rejects_bad_arguments(digits, tmp_path):
    with pytest.raises(ValueError, match="model must be one of"):
        T.train(digits / "train", tmp_path, model="resnet", epochs=1)
    with pytest.raises(ValueError, match="features"):
        T.train(digits / "train", tmp_path, features=("mel", "chroma"), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        T.train(digits / "train", tmp_path, epochs=0)
    with pytest.raises(ValueError, match="device"):
        T.train(digits / "train", tmp_path, device="tpu", epochs=1)
    with pytest.raises(FileNotFoundError, match="resume"):
        T.train(digits / "train", tmp_path / "nothing", epochs=1, resume=True)


# ---------------------------------------------------------------------------------------------
# The command line: train, evaluate, predict

def test_cli_train_evaluate_predict(digits, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", str(digits / "train"), "--model", "cnn", "--features", "mel,rms",
                   "--epochs", "1", "--out", str(out), "--batch-size", "8", "--n-mels", "32",
                   "--hop-length", "256", "--device", "cpu", "--no-progress", "--seed", "4",
                   "--model-arg", "channels=(8, 16)", "--threads", "1"])
    assert rc == 0
    assert "validation accuracy" in capsys.readouterr().out
    ckpt = torch.load(out / "best.pt", weights_only=True)
    assert list(ckpt["features"]["config"]["features"]) == ["mel", "rms"]
    assert list(ckpt["model"]["config"]["channels"]) == [8, 16]

    test_files = sorted(str(digits / "test" / d / f) for d in DIGITS3
                        for f in os.listdir(digits / "test" / d))
    png = tmp_path / "cm.png"
    assert cli.main(["evaluate", str(out / "best.pt"), str(digits / "test"), "--png", str(png),
                     "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert cli.main(["predict", str(out / "best.pt"), *test_files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()

    # predict: one "path<TAB>label<TAB>probability" line per file, probability = the softmax
    # maximum of the rebuilt classifier on the decoded file.
    assert [ln.split("\t")[0] for ln in lines] == test_files
    net, _ = T.load_checkpoint(out / "best.pt")
    y_true, y_pred = [], []
    for ln, path in zip(lines, test_files):
        _, label, prob = ln.split("\t")
        wav, sr = sf.read(path, dtype="float32")
        with torch.no_grad():
            p = torch.softmax(net(torch.from_numpy(wav)[None]), 1)[0]
        assert sr == 16000 and label == DIGITS3[int(p.argmax())]
        assert float(prob) == pytest.approx(float(p.max()), abs=1e-4)
        y_true.append(os.path.basename(os.path.dirname(path)))
        y_pred.append(label)

    # evaluate: the printed numbers and matrix are scikit-learn's on those predictions.
    metrics = pytest.importorskip("sklearn.metrics")
    acc = metrics.accuracy_score(y_true, y_pred)
    f1 = metrics.f1_score(y_true, y_pred, average="macro")
    assert f"accuracy {acc:.4f}, macro-F1 {f1:.4f}" in printed
    cm = metrics.confusion_matrix(y_true, y_pred, labels=DIGITS3)
    rows = [ln.split() for ln in printed.splitlines() if ln.startswith(tuple(c + " " for c in DIGITS3))]
    assert [[int(v) for v in r[1:]] for r in rows] == cm.tolist()
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_cli_predict_reports_bad_file_and_keeps_the_rest(digits, trained, tmp_path, capsys):
    out, _ = trained
    bad = tmp_path / "noise.wav"
    bad.write_text("not audio at all")
    good = str(digits / "test" / "one" / os.listdir(digits / "test" / "one")[0])
    assert cli.main(["predict", str(out / "last.pt"), str(bad), good]) == 1
    cap = capsys.readouterr()
    assert str(bad) in cap.err and "not an audio file" in cap.err
    (line,) = cap.out.strip().splitlines()
    assert line.split("\t")[0] == good and line.split("\t")[1] in DIGITS3


def test_evaluate_rejects_unknown_classes(digits, trained, tmp_path):
    out, _ = trained
    (tmp_path / "data" / "seven").mkdir(parents=True)
    shutil.copy(next((digits / "test" / "one").iterdir()), tmp_path / "data" / "seven" / "a.wav")
    with pytest.raises(ValueError, match="seven"):
        T.evaluate(out / "last.pt", tmp_path / "data", device="cpu")


def test_predict_is_independent_of_padding(digits, trained, tmp_path, capsys):
    """A short clip batched with a long one (right-padded) gets the probabilities it gets alone:
    the front end's mask keeps the padding out of the model's pooling."""
    out, _ = trained
    long = str(digits / "test" / "two" / os.listdir(digits / "test" / "two")[0])
    wav, sr = sf.read(long, dtype="float32")
    short = str(tmp_path / "short.wav")
    sf.write(short, wav[: int(0.55 * sr)], sr)
    together, _ = T.predict(out / "last.pt", [long, short], device="cpu")
    alone, _ = T.predict(out / "last.pt", [short], device="cpu")
    assert together[1]["path"] == alone[0]["path"] == short
    np.testing.assert_allclose(together[1]["probabilities"], alone[0]["probabilities"],
                               rtol=1e-4, atol=1e-6)
