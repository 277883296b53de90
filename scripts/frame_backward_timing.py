"""Backward of rms and frame_features on the CPU against the x.clone() floor (issue 13).

Interleaved medians of: x.clone(); the autograd backward (frame_features_backward, one pass);
today's torch formulas of audiofx/_autograd.py (overlap_add + frame_argmax), i.e. main's backward.
    python scripts/frame_backward_timing.py [--threads 2] [--reps 15]
"""
import argparse
import statistics
import time
from types import SimpleNamespace

import torch

import audiofx as afx
from audiofx import _autograd


def _timeit(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    N, H = 2048, 512
    print(f"threads={args.threads}, float32, N={N}, H={H}, center=True constant; medians (ms)")
    print("| x | op | clone | backward (new) | new / clone | today's formulas | today / clone |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for shape in ((256, 88200), (2048, 441)):
        x = torch.randn(*shape).requires_grad_()
        ctx = SimpleNamespace(frame_args=(N, H, True, "constant"), length=shape[-1], lengths=None)
        r = afx.rms(x, N, H)
        w = torch.randn_like(r)
        ae, r2, z = afx.frame_features(x, N, H)
        w2 = torch.randn(*r2.shape, 3)
        cases = {
            "rms": (lambda: torch.autograd.grad((r * w).sum(), x, retain_graph=True),
                    lambda: _autograd._rms_grad(x.detach(), r.detach(), w, ctx)),
            "frame_features": (
                lambda: torch.autograd.grad(
                    (ae * w2[..., 0] + r2 * w2[..., 1] + z * w2[..., 2]).sum(), x,
                    retain_graph=True),
                lambda: _autograd._peak_grad(
                    x.detach(), w2[..., 0], ctx, False,
                    into=_autograd._rms_grad(x.detach(), r2.detach(), w2[..., 1], ctx))),
        }
        for name, (new, old) in cases.items():
            ts = {"clone": [], "new": [], "old": []}
            with torch.no_grad():
                pass
            for _ in range(3):
                x.detach().clone(); new()
                with torch.no_grad():
                    old()
            for _ in range(args.reps):
                ts["clone"].append(_timeit(lambda: x.detach().clone()))
                ts["new"].append(_timeit(new))
                with torch.no_grad():
                    ts["old"].append(_timeit(old))
            m = {k: statistics.median(v) * 1e3 for k, v in ts.items()}
            print(f"| {tuple(shape)} | {name} | {m['clone']:.1f} | {m['new']:.1f} | "
                  f"{m['new'] / m['clone']:.2f}x | {m['old']:.1f} | {m['old'] / m['clone']:.1f}x |")


if __name__ == "__main__":
    main()
