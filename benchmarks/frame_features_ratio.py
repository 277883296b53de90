"""The frame-feature ratios of DESIGN.md §6, measured in one process.

    python -m benchmarks.frame_features_ratio [--repeats 7] [--workload batch|long|both]

For each workload (256 clips x 4 s, one 60 s clip; float32, N=2048, H=512, center=True) the four
implementations (audiofx.frame_features, librosa rms + zcr + per-frame max, plain torch pad +
unfold, and the memory floor torch.dot(x, x)) are timed interleaved: one warm-up call each, then
``repeats`` rounds that take one sample of each implementation in turn (time.perf_counter; a fast
one is called several times back to back per sample, see time_interleaved), reporting medians
per call, so that machine load drifts hit all of them alike. The torch-unfold and audiofx results are checked
against librosa first. Prints a markdown table: median ms, and audiofx vs librosa (target >= 50x
faster), vs plain torch (>= 3x faster), vs dot (within 2x, i.e. audiofx / dot <= 2).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

from benchmarks import (
    audiofx_frame_features,
    batch_signal,
    dot_floor,
    librosa_frame_features,
    long_signal,
    torch_frame_features,
)

FEATURES = ("ae", "rms", "zcr")
TARGET_VS_LIBROSA = 50.0
TARGET_VS_TORCH = 3.0
TARGET_VS_DOT = 2.0


def max_rel_err(a, ref) -> float:
    """max |a - ref| / |ref| elementwise, with |ref| floored at 1e-6 of the feature's peak
    (silent frames have rms/zcr 0)."""
    a = a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    ref = np.asarray(ref, dtype=np.float64)
    assert a.shape == ref.shape, (a.shape, ref.shape)
    floor = max(float(np.abs(ref).max()) * 1e-6, np.finfo(np.float32).tiny)
    return float(np.max(np.abs(a.astype(np.float64) - ref) / np.maximum(np.abs(ref), floor)))


def check_agreement(name: str, y: np.ndarray, x: torch.Tensor) -> dict:
    ref = librosa_frame_features(y)
    errs = {}
    for impl, out in (("audiofx", audiofx_frame_features(x)), ("torch", torch_frame_features(x))):
        errs[impl] = {f: max_rel_err(o, r) for f, o, r in zip(FEATURES, out, ref)}
    for impl, e in errs.items():
        print(f"[{name}] {impl} vs librosa, max relative error: "
              + ", ".join(f"{f} {v:.1e}" for f, v in e.items()))
    return errs


def time_interleaved(impls: dict, repeats: int, min_sample_s: float = 0.02) -> dict:
    """Median ms per call of each implementation. One warm-up call each, which also sizes the
    sample: a fast implementation is called ``n`` times back to back per sample (n such that a
    sample lasts >= ``min_sample_s``), so that timer resolution and one-off hiccups do not decide
    the median of a 0.1 ms call. Then ``repeats`` rounds, each taking one sample of every
    implementation in turn."""
    inner = {}
    for k, fn in impls.items():  # warm-up (allocator, thread pool, caches, lazy imports)
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        inner[k] = max(1, min(1000, math.ceil(min_sample_s / max(dt, 1e-7))))
    times = {k: [] for k in impls}
    for _ in range(repeats):
        for k, fn in impls.items():
            n = inner[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[k].append((time.perf_counter() - t0) / n)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def run(workloads, repeats: int):
    rows = []
    load = os.getloadavg()[0]
    for name, make in workloads:
        y = make()
        x = torch.from_numpy(y)
        errs = check_agreement(name, y, x)
        ms = time_interleaved({
            "audiofx": lambda: audiofx_frame_features(x),
            "librosa": lambda: librosa_frame_features(y),
            "torch": lambda: torch_frame_features(x),
            "dot": lambda: dot_floor(x),
        }, repeats)
        rows.append((name, tuple(y.shape), ms, errs, load))
    return rows


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_table(rows, repeats: int):
    print()
    print(f"Frame features (ae + rms + zcr), float32, N=2048, H=512, center=True; "
          f"median of {repeats} interleaved runs, torch threads: {torch.get_num_threads()}, "
          f"load average before: {rows[0][4]:.2f}, after: {os.getloadavg()[0]:.2f}")
    print()
    print("| workload | shape | audiofx ms | librosa ms | torch unfold ms | dot ms | "
          f"librosa / audiofx (>= {TARGET_VS_LIBROSA:g}x) | torch / audiofx (>= {TARGET_VS_TORCH:g}x) "
          f"| audiofx / dot (<= {TARGET_VS_DOT:g}x) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, shape, ms, _, _ in rows:
        vs_lib = ms["librosa"] / ms["audiofx"]
        vs_torch = ms["torch"] / ms["audiofx"]
        vs_dot = ms["audiofx"] / ms["dot"]
        print(f"| {name} | {shape} | {ms['audiofx']:.2f} | {ms['librosa']:.1f} | {ms['torch']:.1f} "
              f"| {ms['dot']:.2f} | {vs_lib:.0f}x {_mark(vs_lib >= TARGET_VS_LIBROSA)} "
              f"| {vs_torch:.0f}x {_mark(vs_torch >= TARGET_VS_TORCH)} "
              f"| {vs_dot:.2f}x {_mark(vs_dot <= TARGET_VS_DOT)} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds per implementation")
    ap.add_argument("--workload", choices=("batch", "long", "both"), default="both")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default: torch's, one per core)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cores:
        print(f"warning: load average {load:.2f} on {cores} cores: other processes compete for "
              f"the cores, and multithreaded ops (audiofx, torch, dot) suffer most (their threads "
              f"wait for each other at barriers): the ratios are unreliable")
    workloads = []
    if args.workload in ("batch", "both"):
        workloads.append(("256 clips x 4 s", batch_signal))
    if args.workload in ("long", "both"):
        workloads.append(("one 60 s clip", long_signal))
    rows = run(workloads, args.repeats)
    print_table(rows, args.repeats)


if __name__ == "__main__":
    main()
