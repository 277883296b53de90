"""The ``audiofx`` command.

Subcommands live with the code they drive: each module in ``SUBCOMMAND_MODULES`` exposes
``add_subcommands(subparsers)``, which adds its parsers and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning the exit status). Modules import their heavy
dependencies inside ``func``, so ``audiofx --help`` stays fast.

``audiofx demo``: computes the frame features (amplitude envelope, RMS, zero-crossing rate) of a
built-in signal batch made in code (chirps, tones, noise bursts and silence: nothing is
downloaded), checks them against librosa and prints the agreement and the speedup.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time

import numpy as np
import torch

import audiofx


def demo_signals(batch: int = 32, seconds: float = 4.0, sr: int = 22050,
                 seed: int = 0) -> np.ndarray:
    """A deterministic ``(batch, seconds*sr)`` float32 batch in [-1, 1].

    Each clip: a linear chirp (100 Hz to a random top frequency), a steady tone with harmonics, a
    burst of white noise and a stretch of exact silence, at random levels, so that the envelope,
    RMS and zero-crossing rate all vary over time.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    out = np.zeros((batch, n), dtype=np.float64)
    for b in range(batch):
        f1 = rng.uniform(2000, 8000)
        chirp = np.sin(2 * np.pi * (100 * t + (f1 - 100) * t**2 / (2 * seconds)))
        f0 = rng.uniform(110, 440)
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
        x = 0.5 * chirp * (t < seconds / 2) + 0.3 * tone * (t >= seconds / 2)
        a = rng.integers(0, n // 2)
        x[a:a + n // 8] += rng.uniform(0.05, 0.4) * rng.standard_normal(len(x[a:a + n // 8]))
        s = rng.integers(0, n - n // 10)
        x[s:s + n // 10] = 0.0
        out[b] = np.clip(x * rng.uniform(0.2, 1.0), -1, 1)
    return out.astype(np.float32)


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up: first-call costs (thread pool, page faults) are not the steady state
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.max(np.abs(ref))) or 1.0
    return float(np.max(np.abs(a.astype(np.float64) - ref.astype(np.float64)))) / scale


def run_demo(args: argparse.Namespace) -> int:
    try:
        import librosa
    except ImportError:  # pragma: no cover - librosa is a test/demo dependency
        print("audiofx demo needs librosa: pip install librosa", file=sys.stderr)
        return 2
    N, H = args.frame_length, args.hop_length
    y = demo_signals(args.batch, args.seconds, args.sr)
    x = torch.from_numpy(y)
    print(f"audiofx {audiofx.__version__} demo: {args.batch} clips x {args.seconds:g} s at "
          f"{args.sr} Hz, float32, frame_length={N}, hop_length={H}, center=True")

    ae, rms, zcr = audiofx.frame_features(x, N, H)
    pad = [(0, 0), (N // 2, N // 2)]
    ref_rms = librosa.feature.rms(y=y, frame_length=N, hop_length=H)[:, 0]
    ref_zcr = librosa.feature.zero_crossing_rate(y, frame_length=N, hop_length=H)[:, 0]
    ref_ae = librosa.util.frame(np.pad(y, pad), frame_length=N, hop_length=H).max(axis=-2)

    print("\nagreement with librosa (max |audiofx - librosa| / max |librosa|):")
    rows = [
        ("amplitude envelope", _rel_err(ae.numpy(), ref_ae), "exact max of samples"),
        ("rms", _rel_err(rms.numpy(), ref_rms), "float32 rounding; librosa sums in float32"),
        ("zero-crossing rate", _rel_err(zcr.numpy(), ref_zcr), "exact crossing counts"),
    ]
    for name, err, why in rows:
        print(f"  {name:<20} {err:.2e}   ({why})")
    ok = rows[0][1] == 0.0 and rows[1][1] <= 2e-5 and rows[2][1] <= 1e-7

    def librosa_features():
        librosa.feature.rms(y=y, frame_length=N, hop_length=H)
        librosa.feature.zero_crossing_rate(y, frame_length=N, hop_length=H)
        librosa.util.frame(np.pad(y, pad), frame_length=N, hop_length=H).max(axis=-2)

    t_afx = _median_time(lambda: audiofx.frame_features(x, N, H), args.repeats)
    t_lib = _median_time(librosa_features, max(1, args.repeats // 3))
    audio_s = args.batch * args.seconds
    print(f"\ntime (median, {torch.get_num_threads()} threads):")
    print(f"  audiofx.frame_features  {t_afx * 1e3:9.2f} ms  ({audio_s / t_afx:,.0f} s of audio/s)")
    print(f"  librosa rms+zcr+max     {t_lib * 1e3:9.2f} ms  ({audio_s / t_lib:,.0f} s of audio/s)")
    print(f"  speedup                 {t_lib / t_afx:9.1f}x")
    print("\nresult: " + ("features agree with librosa" if ok else "MISMATCH with librosa"))
    return 0 if ok else 1


#: Modules that add subcommands (``add_subcommands(subparsers)``), in ``--help`` order.
SUBCOMMAND_MODULES: tuple = ()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="audiofx", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="frame features of a built-in signal, checked against librosa")
    d.add_argument("--batch", type=int, default=32, help="clips in the batch (default 32)")
    d.add_argument("--seconds", type=float, default=4.0, help="clip length in s (default 4)")
    d.add_argument("--sr", type=int, default=22050, help="sample rate in Hz (default 22050)")
    d.add_argument("--frame-length", type=int, default=2048)
    d.add_argument("--hop-length", type=int, default=512)
    d.add_argument("--repeats", type=int, default=9, help="timed repeats (default 9)")
    d.set_defaults(func=run_demo)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_subcommands(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("batch", "sr", "frame_length", "hop_length", "repeats"):
        if getattr(args, name, 1) < 1:
            print(f"audiofx: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    if getattr(args, "seconds", 1) <= 0:
        print("audiofx: --seconds must be > 0", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
