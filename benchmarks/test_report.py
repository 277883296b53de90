"""The report machinery of audiofx.bench: the workload signal, the agreement measure, the
per-clip stacking of librosa's loop, the peak-memory subprocess and one small report run."""
from __future__ import annotations

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
    rc = bench.main(["--ops", "rms", "--repeats", "1", "--no-librosa", "--no-memory",
                     "--no-sweep", "--quiet"])
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

