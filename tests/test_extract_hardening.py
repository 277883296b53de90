"""``audiofx extract`` against what users' folders and habits do to it (issue 14, items 1, 3, 7
and the jobs layer's error paths): file names that are not UTF-8 or hold newlines, two writers
into one ``--out`` at once (a command-line process and library calls, both real, in parallel),
a manifest with a garbage, non-UTF-8 tail, an output name too long for the file system, a
decoder that raises something unexpected, and a manifest that cannot be written."""
from __future__ import annotations

import csv
import glob
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
import torch

import audiofx
from audiofx import extract as ex
from audiofx import io as aio
from audiofx import manifest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 8000


def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                OMP_NUM_THREADS="1")


def _main(capsys, *args):
    from audiofx.cli import main

    try:
        rc = main(list(args))
    except SystemExit as e:
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _write_tone(path, seconds=0.5, f0=440.0):
    t = np.arange(int(seconds * SR)) / SR
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), SR)
    return path


def _check_output(out_dir, row):
    y, _ = aio.load(row["path"])
    with np.load(os.path.join(out_dir, row["output"])) as z:
        np.testing.assert_allclose(z["rms"], audiofx.rms(torch.from_numpy(y)).numpy(),
                                   rtol=1e-6)


def test_latin1_and_newline_names_run_and_read_back(tmp_path, capsys):
    """A Latin-1 name (byte 0xE9, made through a bytes path) and a name holding a newline, a
    comma, a quote and a backslash, among ordinary files and one empty file (the command line,
    in this process): every good file is written, every manifest row reads back as exactly one row with the exact path (plain csv
    too), --resume recognises them, and info/plot take the Latin-1 file."""
    src = tmp_path / "in"
    src.mkdir()
    raw = os.path.join(os.fsencode(str(src)), b"caf\xe9.wav")
    _write_tone(raw, f0=330)
    odd = _write_tone(str(src / 'line1\nline2, "q" \\x.wav'), f0=550)
    plain = _write_tone(str(src / "plain.wav"))
    (src / "empty.wav").write_bytes(b"")
    out = str(tmp_path / "out")
    rc, _, err = _main(capsys, "extract", str(src), "--out", out, "--workers", "0")
    assert rc == 1, err  # the empty file fails; nothing else does
    assert err.count("failed: ") == 1 and "empty.wav: empty file" in err
    latin1 = os.fsdecode(raw)
    rows = ex.read_manifest(os.path.join(out, "manifest.csv"))
    assert {r["path"]: r["status"] for r in rows} == {
        latin1: "ok", odd: "ok", plain: "ok", str(src / "empty.wav"): "failed"}
    for r in rows:
        if r["status"] == "ok":
            _check_output(out, r)
    assert os.path.exists(os.path.join(os.fsencode(out), b"caf\xe9.wav.npz"))
    # The manifest is valid UTF-8, one line per row, and a plain csv reader sees 4 rows.
    data = open(os.path.join(out, "manifest.csv"), "rb").read()
    data.decode("utf-8")
    assert data.count(b"\n") == 5
    with open(os.path.join(out, "manifest.csv"), newline="", encoding="utf-8") as f:
        plain_rows = list(csv.DictReader(f))
    assert len(plain_rows) == 4
    assert {manifest.unescape_text(r["path"]) for r in plain_rows} == {r["path"] for r in rows}
    # --resume matches the escaped paths back to the files.
    res = ex.extract([str(src)], out, workers=0, resume=True)
    assert (res.ok, res.skipped, res.failed) == (0, 3, 1)
    # info and plot on the Latin-1 file (in this process: its stdout is strict UTF-8 here).
    rc, text, _ = _main(capsys, "info", latin1)
    assert rc == 0 and "caf\\xe9.wav" in text
    png = os.path.join(out, "caf.png")
    rc, text, err = _main(capsys, "plot", latin1, "-o", png)
    assert rc == 0 and os.path.getsize(png) > 0, err


def test_two_writers_into_one_out(tmp_path):
    """The user's race: a command-line run over a folder and, at the same time, library calls
    of ``extract`` into the same --out, on other files and on the same ones. Each writer's start
    used to delete the other's temporary files (``No such file or directory: '.../.afx-....tmp'
    -> '....npz'``: 10 to 26 failed rows per run of this test before the fix; the command-line
    run writes large outputs, one frame per sample, so its temporaries are often in flight).
    Now no row fails, every output is whole and right, and a stale temporary file of a killed
    run is removed by the writer that had the folder to itself."""
    src, lib_src = tmp_path / "in", tmp_path / "lib"
    src.mkdir()
    lib_src.mkdir()
    files = [_write_tone(str(src / f"t{i:02d}.wav"), seconds=30.0, f0=200 + 17 * i)
             for i in range(16)]
    small = _write_tone(str(lib_src / "small.wav"), seconds=0.1)
    out = str(tmp_path / "out")
    os.makedirs(out)
    stale = os.path.join(out, ".afx-killedrun.tmp")
    open(stale, "wb").close()
    geometry = dict(frame_length=1, n_fft=1, hop_length=1)  # ae == the samples
    proc = subprocess.Popen([sys.executable, "-m", "audiofx", "extract", str(src), "--out", out,
                             "--features", "ae", "--frame-length", "1", "--n-fft", "1",
                             "--hop-length", "1", "--batch-size", "1", "--workers", "0"],
                            env=_env(), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    lib = []
    try:
        m = os.path.join(out, "manifest.csv")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not (
                os.path.exists(m) and ex.read_manifest(m)):
            time.sleep(0.002)
        rms = ex.ExtractParams(features=("rms",))
        ae = ex.ExtractParams(features=("ae",), **geometry)
        while proc.poll() is None:  # hundreds of writer starts while the CLI writes
            same = len(lib) % 20 == 19
            lib.append(ex.extract([files[len(lib) % len(files)] if same else small], out,
                                  ae if same else rms, workers=0, device="cpu"))
    finally:
        stdout, stderr = proc.communicate(timeout=120)
    assert len(lib) >= 20, "the two writers hardly overlapped"
    assert proc.returncode == 0, stderr.decode()
    assert all((r.ok, r.failed) == (1, 0) for r in lib), [r.failures for r in lib if r.failed]
    rows = ex.read_manifest(os.path.join(out, "manifest.csv"))
    assert not [r for r in rows if r["status"] != "ok"]
    assert len(rows) == len(files) + len(lib)
    for path in files:
        y, _ = aio.load(path)
        with np.load(os.path.join(out, os.path.basename(path) + ".npz")) as z:
            np.testing.assert_array_equal(z["ae"], y)
    assert not os.path.exists(stale)
    assert not glob.glob(os.path.join(out, "**", ".afx-*"), recursive=True)


def test_a_live_writers_temporaries_are_not_stale(tmp_path):
    """The same race made deterministic: a writer holds the folder (its lock) and a temporary
    file in flight; another writer's start must leave that file alone, and only a writer that
    has the folder to itself cleans up."""
    from audiofx.output_folder import OutputFolder

    src = _write_tone(str(tmp_path / "a.wav"))
    out = str(tmp_path / "out")
    first = OutputFolder(out)
    assert first.acquire()  # alone: it may clean up
    first.share()
    in_flight = os.path.join(out, ".afx-inflight.tmp")
    open(in_flight, "wb").close()
    assert ex.extract([src], out, workers=0).ok == 1
    assert os.path.exists(in_flight)
    first.release()
    assert ex.extract([src], out, workers=0).ok == 1
    assert not os.path.exists(in_flight)


def test_garbage_and_non_utf8_manifest_tail(tmp_path, capsys):
    """A manifest whose tail is garbage (bytes that are not UTF-8, a NUL, a half row): --resume
    reads the good rows, skips their files, cuts the tail off and appends after it."""
    src = tmp_path / "in"
    src.mkdir()
    files = [_write_tone(str(src / f"a{i}.wav"), f0=300 + 50 * i) for i in range(3)]
    out = str(tmp_path / "out")
    assert ex.extract([str(src)], out, workers=0).ok == 3
    m = os.path.join(out, "manifest.csv")
    good = open(m, "rb").read()
    for tail in (b"\xff\xfe\xe9garbage,ok,\x00\n", b"\xff\xfe garbage without a newline",
                 b'"' + files[0].encode() + b'\n'):  # a quoted field torn after its newline
        with open(m, "wb") as f:
            f.write(good + tail)
        assert [r["path"] for r in ex.read_manifest(m)] == files
        rc, text, err = _main(capsys, "extract", str(src), "--out", out, "--resume",
                              "--workers", "0")
        assert rc == 0, err
        assert "3 skipped" in text
        data = open(m, "rb").read()
        assert data.startswith(good) and data.count(b"\n") == 7  # header, 3 ok, 3 skipped
        assert [r["status"] for r in ex.read_manifest(m)] == ["ok"] * 3 + ["skipped"] * 3


def test_one_bad_output_name_or_decoder_error_fails_only_its_file(tmp_path, monkeypatch):
    """An input whose output name is too long for the file system once '.npz' is added, and a
    decoder raising an unexpected error on one file: each is a failed row naming its file and
    the reason; the other files are written."""
    src = tmp_path / "in"
    src.mkdir()
    long_name = "x" * (255 - len(".wav")) + ".wav"  # the longest name; + ".npz" is too long
    files = [_write_tone(str(src / long_name)), _write_tone(str(src / "boom.wav")),
             _write_tone(str(src / "fine.wav"))]
    real_load = aio.load

    def load(path, *a, **k):
        if path.endswith("boom.wav"):
            raise RuntimeError("decoder bug")
        return real_load(path, *a, **k)

    monkeypatch.setattr(aio, "load", load)
    out = str(tmp_path / "out")
    res = ex.extract([str(src)], out, workers=0)
    assert (res.ok, res.failed) == (1, 2)
    reasons = dict(res.failures)
    assert "writing the output failed" in reasons[os.path.join(str(src), long_name)]
    assert reasons[files[1]] == "decoding failed: RuntimeError: decoder bug"
    assert os.path.exists(os.path.join(out, "fine.wav.npz"))


def test_unwritable_manifest_is_one_line_exit_1(tmp_path, capsys):
    """A full disk under the manifest (a link to /dev/full): exit status 1 and one line naming
    the manifest, no traceback."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    src = tmp_path / "in"
    src.mkdir()
    _write_tone(str(src / "a.wav"))
    out = tmp_path / "out"
    out.mkdir()
    os.symlink("/dev/full", out / "manifest.csv")
    rc, _, err = _main(capsys, "extract", str(src), "--out", str(out), "--workers", "0")
    assert rc == 1
    assert err.count("\n") == 1 and "manifest" in err and "No space left" in err, err


def test_a_folder_that_cannot_be_listed_is_an_error_not_a_silent_gap(tmp_path, capsys,
                                                                     monkeypatch):
    """os.walk skips a sub-folder it cannot list (permissions) without a word, so its files
    were left out of the run and the manifest. Now it is an argument error naming the folder
    (simulated: this suite may run as root, which lists everything)."""
    src = tmp_path / "in"
    (src / "locked").mkdir(parents=True)
    _write_tone(str(src / "a.wav"))
    _write_tone(str(src / "locked" / "b.wav"))
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    rc, _, err = _main(capsys, "extract", str(src), "--out", str(tmp_path / "out"))
    assert rc == 2 and err.count("\n") == 1
    assert "cannot list the folder" in err and "locked: Permission denied" in err
    assert not os.path.exists(tmp_path / "out")
