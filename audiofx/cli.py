"""The ``audiofx`` command.

Subcommands live with the code they drive: each module in ``SUBCOMMAND_MODULES`` exposes
``add_subcommands(subparsers)``, which adds its parsers and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning the exit status). Modules import their heavy
dependencies inside ``func``, so ``audiofx --help`` stays fast.

``audiofx demo``: computes the frame features (amplitude envelope, RMS, zero-crossing rate) of a
built-in signal batch made in code (chirps, tones, noise bursts and silence: nothing is
downloaded), checks them against librosa and prints the agreement and the speedup. With
``--out DIR`` it also writes the batch as WAV files, runs ``audiofx extract`` (every feature) and
``audiofx plot`` on them, compares the extracted features with librosa, and saves the comparison
as ``DIR/report.md`` and ``DIR/report.json``.

``audiofx info FILE``: the header facts and a feature summary of one file.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

import numpy as np
import torch

import audiofx
from audiofx.io import display_path


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


def _librosa_features(y: np.ndarray, sr: int, N: int, H: int, n_fft: int, n_mels: int,
                      n_mfcc: int) -> dict:
    """librosa's value of each ``audiofx extract`` feature for a batch ``(B, T)`` (float32)."""
    import librosa

    pad = [(0, 0)] * (y.ndim - 1) + [(N // 2, N // 2)]
    kw = dict(sr=sr, n_fft=n_fft, hop_length=H)
    return {
        "ae": librosa.util.frame(np.pad(y, pad), frame_length=N, hop_length=H).max(axis=-2),
        "rms": librosa.feature.rms(y=y, frame_length=N, hop_length=H)[..., 0, :],
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=N, hop_length=H)[..., 0, :],
        "centroid": librosa.feature.spectral_centroid(y=y, **kw)[..., 0, :],
        "bandwidth": librosa.feature.spectral_bandwidth(y=y, **kw)[..., 0, :],
        "rolloff": librosa.feature.spectral_rolloff(y=y, **kw)[..., 0, :],
        "flatness": librosa.feature.spectral_flatness(y=y, n_fft=n_fft, hop_length=H)[..., 0, :],
        "mel": librosa.feature.melspectrogram(y=y, n_mels=n_mels, **kw),
        # power_to_db's top_db is relative to the maximum of the whole array: one clip at a time.
        "mfcc": np.stack([librosa.feature.mfcc(y=c, n_mfcc=n_mfcc, n_mels=n_mels, **kw)
                          for c in y]),
    }


# Largest accepted max|audiofx - librosa| / max|librosa| per feature, float32 input, and why.
_DEMO_TOLERANCE = {
    "ae": (0.0, "exact max of samples"),
    "rms": (2e-5, "float32 rounding; librosa sums in float32"),
    "zcr": (1e-7, "exact crossing counts"),
    "centroid": (1e-5, "float64 FFT in both, float32 results"),
    "bandwidth": (1e-5, "float64 FFT in both, float32 results"),
    "rolloff": (2e-3, "a float32 cumulative sum within round-off of the threshold can pick the "
                      "next bin (one bin = sr / n_fft)"),
    "flatness": (1e-3, "in silent frames (all bins at amin = 1e-10: flatness 1) librosa's "
                       "float32 log/exp gives 1.0003"),
    "mel": (1e-5, "float32 filterbank matmul"),
    "mfcc": (1e-4, "float32 dB and DCT"),
}


def _demo_files(args, y: np.ndarray, out: str) -> dict:
    """``--out``: the demo batch as WAV files, run through ``audiofx extract`` (all features),
    ``audiofx plot`` and compared with librosa; returns the report's parts."""
    import soundfile

    from . import extract as ex
    from . import plot
    from .io import load

    audio_dir = os.path.join(out, "audio")
    os.makedirs(audio_dir, exist_ok=True)
    wavs = []
    for b, clip in enumerate(y):
        path = os.path.join(audio_dir, f"demo_{b:02d}.wav")
        soundfile.write(path, clip, args.sr, subtype="FLOAT")  # float WAV: samples kept exactly
        wavs.append(path)
    params = ex.ExtractParams(features=ex.FEATURES, frame_length=args.frame_length,
                              hop_length=args.hop_length, n_fft=args.frame_length)
    feat_dir = os.path.join(out, "features")
    res = ex.extract([audio_dir], feat_dir, params, batch_size=min(16, len(wavs)), workers=0,
                     device="cpu", progress=False)
    print(f"\n{res.summary()}")
    png = os.path.join(out, "demo_plot.png")
    plot.plot_file(wavs[0], png, title="audiofx demo signal 0 (chirp, noise burst, silence, "
                   "tone)", frame_length=args.frame_length, hop_length=args.hop_length,
                   n_fft=args.frame_length)
    print(f"wrote {len(wavs)} feature files to {feat_dir}/, the figure {png}")

    decoded = np.stack([load(p)[0] for p in wavs])
    ref = _librosa_features(decoded, args.sr, args.frame_length, args.hop_length,
                            args.frame_length, params.n_mels, params.n_mfcc)
    rows = []
    for name in ex.FEATURES:
        got = np.stack([np.load(os.path.join(feat_dir, f"demo_{b:02d}.wav.npz"))[name]
                        for b in range(len(wavs))])
        tol, why = _DEMO_TOLERANCE[name]
        rows.append((name, _rel_err(got, ref[name]), tol, why))
    return dict(rows=rows, extract=res, png=png, feat_dir=feat_dir)


def _write_report(out: str, header: str, frame_rows, file_rows, timing: dict, ok: bool) -> None:
    lines = ["# audiofx demo", "", header, "",
             "## Frame features of the batch vs librosa", "",
             "| feature | max abs err / max abs librosa | why |", "|---|---:|---|"]
    lines += [f"| {n} | {e:.2e} | {w} |" for n, e, w in frame_rows]
    if file_rows:
        lines += ["", "## `audiofx extract` outputs (from the WAV files) vs librosa", "",
                  "| feature | max abs err / max abs librosa | accepted up to | why |",
                  "|---|---:|---:|---|"]
        lines += [f"| {n} | {e:.2e} | {t:.0e} | {w} |" for n, e, t, w in file_rows]
    lines += ["", "## Time", "", "| what | median ms | audio-s/s |", "|---|---:|---:|"]
    lines += [f"| {k} | {v * 1e3:.2f} | {timing['audio_s'] / v:,.0f} |"
              for k, v in timing.items() if k != "audio_s"]
    lines += ["", "result: " + ("features agree with librosa" if ok else "MISMATCH with librosa"),
              ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({"header": header, "ok": ok,
                   "frame_features": {n: e for n, e, _ in frame_rows},
                   "extract_vs_librosa": {n: {"max_rel_err": e, "tolerance": t}
                                          for n, e, t, _ in file_rows},
                   "median_s": {k: v for k, v in timing.items() if k != "audio_s"},
                   "audio_s": timing["audio_s"]}, f, indent=2)


def run_demo(args: argparse.Namespace) -> int:
    """``audiofx demo``: the agreement with librosa and the speedup; with ``--out``, also the
    WAV files, their features (``audiofx extract``), a figure and a report."""
    try:
        import librosa
    except ImportError:  # pragma: no cover - librosa is a test/demo dependency
        print("audiofx demo needs librosa: pip install librosa", file=sys.stderr)
        return 2
    from .extract import MAX_FRAME, MAX_SR

    for name, hi in (("batch", 4096), ("sr", MAX_SR), ("frame_length", MAX_FRAME),
                     ("hop_length", None), ("repeats", 10000)):
        v = getattr(args, name)
        if v < 1 or (hi is not None and v > hi):
            allowed = ">= 1" if hi is None else f"in [1, {hi}]"
            print(f"audiofx demo: --{name.replace('_', '-')} must be {allowed}, got {v}",
                  file=sys.stderr)
            return 2
    if not 0 < args.seconds <= 600:
        print(f"audiofx demo: --seconds must be in (0, 600], got {args.seconds}",
              file=sys.stderr)
        return 2
    if args.out:
        from .output_folder import OutputFolder

        try:
            OutputFolder(args.out)
        except ValueError as e:
            print(f"audiofx demo: {e}", file=sys.stderr)
            return 2
    N, H = args.frame_length, args.hop_length
    y = demo_signals(args.batch, args.seconds, args.sr)
    x = torch.from_numpy(y)
    header = (f"audiofx {audiofx.__version__} demo: {args.batch} clips x {args.seconds:g} s at "
              f"{args.sr} Hz, float32, frame_length={N}, hop_length={H}, center=True")
    print(header)

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

    file_rows = []
    if args.out:
        files = _demo_files(args, y, args.out)
        file_rows = files["rows"]
        print("\n`audiofx extract` outputs vs librosa (max |audiofx - librosa| / max |librosa|):")
        for name, err, tol, why in file_rows:
            print(f"  {name:<10} {err:.2e}  (accepted up to {tol:.0e}: {why})")
        ok = ok and all(err <= tol for _, err, tol, _ in file_rows) and files["extract"].ok \
            == args.batch
        _write_report(args.out, header, rows, file_rows,
                      {"audiofx.frame_features": t_afx, "librosa rms+zcr+max": t_lib,
                       "audio_s": audio_s}, ok)
        print(f"wrote {os.path.join(args.out, 'report.md')} and report.json")
    print("\nresult: " + ("features agree with librosa" if ok else "MISMATCH with librosa"))
    return 0 if ok else 1



def _json_safe(value):
    """``value`` with every non-finite float as None: JSON has no -Infinity (a silent file's
    level in dBFS) or NaN."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_info(args: argparse.Namespace) -> int:
    """``audiofx info FILE``: the header, then a summary of the features of the decoded file."""
    from .io import AudioDecodeError, info, load

    try:
        hdr = info(args.file)
        y, sr = load(args.file, mono=True)
    except AudioDecodeError as e:
        print(f"audiofx info: {display_path(e.path)}: {display_path(e.reason)}", file=sys.stderr)
        return 1
    summary = file_summary(y, sr, args.frame_length, args.hop_length, args.n_fft)
    facts = {"path": display_path(hdr.path), "format": hdr.format, "subtype": hdr.subtype,
             "sample_rate": hdr.sample_rate, "channels": hdr.channels, "frames": hdr.frames,
             "duration_s": hdr.duration, **summary}
    if args.json:
        print(json.dumps(_json_safe(facts), indent=2, allow_nan=False))
        return 0
    print(f"{display_path(hdr.path)}")
    print(f"  format       {hdr.format} {hdr.subtype}")
    print(f"  duration     {hdr.duration:.3f} s ({hdr.frames} frames)")
    print(f"  sample rate  {hdr.sample_rate} Hz")
    print(f"  channels     {hdr.channels}" + (" (mixed to mono below)" if hdr.channels > 1
                                               else ""))
    print(f"  peak         {summary['peak_dbfs']:.2f} dBFS")
    print(f"  RMS          {summary['rms_dbfs']:.2f} dBFS")
    print(f"  frames       {summary['n_frames']} (frame {args.frame_length}, hop "
          f"{args.hop_length}, n_fft {args.n_fft})")
    print(f"  {'feature':<24}{'mean':>12}{'min':>12}{'max':>12}")
    for name, unit in (("rms", ""), ("zcr", " (per sample)"), ("centroid", " (Hz)"),
                       ("bandwidth", " (Hz)")):
        s = summary[name]
        print(f"  {name + unit:<24}{s['mean']:>12.5g}{s['min']:>12.5g}{s['max']:>12.5g}")
    return 0


def file_summary(y: np.ndarray, sr: int, frame_length: int = 2048, hop_length: int = 512,
                 n_fft: int = 2048) -> dict:
    """Level and feature summary of a mono float signal ``y`` ``(T,)`` at ``sr`` Hz.

    Returns:
        ``peak_dbfs`` (``20 log10 max|y|``) and ``rms_dbfs`` (of the whole signal; -inf for
        silence; ``audiofx info --json`` writes null for it, JSON having no infinity),
        ``n_frames``, and ``{mean, min, max}`` over the frames of ``rms``, ``zcr``
        (per sample), ``centroid`` and ``bandwidth`` (Hz), from :func:`audiofx.frame_features`
        and :func:`audiofx.spectral_features`.
    """
    x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    _, rms, zcr = audiofx.frame_features(x, frame_length, hop_length)
    spec = audiofx.spectral_features(x, sr=sr, n_fft=n_fft, hop_length=hop_length)
    y64 = np.asarray(y, dtype=np.float64)
    peak = float(np.max(np.abs(y64)))
    level = float(np.sqrt(np.mean(y64 ** 2)))
    with np.errstate(divide="ignore"):
        out = {"peak_dbfs": float(20 * np.log10(peak)), "rms_dbfs": float(20 * np.log10(level)),
               "n_frames": int(rms.shape[-1])}
    for name, v in (("rms", rms), ("zcr", zcr), ("centroid", spec["centroid"]),
                    ("bandwidth", spec["bandwidth"])):
        v = v.double()
        out[name] = {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
    return out


#: Modules that add subcommands (``add_subcommands(subparsers)``), in ``--help`` order.
SUBCOMMAND_MODULES: tuple = (
    "audiofx.extract",
    "audiofx.plot",
    "audiofx.train",
    "audiofx.bench",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line on stderr (``audiofx info: error: argument
    --hop-length: expected an integer >= 1, got 0 (audiofx info --help lists the arguments)``)
    and exit status 2, the README's promise for bad arguments; subcommand parsers inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the "
                     f"arguments)\n")


def build_parser() -> argparse.ArgumentParser:
    from .extract import MAX_FRAME, MAX_SR, _int_at_least

    p = ArgumentParser(prog="audiofx", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="frame features of a built-in signal, checked against librosa")
    d.add_argument("--batch", type=int, default=32,
                   help="clips in the batch, 1 to 4096 (default 32)")
    d.add_argument("--seconds", type=float, default=4.0,
                   help="clip length in s, in (0, 600] (default 4)")
    d.add_argument("--sr", type=int, default=22050, help="sample rate in Hz (default 22050)")
    d.add_argument("--frame-length", type=int, default=2048)
    d.add_argument("--hop-length", type=int, default=512)
    d.add_argument("--repeats", type=int, default=9, help="timed repeats (default 9)")
    d.add_argument("--out", default=None, metavar="DIR",
                   help="also write the clips as WAV files, their features (audiofx extract), a "
                        "figure (audiofx plot) and report.md/report.json with the comparison "
                        "with librosa into DIR")
    d.set_defaults(func=run_demo)
    i = sub.add_parser("info", help="duration, sample rate, channels and a feature summary")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--frame-length", type=_int_at_least(1, MAX_FRAME), default=2048,
                   help="at most 2**24 (default 2048)")
    i.add_argument("--hop-length", type=_int_at_least(1), default=512)
    i.add_argument("--n-fft", type=_int_at_least(1, MAX_FRAME), default=2048,
                   help="at most 2**24 (default 2048)")
    i.add_argument("--json", action="store_true", help="print the facts as JSON")
    i.set_defaults(func=run_info)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_subcommands(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
