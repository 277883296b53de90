"""The command-line face of the report: ``audiofx bench`` and ``python -m benchmarks.report``."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional

import torch

from .cuda import run_cuda
from .geometry import run_geometry
from .implementations import OPS, librosa_module
from .lengths import run_lengths
from .loss import run_loss
from .op_results import run_memory, run_ops
from .long_memory import run_long_memory
from .report import (DEFAULT_SECTIONS, SECTIONS, build_report, cuda_section, geometry_section,
                     lengths_section, long_memory_section, loss_section, merge_sections,
                     ops_section, sweep_section)
from .size_sweep import SWEEP_BATCHES, SWEEP_LENGTHS_S, plot_sweep, run_sweep
from .workloads import BATCH_WORKLOAD, SR, WORKLOADS

DEVICES = ("cpu", "cuda")
#: Seed of the lengths table's random lengths.
LENGTHS_SEED = 0


def _csv(choices, what: str):
    def parse(text: str) -> List[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(
                f"{what} must be a comma-separated list of {', '.join(choices)}; got {text!r}")
        return items
    return parse


def selected_sections(args) -> List[str]:
    """The sections a run makes, in document order: ``--only``'s (default: all but ``loss`` and
    ``memory_long``, all with ``--full``), less the sweep with ``--no-sweep``."""
    chosen = set(args.only or (SECTIONS if args.full else DEFAULT_SECTIONS))
    if args.no_sweep:
        chosen.discard("sweep")
    return [s for s in SECTIONS if s in chosen]


def _batch_workload(batch: int):
    """(name, shape) of the geometry and lengths tables' workload: the §6 batch, or ``batch``
    clips of the same length."""
    rows, T = WORKLOADS[BATCH_WORKLOAD]
    if batch == rows:
        return BATCH_WORKLOAD, (rows, T)
    return f"{batch} clips x {T / SR:g} s", (batch, T)


def run(args) -> int:
    """Runs the report (see :mod:`audiofx.bench`); returns 0 when every target judged holds."""
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
    sections = selected_sections(args)
    requested = args.devices or list(DEVICES)
    devices = [d for d in requested if d == "cpu" or torch.cuda.is_available()]
    notes = []
    if "cuda" in requested and not torch.cuda.is_available():
        notes = [f"No CUDA device in this run: {'CPU only' if devices else 'nothing timed'}.", ""]
    wname, wshape = _batch_workload(args.batch)
    parts, ok = {}, True

    if "ops" in sections:
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
        parts["ops"], good = ops_section(results)
        ok &= good

    if "geometry" in sections:
        log(f"frame/hop geometries on {wname} ({', '.join(devices)}) ...")
        geo = []
        for device in devices:
            geo += run_geometry(wshape, args.repeats, device=device,
                                with_librosa=with_librosa and device == "cpu",
                                memory=not args.no_memory, log=log)
        parts["geometry"], good = geometry_section(geo, wname, notes)
        ok &= good

    if "lengths" in sections:
        log(f"lengths= against the plain call on {wname} ({', '.join(devices)}) ...")
        lres = []
        for device in devices:
            lres += run_lengths(wshape, args.repeats, device=device, seed=LENGTHS_SEED, log=log)
        parts["lengths"], good = lengths_section(lres, wname, wshape, LENGTHS_SEED, notes)
        ok &= good

    if "loss" in sections:
        log(f"multi-resolution STFT loss on {wname} ({', '.join(devices)}) ...")
        loss = [run_loss(wshape, args.repeats, device=device, log=log) for device in devices]
        parts["loss"], good = loss_section(loss, wname, notes)
        ok &= good

    if "sweep" in sections:
        log("size sweep ...")
        sweep_ops = ["frame_features"] + (["centroid+bandwidth"] if args.full else [])
        sweeps = {op: run_sweep(op, SWEEP_LENGTHS_S, SWEEP_BATCHES,
                                max(3, args.repeats // 2 + 1), with_librosa, log)
                  for op in sweep_ops}
        png = plot_sweep(sweeps, args.png)
        parts["sweep"] = sweep_section(sweeps, png, args.write_results)

    if "memory_long" in sections:
        log("peak memory on one long recording (2**26 samples), one subprocess per call ...")
        import tempfile

        with tempfile.TemporaryDirectory() as work:
            long = run_long_memory(work, torch.get_num_threads(), with_librosa=with_librosa,
                                   log=log)
        parts["memory_long"], good = long_memory_section(long)
        ok &= good

    if "cuda" in sections:
        parts["cuda"] = cuda_section(run_cuda(args.repeats, log))

    partial = args.only is not None
    text = build_report(args.command_line, args.repeats, parts, load,
                        time.perf_counter() - t_start, partial)
    print(text)
    if args.write_results:
        path = args.write_results
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if partial and os.path.exists(path):
            with open(path) as f:
                text = merge_sections(f.read(), text, sections)
            log(f"replaced the sections {', '.join(sections)} of {path}")
        with open(path, "w") as f:
            f.write(text.rstrip("\n") + "\n")
        log(f"wrote {path}")
    return 0 if ok else 1


def add_arguments(p: argparse.ArgumentParser, png_default: str, results_default: str) -> None:
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per implementation "
                   "(default 5)")
    p.add_argument("--full", action="store_true",
                   help="also the spectral sweep, the 60 s clip's memory, the loss section and "
                        "the long recording's memory (memory_long) (about 3x longer)")
    p.add_argument("--only", type=_csv(SECTIONS, "--only"), default=None, metavar="SECTIONS",
                   help=f"only these sections, comma-separated, of {', '.join(SECTIONS)} "
                        f"(default: all but loss; all with --full); with --write-results they "
                        f"replace their sections of an existing file and leave the others")
    p.add_argument("--devices", type=_csv(DEVICES, "--devices"), default=None, metavar="DEVICES",
                   help="devices of the geometry, lengths and loss tables, comma-separated, of "
                        "cpu, cuda (default both; cuda only where a GPU exists)")
    p.add_argument("--batch", type=int, default=WORKLOADS[BATCH_WORKLOAD][0],
                   help="clips (of 4 s) in the geometry, lengths and loss tables' batch (default "
                        f"{WORKLOADS[BATCH_WORKLOAD][0]}, DESIGN §6)")
    p.add_argument("--ops", nargs="+", choices=OPS, default=None,
                   help="only these ops in the all-ops tables (default: all)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's, one per core)")
    p.add_argument("--no-librosa", action="store_true", help="skip librosa")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
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
    if args.batch < 1:
        return "--batch must be >= 1"
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
