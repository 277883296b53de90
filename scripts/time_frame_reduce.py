"""Time torch.ops.audiofx.frame_features against the dot floor on every frame/hop geometry.

CPU, float32, the 256 x 4 s batch at 22.05 kHz, centre=True constant padding, by default 2
threads. For each (N, H): the plain op, the op with per-row lengths (random in [T/2, T]) and
`torch.dot(x, x)` over the batch (audiofx.bench.dot_floor), interleaved round by round; the table
gives medians and the ratios taken within each round (paired, so that a slow phase of the shared
machine scales both sides of a ratio); `--cpu-time` gives single-thread CPU-time minima instead. Run from the repository root:

    PYTHONPATH=. python scripts/time_frame_reduce.py [--rounds 40] [--threads 2]
"""
import argparse
import statistics
import time

import torch

import audiofx  # noqa: F401  (loads the ops)
from audiofx.bench import dot_floor

GEOMETRIES = [(2048, 512), (2048, 441), (1103, 441), (551, 220), (400, 160), (512, 128),
              (1024, 1024), (256, 300)]


def time_rounds(impls, rounds, clock=time.perf_counter, min_sample_s=0.02):
    inner = {}
    for k, fn in impls.items():
        t0 = time.perf_counter()
        fn()
        inner[k] = max(1, int(min_sample_s / max(time.perf_counter() - t0, 1e-6)) + 1)
    samples = {k: [] for k in impls}
    for _ in range(rounds):
        for k, fn in impls.items():
            t0 = clock()
            for _ in range(inner[k]):
                fn()
            samples[k].append((clock() - t0) / inner[k])
    return samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--cpu-time", action="store_true",
                    help="1 thread, time.thread_time() and the minimum per implementation: on a "
                         "loaded machine, time spent waiting for a core is not counted")
    args = ap.parse_args()
    if args.cpu_time:
        args.threads = 1
    clock = time.thread_time if args.cpu_time else time.perf_counter
    stat = min if args.cpu_time else statistics.median
    torch.set_num_threads(args.threads)
    T = int(22050 * args.seconds)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.rows, T, generator=g)
    lengths = torch.randint(T // 2, T + 1, (args.rows,), generator=g)
    op = torch.ops.audiofx.frame_features
    print(f"audiofx {audiofx.__file__}, isa {audiofx._ops.cpu_isa()}, threads {args.threads}, "
          f"x {tuple(x.shape)} float32, {args.rounds} rounds, "
          f"{'min CPU time' if args.cpu_time else 'median wall time'}")
    print("| N, H | dot ms | plain ms | plain / dot | lengths ms | lengths / dot | "
          "lengths / plain |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for N, H in GEOMETRIES:
        impls = {
            "dot": lambda: dot_floor(x),
            "plain": lambda: op(x, N, H, True, "constant", "edge", False, 1e-10, True, None),
            "lengths": lambda: op(x, N, H, True, "constant", "edge", False, 1e-10, True,
                                  lengths),
        }
        s = time_rounds(impls, args.rounds, clock)
        med = {k: stat(v) * 1e3 for k, v in s.items()}

        def paired(a, b):
            if args.cpu_time:
                return min(s[a]) / min(s[b])
            return statistics.median(p / q for p, q in zip(s[a], s[b]))

        print(f"| {N}, {H} | {med['dot']:.2f} | {med['plain']:.2f} | "
              f"{paired('plain', 'dot'):.2f} | {med['lengths']:.2f} | "
              f"{paired('lengths', 'dot'):.2f} | {paired('lengths', 'plain'):.2f} |", flush=True)


if __name__ == "__main__":
    main()
