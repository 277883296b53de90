"""``audiofx extract`` on real recordings (espeak-ng speech through sox: wav, flac at 16 and 44.1
kHz, stereo, ogg, mp3) mixed with a truncated WAV, an empty file and a text file named .wav.

The outputs are checked against the library's functions on the same decoded samples (the
batched, padded path must equal each clip alone) and against librosa; the manifest, the exit
status, resuming after a SIGKILL, and a two-process torchrun run are checked from the files."""
from __future__ import annotations

import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import librosa
import numpy as np
import pytest
import torch

import audiofx
from audiofx import extract as ex
from audiofx import io as aio
from recordings import make_recordings, sox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, timeout=120, **kw):
    """``python -m audiofx ...`` from this checkout, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "audiofx", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT, **kw)


def _main(capsys, *args):
    """``audiofx ...`` in this process (argument errors exit through argparse: status 2)."""
    from audiofx.cli import main

    try:
        rc = main(list(args))
    except SystemExit as e:
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _rows(out_dir, name="manifest.csv"):
    with open(os.path.join(out_dir, name), newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return make_recordings(str(tmp_path_factory.mktemp("extract_recordings")))


@pytest.fixture(scope="module")
def run_all(rec, tmp_path_factory):
    """One CLI run over the folder: every feature, batches of 3, one decoding worker."""
    out = str(tmp_path_factory.mktemp("extract_out"))
    folder = os.path.commonpath(rec["good"] + list(rec["bad"]))
    p = _cli("extract", folder, "--out", out, "--features", "all", "--batch-size", "3",
             "--workers", "1")
    return p, out, folder


def _library_features(y, sr, params):
    """The features of one clip from the public functions (no lengths, no batching)."""
    x = torch.from_numpy(y)
    N, H, n_fft = params.frame_length, params.hop_length, params.n_fft
    ae, r, z = audiofx.frame_features(x, N, H)
    return {
        "ae": ae, "rms": r, "zcr": z,
        "centroid": audiofx.spectral_centroid(x, sr=sr, n_fft=n_fft, hop_length=H),
        "bandwidth": audiofx.spectral_bandwidth(x, sr=sr, n_fft=n_fft, hop_length=H),
        "rolloff": audiofx.spectral_rolloff(x, sr=sr, n_fft=n_fft, hop_length=H),
        "flatness": audiofx.spectral_flatness(x, n_fft=n_fft, hop_length=H),
        "mel": audiofx.melspectrogram(x, sr=sr, n_fft=n_fft, hop_length=H, n_mels=params.n_mels),
        "mfcc": audiofx.mfcc(x, sr=sr, n_fft=n_fft, hop_length=H, n_mels=params.n_mels,
                             n_mfcc=params.n_mfcc),
    }


# max |extract - function of the clip| / max |function|: exact where the computation is the same
# sequence of operations; float32 rounding where only the order of a reduction differs.
LIBRARY_TOL = {"ae": 0.0, "rms": 0.0, "zcr": 0.0, "centroid": 1e-6, "bandwidth": 1e-6,
               "rolloff": 0.0, "flatness": 1e-5, "mel": 1e-6, "mfcc": 1e-6}


def test_cli_exit_status_and_manifest(run_all, rec):
    p, out, folder = run_all
    assert p.returncode == 1, p.stderr  # bad files present: the run reports failure
    assert "audio-s/s" in p.stdout and "decode" in p.stdout and "write" in p.stdout
    rows = _rows(out)
    by_path = {r["path"]: r for r in rows}
    assert len(rows) == len(by_path) == len(rec["good"]) + len(rec["bad"])
    for path in rec["good"]:
        r = by_path[path]
        assert r["status"] == "ok" and r["reason"] == ""
        assert os.path.isfile(os.path.join(out, r["output"]))
        assert r["output"] == os.path.relpath(path, folder) + ".npz"
    for path, reason in rec["bad"].items():
        r = by_path[path]
        assert r["status"] == "failed" and r["reason"].startswith(reason), r
        assert r["output"] == ""
        assert f"failed: {path}: {reason}" in p.stderr
    assert not glob.glob(os.path.join(out, "**", ".afx-*"), recursive=True)


def test_outputs_equal_the_library_and_librosa(run_all, rec):
    _, out, folder = run_all
    rows = {r["path"]: r for r in _rows(out)}
    params = ex.ExtractParams(features=ex.FEATURES)
    for path in rec["good"]:
        y, sr = aio.load(path)  # what extract decoded: mono, native rate
        with np.load(os.path.join(out, rows[path]["output"])) as z:
            got = {k: z[k] for k in z.files}
        n = 1 + y.size // params.hop_length
        assert int(got["sr"]) == sr == int(rows[path]["sample_rate"])
        assert int(got["n_samples"]) == y.size
        assert int(rows[path]["n_frames"]) == n
        assert float(rows[path]["duration_s"]) == pytest.approx(y.size / sr, abs=1e-6)
        np.testing.assert_allclose(got["times"], np.arange(n) * 512 / sr, rtol=0, atol=1e-12)
        assert json.loads(str(got["params"])) == json.loads(params.to_json())
        lib = _library_features(y, sr, params)
        for name, ref in lib.items():
            ref = ref.numpy()
            assert got[name].dtype == np.float32 and got[name].shape == ref.shape, name
            scale = float(np.max(np.abs(ref))) or 1.0
            err = float(np.max(np.abs(got[name].astype(np.float64) - ref))) / scale
            assert err <= LIBRARY_TOL[name], (path, name, err)
        if not path.endswith(("en_one.wav", "stereo_44k.flac", "de.mp3")):
            continue
        # Independently: librosa on the same samples (a wav, the 44.1 kHz stereo flac, the mp3).
        y2 = y.astype(np.float32)
        lr = {
            "rms": librosa.feature.rms(y=y2)[0],
            "zcr": librosa.feature.zero_crossing_rate(y2)[0],
            "centroid": librosa.feature.spectral_centroid(y=y2, sr=sr)[0],
            "bandwidth": librosa.feature.spectral_bandwidth(y=y2, sr=sr)[0],
            "mel": librosa.feature.melspectrogram(y=y2, sr=sr),
            "mfcc": librosa.feature.mfcc(y=y2, sr=sr),
        }
        tol = {"rms": 2e-5, "zcr": 1e-7, "centroid": 1e-5, "bandwidth": 1e-5, "mel": 1e-5,
               "mfcc": 1e-4}
        for name, ref in lr.items():
            err = np.max(np.abs(got[name] - ref)) / np.max(np.abs(ref))
            assert err <= tol[name], (path, name, err)
        ref_ae = librosa.util.frame(np.pad(y2, 1024), frame_length=2048, hop_length=512).max(0)
        np.testing.assert_array_equal(got["ae"], ref_ae)


@pytest.mark.parametrize("N, H, n_fft", [(1024, 256, 512), (1023, 300, 511)])
@pytest.mark.parametrize("equal", [False, True], ids=["lengths", "equal-lengths"])
def test_padded_batch_equals_each_clip_alone(rec, N, H, n_fft, equal):
    # Different lengths in one batch, the longest neither first nor last: padding must not leak.
    clips = [torch.from_numpy(aio.load(p)[0]) for p in
             (rec["speech"]["scot_eight"], rec["speech"]["fr_f3"], rec["speech"]["de_m2"])]
    clips.append(clips[0][:700])  # shorter than one frame
    if equal:  # one length: the batch goes to the kernels without lengths
        clips = [c[:700] for c in clips]
    params = ex.ExtractParams(features=ex.DEFAULT_FEATURES, frame_length=N, hop_length=H,
                              n_fft=n_fft)
    got = ex.batch_features(clips, 22050, params, torch.device("cpu"))
    for clip, feats in zip(clips, got):
        y64 = clip.numpy().astype(np.float64)
        n = 1 + (clip.numel() + 2 * (N // 2) - N) // H
        # float64 reference, numpy: frames of the zero-padded signal.
        fr = librosa.util.frame(np.pad(y64, N // 2), frame_length=N, hop_length=H)
        assert fr.shape[1] == n
        np.testing.assert_array_equal(feats["ae"], fr.max(axis=0).astype(np.float32))
        np.testing.assert_allclose(feats["rms"], np.sqrt((fr ** 2).mean(axis=0)), rtol=2e-6,
                                   atol=1e-9)
        ref_c = librosa.feature.spectral_centroid(y=y64, sr=22050, n_fft=n_fft,
                                                  hop_length=H)[0]
        ref_b = librosa.feature.spectral_bandwidth(y=y64, sr=22050, n_fft=n_fft,
                                                   hop_length=H)[0]
        assert feats["centroid"].shape == feats["zcr"].shape == (n,)
        np.testing.assert_allclose(feats["centroid"], ref_c, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(feats["bandwidth"], ref_b, rtol=1e-5, atol=1e-3)
        ref_z = librosa.feature.zero_crossing_rate(y64, frame_length=N, hop_length=H)[0]
        np.testing.assert_allclose(feats["zcr"], ref_z, rtol=0, atol=1e-7)


def test_expand_inputs(rec, tmp_path, capsys):
    folder = os.path.commonpath(rec["good"] + list(rec["bad"]))
    everything = sorted(rec["good"] + list(rec["bad"]))
    (tmp_path / "readme.txt").write_text("not audio, not scanned")
    assert ex.expand_inputs([folder]) == everything
    # Folder + a file inside it + a glob over it: de-duplicated, sorted, absolute.
    got = ex.expand_inputs([rec["speech"]["en_one"], folder,
                            os.path.join(folder, "**", "*.flac")])
    assert got == everything
    assert ex.expand_inputs([os.path.join(folder, "*.wav")]) == sorted(
        p for p in everything if os.path.dirname(p) == folder and p.endswith(".wav"))
    # An explicit file is taken whatever its name; a missing input is an error.
    txt = str(tmp_path / "readme.txt")
    assert ex.expand_inputs([txt]) == [txt]
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        ex.expand_inputs([str(tmp_path / "nothing_here*.wav")])
    rc, _, err = _main(capsys, "extract", str(tmp_path / "nothing_here.wav"), "--out",
                       str(tmp_path / "o"))
    assert rc == 2 and "no such file" in err


def test_bad_arguments(tmp_path, rec, capsys):
    one = rec["speech"]["en_one"]
    rc, _, err = _main(capsys, "extract", one, "--out", str(tmp_path), "--features", "rms,xyz")
    assert rc == 2 and "xyz" in err and "centroid" in err
    rc, _, err = _main(capsys, "extract", one, "--out", str(tmp_path), "--batch-size", "0")
    assert rc == 2 and "--batch-size" in err
    assert not os.listdir(tmp_path)  # nothing written before the arguments are checked
    with pytest.raises(ValueError, match="features"):
        ex.ExtractParams(features=("loudness",))
    with pytest.raises(ValueError, match="hop_length"):
        ex.ExtractParams(hop_length=0)
    with pytest.raises(ValueError, match="both even or both odd"):
        ex.ExtractParams(frame_length=2047, n_fft=2048)
    with pytest.raises(ValueError, match="batch_size"):
        ex.extract([rec["speech"]["en_one"]], str(tmp_path), batch_size=0)
    with pytest.raises(ValueError, match="device"):
        ex.extract([rec["speech"]["en_one"]], str(tmp_path), device="tpu")


def test_manifest_line_cut_by_a_kill_is_dropped(tmp_path):
    m = tmp_path / "manifest.csv"
    m.write_text(",".join(ex.MANIFEST_FIELDS) + "\n/a.wav,ok,,1.0,22050,44,a.wav.npz\n"
                 "/b.wav,ok,,1.0,22050,44,b.w")
    assert [r["path"] for r in ex.read_manifest(str(m))] == ["/a.wav"]
    log = ex._ManifestLog(str(m))
    log.write(dict(path="/c.wav", status="failed", reason="empty file (0 bytes)"))
    log.close()
    assert [r["path"] for r in ex.read_manifest(str(m))] == ["/a.wav", "/c.wav"]


def _long_recordings(folder, n):
    """n files of ~3 s of speech each (so that a run takes long enough to be killed mid-way)."""
    os.makedirs(folder, exist_ok=True)
    base = os.path.join(folder, "base.wav")
    from recordings import speak

    speak(base, "the quick brown fox jumps over the lazy dog", "en-us")
    paths = []
    for i in range(n):
        p = os.path.join(folder, "clips", f"clip_{i:02d}.wav")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        sox(base, p, "speed", f"{0.9 + 0.01 * i:.2f}")  # each one a little different
        paths.append(p)
    os.unlink(base)
    return sorted(paths)


def test_resume_after_sigkill(tmp_path, capsys):
    good = _long_recordings(str(tmp_path / "in"), 24)
    bad = str(tmp_path / "in" / "clips" / "zz_empty.wav")
    open(bad, "wb").close()
    out = str(tmp_path / "out")
    args = ["extract", str(tmp_path / "in"), "--out", out, "--features", "rms,zcr,centroid,mfcc",
            "--batch-size", "1", "--workers", "1"]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "audiofx", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    manifest = os.path.join(out, "manifest.csv")
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if os.path.exists(manifest) and sum(
                    r["status"] == "ok" for r in ex.read_manifest(manifest)) >= 3:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.005)
        # The whole process group: the main process and its decoding worker.
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    first = {r["path"]: r for r in ex.read_manifest(manifest) if r["status"] == "ok"}
    assert 3 <= len(first) < len(good), len(first)
    # Every .npz present is whole (written under a temporary name, then renamed).
    for npz in glob.glob(os.path.join(out, "**", "*.npz"), recursive=True):
        with zipfile.ZipFile(npz) as z:
            assert z.testzip() is None
    mtimes = {p: os.stat(os.path.join(out, r["output"])).st_mtime_ns for p, r in first.items()}

    rc, stdout, err = _main(capsys, *args, "--resume")
    assert rc == 1, err  # the empty file still fails
    rows = ex.read_manifest(manifest)
    for path in good:
        mine = [r for r in rows if r["path"] == path]
        assert sum(r["status"] == "ok" for r in mine) == 1, mine  # done exactly once
        if path in first:
            assert [r["status"] for r in mine] == ["ok", "skipped"]
            assert os.stat(os.path.join(out, mine[0]["output"])).st_mtime_ns == mtimes[path]
        y, sr = aio.load(path)
        with np.load(os.path.join(out, mine[0]["output"])) as z:
            np.testing.assert_allclose(z["rms"], audiofx.rms(torch.from_numpy(y)).numpy(),
                                       rtol=1e-6, atol=0)
    assert [r["status"] for r in rows if r["path"] == bad][-1] == "failed"
    assert f"{len(first)} skipped" in stdout
    assert not glob.glob(os.path.join(out, "**", ".afx-*"), recursive=True)
    n_npz = len(glob.glob(os.path.join(out, "**", "*.npz"), recursive=True))
    assert n_npz == len(good)


def test_torchrun_two_ranks_shard_and_merge(rec, run_all, tmp_path):
    _, single_out, folder = run_all
    out = str(tmp_path / "dist")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc-per-node", "2", "-m", "audiofx", "extract", folder, "--out", out,
                        "--features", "rms,centroid", "--workers", "0", "--batch-size", "2"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode != 0  # the bad files failed, on whichever rank they were
    assert not glob.glob(os.path.join(out, "manifest.rank*.csv"))
    rows = _rows(out)
    files = sorted(rec["good"] + list(rec["bad"]))
    assert sorted(r["path"] for r in rows) == files
    assert {r["path"] for r in rows if r["status"] == "failed"} == set(rec["bad"])
    single = {r["path"]: r for r in _rows(single_out)}
    for r in rows:
        if r["status"] != "ok":
            continue
        with np.load(os.path.join(out, r["output"])) as a, \
                np.load(os.path.join(single_out, single[r["path"]]["output"])) as b:
            assert sorted(a.files) == sorted(["rms", "centroid", "times", "sr", "n_samples",
                                              "params"])
            np.testing.assert_array_equal(a["rms"], b["rms"])
            np.testing.assert_allclose(a["centroid"], b["centroid"], rtol=1e-6)


def test_resume_recomputes_other_parameters_and_unreadable_outputs(rec, tmp_path):
    files = [rec["speech"]["en_one"], rec["speech"]["de_m2"], rec["speech"]["fr_f3"]]
    out = str(tmp_path / "o")
    first = ex.extract(files, out, ex.ExtractParams(features=("rms",)), workers=0)
    assert (first.ok, first.skipped, first.exit_status) == (3, 0, 0)
    # Other features: nothing is taken as done.
    p2 = ex.ExtractParams(features=("rms", "zcr"))
    second = ex.extract(files, out, p2, workers=0, resume=True)
    assert (second.ok, second.skipped) == (3, 0)
    # An output cut short (as by a power loss) is computed again; the others are skipped.
    cut = os.path.join(out, "de_m2.wav.npz")
    with open(cut, "r+b") as f:
        f.truncate(100)
    third = ex.extract(files, out, p2, workers=0, resume=True)
    assert (third.ok, third.skipped) == (1, 2)
    y, _ = aio.load(rec["speech"]["de_m2"])
    with np.load(cut) as z:
        np.testing.assert_array_equal(
            z["zcr"], librosa.feature.zero_crossing_rate(y)[0].astype(np.float32))
    last = {r["path"]: r["status"] for r in ex.read_manifest(os.path.join(out, "manifest.csv"))}
    assert last == {files[0]: "skipped", files[1]: "ok", files[2]: "skipped"}
