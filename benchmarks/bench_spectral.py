"""DESIGN §6, spectral statistics on the CPU: centroid + bandwidth of the 256 x 4 s float32 batch
(sr 22050, n_fft 2048, hop 512) by

* ``audiofx.spectral_features`` (chunked: frames, window, rfft and reduce per L2-sized chunk),
* the plain torch path: ``torch.stft(...).abs()`` then torch reductions,
* librosa: ``spectral_centroid`` + ``spectral_bandwidth`` on the multichannel array (two STFTs),
* the compute floor: one bare batched ``torch.fft.rfft`` of the same 44,288 frames (materialised
  beforehand, not timed).

Each is warmed up once, then timed ``--repeat`` times; the table gives every run and the median,
and the ratios of the medians. Timings on a shared machine are noisy: compare within one run.

    python benchmarks/bench_spectral.py [--repeat 3] [--no-librosa]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import audiofx as afx

SR, N_FFT, HOP = 22050, 2048, 512


def torch_plain(x: torch.Tensor):
    """Centroid and bandwidth (p=2) with torch.stft(...).abs() and torch reductions."""
    w = torch.hann_window(N_FFT, dtype=x.dtype)
    S = torch.stft(x, N_FFT, HOP, window=w, center=True, pad_mode="constant",
                   return_complex=True).abs()
    freq = torch.fft.rfftfreq(N_FFT, 1.0 / SR, dtype=x.dtype)[:, None]
    total = S.sum(-2, keepdim=True)
    Sn = S / torch.where(total < torch.finfo(x.dtype).tiny, torch.ones_like(total), total)
    c = (freq * Sn).sum(-2, keepdim=True)
    b = (Sn * (freq - c).square()).sum(-2).sqrt()
    return c[..., 0, :], b


def timed(fn, repeat: int):
    fn()  # warm-up (plans, page faults of first allocations)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--no-librosa", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.batch, 88200, dtype=torch.float32)
    padded = torch.nn.functional.pad(x, (N_FFT // 2, N_FFT // 2))
    frames = padded.unfold(-1, N_FFT, HOP).contiguous()  # (256, 173, 2048), the same frames
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, x {tuple(x.shape)} "
          f"float32, {frames.shape[0] * frames.shape[1]} frames of {N_FFT}")

    cases = {
        "audiofx.spectral_features": lambda: afx.spectral_features(
            x, sr=SR, n_fft=N_FFT, hop_length=HOP, features=("centroid", "bandwidth")),
        "torch.stft().abs() + reductions": lambda: torch_plain(x),
        "bare torch.fft.rfft(frames)": lambda: torch.fft.rfft(frames),
    }
    if not args.no_librosa:
        import librosa

        xn = x.numpy()

        def librosa_both():
            librosa.feature.spectral_centroid(y=xn, sr=SR, n_fft=N_FFT, hop_length=HOP)
            librosa.feature.spectral_bandwidth(y=xn, sr=SR, n_fft=N_FFT, hop_length=HOP)

        cases["librosa centroid + bandwidth"] = librosa_both

    med = {}
    for name, fn in cases.items():
        runs = timed(fn, args.repeat)
        med[name] = statistics.median(runs)
        print(f"{name:34s} median {med[name] * 1e3:8.1f} ms   runs "
              + " ".join(f"{r * 1e3:.0f}" for r in runs))
    ours = med["audiofx.spectral_features"]
    print("ratios (median / audiofx.spectral_features):")
    for name, m in med.items():
        print(f"  {name:34s} {m / ours:6.2f}x")

    # Agreement of the three implementations on this batch (float32).
    got = afx.spectral_features(x, sr=SR, n_fft=N_FFT, hop_length=HOP)
    c, b = torch_plain(x)
    print(f"max rel diff vs torch path: centroid "
          f"{((got['centroid'] - c).abs().max() / c.abs().max()).item():.2e}, bandwidth "
          f"{((got['bandwidth'] - b).abs().max() / b.abs().max()).item():.2e}")


if __name__ == "__main__":
    main()
