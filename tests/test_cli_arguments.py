"""Every bad argument of the command line ends with exit status 2 and one line on stderr naming
it; every bad file with exit status 1 and one line naming the file; never a traceback (issue 14,
item 8, and the README's promise). Then a hypothesis fuzz of the argument space of ``info``,
``plot`` and ``extract``: whatever the values, the exit status is 0, 1 or 2, an error is one
line, and a success wrote what it says."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from audiofx.cli import main

SR = 8000


def _run(capsys, *argv):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_args")
    t = np.arange(SR // 2) / SR
    tone = str(d / "tone.wav")
    soundfile.write(tone, (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    short = str(d / "short.wav")  # 0.01 s: less than one hop
    soundfile.write(short, (0.4 * np.sin(2 * np.pi * 440 * t[:80])).astype(np.float32), SR)
    silent = str(d / "silent.wav")
    soundfile.write(silent, np.zeros(SR // 4, dtype=np.float32), SR)
    cut = str(d / "cut_float.wav")
    soundfile.write(cut, np.full(SR, 0.1, dtype=np.float32), SR, subtype="FLOAT")
    with open(cut, "r+b") as f:
        f.truncate(os.path.getsize(cut) // 2)
    empty = str(d / "empty.wav")
    open(empty, "wb").close()
    a_file = str(d / "a_file")
    with open(a_file, "w") as f:
        f.write("not a folder\n")
    return dict(dir=str(d), tone=tone, short=short, silent=silent, cut=cut, empty=empty,
                a_file=a_file)


# (argv with {placeholders}, exit status, a fragment of the one-line message)
BAD = [
    ("info {tone} --hop-length 0", 2, "--hop-length: expected an integer >= 1, got 0"),
    ("info {tone} --frame-length -1", 2, "--frame-length: expected an integer in [1, 16777216]"),
    ("info {tone} --n-fft 0", 2, "--n-fft: expected an integer in [1, 16777216], got 0"),
    ("info {tone} --n-fft 16777217", 2, "--n-fft: expected an integer in [1, 16777216]"),
    ("info {tone} --hop-length 2.5", 2, "--hop-length: expected an integer >= 1, got '2.5'"),
    ("info {tone} --frame-length " + "9" * 5000, 2, "--frame-length: expected an integer"),
    ("info {dir}/missing.wav", 1, "missing.wav: no such file"),
    ("info {empty}", 1, "empty.wav: empty file (0 bytes)"),
    ("info {cut}", 1, "cut_float.wav: truncated: the header declares 8000 frames"),
    ("info {dir}", 1, "is a folder, not a file"),
    ("info", 2, "the following arguments are required: FILE"),
    ("plot {tone} -o {dir}/missing_dir/x.png", 2, "missing_dir does not exist"),
    ("plot {tone} -o {dir}/x.xyz", 2, "matplotlib cannot write .xyz images"),
    ("plot {tone} -o {dir}", 2, "is a folder; name the image file"),
    ("plot {tone} -o {a_file}/x.png", 2, "does not exist"),
    ("plot {tone} -o {dir}/p.png --width 99", 2, "--width: expected an integer in [100, 16384]"),
    ("plot {tone} -o {dir}/p.png --height 1000000", 2, "--height: expected an integer in"),
    ("plot {tone} -o {dir}/p.png --dpi 5", 2, "--dpi: expected an integer in [10, 4800]"),
    ("plot {tone} -o {dir}/p.png --sr 0", 2, "--sr: expected an integer in [1, 1048576]"),
    ("plot {empty} -o {dir}/p.png", 1, "empty.wav: empty file (0 bytes)"),
    ("plot {cut} -o {dir}/p.png", 1, "truncated"),
    ("extract {tone} --out {a_file}", 2, "exists and is not a folder"),
    ("extract {tone} --out {a_file}/sub", 2, "cannot make the output folder"),
    ("extract {tone} --out {dir}/o --features rms,xyz", 2, "unknown feature(s) xyz"),
    ("extract {tone} --out {dir}/o --batch-size 0", 2, "--batch-size: expected an integer >= 1"),
    ("extract {tone} --out {dir}/o --workers -1", 2, "--workers: expected an integer in [0, 256]"),
    ("extract {tone} --out {dir}/o --workers 257", 2, "--workers: expected an integer in"),
    ("extract {tone} --out {dir}/o --n-mels 0", 2, "--n-mels: expected an integer in [1, 4096]"),
    ("extract {tone} --out {dir}/o --sr 2000000", 2, "--sr: expected an integer in"),
    ("extract {tone} --out {dir}/o --frame-length 2048 --n-fft 2047", 2, "both even or both odd"),
    ("extract {tone} --out {dir}/o --device tpu", 2, "device must be 'auto', 'cpu', 'cuda'"),
    ("extract {dir}/nothing_here.wav --out {dir}/o", 2, "no such file or folder"),
    ("extract --out {dir}/o", 2, "the following arguments are required: INPUT"),
    ("demo --batch 0", 2, "--batch must be in [1, 4096], got 0"),
    ("demo --seconds nan", 2, "--seconds must be in (0, 600], got nan"),
    ("demo --seconds -1", 2, "--seconds must be in (0, 600]"),
    ("demo --out {a_file}", 2, "exists and is not a folder"),
    ("nonsense", 2, "invalid choice: 'nonsense'"),
]


@pytest.mark.parametrize("argv, status, fragment", BAD, ids=[b[0][:60] for b in BAD])
def test_bad_argument_or_file(capsys, files, argv, status, fragment):
    rc, out, err = _run(capsys, *argv.format(**files).split(" "))
    assert rc == status, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert fragment in err, err
    assert "Traceback" not in err
    assert not os.path.exists(os.path.join(files["dir"], "o")), "written before the check"


def test_info_json_of_a_silent_file_is_json(capsys, files):
    rc, out, err = _run(capsys, "info", files["silent"], "--json")
    assert rc == 0, err
    facts = json.loads(out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert facts["peak_dbfs"] is None and facts["rms_dbfs"] is None
    assert facts["rms"]["max"] == 0.0


def test_plot_without_extension_says_what_it_wrote(capsys, files, tmp_path):
    rc, out, err = _run(capsys, "plot", files["tone"], "-o", tmp_path / "noext", "--width",
                        "200", "--height", "150", "--dpi", "50")
    assert rc == 0, err
    assert out == f"wrote {tmp_path / 'noext.png'}\n"
    assert os.path.getsize(tmp_path / "noext.png") > 0
    assert not os.path.exists(tmp_path / "noext")


def test_plot_of_a_clip_shorter_than_a_hop_draws_its_frame(files):
    """0.01 s (80 samples, one frame): the spectrogram has its one column and every feature
    line its marked point (a line of one point draws nothing)."""
    from matplotlib.collections import QuadMesh

    from audiofx.plot import plot_file

    fig = plot_file(files["short"])
    ax_w, ax_z, ax_s = fig.axes[0], fig.axes[2], fig.axes[1]
    mesh = [c for c in ax_s.collections if isinstance(c, QuadMesh)][0]
    cells = mesh.get_array()
    assert cells.size == 1025 and np.isfinite(cells).all() and np.ptp(cells) > 10  # dB range
    x0, x1 = ax_s.get_xlim()
    (t0, t1), = {tuple(p.vertices[:, 0][[0, 2]]) for p in mesh.get_paths()[:1]}
    assert min(t0, t1) <= x0 and max(t0, t1) >= x1  # the frame's cell covers the clip
    lines = ax_w.get_lines()[1:] + ax_z.get_lines() + ax_s.get_lines()
    assert len(lines) == 6
    for ln in lines:
        assert len(ln.get_xdata()) == 1 and ln.get_marker() == "o" and not ln.get_clip_on()


# --------------------------------------------------------------------------------------------
# The argument space, fuzzed

_NUMBERS = st.sampled_from(["0", "-1", "1", "2", "3", "7", "64", "512", "2048", "4096",
                            "16777217", "9223372036854775808", "-0", "2.5", "1e3", "nan", "inf",
                            "", "x", " 7", "0x10", "1_000"])
_OPTIONS = {
    "info": ["--frame-length", "--hop-length", "--n-fft"],
    "plot": ["--frame-length", "--hop-length", "--n-fft", "--sr", "--width", "--height",
             "--dpi"],
    "extract": ["--frame-length", "--hop-length", "--n-fft", "--sr", "--n-mels", "--n-mfcc",
                "--batch-size", "--workers"],
}


@pytest.mark.filterwarnings("ignore:Empty filters detected")  # many mel bands, tiny n_fft
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmd=st.sampled_from(sorted(_OPTIONS)), data=st.data())
def test_fuzz_the_argument_space(capsys, files, tmp_path_factory, cmd, data):
    opts = data.draw(st.lists(st.tuples(st.sampled_from(_OPTIONS[cmd]), _NUMBERS), max_size=4),
                     label="options")
    target = data.draw(st.sampled_from(["tone", "short", "silent", "empty", "cut"]),
                       label="file")
    work = str(tmp_path_factory.mktemp("fuzz"))
    argv = [cmd, files[target]]
    if cmd == "plot":
        argv += ["-o", os.path.join(work, "p.png"), "--width", "100", "--height", "100",
                 "--dpi", "10"]
    if cmd == "extract":
        argv += ["--out", os.path.join(work, "o"), "--features", "all", "--workers", "0"]
    for name, value in opts:
        argv += [name, value]
    rc, out, err = _run(capsys, *argv)
    event(f"{cmd} exit {rc}")
    assert rc in (0, 1, 2), (argv, rc, err)
    assert "Traceback" not in err, (argv, err)
    if rc == 2:
        assert err.count("\n") == 1, (argv, err)
        if cmd == "extract":
            assert not os.path.exists(os.path.join(work, "o")), "written before the check"
    if rc == 1 and cmd != "extract":
        assert err.count("\n") == 1 and os.path.basename(files[target]) in err, (argv, err)
    if rc == 0:
        assert target not in ("empty", "cut")
        if cmd == "plot":
            assert os.path.getsize(os.path.join(work, "p.png")) > 0
        if cmd == "extract":
            with np.load(os.path.join(work, "o", os.path.basename(files[target]) + ".npz")) as z:
                assert all(np.isfinite(z[k]).all() for k in ("rms", "mel", "mfcc"))
