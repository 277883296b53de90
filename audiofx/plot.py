"""Figures of a recording's features (the tutorial's plots in one image), and ``audiofx plot``.

:func:`plot_features` draws, for a mono signal, two panels on one time axis (seconds):

* the waveform with the amplitude envelope and RMS (left axis, signal units) and the
  zero-crossing rate (right axis, crossings per sample);
* the STFT magnitude in dB relative to its maximum (frequency in Hz, colour bar in dB) with the
  spectral centroid and centroid +- bandwidth drawn over it.

Figures are built with ``matplotlib.figure.Figure`` directly, not ``pyplot``: no GUI backend is
selected or needed (saving uses Agg), no global figure list grows in a long job, and a notebook
displays the returned figure as it displays any other.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
import torch

from .io import display_path

__all__ = ["plot_features", "plot_file", "output_image_path", "add_subcommands"]


def _features(y: np.ndarray, sr: int, frame_length: int, hop_length: int, n_fft: int) -> dict:
    import audiofx

    x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    ae, rms, zcr = audiofx.frame_features(x, frame_length, hop_length)
    spec = audiofx.spectral_features(x, sr=sr, n_fft=n_fft, hop_length=hop_length)
    S = audiofx.stft(x.to(torch.float64), n_fft=n_fft, hop_length=hop_length).abs()
    db = audiofx.amplitude_to_db(S, ref=torch.amax, top_db=80.0)
    return dict(ae=ae.numpy(), rms=rms.numpy(), zcr=zcr.numpy(),
                centroid=spec["centroid"].numpy(), bandwidth=spec["bandwidth"].numpy(),
                db=db.numpy())


def plot_features(y, sr: int, *, frame_length: int = 2048, hop_length: int = 512,
                  n_fft: int = 2048, title: Optional[str] = None,
                  figsize=(11.0, 7.0), dpi: int = 100):
    """The waveform with its frame features, and the dB spectrogram with centroid and bandwidth.

    Args:
        y: mono signal ``(T,)`` (numpy array or tensor; float, typically in [-1, 1]).
        sr: sample rate in Hz (> 0).
        frame_length, hop_length: framing of the envelope, RMS and ZCR (centred, librosa's).
        n_fft: FFT size of the spectrogram, centroid and bandwidth (same hop).
        title: figure title (default: duration and rate).
        figsize, dpi: size in inches and resolution (the PNG is ``figsize * dpi`` pixels).

    Returns:
        ``matplotlib.figure.Figure`` with two axes sharing the time axis (plus the ZCR twin axis
        and the colour bar).

    Raises:
        ValueError: ``y`` is not a non-empty 1-D signal, or ``sr`` is not positive.
    """
    from matplotlib.figure import Figure

    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"y must be a non-empty 1-D floating signal (T,), got shape {y.shape} "
                         f"and dtype {y.dtype}")
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr < 1:
        raise ValueError(f"sr must be an int >= 1 (Hz), got {sr!r}")
    f = _features(y, int(sr), frame_length, hop_length, n_fft)
    n_frames = f["rms"].shape[-1]
    t_frames = np.arange(n_frames) * hop_length / sr
    t = np.arange(y.size) / sr
    # A few frames (a clip shorter than a few hops) would draw lines too short to see: mark
    # each frame's value.
    few = dict(marker="o", markersize=4, clip_on=False) if n_frames < 16 else {}

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax_w, ax_s = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    ax_w.plot(t, y, color="0.65", linewidth=0.5, label="waveform")
    ax_w.plot(t_frames, f["ae"], color="tab:blue", linewidth=1.3, label="amplitude envelope",
              **few)
    ax_w.plot(t_frames, f["rms"], color="tab:red", linewidth=1.3, label="RMS", **few)
    ax_w.set_ylabel("amplitude (signal units)")
    ax_w.grid(True, alpha=0.3)
    ax_z = ax_w.twinx()
    ax_z.plot(t_frames, f["zcr"], color="tab:green", linewidth=1.0, label="zero-crossing rate",
              **few)
    ax_z.set_ylabel("zero-crossing rate (per sample)", color="tab:green")
    ax_z.tick_params(axis="y", colors="tab:green")
    ax_z.set_ylim(0, max(0.05, 1.1 * float(np.max(f["zcr"]))))
    lines = ax_w.get_lines() + ax_z.get_lines()
    ax_w.legend(lines, [ln.get_label() for ln in lines], loc="upper right", fontsize=8,
                framealpha=0.85)
    ax_w.set_title(f"waveform, frame features (frame {frame_length}, hop {hop_length})",
                   fontsize=10)

    freqs = np.arange(f["db"].shape[0]) * sr / n_fft
    # Cell edges half a hop / half a bin around each frame and bin (what shading="nearest"
    # infers from two or more columns; one frame, a clip under a hop, has nothing to infer from).
    t_edges = (np.arange(n_frames + 1) - 0.5) * hop_length / sr
    f_edges = (np.arange(freqs.size + 1) - 0.5) * sr / n_fft
    mesh = ax_s.pcolormesh(t_edges, f_edges, f["db"], shading="flat", cmap="magma",
                           rasterized=True)
    cbar = fig.colorbar(mesh, ax=ax_s, pad=0.01)
    cbar.set_label("magnitude (dB re max)")
    c, bw = f["centroid"], f["bandwidth"]
    ax_s.plot(t_frames, c, color="cyan", linewidth=1.4, label="spectral centroid", **few)
    ax_s.plot(t_frames, c + bw, color="white", linewidth=0.9, linestyle="--", **few,
              label="centroid ± bandwidth")
    ax_s.plot(t_frames, np.maximum(c - bw, 0.0), color="white", linewidth=0.9, linestyle="--",
              **few)
    ax_s.set_ylim(0, sr / 2)
    ax_s.set_ylabel("frequency (Hz)")
    ax_s.set_xlabel("time (s)")
    ax_s.set_xlim(0, y.size / sr)
    ax_s.legend(loc="upper right", fontsize=8, framealpha=0.85)
    ax_s.set_title(f"STFT magnitude (n_fft {n_fft}, hop {hop_length}), spectral centroid and "
                   f"bandwidth", fontsize=10)
    fig.suptitle(title or f"{y.size / sr:.2f} s at {sr} Hz")
    return fig


def plot_file(path, out=None, *, sr: Optional[int] = None, title: Optional[str] = None,
              **kwargs):
    """:func:`plot_features` of an audio file (decoded with :func:`audiofx.io.load`, mixed to
    mono, resampled to ``sr`` Hz if given); saved to ``out`` (PNG, or any format matplotlib
    writes, by extension) when given.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        audiofx.io.AudioDecodeError: the file cannot be decoded.
    """
    from .io import load

    y, rate = load(path, sr=sr, mono=True)
    name = display_path(os.path.basename(os.fsencode(os.fspath(path))))
    fig = plot_features(y, rate, title=title or name, **kwargs)
    if out is not None:
        import warnings

        with warnings.catch_warnings():
            # A figure of a few hundred pixels (--width 100 --height 100) has no room for the
            # layout; matplotlib draws it anyway and says so on stderr: not the user's error.
            warnings.filterwarnings("ignore", "constrained_layout not applied")
            fig.savefig(out)
    return fig



def output_image_path(out) -> str:
    """The file ``audiofx plot -o OUT`` writes: ``OUT`` itself when its extension names a format
    matplotlib writes (png, svg, pdf, ...), ``OUT.png`` when it has none (as ``savefig`` does).

    Raises:
        ValueError: an extension matplotlib cannot write, a folder that does not exist, or an
            existing folder as ``OUT``.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    out = os.fsdecode(os.fspath(out))
    if not out or os.path.isdir(out):
        raise ValueError(f"-o {display_path(out)!r} is a folder; name the image file (e.g. "
                         f"{display_path(os.path.join(out, 'plot.png'))})")
    ext = os.path.splitext(out)[1][1:].lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if not ext:
        out += ".png"
    elif ext not in formats:
        raise ValueError(f"-o {display_path(out)}: matplotlib cannot write .{ext} images; use "
                         f"one of {', '.join('.' + f for f in sorted(formats))}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ValueError(f"-o {display_path(out)}: the folder {display_path(folder)} does not "
                         f"exist")
    return out


#: Largest ``--width`` / ``--height`` (Agg draws up to 2**16 pixels a side; 16384 is plenty).
MAX_PIXELS = 1 << 14


def _run_plot(args) -> int:
    import sys

    from .io import AudioDecodeError

    try:
        out = output_image_path(args.out)
    except ValueError as e:
        print(f"audiofx plot: {e}", file=sys.stderr)
        return 2
    try:
        plot_file(args.file, out, sr=args.sr, frame_length=args.frame_length,
                  hop_length=args.hop_length, n_fft=args.n_fft,
                  figsize=(args.width / args.dpi, args.height / args.dpi), dpi=args.dpi)
    except AudioDecodeError as e:
        print(f"audiofx plot: {display_path(e.path)}: {display_path(e.reason)}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:  # a signal too short for --sr, a full disk, ...
        print(f"audiofx plot: {display_path(args.file)}: {display_path(str(e))}", file=sys.stderr)
        return 1
    print(f"wrote {display_path(out)}")
    return 0


def add_subcommands(subparsers) -> None:
    """Adds ``audiofx plot``."""
    from .extract import MAX_FRAME, MAX_SR, _int_at_least

    p = subparsers.add_parser(
        "plot", help="one figure of a file: waveform + envelope/RMS/ZCR, dB spectrogram + "
                     "centroid/bandwidth",
        description="Draw the waveform with its amplitude envelope, RMS and zero-crossing rate, "
                    "and the STFT spectrogram in dB with the spectral centroid and bandwidth, "
                    "into one image.")
    p.add_argument("file", metavar="FILE", help="audio file (mixed to mono)")
    p.add_argument("-o", "--out", required=True, help="output image (.png, .svg, .pdf)")
    p.add_argument("--sr", type=_int_at_least(1, MAX_SR), default=None,
                   help="resample to this rate in Hz, at most 2**20 (default: the file's)")
    p.add_argument("--frame-length", type=_int_at_least(1, MAX_FRAME), default=2048,
                   help="at most 2**24 (default 2048)")
    p.add_argument("--hop-length", type=_int_at_least(1), default=512)
    p.add_argument("--n-fft", type=_int_at_least(1, MAX_FRAME), default=2048,
                   help="at most 2**24 (default 2048)")
    p.add_argument("--width", type=_int_at_least(100, MAX_PIXELS), default=1100,
                   help="pixels, 100 to 16384 (default 1100)")
    p.add_argument("--height", type=_int_at_least(100, MAX_PIXELS), default=700,
                   help="pixels, 100 to 16384 (default 700)")
    p.add_argument("--dpi", type=_int_at_least(10, 4800), default=100)
    p.set_defaults(func=_run_plot)
