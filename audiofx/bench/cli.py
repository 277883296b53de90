"""The command-line face of the report: ``audiofx bench`` and ``python -m benchmarks.report``."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional

import torch

from .cuda import run_cuda
from .implementations import OPS, librosa_module
from .op_results import run_memory, run_ops
from .report import build_report, cuda_section, ops_section, sweep_section
from .size_sweep import SWEEP_BATCHES, SWEEP_LENGTHS_S, plot_sweep, run_sweep
from .workloads import BATCH_WORKLOAD, WORKLOADS

def run(args) -> int:
    """Runs the report (see :mod:`audiofx.bench`); returns 0 when every §6 target holds."""
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    log = ((lambda *a, **k: None) if args.quiet
           else (lambda m: print(m, file=sys.stderr, flush=True)))
    if load > 0.5 * cores:
        log(f"warning: load average {load:.2f} on {cores} cores: other processes compete for the "
            f"cores; multithreaded implementations suffer most, so the ratios are unreliable")
    with_librosa = librosa_module() is not None and not args.no_librosa
    parts = {}

    ops = tuple(args.ops) if args.ops else OPS
    log("timing the ops on the DESIGN §6 workloads ...")
    results = run_ops(ops, WORKLOADS, args.repeats, with_librosa, log)
    if not args.no_memory:
        log("peak memory per call, one subprocess each ...")
        mem_ops = [o for o in ("frame_features", "centroid+bandwidth", "stft") if o in ops]
        impls = ("audiofx", "librosa", "torch")
        run_memory(results, mem_ops, impls, BATCH_WORKLOAD, log)
        if args.full:
            run_memory(results, mem_ops, impls, "one 60 s clip", log)
    parts["ops"], ok = ops_section(results)

    if not args.no_sweep:
        log("size sweep ...")
        sweep_ops = ["frame_features"] + (["centroid+bandwidth"] if args.full else [])
        sweeps = {op: run_sweep(op, SWEEP_LENGTHS_S, SWEEP_BATCHES,
                                max(3, args.repeats // 2 + 1), with_librosa, log)
                  for op in sweep_ops}
        png = plot_sweep(sweeps, args.png)
        parts["sweep"] = sweep_section(sweeps, png, args.write_results)

    parts["cuda"] = cuda_section(run_cuda(args.repeats, log))
    text = build_report(args.command_line, args.repeats, parts, load,
                        time.perf_counter() - t_start)
    print(text)
    if args.write_results:
        path = args.write_results
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(text + "\n")
        log(f"wrote {path}")
    return 0 if ok else 1


def add_arguments(p: argparse.ArgumentParser, png_default: str, results_default: str) -> None:
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per implementation "
                   "(default 5)")
    p.add_argument("--full", action="store_true",
                   help="also the spectral sweep and the 60 s clip's memory (about 3x longer)")
    p.add_argument("--ops", nargs="+", choices=OPS, default=None,
                   help="only these ops (default: all)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's, one per core)")
    p.add_argument("--no-librosa", action="store_true", help="skip librosa")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--no-sweep", action="store_true", help="skip the size sweep and the plot")
    p.add_argument("--png", default=png_default, help=f"plot path (default {png_default})")
    p.add_argument("--write-results", nargs="?", const=results_default, default=None,
                   metavar="PATH", help=f"write the report there (default {results_default})")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def check_args(args) -> Optional[str]:
    """The error message of an invalid argument combination, or None."""
    if args.repeats < 1:
        return "--repeats must be >= 1"
    if args.threads is not None and args.threads < 1:
        return "--threads must be >= 1"
    return None


def main(argv=None, prog="audiofx bench", png_default="bench_time_vs_length.png",
         results_default="RESULTS.md") -> int:
    from . import __doc__ as doc

    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    add_arguments(p, png_default, results_default)
    args = p.parse_args(argv)
    err = check_args(args)
    if err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    args.command_line = " ".join([prog] + list(sys.argv[1:] if argv is None else argv))
    return run(args)


def add_subcommands(subparsers) -> None:
    """``audiofx bench``: the §6 benchmark report (see :mod:`audiofx.bench`)."""
    p = subparsers.add_parser("bench", help="time audiofx against librosa, plain torch and the "
                              "memory floor (DESIGN §6); prints a markdown report")
    add_arguments(p, "bench_time_vs_length.png", "RESULTS.md")

    def func(args) -> int:
        err = check_args(args)
        if err:
            print(f"audiofx bench: {err}", file=sys.stderr)
            return 2
        args.command_line = "audiofx bench " + " ".join(sys.argv[2:])
        return run(args)

    p.set_defaults(func=func)
