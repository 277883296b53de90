"""The frame functions: framing, amplitude envelope, RMS, zero-crossing rate (DESIGN §2-3).

Every function takes a real floating tensor ``x`` of shape ``(..., T)`` (any leading dims are a
batch; samples in the last dim, in arbitrary units, typically [-1, 1]) on any device, checks its
arguments (:mod:`audiofx.functional.checks`), and makes one op call (``torch.ops.audiofx.*``),
returning contiguous tensors of ``x``'s dtype. Framing and variable-length batches: see
:mod:`audiofx.functional`.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from .. import _ops
from . import long_frames
from .checks import (
    check_length_values,
    check_lengths,
    check_positive_int,
    check_zcr_args,
    frame_args,
    frame_counts,
    resolve_pad_mode,
    row_lengths,
)

__all__ = [
    "frame",
    "amplitude_envelope",
    "rms",
    "zero_crossing_rate",
    "frame_features",
    "FrameFeatures",
    "num_frames",
    "frame_lengths",
    "frame_mask",
]

_ops_ns = _ops.ops


class FrameFeatures(NamedTuple):
    """The three frame features of one pass, each ``(..., n_frames)``."""

    amplitude_envelope: torch.Tensor
    rms: torch.Tensor
    zero_crossing_rate: torch.Tensor


def num_frames(length: int, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
               pad_mode: Optional[str] = "constant") -> int:
    """Number of frames the frame functions return for a signal of ``length`` samples.

    Raises:
        TypeError: ``length`` (or a frame argument) is not an int (bools included).
        ValueError: ``length < 1`` (the functions take no empty signal), a frame argument
            ``< 1``, or a framing the length cannot have (see :func:`frame`).
    """
    length = check_positive_int("length", length)
    N = check_positive_int("frame_length", frame_length)
    H = check_positive_int("hop_length", hop_length)
    mode = resolve_pad_mode(center, pad_mode, length, N)
    return int(_ops.n_frames(length, N, H, center, mode))


def frame_lengths(lengths: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                  center: bool = True, pad_mode: Optional[str] = "constant") -> torch.Tensor:
    """Valid frame count of each row of a right-padded batch: :func:`num_frames` elementwise.

    Args:
        lengths: integer tensor (any shape, any device) of valid samples per row (>= 1;
            > frame_length // 2 for ``pad_mode="reflect"``, >= frame_length without padding).
        frame_length, hop_length, center, pad_mode: framing (:mod:`audiofx.functional`).

    Returns:
        int64 tensor of ``lengths``' shape and device. Works under ``torch.compile``; the range
        checks run on CPU tensors outside it (they would cost a device sync elsewhere).
    """
    L = check_lengths(lengths)
    N = check_positive_int("frame_length", frame_length)
    H = check_positive_int("hop_length", hop_length)
    mode = resolve_pad_mode(center, pad_mode, None, N)
    check_length_values(L, None, N, (mode,))
    return frame_counts(L, N, H, center, mode)


def frame_mask(lengths: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
               center: bool = True, pad_mode: Optional[str] = "constant",
               n_frames: Optional[int] = None) -> torch.Tensor:
    """Boolean mask of the valid frames of a right-padded batch.

    Args:
        lengths: integer tensor ``(...)`` of valid samples per row (see :func:`frame_lengths`).
        frame_length, hop_length, center, pad_mode: framing (:mod:`audiofx.functional`).
        n_frames: frames of the mask (>= 1), e.g. ``features.shape[-1]`` to match a feature
            tensor computed from the padded batch; default: the largest valid count (a device
            sync and a data-dependent shape: pass it under ``torch.compile``).

    Returns:
        bool ``(..., n_frames)`` on ``lengths``' device, True where ``t < frame_lengths[...]``.
    """
    counts = frame_lengths(lengths, frame_length, hop_length, center, pad_mode)
    if n_frames is None:
        n_frames = int(counts.max()) if counts.numel() else 1
    n_frames = check_positive_int("n_frames", n_frames)
    t = torch.arange(n_frames, device=counts.device, dtype=torch.int64)
    return t < counts.unsqueeze(-1)


def _long_frame(x: torch.Tensor, N: int, H: int, center: bool, mode: str):
    """The equivalent shorter frame of a frame far longer than ``x`` (exact; see
    :mod:`audiofx.functional.long_frames`), or None. Not under ``torch.compile``, which sees the
    op itself."""
    if torch.compiler.is_compiling():
        return None
    return long_frames.plan(x.shape[-1], N, H, center, mode)


def _long_frame_features(x, N, H, center, mode, zmode, absolute, thr, zero_pos, short, zshort):
    """:func:`frame_features` where a frame far longer than ``x`` has a shorter equivalent:
    one fused call when both paddings shorten alike, else one call per feature."""
    if short is not None and short == zshort and long_frames.exact_counts(x, short):
        ae, r, z = _ops_ns.frame_features(x, short.n, H, center, mode, zmode, absolute, thr,
                                          zero_pos, None)
        return (ae, long_frames.finish_rms(x, short, mode, r),
                long_frames.finish_zcr(x, zshort, z, thr, zero_pos))
    if short is not None:
        ae = long_frames.amplitude_envelope(x, short, H, center, mode, absolute)
        r = long_frames.rms(x, short, H, center, mode)
    else:
        ae = _ops_ns.amplitude_envelope(x, N, H, center, mode, absolute)
        r = _ops_ns.rms(x, N, H, center, mode)
    if zshort is not None:
        z = long_frames.zero_crossing_rate(x, zshort, H, center, zmode, thr, zero_pos)
    else:
        z = _ops_ns.zero_crossing_rate(x, N, H, center, zmode, thr, zero_pos)
    return ae, r, z


def frame(x: torch.Tensor, frame_length: int, hop_length: int, center: bool = False,
          pad_mode: Optional[str] = "wrap", *, lengths: Optional[torch.Tensor] = None):
    """Slice ``x`` into (padded) frames, materialised.

    Args:
        x: ``(..., T)`` signal.
        frame_length: samples per frame ``N`` (>= 1).
        hop_length: samples between frame starts ``H`` (>= 1).
        center, pad_mode: padding, see :mod:`audiofx.functional`. The default is the end-wrap
            convention: the last frame is completed with the start of the signal.
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            :mod:`audiofx.functional`.

    Returns:
        ``(..., n_frames, N)``: ``out[..., t, n] = padded[..., t*H + n]``. Differs from
        ``librosa.util.frame`` in layout (frames first, then samples); see
        :func:`audiofx.compat.librosa.util.frame` for librosa's. With ``lengths``:
        ``(frames, frame_lengths)``, the frames ``t >= frame_lengths[...]`` all zero.
    """
    N, H, mode = frame_args(x, frame_length, hop_length, center, pad_mode)
    size = int(_ops.n_frames(x.shape[-1], N, H, center, mode)) * N * (x.numel() // x.shape[-1])
    if size >= 1 << 40:
        raise ValueError(f"frame would materialise {size:.3g} samples (frame_length = {N}); the "
                         f"frame features (rms, amplitude_envelope, ...) reduce long frames "
                         f"without materialising them")
    if lengths is None:
        return _ops_ns.frame(x, N, H, center, mode)
    rows = row_lengths(lengths, x, N, H, center, (mode,))
    return _ops_ns.frame(x, N, H, center, mode, rows.lengths), rows.frame_counts


def amplitude_envelope(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True, pad_mode: Optional[str] = "constant",
                       absolute: bool = False, *, lengths: Optional[torch.Tensor] = None):
    """Amplitude envelope: the largest sample of each frame.

    Args:
        x: ``(..., T)`` signal.
        frame_length, hop_length, center, pad_mode: framing (:mod:`audiofx.functional`); padded samples
            take part (so zero padding makes the envelope of a negative signal 0 at the ends).
        absolute: take the largest ``|x|`` instead of the largest signed value.
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            :mod:`audiofx.functional`.

    Returns:
        ``(..., n_frames)`` in the units of ``x``. NaN in a frame gives NaN (as ``numpy.max``).
        With ``lengths``: ``(envelope, frame_lengths)``.
    """
    N, H, mode = frame_args(x, frame_length, hop_length, center, pad_mode)
    if not isinstance(absolute, bool):
        raise TypeError(f"absolute must be a bool, got {absolute!r}")
    if lengths is None:
        short = _long_frame(x, N, H, center, mode)
        if short is not None:
            return long_frames.amplitude_envelope(x, short, H, center, mode, absolute)
        return _ops_ns.amplitude_envelope(x, N, H, center, mode, absolute)
    rows = row_lengths(lengths, x, N, H, center, (mode,))
    return (_ops_ns.amplitude_envelope(x, N, H, center, mode, absolute, rows.lengths),
            rows.frame_counts)


def rms(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
        pad_mode: Optional[str] = "constant", *, lengths: Optional[torch.Tensor] = None):
    """Root-mean-square energy per frame: ``sqrt(sum(x_i**2) / N)`` over the padded frame.

    Equals ``librosa.feature.rms(y=x)[..., 0, :]`` with the same arguments. Sums accumulate in
    float64 on CPU (float32 on CUDA for float32/half/bfloat16 inputs).

    Args:
        x: ``(..., T)`` signal.
        frame_length, hop_length, center, pad_mode: framing (:mod:`audiofx.functional`).
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            :mod:`audiofx.functional`.

    Returns:
        ``(..., n_frames)`` in the units of ``x``. With ``lengths``: ``(rms, frame_lengths)``.
    """
    N, H, mode = frame_args(x, frame_length, hop_length, center, pad_mode)
    if lengths is None:
        short = _long_frame(x, N, H, center, mode)
        if short is not None:
            return long_frames.rms(x, short, H, center, mode)
        return _ops_ns.rms(x, N, H, center, mode)
    rows = row_lengths(lengths, x, N, H, center, (mode,))
    return _ops_ns.rms(x, N, H, center, mode, rows.lengths), rows.frame_counts


def zero_crossing_rate(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True, threshold: float = 1e-10, zero_pos: bool = True,
                       pad_mode: Optional[str] = "edge", *,
                       lengths: Optional[torch.Tensor] = None):
    """Zero-crossing rate per frame, librosa's definition.

    Samples with ``|x| <= threshold`` count as 0. With ``zero_pos`` a 0 counts as positive (sign
    bit test), otherwise ``sign()`` in {-1, 0, 1} is compared. The frame's crossings are the pairs
    ``(x[i-1], x[i])``, ``i = 1..N-1``, inside the frame whose classes differ; the rate is
    crossings / ``N``. With ``center=True`` the padding is ``edge`` by default (as librosa).
    Not differentiable: its gradient is zero.

    Args:
        x: ``(..., T)`` signal.
        frame_length, hop_length, center, pad_mode: framing (:mod:`audiofx.functional`).
        threshold: magnitude at or below which a sample counts as 0 (>= 0, units of ``x``).
        zero_pos: whether 0 counts as positive.
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            :mod:`audiofx.functional`.

    Returns:
        ``(..., n_frames)``, values in ``[0, (N-1)/N]`` (a rate per sample, not per second).
        With ``lengths``: ``(rate, frame_lengths)``. Non-finite samples are classed, not
        propagated (librosa refuses them here): an infinity by its sign, a NaN (whatever its
        sign bit) as positive with ``zero_pos``; the rate stays a count of sign changes.
    """
    N, H, mode = frame_args(x, frame_length, hop_length, center, pad_mode)
    thr = check_zcr_args(threshold, zero_pos)
    if lengths is None:
        short = _long_frame(x, N, H, center, mode)
        if short is not None:
            return long_frames.zero_crossing_rate(x, short, H, center, mode, thr, zero_pos)
        return _ops_ns.zero_crossing_rate(x, N, H, center, mode, thr, zero_pos)
    rows = row_lengths(lengths, x, N, H, center, (mode,))
    return (_ops_ns.zero_crossing_rate(x, N, H, center, mode, thr, zero_pos, rows.lengths),
            rows.frame_counts)


def frame_features(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                   center: bool = True, pad_mode: Optional[str] = "constant",
                   zcr_pad_mode: Optional[str] = None, absolute: bool = False,
                   threshold: float = 1e-10, zero_pos: bool = True, *,
                   lengths: Optional[torch.Tensor] = None):
    """Amplitude envelope, RMS and zero-crossing rate in one pass over the signal.

    Same values as :func:`amplitude_envelope`, :func:`rms` and :func:`zero_crossing_rate` called
    with these arguments, where the zero-crossing rate pads with ``zcr_pad_mode`` (default:
    ``"edge"`` when centred, as librosa; ``pad_mode`` otherwise, which it must equal).

    Args:
        lengths: optional integer tensor of shape ``x.shape[:-1]``: valid samples per row of a
            right-padded batch (:mod:`audiofx.functional`), its own end padded with ``pad_mode`` and,
            for the zero-crossing rate, ``zcr_pad_mode``.

    Returns:
        :class:`FrameFeatures` ``(amplitude_envelope, rms, zero_crossing_rate)``, each
        ``(..., n_frames)``. With ``lengths``: ``(features, frame_lengths)``, every feature
        zero on the frames ``t >= frame_lengths[...]``.
    """
    N, H, mode = frame_args(x, frame_length, hop_length, center, pad_mode)
    if zcr_pad_mode is None:
        zcr_pad_mode = "edge" if center else pad_mode
    zmode = resolve_pad_mode(center, zcr_pad_mode, x.shape[-1], N, name="zcr_pad_mode")
    if not center and zmode != mode:
        raise ValueError(
            f"zcr_pad_mode must equal pad_mode when center=False (got {zcr_pad_mode!r} and "
            f"{pad_mode!r}): both must give the same frames"
        )
    if not isinstance(absolute, bool):
        raise TypeError(f"absolute must be a bool, got {absolute!r}")
    thr = check_zcr_args(threshold, zero_pos)
    rows = None if lengths is None else row_lengths(lengths, x, N, H, center, (mode, zmode))
    if rows is None:
        short, zshort = _long_frame(x, N, H, center, mode), _long_frame(x, N, H, center, zmode)
        if short is not None or zshort is not None:
            return FrameFeatures(*_long_frame_features(x, N, H, center, mode, zmode, absolute,
                                                       thr, zero_pos, short, zshort))
    ae, r, z = _ops_ns.frame_features(x, N, H, center, mode, zmode, absolute, thr, zero_pos,
                                      None if rows is None else rows.lengths)
    out = FrameFeatures(ae, r, z)
    return out if rows is None else (out, rows.frame_counts)
