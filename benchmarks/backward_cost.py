"""Cost of the backward relative to the forward, on the DESIGN.md §6 batch (issue 13).

    python -m benchmarks.backward_cost [--repeats 5] [--rows 256] [--ops stft_abs,...] [--no-memory]

For rms, frame_features (ae + rms + zcr), spectral_features (centroid + bandwidth) and
``stft(x).abs()`` on the float32 batch (256 x 88200, N = n_fft = 2048, H = 512, center=True),
interleaved over ``repeats`` rounds (one sample of everything per round, so that the machine's
load drifts hit every column alike), medians reported:

- forward: the op without grad (and "with grad": the same call on an ``x`` that requires grad,
  plus the loss);
- backward: ``loss.backward()`` alone, after a forward with ``requires_grad`` (loss = the sum of
  the outputs weighted by fixed random numbers);
- (fwd+bwd)/fwd: a training step (forward with grad, then backward) over the forward without
  grad, the ratio issue 13 bounds (<= 3x for spectral_features and stft);
- ``x.clone()``: the floor of any backward, which must write a gradient the size of ``x``.

Then the spectral backward's peak extra memory: the resident-set high-water mark of
``loss.backward()`` in a fresh subprocess (after the forward), beside the gradient's own size
and the forward's output.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
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
    "stft_abs": lambda x: (afx.stft(x, N, H).abs(),),
}


def _weights(f, x, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return [torch.rand(o.shape, generator=g, dtype=o.dtype) for o in f(x)]


def _forward(f, x):
    with torch.no_grad():
        t0 = time.perf_counter()
        f(x)
        return time.perf_counter() - t0


def _step(f, x, weights):
    """(forward with grad + loss, backward) seconds of one training step."""
    xg = x.detach().requires_grad_()
    t0 = time.perf_counter()
    outs = f(xg)
    loss = sum((o * w).sum() for o, w in zip(outs, weights))
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    assert xg.grad is not None and xg.grad.shape == x.shape
    return t1 - t0, t2 - t1


def _clone(x):
    t0 = time.perf_counter()
    x.clone()
    return time.perf_counter() - t0


def _rss_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def peak_child(rows: int) -> dict:
    """In a fresh process: the spectral_features forward with grad, then the RSS high-water mark
    of ``loss.backward()`` alone (reset after the forward): peak extra MiB, and the sizes of the
    gradient and of the forward's output."""
    shape = (rows, WORKLOADS["256 clips x 4 s"][1])
    x = make_signal(shape).requires_grad_()
    f = FEATURES["spectral_features"]
    weights = _weights(f, x.detach())
    outs = f(x)
    loss = sum((o * w).sum() for o, w in zip(outs, weights))
    out_bytes = sum(o.numel() * o.element_size() for o in outs)
    before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM to the current RSS
        fh.write("5")
    loss.backward()
    peak = _rss_kib("VmHWM") - before
    return {"peak_mib": peak / 1024.0, "grad_mib": x.grad.numel() * x.grad.element_size() / 2**20,
            "out_mib": out_bytes / 2**20}


def peak_memory(rows: int, threads: int) -> dict:
    code = ("import json, torch; torch.set_num_threads(%d); "
            "from benchmarks.backward_cost import peak_child; "
            "print(json.dumps(peak_child(%d)))" % (threads, rows))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=root, timeout=900)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--ops", default=",".join(FEATURES),
                        help="comma-separated subset of " + ", ".join(FEATURES))
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory run")
    args = parser.parse_args(argv)
    names = [n for n in args.ops.split(",") if n]
    rows_, T = WORKLOADS["256 clips x 4 s"]
    x = make_signal((min(rows_, args.rows), T))
    print(f"x: {tuple(x.shape)} {x.dtype}, threads {torch.get_num_threads()}, "
          f"repeats {args.repeats}")
    weights = {name: _weights(FEATURES[name], x) for name in names}
    for name in names:  # warm-up: allocator, FFT plans, thread pool
        _forward(FEATURES[name], x)
        _step(FEATURES[name], x, weights[name])
    samples = {name: {"fwd": [], "fwd_grad": [], "bwd": [], "step": []} for name in names}
    clones = []
    for _ in range(args.repeats):
        clones.append(_clone(x))
        for name in names:
            f = FEATURES[name]
            samples[name]["fwd"].append(_forward(f, x))
            fg, bw = _step(f, x, weights[name])
            samples[name]["fwd_grad"].append(fg)
            samples[name]["bwd"].append(bw)
            samples[name]["step"].append(fg + bw)
    clone_ms = statistics.median(clones) * 1e3
    print("| op | forward ms | forward with grad ms | backward ms | (fwd+bwd) / fwd | x.clone() ms "
          "| backward / clone |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        s = samples[name]
        # The ratio within each round, then the median: load drifts between rounds cancel.
        ratio = statistics.median(st / fw for st, fw in zip(s["step"], s["fwd"]))
        fm, bm = statistics.median(s["fwd"]) * 1e3, statistics.median(s["bwd"]) * 1e3
        gm = statistics.median(s["fwd_grad"]) * 1e3
        print(f"| {name} | {fm:.1f} | {gm:.1f} | {bm:.1f} | {ratio:.2f}x | {clone_ms:.1f} | "
              f"{bm / clone_ms:.1f}x |")
    if args.no_memory or "spectral_features" not in names:
        return
    m = peak_memory(min(rows_, args.rows), torch.get_num_threads())
    if "error" in m:
        print(f"\nspectral backward peak memory: failed ({m['error']})")
        return
    print(f"\nspectral_features backward, peak extra memory (RSS high-water mark, fresh process): "
          f"{m['peak_mib']:.1f} MiB; its gradient dL/dx {m['grad_mib']:.1f} MiB, the forward's "
          f"output {m['out_mib']:.2f} MiB (2 x gradient + 64 MiB = "
          f"{2 * m['grad_mib'] + 64:.1f} MiB)")


if __name__ == "__main__":
    main()
