"""Cost of the backward relative to the forward, on the DESIGN.md §6 batch.

    python -m benchmarks.backward_cost [--repeats 3] [--rows 256]

For rms, frame_features (ae + rms + zcr) and spectral_features (centroid + bandwidth) on the
float32 batch (256 x 88200, N = n_fft = 2048, H = 512, center=True): the forward without grad,
and the backward alone (``loss.backward()`` after a forward with ``requires_grad``, loss = the
sum of the outputs weighted by fixed random numbers), interleaved over ``repeats`` rounds,
medians reported. Prints a markdown table: forward ms, backward ms, backward / forward.

The spectral backward materialises the frames and their spectrum (in float64 on CPU, as the
forward computes) where the forward never holds more than a chunk: expect several GB of peak
memory for the full batch; ``--rows`` shrinks it.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import audiofx as afx
from benchmarks import FRAME_LENGTH, HOP_LENGTH, SR, WORKLOADS, make_signal

N, H = FRAME_LENGTH, HOP_LENGTH

FEATURES = {
    "rms": lambda x: (afx.rms(x, N, H),),
    "frame_features": lambda x: tuple(afx.frame_features(x, N, H)),
    "spectral_features": lambda x: tuple(
        afx.spectral_features(x, sr=SR, n_fft=N, hop_length=H).values()),
}


def _forward(f, x):
    with torch.no_grad():
        t0 = time.perf_counter()
        f(x)
        return time.perf_counter() - t0


def _backward(f, x, weights):
    xg = x.detach().requires_grad_()
    outs = f(xg)
    loss = sum((o * w).sum() for o, w in zip(outs, weights))
    t0 = time.perf_counter()
    loss.backward()
    dt = time.perf_counter() - t0
    assert xg.grad is not None and xg.grad.shape == x.shape
    return dt


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=256)
    args = parser.parse_args(argv)
    rows, T = WORKLOADS["256 clips x 4 s"]
    x = make_signal((min(rows, args.rows), T))
    print(f"x: {tuple(x.shape)} {x.dtype}, threads {torch.get_num_threads()}, "
          f"repeats {args.repeats}")
    g = torch.Generator().manual_seed(0)
    rows = []
    for name, f in FEATURES.items():
        with torch.no_grad():
            weights = [torch.rand(o.shape, generator=g, dtype=o.dtype) for o in f(x)]
        _backward(f, x, weights)  # warm-up
        fwd, bwd = [], []
        for _ in range(args.repeats):
            fwd.append(_forward(f, x))
            bwd.append(_backward(f, x, weights))
        fm, bm = statistics.median(fwd) * 1e3, statistics.median(bwd) * 1e3
        rows.append((name, fm, bm))
    print("| op | forward ms | backward ms | backward / forward |")
    print("|---|---:|---:|---:|")
    for name, fm, bm in rows:
        print(f"| {name} | {fm:.1f} | {bm:.1f} | {bm / fm:.1f}x |")


if __name__ == "__main__":
    main()
