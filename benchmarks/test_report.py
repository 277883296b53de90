"""The report machinery of audiofx.bench: the workload signal, the agreement measure, the
per-clip stacking of librosa's loop, the peak-memory subprocess, the targets' judgement, the
geometry and lengths tables (hand-derived cases, then a tiny real run of each), the sections of a
partial run, and small report runs. No timing is asserted."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from audiofx import bench


def test_make_signal_is_deterministic_and_has_silence_and_crossings():
    a = bench.make_signal((3, 22050), seed=5)
    b = bench.make_signal((3, 22050), seed=5)
    assert a.dtype == torch.float32 and a.shape == (3, 22050)
    assert torch.equal(a, b)
    assert not torch.equal(a, bench.make_signal((3, 22050), seed=6))
    for row in a:
        zeros = (row == 0).sum().item()
        assert 22050 // 100 <= zeros  # one silence of >= 10 ms
        signs = torch.signbit(row[row != 0])
        assert (signs[1:] != signs[:-1]).sum().item() > 100  # chirp + noise cross zero often
    assert a.abs().max().item() < 3.0


def test_max_rel_err_against_hand_values():
    ref = np.array([1.0, -4.0, 2.0])
    assert bench.max_rel_err(torch.tensor([1.0, -4.0, 2.5]), ref) == pytest.approx(0.5 / 4.0)
    assert bench.max_rel_err((ref, ref), (ref, ref + 1.0)) == pytest.approx(1.0 / 3.0)  # max |ref+1| = 3
    assert np.isnan(bench.max_rel_err(np.zeros(2), ref))


def test_loop_results_stack_into_the_multichannel_layout():
    rows = [(np.full(4, i), np.full((2, 4), -i)) for i in range(6)]
    a, b = bench.stack_clips(rows, (2, 3))
    assert a.shape == (2, 3, 4) and b.shape == (2, 3, 2, 4)
    assert a[1, 2, 0] == 5 and b[1, 0, 1, 3] == -3


def test_torch_baselines_match_audiofx_on_a_small_batch():
    import audiofx

    x = bench.make_signal((2, 8000), seed=3)
    for got, want in zip(bench.torch_frame_features(x), audiofx.frame_features(x, 2048, 512)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    c, bw = bench.torch_centroid_bandwidth(x.double())
    ref = audiofx.spectral_features(x.double(), sr=bench.SR, n_fft=2048, hop_length=512)
    torch.testing.assert_close(c, ref["centroid"], rtol=1e-9, atol=1e-6)
    torch.testing.assert_close(bw, ref["bandwidth"], rtol=1e-9, atol=1e-6)


def test_peak_memory_subprocess_sees_a_torch_allocation(tmp_path):
    """clone of a 64 MiB signal: the child's high-water mark grows by about its size."""
    y = np.ones((64, 2**18), dtype=np.float32)  # 64 MiB
    m = bench.peak_memory("rms", "clone", y, str(tmp_path), threads=1)
    assert "error" not in m, m
    assert m["out_mib"] == pytest.approx(64.0)
    assert 60.0 <= m["peak_mib"] <= 80.0


def test_report_runs_and_prints_the_tables(capsys):
    rc = bench.main(["--only", "ops,cuda", "--ops", "rms", "--repeats", "1", "--no-librosa",
                     "--no-memory", "--quiet"])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    assert "## Machine" in out and "| 256 clips x 4 s | rms | audiofx |" in out
    assert "| one 60 s clip | rms | torch |" in out and "## CUDA" in out


def test_time_interleaved_spreads_fast_workloads_over_min_span():
    """Rounds are added until they span min_span_s (capped at 4x repeats); without it, exactly
    repeats rounds after the warm-up call."""
    import time

    calls = {"a": 0}

    def fn():
        calls["a"] += 1
        time.sleep(0.011)  # one call outlasts min_sample_s: one call per sample

    bench.time_interleaved({"a": fn}, repeats=2, min_sample_s=0.01)
    assert calls["a"] == 1 + 2
    calls["a"] = 0
    bench.time_interleaved({"a": fn}, repeats=2, min_sample_s=0.01, min_span_s=0.05)
    # a round lasts 0.011 s (a little more: sleep overshoots), so ceil(0.05 / round) = 5 rounds,
    # 3 or 4 if the machine stretches the sleep; more than repeats either way, within the cap
    assert 1 + 3 <= calls["a"] <= 1 + 5
    calls["a"] = 0
    bench.time_interleaved({"a": fn}, repeats=2, min_sample_s=0.01, min_span_s=10.0)
    assert calls["a"] == 1 + 8  # the cap: 4x repeats


def test_targets_use_the_ratio_within_each_round():
    """A slow phase that meets audiofx's samples in three rounds and dot's in only two of them
    leaves the ratio of the medians at 3x, the within-round ratios at 1.5x (hand-derived)."""
    samples = {
        # rounds 0-4; rounds 2-4 are a slow phase (x3) for audiofx, rounds 3-4 for dot
        "audiofx": {0: 1.0, 1: 1.0, 2: 3.0, 3: 3.0, 4: 3.0},
        "dot": {0: 1.0, 1: 1.0, 2: 1.0, 3: 3.0, 4: 3.0},
        "librosa": {0: 100.0, 2: 90.0, 4: 300.0},  # a slow implementation: 3 rounds only
    }
    # per-round audiofx / dot: 1, 1, 3, 1, 1 -> median 1; the medians: 3 / 1 = 3
    assert bench.paired_ratio(samples, "audiofx", "dot") == 1.0
    # librosa / audiofx in rounds 0, 2, 4: 100, 30, 100 -> median 100
    assert bench.paired_ratio(samples, "librosa", "audiofx") == 100.0
    assert bench.paired_ratio(samples, "audiofx", "clone") is None
    seconds = {k: float(np.median(list(v.values()))) for k, v in samples.items()}
    assert seconds["audiofx"] / seconds["dot"] == 3.0
    r = bench.OpResult("one 60 s clip", (1323000,), "frame_features", seconds, 60.0,
                       samples=samples)
    lines, ok = bench.targets_table([r])
    assert ok
    assert any("audiofx / dot <= 2x | 1.00x | yes" in ln for ln in lines)
    assert any("librosa / audiofx >= 50x | 100.00x | yes" in ln for ln in lines)
    # without samples (no round sampled both) the medians decide: 3x misses the 2x target
    r2 = bench.OpResult("one 60 s clip", (1323000,), "frame_features", seconds, 60.0)
    lines, ok = bench.targets_table([r2])
    assert not ok and any("audiofx / dot <= 2x | 3.00x | NO" in ln for ln in lines)


# ---- targets ----------------------------------------------------------------------------------

def test_target_judgement_and_wording():
    faster = bench.Target("frame_features", "librosa", "faster", 20.0)
    within = bench.Target("frame_features", "dot", "within", 2.0)
    assert (faster.num, faster.den) == ("librosa", "audiofx")
    assert (within.num, within.den) == ("audiofx", "dot")
    assert faster.holds(20.0) and faster.holds(25.0) and not faster.holds(19.99)
    assert within.holds(2.0) and within.holds(0.5) and not within.holds(2.01)
    assert faster.describe() == "librosa / audiofx >= 20x"
    assert within.describe() == "audiofx / dot <= 2x"
    lengths = bench.LENGTHS_TARGETS["stft"]
    assert (lengths.num, lengths.den) == ("lengths=", "plain")
    assert lengths.describe() == "lengths= / plain <= 1.3x"
    assert bench.LENGTHS_TARGETS["frame_features"].bound == 1.15
    assert bench.LENGTHS_TARGETS["centroid+bandwidth"].bound == 1.15
    assert bench.LENGTHS_TARGETS["frame"].bound == 1.3
    with pytest.raises(ValueError, match="kind"):
        bench.Target("rms", "dot", "near", 1.0).holds(1.0)


def test_memory_target_is_twice_the_output_plus_8_mib():
    assert bench.memory_bound_mib(0.0) == 8.0
    assert bench.memory_bound_mib(0.5) == 9.0
    assert bench.memory_bound_mib(346.0) == 700.0
    assert bench.memory_holds(8.9, 0.5) and not bench.memory_holds(9.0, 0.5)  # strictly below
    assert bench.memory_holds(699.0, 346.0) and not bench.memory_holds(1040.0, 346.0)


# ---- geometry table -------------------------------------------------------------------------

def _geometry_result(N, H, audiofx, dot, librosa=None, memory=None, device="cpu"):
    """A result whose rounds are given per implementation (seconds per call)."""
    samples = {"audiofx": dict(enumerate(audiofx)), "dot": dict(enumerate(dot))}
    if librosa is not None:
        samples["librosa"] = librosa
    seconds = {k: float(np.median(list(v.values()))) for k, v in samples.items()}
    return bench.GeometryResult(device, N, H, seconds, samples, memory=memory)


def test_geometry_targets_per_geometry_from_paired_ratios():
    # (2048, 441): audiofx / dot per round 1.5, 1.5, 3 -> median 1.5 (holds), while a ratio of
    # medians would read 3e-3 / 1e-3 = 3; librosa / audiofx in rounds 0 and 2: 30, 20 -> 25.
    r = _geometry_result(2048, 441, audiofx=[3e-3, 3e-3, 3e-3], dot=[2e-3, 2e-3, 1e-3],
                         librosa={0: 0.09, 2: 0.06},
                         memory={"peak_mib": 1.0, "out_mib": 0.5})
    assert r.gcd == 1
    checks = {t.baseline: (v, ok) for t, v, ok in r.checks()}
    assert checks["dot"] == (pytest.approx(1.5), True)
    assert checks["librosa"] == (pytest.approx(25.0), True)
    assert r.memory_ok() is True and r.ok()
    # 19x librosa misses the 20x target; a peak of 9 MiB for 0.5 MiB of output misses 9 MiB.
    slow = _geometry_result(2048, 512, audiofx=[1e-3], dot=[1e-3], librosa={0: 0.019},
                            memory={"peak_mib": 9.0, "out_mib": 0.5})
    assert [ok for _, _, ok in slow.checks()] == [True, False]
    assert slow.memory_ok() is False and not slow.ok()
    # without librosa (CUDA) only the dot target is judged; an unmeasured memory is no miss;
    # a failed measurement is one
    cuda = _geometry_result(256, 300, audiofx=[2e-3], dot=[1e-3], device="cuda")
    assert [t.baseline for t, _, _ in cuda.checks()] == ["dot"]
    assert cuda.memory_ok() is None and cuda.ok()
    cuda.memory = {"error": "Killed"}
    assert not cuda.ok()


def test_geometry_table_formatting():
    good = _geometry_result(2048, 441, audiofx=[3e-3, 3e-3, 3e-3], dot=[2e-3, 2e-3, 1e-3],
                            librosa={0: 0.09, 2: 0.06}, memory={"peak_mib": 1.0, "out_mib": 0.5})
    good.librosa_choice = "loop over clips"
    bad = _geometry_result(256, 300, audiofx=[5e-3], dot=[1e-3], librosa={0: 0.05},
                           memory={"peak_mib": 20.0, "out_mib": 0.25})
    lines, ok = bench.geometry_table([good, bad])
    assert not ok
    assert lines[0] == ("| N, H | gcd | audiofx ms | librosa ms | dot ms | audiofx / dot <= 2x "
                        "| librosa / audiofx >= 20x | audiofx peak extra MiB (output MiB) "
                        "| < 2x output + 8 MiB | holds |")
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
    # librosa's median of 0.09 and 0.06 s is 75 ms; audiofx/dot 1.5x; librosa/audiofx 25x
    assert lines[2] == ("| 2048, 441 | 1 | 3.00 | 75.00 (loop) | 2.00 | 1.50x | 25.00x "
                        "| 1.0 (0.5) | yes (bound 9.0) | yes |")
    assert lines[3] == ("| 256, 300 | 4 | 5.00 | 50.00 | 1.00 | 5.00x NO | 10.00x NO "
                        "| 20.0 (0.2) | NO (bound 8.5) | NO |")
    body, ok = bench.geometry_lines([good], "256 clips x 4 s")
    assert ok and "Every target holds in 1 of 1 geometries on CPU." in body


def test_geometry_table_without_memory_or_librosa():
    r = _geometry_result(512, 128, audiofx=[1e-3], dot=[1e-3], device="cuda")
    lines, ok = bench.geometry_table([r])
    assert ok
    assert lines[0] == "| N, H | gcd | audiofx ms | dot ms | audiofx / dot <= 2x | holds |"
    assert lines[2] == "| 512, 128 | 128 | 1.00 | 1.00 | 1.00x | yes |"


def test_geometries_are_the_issue_12_set():
    assert set(bench.GEOMETRIES) >= {(2048, 512), (2048, 441), (1103, 441), (551, 220),
                                     (400, 160), (512, 128), (1024, 1024), (256, 300)}


# ---- lengths table --------------------------------------------------------------------------

@pytest.mark.parametrize("T", [1, 2, 5, 88200, 88201])
def test_random_lengths_cover_half_to_full_length(T):
    L = bench.random_lengths((4000,), T, seed=3)
    assert L.dtype == torch.int64 and L.shape == (4000,)
    lo = (T + 1) // 2  # ceil(T / 2)
    assert int(L.min()) >= lo and int(L.max()) <= T
    if T <= 5:  # every value of the range is drawn, both ends included
        assert set(L.tolist()) == set(range(lo, T + 1))
    assert torch.equal(L, bench.random_lengths((4000,), T, seed=3))


def test_random_lengths_shape_and_seed():
    assert bench.random_lengths((2, 3), 100).shape == (2, 3)
    assert bench.random_lengths((), 100).shape == ()
    a, b = bench.random_lengths((64,), 10**6, seed=0), bench.random_lengths((64,), 10**6, seed=1)
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="T must be"):
        bench.random_lengths((2,), 0)


def test_lengths_table_judges_each_op_on_its_bound():
    def result(op, plain, with_lengths):
        samples = {"plain": dict(enumerate(plain)), "lengths=": dict(enumerate(with_lengths))}
        seconds = {k: float(np.median(list(v.values()))) for k, v in samples.items()}
        return bench.LengthsResult("cpu", op, seconds, samples, (44100, 88200))

    # frame_features: per round 1.2, 1.1, 1.1 -> 1.1 (<= 1.15); stft: 1.25 (<= 1.3);
    # frame: 1.4 (> 1.3); centroid+bandwidth: 1.2 (> 1.15)
    rs = [result("frame_features", [1.0, 1.0, 2.0], [1.2, 1.1, 2.2]),
          result("stft", [0.4], [0.5]),
          result("frame", [0.1], [0.14]),
          result("centroid+bandwidth", [0.1], [0.12])]
    assert [r.ratio() for r in rs] == pytest.approx([1.1, 1.25, 1.4, 1.2])
    assert [r.ok() for r in rs] == [True, True, False, False]
    lines, ok = bench.lengths_table(rs)
    assert not ok
    assert lines[0] == ("| device | op (function) | plain ms | lengths= ms | lengths= / plain "
                        "| target | holds |")
    assert lines[2] == ("| cpu | frame_features (`frame_features`) | 1000 | 1200 | 1.10x "
                        "| <= 1.15x | yes |")
    assert lines[3] == "| cpu | stft (`stft`) | 400 | 500 | 1.25x | <= 1.3x | yes |"
    assert lines[4] == "| cpu | frame (`frame`) | 100 | 140 | 1.40x | <= 1.3x | NO |"
    assert lines[5] == ("| cpu | centroid+bandwidth (`spectral_features`) | 100 | 120 "
                        "| 1.20x | <= 1.15x | NO |")
    body, _ = bench.lengths_lines(rs, "256 clips x 4 s", (256, 88200))
    assert "[T/2, T] = [44100, 88200]" in body[0]
    assert "The target holds for 2 of 4 (device, op) pairs." in body


# ---- sections of a partial run --------------------------------------------------------------

def _doc(*sections):
    return "\n".join(["# head", ""] + [ln for name, body in sections
                                        for ln in bench.report.wrap_section(name, [body]) + [""]])


def test_merge_sections_replaces_inserts_and_appends():
    old = _doc(("ops", "old ops"), ("lengths", "old lengths"), ("cuda", "old cuda"))
    new = _doc(("geometry", "new geometry"), ("lengths", "new lengths"))
    merged = bench.merge_sections(old, new, ["geometry", "lengths"])
    # lengths replaced in place, geometry inserted after ops (its predecessor), the rest kept
    assert merged == _doc(("ops", "old ops"), ("geometry", "new geometry"),
                          ("lengths", "new lengths"), ("cuda", "old cuda"))
    # no earlier section in the old file: before the first later one
    old = _doc(("sweep", "old sweep"))
    merged = bench.merge_sections(old, _doc(("ops", "new ops")), ["ops"])
    assert merged.index("new ops") < merged.index("old sweep")
    # nothing to anchor to: appended; a section the new text lacks is left alone
    merged = bench.merge_sections("# head\n", _doc(("cuda", "new cuda")), ["cuda", "ops"])
    assert merged.startswith("# head\n") and merged.rstrip().endswith("<!-- /bench:cuda -->")
    assert "bench:ops" not in merged


def test_only_selects_sections_in_document_order():
    p = argparse.ArgumentParser()
    bench.add_arguments(p, "x.png", "R.md")
    args = p.parse_args(["--only", "lengths,geometry"])
    assert bench.selected_sections(args) == ["geometry", "lengths"]
    args = p.parse_args(["--no-sweep"])
    assert bench.selected_sections(args) == ["ops", "geometry", "lengths", "cuda"]
    with pytest.raises(SystemExit):
        p.parse_args(["--only", "geometry,speed"])
    assert p.parse_args(["--devices", "cuda"]).devices == ["cuda"]


# ---- tiny real runs -------------------------------------------------------------------------

def test_geometry_run_on_a_small_batch():
    """Two geometries (coprime; H > N) on 2 clips of 0.2 s: every implementation timed, audiofx
    equal to librosa, one memory measurement, a table row per geometry."""
    pytest.importorskip("librosa")
    geos = ((441, 220), (64, 100))
    rs = bench.run_geometry((2, 4410), repeats=1, geometries=geos, memory=False,
                            min_span_s=0.0, log=lambda m: None)
    assert [(r.frame_length, r.hop_length) for r in rs] == list(geos)
    for r in rs:
        assert set(r.seconds) == {"audiofx", "librosa", "torch", "dot"}
        assert r.err_vs_librosa < 1e-5
        assert len(r.checks()) == 2
    rs += bench.run_geometry((2, 4410), repeats=1, geometries=((256, 64),), memory=True,
                             with_librosa=False, min_span_s=0.0, log=lambda m: None)
    assert "error" not in rs[-1].memory and rs[-1].memory["out_mib"] > 0
    body, _ = bench.geometry_lines(rs, "2 clips x 0.2 s")
    rows = [ln for ln in body if ln.startswith("| 441, 220 |") or ln.startswith("| 64, 100 |")
            or ln.startswith("| 256, 64 |")]
    assert len(rows) == 3


def test_lengths_run_on_a_small_batch():
    rs = bench.run_lengths((3, 4000), repeats=1, frame_length=256, hop_length=64,
                           min_span_s=0.0, log=lambda m: None)
    assert [r.op for r in rs] == list(bench.LENGTHS_OPS)
    for r in rs:
        assert set(r.seconds) == {"plain", "lengths="} and r.ratio() > 0
        assert 2000 <= r.span[0] <= r.span[1] <= 4000
    lines, _ = bench.lengths_table(rs)
    assert len(lines) == 2 + len(bench.LENGTHS_OPS)


def test_only_lengths_merges_into_an_existing_results_file(tmp_path, capsys):
    path = tmp_path / "RESULTS.md"
    path.write_text(_doc(("ops", "kept ops"), ("lengths", "old lengths")))
    rc = bench.main(["--only", "lengths", "--batch", "1", "--devices", "cpu", "--repeats", "1",
                     "--quiet", "--write-results", str(path)])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    assert "## Variable-length rows" in out and "| cpu | stft (`stft`) |" in out
    text = path.read_text()
    assert "kept ops" in text and "old lengths" not in text
    assert "a run of some sections only" in text and "| cpu | frame (`frame`) |" in text


def test_loss_section_is_opt_in_and_runs_on_a_small_batch():
    p = argparse.ArgumentParser()
    bench.add_arguments(p, "x.png", "R.md")
    assert "loss" not in bench.selected_sections(p.parse_args([]))
    assert "loss" in bench.selected_sections(p.parse_args(["--full"]))
    assert bench.selected_sections(p.parse_args(["--only", "loss"])) == ["loss"]
    r = bench.run_loss((2, 4000), repeats=1, min_span_s=0.0, log=lambda m: None)
    assert set(r.seconds) == {"audiofx", "torch.stft", "audiofx forward", "torch.stft forward"}
    assert r.ratio() > 0 and r.rel_err < 1e-4  # float32: the same loss and gradient
    lines, ok = bench.loss_lines([r], "2 clips x 0.18 s")
    (row,) = [ln for ln in lines if ln.startswith("| cpu |")]
    assert row.count("|") == 10 and ok == bench.LOSS_TARGET.holds(r.ratio())
