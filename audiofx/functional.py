"""Public, stateless feature functions: argument checks, librosa's defaults, then one op call.

Every function takes a real floating tensor ``x`` of shape ``(..., T)`` (any leading dims are a
batch; samples in the last dim, in arbitrary units, typically [-1, 1]) on any device, and returns
contiguous tensors of ``x``'s dtype. Frame ``t`` covers samples ``[t*hop_length, t*hop_length +
frame_length)`` of the padded signal (DESIGN.md §2):

* ``center=True`` pads ``frame_length // 2`` samples on both sides with ``pad_mode`` in
  ``"constant"`` (zeros), ``"edge"``, ``"reflect"``, ``"wrap"`` (numpy's names), giving
  ``1 + (T + 2*(N//2) - N) // H`` frames — librosa's convention;
* ``center=False, pad_mode="wrap"`` completes the last frame with ``x[0], x[1], ...`` (end-wrap),
  giving ``1 + ceil(max(T - N, 0) / H)`` frames, so no sample is dropped;
* ``center=False, pad_mode=None`` does not pad (``1 + (T - N) // H`` frames, needs ``T >= N``).
  As in librosa, other pad modes are ignored without centring (no padding).

Padding is virtual in the kernels: the signal is read once and never copied padded. Devices: CPU
(float32, float64) and CUDA (also float16, bfloat16, accumulating in float).

Variable-length batches: every frame-level function takes ``lengths``, an integer tensor of shape
``x.shape[:-1]`` (for a right-padded ``(B, T)`` batch: ``(B,)``, on any device) of the valid
samples of each row, in ``[1, T]``. Each row is then computed as if it were ``x[b, :lengths[b]]``
alone: centre padding and end-wrap apply at the row's own end, and no value past ``lengths[b]``
reaches the result (the batch padding may hold anything, NaN included). The output keeps the shape
of the full-T call; frames ``t >= frame_lengths[b]`` are zero, and the function returns
``(result, frame_lengths)`` with ``frame_lengths`` (int64, ``lengths``' shape) the frame count of
each clip alone (:func:`frame_lengths`; :func:`frame_mask` gives the boolean mask).

How, and what it costs: the op runs once on the whole padded batch as usual; the few frames of
each row that read past the row's end (``frame_length // 2 // hop_length + 1`` centred, 1 with
end-wrap, none without padding) and, for centred ``wrap``, those reading the left padding, are
recomputed from a small block of the row padded at its own end (an index map built in torch,
``O(rows * frame_length)``), spliced in (``scatter``), and the frames past each row's count are
zeroed (``where``): no copy of the signal, extra work ``O(rows * frame_length + output)``. It is
differentiable through these torch ops (gradients need finite padding values: the discarded
frames still pass ``0 * value`` back) and compiles with ``torch.compile(fullgraph=True)`` (no host
sync, no data-dependent shape). The range checks on ``lengths`` (a ``ValueError`` for values
outside ``[1, T]``, ``<= frame_length // 2`` with ``reflect``, ``< frame_length`` without padding)
cost one device sync and run outside ``torch.compile`` only; under it, values are clamped into
``[1, T]`` instead.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional

import torch

from . import _ops

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
_CUDA_ONLY_DTYPES = (torch.float16, torch.bfloat16)


class FrameFeatures(NamedTuple):
    """The three frame features of one pass, each ``(..., n_frames)``."""

    amplitude_envelope: torch.Tensor
    rms: torch.Tensor
    zero_crossing_rate: torch.Tensor


def _check_x(x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (..., time), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"x must be a real floating tensor (float32 or float64; float16/bfloat16 on CUDA), "
            f"got dtype {x.dtype}"
        )
    if x.dtype in _CUDA_ONLY_DTYPES and x.device.type != "cuda":
        raise TypeError(
            f"x of dtype {x.dtype} is supported on CUDA only; on {x.device.type} use float32 or "
            f"float64"
        )
    if x.dim() == 0 or x.numel() == 0:
        raise ValueError(f"x must be non-empty with a time dimension, got shape {tuple(x.shape)}")


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _resolve_pad_mode(center, pad_mode: Optional[str], length: Optional[int], frame_length: int,
                      name: str = "pad_mode") -> str:
    """Checks (center, pad_mode) against the signal and returns the op's pad_mode string.

    ``length=None`` checks the arguments only (the per-row lengths are checked separately)."""
    if not isinstance(center, bool):
        raise TypeError(f"center must be a bool, got {type(center).__name__} {center!r}")
    if center:
        if pad_mode not in _ops.CENTER_PAD_MODES:
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, _ops.CENTER_PAD_MODES))} when "
                f"center=True, got {pad_mode!r}"
            )
        if pad_mode == "reflect" and length is not None and length <= frame_length // 2:
            raise ValueError(
                f"{name}='reflect' needs more than frame_length // 2 = {frame_length // 2} "
                f"samples, got {length}; use 'constant', 'edge' or 'wrap' for short signals"
            )
        return pad_mode
    if pad_mode is not None and pad_mode not in _ops.NOCENTER_PAD_MODES:
        raise ValueError(
            f"{name} must be 'wrap' (end-wrap), None (no padding), or one of 'constant', 'edge', "
            f"'reflect' (ignored without centring, as in librosa) when center=False, "
            f"got {pad_mode!r}"
        )
    op_mode = "wrap" if pad_mode == "wrap" else "none"
    if op_mode == "none" and length is not None and length < frame_length:
        raise ValueError(
            f"without padding x needs at least frame_length = {frame_length} samples in its last "
            f"dim, got {length}; use center=True or pad_mode='wrap'"
        )
    return op_mode


def _check_zcr_args(threshold, zero_pos) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number >= 0, got {threshold!r}")
    if not threshold >= 0 or threshold == float("inf"):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    if not isinstance(zero_pos, bool):
        raise TypeError(f"zero_pos must be a bool, got {zero_pos!r}")
    return float(threshold)


def _common(x, frame_length, hop_length, center, pad_mode):
    _check_x(x)
    N = _check_positive_int("frame_length", frame_length)
    H = _check_positive_int("hop_length", hop_length)
    mode = _resolve_pad_mode(center, pad_mode, x.shape[-1], N)
    return N, H, mode


def num_frames(length: int, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
               pad_mode: Optional[str] = "constant") -> int:
    """Number of frames the frame functions return for a signal of ``length`` samples."""
    N = _check_positive_int("frame_length", frame_length)
    H = _check_positive_int("hop_length", hop_length)
    mode = _resolve_pad_mode(center, pad_mode, length, N)
    return int(_ops.n_frames(length, N, H, center, mode))


# ---------------------------------------------------------------------------------------------
# Variable-length batches: ``lengths`` of a right-padded batch.
#
# Row b of a padded batch holds its clip in x[b, :lengths[b]] and anything after it. The full-T
# call already gives the clip's own value for every frame that neither reaches past the clip's end
# nor (centred wrap only) reads the left padding, which wraps with the row's own length. Those few
# frames per row (a fixed number: N//2//H + 1 at the end, ceil(N//2 / H) at the start) are
# recomputed from a small block of the row padded at its own end (DESIGN §2 with T = lengths[b],
# built in torch as an index map), spliced in, and the frames past each row's own count are zeroed.
# Extra cost O(rows * frame_length + output); no Python loop over rows, no data-dependent shape.

def _check_lengths(lengths, x: torch.Tensor) -> torch.Tensor:
    """``lengths`` as an int64 tensor on x's device, after its type and shape checks."""
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(f"lengths must be an integer torch.Tensor of shape x.shape[:-1] = "
                        f"{tuple(x.shape[:-1])} (valid samples per row), got "
                        f"{type(lengths).__name__}")
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"lengths must be an integer tensor (valid samples per row, e.g. int64), "
                        f"got dtype {lengths.dtype}")
    if tuple(lengths.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"lengths must have shape x.shape[:-1] = {tuple(x.shape[:-1])} (one "
                         f"count per row of the right-padded batch), got {tuple(lengths.shape)}")
    return lengths.to(device=x.device, dtype=torch.int64)


def _check_length_values(lengths: torch.Tensor, T: Optional[int], frame_length: int,
                         modes) -> None:
    """Host-side range checks of the per-row lengths (one device sync), before any kernel runs.

    Skipped under ``torch.compile`` (the values are data there); the index maps then clamp each
    length into ``[1, T]`` so that nothing is read out of bounds."""
    if torch.compiler.is_compiling() or lengths.numel() == 0:
        return
    lo, hi = (int(v) for v in torch.aminmax(lengths))
    if lo < 1 or (T is not None and hi > T):
        upper = f"T = {T} (the padded length of x)" if T is not None else "the padded length"
        raise ValueError(f"lengths must lie in [1, {upper}], got values in [{lo}, {hi}]")
    if "reflect" in modes and lo <= frame_length // 2:
        raise ValueError(f"pad_mode='reflect' needs every lengths value > frame_length // 2 = "
                         f"{frame_length // 2}, got a row of {lo} samples; use 'constant', "
                         f"'edge' or 'wrap' for short clips")
    if "none" in modes and lo < frame_length:
        raise ValueError(f"without padding every lengths value must be >= frame_length = "
                         f"{frame_length}, got a row of {lo} samples; use center=True or "
                         f"pad_mode='wrap'")


def _frame_counts(lengths: torch.Tensor, N: int, H: int, center: bool, mode: str) -> torch.Tensor:
    """DESIGN §2's frame count applied elementwise to an int64 tensor of lengths."""
    if center:
        return 1 + torch.div(lengths + (2 * (N // 2) - N), H, rounding_mode="floor")
    if mode == "wrap":
        excess = (lengths - N).clamp(min=0)
        return 1 + torch.div(excess + (H - 1), H, rounding_mode="floor")
    return 1 + torch.div(lengths - N, H, rounding_mode="floor")


class _Rows(NamedTuple):
    """A checked variable-length call: the int64 lengths (clamped into [1, T]), each row's own
    frame count, and the frame count of the full-T call (the output's)."""

    lengths: torch.Tensor
    frame_counts: torch.Tensor
    n_frames: int


def _rows(lengths, x: torch.Tensor, N: int, H: int, center: bool, modes) -> _Rows:
    L = _check_lengths(lengths, x)
    T = x.shape[-1]
    _check_length_values(L, T, N, modes)
    L = L.clamp(1, T)
    return _Rows(L, _frame_counts(L, N, H, center, modes[0]),
                 _ops.n_frames(T, N, H, center, modes[0]))


def _row_source(j: torch.Tensor, L: torch.Tensor, mode: str) -> torch.Tensor:
    """In-row source index of relative position ``j`` (``padded position - pad_left``) of a row of
    ``L`` samples: DESIGN §2's index map (csrc/framing.h ``source_index``) with T = L, clamped
    into ``[0, L)`` so that it is always a sample of the row (constant padding: the caller zeroes
    the positions outside ``[0, L)``)."""
    if mode == "reflect":
        j = torch.where(j < 0, -j, torch.where(j >= L, 2 * (L - 1) - j, j))
    elif mode == "wrap":  # centred numpy wrap and end-wrap are both periodic in the row's length
        return torch.remainder(j, L)
    return torch.minimum(j.clamp(min=0), L - 1)


def _row_blocks(x: torch.Tensor, rows: _Rows, N: int, H: int, center: bool, mode: str) -> list:
    """``[(t0, block)]``: for each group of frames the full-T call may get wrong in some row, the
    first frame ``t0`` (per row, int64 ``(...)``) and ``block`` ``(..., (K-1)*H + N)``, the row
    padded at its own end from padded position ``t0*H`` on, whose K unpadded frames are the row's
    frames ``t0 .. t0+K-1`` (frames past its own count there are finite filler, zeroed later).
    Nothing past ``lengths[b]`` is read."""
    if mode == "none":
        return []  # no padding: a frame inside the row is the same in the full-T call
    left = N // 2 if center else 0
    L = rows.lengths.unsqueeze(-1)
    groups = []
    if center and mode == "wrap":
        # The left padding wraps with the row's own length: frames starting before `left`.
        groups.append((torch.zeros_like(rows.frame_counts), -(-left // H)))
    # The valid frames reaching past the row's end: frames t <= n_b - 1 with t*H + N > left + L,
    # at most left // H + 1 of them centred (n_b - 1 = (L + 2*left - N) // H), 1 with end-wrap.
    K_end = left // H + 1 if center else 1
    groups.append((rows.frame_counts - K_end, K_end))
    out = []
    for t0, K in groups:
        K = min(K, rows.n_frames)
        if K < 1:
            continue
        t0 = t0.clamp(min=0)
        j = (t0 * H).unsqueeze(-1) + torch.arange((K - 1) * H + N, device=x.device) - left
        if mode == "constant":
            src = torch.minimum(j.clamp(min=0), L - 1)
            block = torch.where((j >= 0) & (j < L), x.gather(-1, src), x.new_zeros(()))
        else:
            block = x.gather(-1, _row_source(j, L, mode))
        out.append((t0, block))
    return out


def _splice(out: torch.Tensor, t0: torch.Tensor, part: torch.Tensor,
            frame_dim: int) -> torch.Tensor:
    """``out`` with frames ``t0[rows] + k`` (``k < K``) along ``frame_dim`` replaced by ``part``'s
    K frames (``part``: ``out``'s shape with K frames)."""
    K = part.shape[frame_dim]
    idx = t0.unsqueeze(-1) + torch.arange(K, device=t0.device)
    after = -frame_dim - 1
    between = part.dim() - t0.dim() - 1 - after
    idx = idx.reshape(*t0.shape, *(1,) * between, K, *(1,) * after).expand(part.shape)
    return out.scatter(frame_dim, idx, part)


def _valid_frames(frame_counts: torch.Tensor, n_frames: int) -> torch.Tensor:
    """``(..., n_frames)`` bool: frame t of row b is valid when ``t < frame_counts[b]``."""
    t = torch.arange(n_frames, device=frame_counts.device, dtype=torch.int64)
    return t < frame_counts.unsqueeze(-1)


def _zero_past(out: torch.Tensor, rows: _Rows, frame_dim: int) -> torch.Tensor:
    """``out`` (``(*rows, ..., n_frames, ...)``, the frames at ``frame_dim`` < 0) with the frames
    ``t >= frame_counts[rows]`` zeroed; contiguous."""
    fc = rows.frame_counts
    n = out.shape[frame_dim]
    after = -frame_dim - 1
    between = out.dim() - fc.dim() - 1 - after
    mask = _valid_frames(fc, n).reshape(*fc.shape, *(1,) * between, n, *(1,) * after)
    return torch.where(mask, out, out.new_zeros(())).contiguous()


def _per_row(x: torch.Tensor, rows: _Rows, N: int, H: int, center: bool, mode: str, full,
             op, frame_dim: int = -1):
    """The variable-length result of a one-output op: ``full`` (the full-T call) with each row's
    end (and start) frames from ``op(block)`` (the op without padding), zeroed past the counts."""
    for t0, block in _row_blocks(x, rows, N, H, center, mode):
        full = _splice(full, t0, op(block), frame_dim)
    return _zero_past(full, rows, frame_dim)


def frame_lengths(lengths: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                  center: bool = True, pad_mode: Optional[str] = "constant") -> torch.Tensor:
    """Valid frame count of each row of a right-padded batch: :func:`num_frames` elementwise.

    Args:
        lengths: integer tensor (any shape, any device) of valid samples per row (>= 1;
            > frame_length // 2 for ``pad_mode="reflect"``, >= frame_length without padding).
        frame_length, hop_length, center, pad_mode: framing (module docstring).

    Returns:
        int64 tensor of ``lengths``' shape and device. Works on tensors under ``torch.compile``
        (the range checks, one device sync, run only outside it).
    """
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(f"lengths must be an integer torch.Tensor, got {type(lengths).__name__}")
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"lengths must be an integer tensor (valid samples per row, e.g. int64), "
                        f"got dtype {lengths.dtype}")
    N = _check_positive_int("frame_length", frame_length)
    H = _check_positive_int("hop_length", hop_length)
    mode = _resolve_pad_mode(center, pad_mode, None, N)
    L = lengths.to(torch.int64)
    _check_length_values(L, None, N, (mode,))
    return _frame_counts(L, N, H, center, mode)


def frame_mask(lengths: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
               center: bool = True, pad_mode: Optional[str] = "constant",
               n_frames: Optional[int] = None) -> torch.Tensor:
    """Boolean mask of the valid frames of a right-padded batch.

    Args:
        lengths: integer tensor ``(...)`` of valid samples per row (see :func:`frame_lengths`).
        frame_length, hop_length, center, pad_mode: framing (module docstring).
        n_frames: frames of the mask (>= 1), e.g. ``features.shape[-1]`` to match a feature
            tensor computed from the padded batch; default: the largest valid count (a device
            sync and a data-dependent shape: pass it under ``torch.compile``).

    Returns:
        bool ``(..., n_frames)`` on ``lengths``' device, True where ``t < frame_lengths[...]``.
    """
    counts = frame_lengths(lengths, frame_length, hop_length, center, pad_mode)
    if n_frames is None:
        n_frames = int(counts.max()) if counts.numel() else 1
    n_frames = _check_positive_int("n_frames", n_frames)
    return _valid_frames(counts, n_frames)


def frame(x: torch.Tensor, frame_length: int, hop_length: int, center: bool = False,
          pad_mode: Optional[str] = "wrap", *, lengths: Optional[torch.Tensor] = None):
    """Slice ``x`` into (padded) frames, materialised.

    Args:
        x: ``(..., T)`` signal.
        frame_length: samples per frame ``N`` (>= 1).
        hop_length: samples between frame starts ``H`` (>= 1).
        center, pad_mode: padding, see the module docstring. The default is the end-wrap
            convention: the last frame is completed with the start of the signal.
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            the module docstring.

    Returns:
        ``(..., n_frames, N)``: ``out[..., t, n] = padded[..., t*H + n]``. Differs from
        ``librosa.util.frame`` in layout (frames first, then samples); see
        :func:`audiofx.compat.librosa.util.frame` for librosa's. With ``lengths``:
        ``(frames, frame_lengths)``, the frames ``t >= frame_lengths[...]`` all zero.
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    if lengths is None:
        return _ops_ns.frame(x, N, H, center, mode)
    rows = _rows(lengths, x, N, H, center, (mode,))
    out = _per_row(x, rows, N, H, center, mode, _ops_ns.frame(x, N, H, center, mode),
                   lambda b: _ops_ns.frame(b, N, H, False, "none"), frame_dim=-2)
    return out, rows.frame_counts


def amplitude_envelope(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True, pad_mode: Optional[str] = "constant",
                       absolute: bool = False, *, lengths: Optional[torch.Tensor] = None):
    """Amplitude envelope: the largest sample of each frame.

    Args:
        x: ``(..., T)`` signal.
        frame_length, hop_length, center, pad_mode: framing (module docstring); padded samples
            take part (so zero padding makes the envelope of a negative signal 0 at the ends).
        absolute: take the largest ``|x|`` instead of the largest signed value.
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            the module docstring.

    Returns:
        ``(..., n_frames)`` in the units of ``x``. NaN in a frame gives NaN (as ``numpy.max``).
        With ``lengths``: ``(envelope, frame_lengths)``.
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    if not isinstance(absolute, bool):
        raise TypeError(f"absolute must be a bool, got {absolute!r}")
    if lengths is None:
        return _ops_ns.amplitude_envelope(x, N, H, center, mode, absolute)
    rows = _rows(lengths, x, N, H, center, (mode,))
    out = _per_row(x, rows, N, H, center, mode,
                   _ops_ns.amplitude_envelope(x, N, H, center, mode, absolute),
                   lambda b: _ops_ns.amplitude_envelope(b, N, H, False, "none", absolute))
    return out, rows.frame_counts


def rms(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
        pad_mode: Optional[str] = "constant", *, lengths: Optional[torch.Tensor] = None):
    """Root-mean-square energy per frame: ``sqrt(sum(x_i**2) / N)`` over the padded frame.

    Equals ``librosa.feature.rms(y=x)[..., 0, :]`` with the same arguments. Sums accumulate in
    float64 on CPU (float32 on CUDA for float32/half/bfloat16 inputs).

    Args:
        x: ``(..., T)`` signal.
        frame_length, hop_length, center, pad_mode: framing (module docstring).
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            the module docstring.

    Returns:
        ``(..., n_frames)`` in the units of ``x``. With ``lengths``: ``(rms, frame_lengths)``.
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    if lengths is None:
        return _ops_ns.rms(x, N, H, center, mode)
    rows = _rows(lengths, x, N, H, center, (mode,))
    out = _per_row(x, rows, N, H, center, mode, _ops_ns.rms(x, N, H, center, mode),
                   lambda b: _ops_ns.rms(b, N, H, False, "none"))
    return out, rows.frame_counts


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
        frame_length, hop_length, center, pad_mode: framing (module docstring).
        threshold: magnitude at or below which a sample counts as 0 (>= 0, units of ``x``).
        zero_pos: whether 0 counts as positive.
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            the module docstring.

    Returns:
        ``(..., n_frames)``, values in ``[0, (N-1)/N]`` (a rate per sample, not per second).
        With ``lengths``: ``(rate, frame_lengths)``.
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    thr = _check_zcr_args(threshold, zero_pos)
    if lengths is None:
        return _ops_ns.zero_crossing_rate(x, N, H, center, mode, thr, zero_pos)
    rows = _rows(lengths, x, N, H, center, (mode,))
    out = _per_row(x, rows, N, H, center, mode,
                   _ops_ns.zero_crossing_rate(x, N, H, center, mode, thr, zero_pos),
                   lambda b: _ops_ns.zero_crossing_rate(b, N, H, False, "none", thr, zero_pos))
    return out, rows.frame_counts


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
            right-padded batch (module docstring), its own end padded with ``pad_mode`` and,
            for the zero-crossing rate, ``zcr_pad_mode``.

    Returns:
        :class:`FrameFeatures` ``(amplitude_envelope, rms, zero_crossing_rate)``, each
        ``(..., n_frames)``. With ``lengths``: ``(features, frame_lengths)``, every feature
        zero on the frames ``t >= frame_lengths[...]``.
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    if zcr_pad_mode is None:
        zcr_pad_mode = "edge" if center else pad_mode
    zmode = _resolve_pad_mode(center, zcr_pad_mode, x.shape[-1], N, name="zcr_pad_mode")
    if not center and zmode != mode:
        raise ValueError(
            f"zcr_pad_mode must equal pad_mode when center=False (got {zcr_pad_mode!r} and "
            f"{pad_mode!r}): both must give the same frames"
        )
    if not isinstance(absolute, bool):
        raise TypeError(f"absolute must be a bool, got {absolute!r}")
    thr = _check_zcr_args(threshold, zero_pos)
    if lengths is None:
        ae, r, z = _ops_ns.frame_features(x, N, H, center, mode, zmode, absolute, thr, zero_pos)
        return FrameFeatures(ae, r, z)
    rows = _rows(lengths, x, N, H, center, (mode, zmode))
    ae, r, z = _ops_ns.frame_features(x, N, H, center, mode, zmode, absolute, thr, zero_pos)
    for t0, block in _row_blocks(x, rows, N, H, center, mode):
        bae, br, bz = _ops_ns.frame_features(block, N, H, False, "none", "none", absolute, thr,
                                             zero_pos)
        ae, r = _splice(ae, t0, bae, -1), _splice(r, t0, br, -1)
        if zmode == mode:
            z = _splice(z, t0, bz, -1)
    if zmode != mode:  # the zero-crossing rate's own padding (edge when centred)
        for t0, block in _row_blocks(x, rows, N, H, center, zmode):
            z = _splice(z, t0, _ops_ns.zero_crossing_rate(block, N, H, False, "none", thr,
                                                          zero_pos), -1)
    return FrameFeatures(_zero_past(ae, rows, -1), _zero_past(r, rows, -1),
                         _zero_past(z, rows, -1)), rows.frame_counts


# ---------------------------------------------------------------------------------------------
# Spectral functions (DESIGN §3): the STFT, spectral centroid and bandwidth.

__all__ += [
    "get_window",
    "stft",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_features",
    "SPECTRAL_FEATURES",
]

# Periodic cosine-sum windows, scipy.signal.get_window(name, M, fftbins=True):
# w[n] = sum_k a_k cos(k * (-pi + 2 pi n / M)), n = 0..M-1.
_COSINE_WINDOWS = {
    "hann": (0.5, 0.5),
    "hamming": (0.54, 0.46),
    "blackman": (0.42, 0.50, 0.08),
    "rectangular": (1.0,),
    "boxcar": (1.0,),
    "ones": (1.0,),
}

#: Features :func:`spectral_features` computes.
SPECTRAL_FEATURES = ("centroid", "bandwidth")


def get_window(window, win_length: int, *, dtype: torch.dtype = torch.float64,
               device=None) -> torch.Tensor:
    """A periodic analysis window of ``win_length`` samples, built in torch.

    Args:
        window: ``"hann"``, ``"hamming"``, ``"blackman"`` or ``"rectangular"`` (also
            ``"boxcar"``, ``"ones"``): equal to ``scipy.signal.get_window(window, win_length,
            fftbins=True)`` (to float64 rounding); or a 1-D tensor of length ``win_length``,
            returned converted.
        win_length: window length (>= 1).
        dtype, device: of the result (computed in float64, then converted).

    Returns:
        ``(win_length,)`` tensor.
    """
    M = _check_positive_int("win_length", win_length)
    if isinstance(window, torch.Tensor):
        if window.dim() != 1 or window.shape[0] != M:
            raise ValueError(f"window must be 1-D of length win_length = {M}, got shape "
                             f"{tuple(window.shape)}")
        if window.is_complex() or not window.is_floating_point():
            raise TypeError(f"window must be a real floating tensor, got dtype {window.dtype}")
        return window.to(device=device if device is not None else window.device, dtype=dtype)
    if not isinstance(window, str) or window not in _COSINE_WINDOWS:
        raise ValueError(f"window must be one of {', '.join(map(repr, _COSINE_WINDOWS))} or a 1-D "
                         f"tensor of length win_length, got {window!r}")
    coeffs = _COSINE_WINDOWS[window]
    if M == 1 or len(coeffs) == 1:
        return torch.ones(M, dtype=dtype, device=device)
    # numpy's linspace(-pi, pi, M + 1)[:-1], term by term as scipy's general_cosine.
    fac = torch.arange(M, dtype=torch.float64, device=device) * (2.0 * math.pi / M) - math.pi
    w = torch.zeros(M, dtype=torch.float64, device=device)
    for k, a in enumerate(coeffs):
        w = w + a * torch.cos(k * fac)
    return w.to(dtype)


def _stft_window(window, win_length: int, n_fft: int, x: torch.Tensor,
                 dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """The window zero-padded to n_fft at the centre (librosa's util.pad_center), in ``dtype``
    (default x's), on x's device."""
    w = get_window(window, win_length, dtype=dtype or x.dtype, device=x.device)
    if win_length < n_fft:
        lpad = (n_fft - win_length) // 2
        w = torch.nn.functional.pad(w, (lpad, n_fft - win_length - lpad))
    return w.contiguous()


def _stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode,
               window_dtype: Optional[torch.dtype] = None):
    """Checks the STFT arguments; returns (n_fft, hop_length, op pad_mode, padded window)."""
    _check_x(x)
    n_fft = _check_positive_int("n_fft", n_fft)
    if win_length is None:
        win_length = n_fft
    win_length = _check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length must be <= n_fft = {n_fft}, got {win_length}")
    if hop_length is None:
        hop_length = win_length // 4
        if hop_length < 1:
            raise ValueError(f"hop_length defaults to win_length // 4, which is 0 for "
                             f"win_length = {win_length}; pass hop_length >= 1")
    H = _check_positive_int("hop_length", hop_length)
    mode = _resolve_pad_mode(center, pad_mode, x.shape[-1], n_fft)
    return n_fft, H, mode, _stft_window(window, win_length, n_fft, x, window_dtype)


def stft(x: torch.Tensor, n_fft: int = 2048, hop_length: Optional[int] = None,
         win_length: Optional[int] = None, window="hann", center: bool = True,
         pad_mode: Optional[str] = "constant", *, lengths: Optional[torch.Tensor] = None):
    """Short-time Fourier transform, librosa's definition and layout.

    Each frame ``t`` (the module docstring's framing with ``frame_length = n_fft``) is multiplied
    by the window and transformed with a real FFT (no normalisation). The pad-frame-window step is
    one fused kernel (``torch.ops.audiofx.stft_frames``, padding virtual); the FFT is
    ``torch.fft.rfft`` (pocketfft/MKL on CPU, cuFFT on CUDA). A CPU spectrogram of 4 MiB or
    more outside autograd and ``torch.compile`` is built in chunks of rows and frames straight
    into the output (same values; peak memory about the output's instead of ~3x).

    Args:
        x: ``(..., T)`` signal.
        n_fft: FFT length (>= 1).
        hop_length: samples between frames; default ``win_length // 4``.
        win_length: window length ``<= n_fft``, default ``n_fft``; a shorter window is
            zero-padded to ``n_fft`` at the centre (as librosa).
        window: a name (see :func:`get_window`, periodic as ``scipy.signal.get_window``) or a 1-D
            tensor of length ``win_length``.
        center, pad_mode: padding (module docstring). Unlike ``librosa.stft``, ``"wrap"`` is
            supported (and ``center=False, pad_mode="wrap"`` is end-wrap).
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            the module docstring.

    Returns:
        Complex ``(..., 1 + n_fft // 2, n_frames)`` of ``x``'s precision, contiguous: the values
        and layout of ``librosa.stft`` and ``torch.stft(..., return_complex=True)``.
        Devices: CPU and CUDA (float16 on CUDA only where cuFFT supports ``n_fft``: powers of 2).
        With ``lengths``: ``(spectrogram, frame_lengths)``, the columns (frames, last dim)
        ``t >= frame_lengths[...]`` all zero.
    """
    n_fft, H, mode, w = _stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode)
    if lengths is None:
        if _stft_in_chunks(x, w, n_fft, H, center, mode):
            return _stft_chunks(x, w, n_fft, H, center, mode)
        frames = _ops_ns.stft_frames(x, w, n_fft, H, center, mode)
        return torch.fft.rfft(frames, dim=-1).transpose(-1, -2).contiguous()
    rows = _rows(lengths, x, n_fft, H, center, (mode,))
    frames = _ops_ns.stft_frames(x, w, n_fft, H, center, mode)
    for t0, block in _row_blocks(x, rows, n_fft, H, center, mode):
        frames = _splice(frames, t0, _ops_ns.stft_frames(block, w, n_fft, H, False, "none"), -2)
    # Zeroed windowed frames transform to exact zeros: no complex where (none for complex32).
    frames = _zero_past(frames, rows, -2)
    return torch.fft.rfft(frames, dim=-1).transpose(-1, -2).contiguous(), rows.frame_counts


#: From this many output bytes on, a CPU ``stft`` outside autograd is built in chunks.
_STFT_CHUNK_MIN_BYTES = 4 << 20
#: Windowed-frame bytes per row chunk (the frames of a few rows are alive at a time).
_STFT_ROWS_BYTES = 4 << 20
#: Spectrum bytes per FFT call: L2-sized, so the transposing copy into the output reads from
#: cache instead of striding through a spectrum the size of the output.
_STFT_FFT_BYTES = 1 << 20


def _stft_in_chunks(x, w, n_fft, H, center, mode) -> bool:
    """Whether :func:`stft` takes the chunked path: a large CPU spectrogram outside autograd and
    ``torch.compile`` (which see the one-shot path)."""
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return False
    if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
        return False
    rows = x.numel() // x.shape[-1]
    nf = int(_ops.n_frames(x.shape[-1], n_fft, H, center, mode))
    return rows * nf * (n_fft // 2 + 1) * 2 * x.element_size() >= _STFT_CHUNK_MIN_BYTES


def _stft_chunks(x, w, n_fft, H, center, mode) -> torch.Tensor:
    """The contiguous ``(..., bins, frames)`` spectrogram built in chunks: the windowed frames of
    a few rows at a time, their FFT a few frames at a time, each transposed into the output from
    cache. The peak is the output plus one row chunk's frames, not the frames of the whole batch,
    their ``(frames, bins)`` spectrum and its transposed copy together (~3x the output), and
    the transposition is ~3x faster (benchmarks/NOTES.md §6)."""
    T = x.shape[-1]
    flat = x.reshape(-1, T)
    rows = flat.shape[0]
    nf = int(_ops.n_frames(T, n_fft, H, center, mode))
    bins = n_fft // 2 + 1
    item = 2 * x.element_size()
    per_rows = max(1, _STFT_ROWS_BYTES // max(1, nf * n_fft * x.element_size()))
    per_frames = max(1, _STFT_FFT_BYTES // (bins * item))
    out = None
    for r0 in range(0, rows, per_rows):
        frames = _ops_ns.stft_frames(flat[r0:r0 + per_rows], w, n_fft, H, center, mode)
        if out is None:
            cdtype = torch.complex128 if frames.dtype == torch.float64 else torch.complex64
            out = torch.empty((rows, bins, nf), dtype=cdtype, device=x.device)
        for t0 in range(0, nf, per_frames):
            spec = torch.fft.rfft(frames[:, t0:t0 + per_frames], dim=-1)
            out[r0:r0 + per_rows, :, t0:t0 + per_frames].copy_(spec.transpose(-1, -2))
        del frames
    return out.reshape(*x.shape[:-1], bins, nf)


def _check_real(name: str, value, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def _bin_hz(sr: float, n_fft: int) -> float:
    """numpy's rfftfreq step, 1 / (n * d) with d = 1 / sr, rounded as numpy rounds it."""
    return 1.0 / (n_fft * (1.0 / sr))


def _freq_tensor(freq, n_bins: int, device) -> Optional[torch.Tensor]:
    if freq is None:
        return None
    f = freq if isinstance(freq, torch.Tensor) else torch.as_tensor(freq)
    if f.is_complex() or not (f.is_floating_point() or f.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"freq must be a real tensor of bin frequencies, got dtype {f.dtype}")
    if f.dim() != 1 or f.shape[0] != n_bins:
        raise ValueError(f"freq must be 1-D with one frequency per bin ({n_bins}), got shape "
                         f"{tuple(f.shape)} (per-frame frequencies are not supported)")
    return f.to(device=device, dtype=torch.float64).contiguous()


def _check_S(S) -> None:
    if not isinstance(S, torch.Tensor):
        raise TypeError(f"S must be a torch.Tensor of shape (..., n_bins, n_frames), got "
                        f"{type(S).__name__}")
    if S.is_complex() or not S.is_floating_point():
        raise TypeError(f"S must be a real floating tensor (a magnitude spectrogram, e.g. "
                        f"stft(x).abs()), got dtype {S.dtype}")
    if S.dtype in _CUDA_ONLY_DTYPES and S.device.type != "cuda":
        raise TypeError(f"S of dtype {S.dtype} is supported on CUDA only; on {S.device.type} use "
                        f"float32 or float64")
    if S.dim() < 2 or S.shape[-2] < 1:
        raise ValueError(f"S must have shape (..., n_bins, n_frames) with n_bins >= 1, got "
                         f"{tuple(S.shape)}")


def _spectral_compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The precision in which the statistics from x window and transform the frames: the
    accumulation type (float64 on CPU, as librosa, whose float32 STFT is float64 inside; float32
    on CUDA for float32/float16/bfloat16)."""
    return torch.float64 if x.dtype == torch.float64 or x.device.type == "cpu" else torch.float32


def _check_bandwidth_args(p, norm) -> float:
    p = _check_real("p", p)
    if not isinstance(norm, bool):
        raise TypeError(f"norm must be a bool, got {norm!r}")
    return p


def _n_fft_of_spectrogram(n_fft, n_bins: int) -> int:
    """librosa's rule for a given spectrogram: ``n_fft`` is kept when ``n_fft // 2 + 1`` matches
    the bins (so an odd ``n_fft`` stays odd), else it is ``2 * (n_bins - 1)``."""
    if isinstance(n_fft, bool) or not isinstance(n_fft, numbers.Integral) or n_fft < 1 \
            or n_fft // 2 + 1 != n_bins:
        return 2 * (n_bins - 1)
    return int(n_fft)


def _spectral_input(x, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq,
                    lengths=None):
    """Shared front end of the spectral functions: ("S", S, freq, bin_hz) or
    ("x", (n_fft, hop, mode, window), freq, bin_hz)."""
    if (x is None) == (S is None):
        raise ValueError("pass exactly one of x (a signal (..., T)) or S (a magnitude "
                         "spectrogram (..., n_bins, n_frames))")
    if lengths is not None and S is not None:
        raise ValueError("lengths applies to a signal x only: with S the frames are already "
                         "made; zero S's invalid frames yourself (frame_mask) or pass x")
    sr = _check_real("sr", sr)
    if S is not None:
        _check_S(S)
        n_bins = S.shape[-2]
        n_fft_S = _n_fft_of_spectrogram(n_fft, n_bins)
        if freq is None and n_fft_S < 1:
            raise ValueError("S needs at least 2 bins to infer n_fft = 2 * (n_bins - 1); pass "
                             "freq for a single bin")
        bin_hz = _bin_hz(sr, n_fft_S) if n_fft_S >= 1 else 0.0
        return "S", S, _freq_tensor(freq, n_bins, S.device), bin_hz
    # The statistics window in float64 (as librosa): the kernels window and transform in their
    # accumulation type.
    args = _stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode, torch.float64)
    n_fft = args[0]
    return "x", args, _freq_tensor(freq, n_fft // 2 + 1, x.device), _bin_hz(sr, n_fft)


def spectral_centroid(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                      sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                      win_length: Optional[int] = None, window="hann", center: bool = True,
                      pad_mode: Optional[str] = "constant", freq=None,
                      lengths: Optional[torch.Tensor] = None):
    """Spectral centroid per frame: ``c = sum_k f_k S_k / sum_k S_k`` on the magnitude
    spectrogram ``S``, librosa's definition and defaults.

    Pass either ``x`` (``(..., T)``; then ``S = |stft(x)|`` with the STFT arguments, computed in
    cache-sized chunks without materialising the spectrogram, see :func:`spectral_features`) or
    ``S`` (``(..., n_bins, n_frames)``, non-negative: not checked; ``n_fft`` is then
    ``2 * (n_bins - 1)`` as in librosa). A frame whose ``sum_k S_k`` is below the dtype's tiny
    is not normalised, so silence gives 0, not NaN (librosa's ``util.normalize`` threshold).

    Args:
        sr: sampling rate (> 0); ``f_k = k * sr / n_fft`` unless ``freq`` is given.
        freq: optional 1-D bin frequencies (``n_bins``), any real dtype (used in float64).
        n_fft, hop_length, win_length, window, center, pad_mode: as :func:`stft` (used with x).
        lengths: optional integer tensor of shape ``x.shape[:-1]``: valid samples per row of a
            right-padded batch (module docstring); only with ``x`` (a ValueError with ``S``).

    Returns:
        ``(..., n_frames)`` of the input's dtype (``librosa.feature.spectral_centroid(...)[...,
        0, :]``). With ``lengths``: ``(centroid, frame_lengths)``.

    Precision: from ``x``, frames are windowed (float64 window) and transformed in the
    accumulation type, float64 on CPU (as librosa, whose float32 STFT is float64 inside; a float32
    FFT's round-off, ~1e-7 of a frame's peak in every bin, moves the bandwidth of a pure tone by
    ~1e-3 at p=2) and float32 on CUDA for float32/float16/bfloat16; sums accumulate in float64 on
    CPU. From ``S`` the sums accumulate the same way.
    """
    kind, src, f, bin_hz = _spectral_input(x, S, sr, n_fft, hop_length, win_length, window,
                                           center, pad_mode, freq, lengths)
    if kind == "S":
        return _ops_ns.spectral_stats(src, f, bin_hz, None, 2.0, True)[0]
    n, H, mode, w = src
    if lengths is None:
        return _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, 2.0, True)[0]
    rows = _rows(lengths, x, n, H, center, (mode,))
    c = _per_row(x, rows, n, H, center, mode,
                 _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, 2.0, True)[0],
                 lambda b: _ops_ns.spectral_features(b, w, n, H, False, "none", f, bin_hz, 2.0,
                                                     True)[0])
    return c, rows.frame_counts


def spectral_bandwidth(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                       sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                       win_length: Optional[int] = None, window="hann", center: bool = True,
                       pad_mode: Optional[str] = "constant", freq=None,
                       centroid: Optional[torch.Tensor] = None, norm: bool = True,
                       p: float = 2, lengths: Optional[torch.Tensor] = None):
    """p-th order spectral bandwidth per frame: ``(sum_k S'_k |f_k - c|^p)^(1/p)``,
    librosa's definition and defaults.

    ``S'`` is ``S`` normalised per frame to sum 1 (``norm=True``; frames summing below the
    dtype's tiny are left as they are, as librosa) or ``S`` itself (``norm=False``); ``c`` is the
    spectral centroid of the frame, or ``centroid`` when given. Input as
    :func:`spectral_centroid` (``x`` or ``S``). Each frame is reduced in two sweeps over its
    column held in cache (centroid, then deviations), so any ``p`` is exact and ``S`` is read once.

    Args:
        centroid: optional precomputed centroid, broadcastable to ``(..., n_frames)``.
        norm: normalise each frame before the sum.
        p: order of the deviation (> 0; librosa's domain, 2 by default).
        lengths: optional integer tensor of shape ``x.shape[:-1]``: valid samples per row of a
            right-padded batch (module docstring); only with ``x`` (a ValueError with ``S``).
            A given ``centroid`` is used as it is on the valid frames.

    Returns:
        ``(..., n_frames)`` of the input's dtype
        (``librosa.feature.spectral_bandwidth(...)[..., 0, :]``). Precision as
        :func:`spectral_centroid`. With ``lengths``: ``(bandwidth, frame_lengths)``.
    """
    p = _check_bandwidth_args(p, norm)
    kind, src, f, bin_hz = _spectral_input(x, S, sr, n_fft, hop_length, win_length, window,
                                           center, pad_mode, freq, lengths)
    rows = None
    if kind == "x":
        n, H, mode, w = src
        if lengths is not None:
            rows = _rows(lengths, x, n, H, center, (mode,))
        if centroid is None:
            def bandwidth(sig, c, m):
                return _ops_ns.spectral_features(sig, w, n, H, c, m, f, bin_hz, p, norm)[1]

            b = bandwidth(x, center, mode)
            if rows is None:
                return b
            return _per_row(x, rows, n, H, center, mode, b,
                            lambda blk: bandwidth(blk, False, "none")), rows.frame_counts
        # With a given centroid: the spectrogram materialised, in spectral_features' precision.
        compute = _spectral_compute_dtype(x)
        wc = w.to(compute)
        frames = _ops_ns.stft_frames(x.to(compute), wc, n, H, center, mode)
        if rows is not None:
            for t0, block in _row_blocks(x, rows, n, H, center, mode):
                frames = _splice(frames, t0,
                                 _ops_ns.stft_frames(block.to(compute), wc, n, H, False, "none"),
                                 -2)
        src = torch.fft.rfft(frames, dim=-1).abs().transpose(-1, -2)
    if centroid is not None:
        if not isinstance(centroid, torch.Tensor):
            centroid = torch.as_tensor(centroid)
        shape = (*src.shape[:-2], src.shape[-1])
        try:
            centroid = torch.broadcast_to(centroid, shape)
        except RuntimeError as e:
            raise ValueError(f"centroid must be broadcastable to (..., n_frames) = {shape}, got "
                             f"shape {tuple(centroid.shape)}") from e
        centroid = centroid.to(device=src.device, dtype=torch.float64).contiguous()
    b = _ops_ns.spectral_stats(src, f, bin_hz, centroid, p, norm)[1].to(
        x.dtype if x is not None else src.dtype)
    return b if rows is None else (_zero_past(b, rows, -1), rows.frame_counts)


def spectral_features(x: torch.Tensor, sr: float = 22050, n_fft: int = 2048,
                      hop_length: Optional[int] = 512, win_length: Optional[int] = None,
                      window="hann", center: bool = True, pad_mode: Optional[str] = "constant",
                      freq=None, p: float = 2, norm: bool = True,
                      features=SPECTRAL_FEATURES, chunk_frames: Optional[int] = None, *,
                      lengths: Optional[torch.Tensor] = None):
    """Several spectral features of ``x`` from one STFT that is never materialised whole.

    Frames are windowed, transformed (``torch.fft``) and reduced in chunks of ``chunk_frames``
    (default: sized so that a chunk's frames and spectrum fit in L2 on CPU, one chunk per task
    with a single-threaded FFT; large batches on CUDA), each chunk once, so the extra memory is
    O(chunk) instead of the full complex spectrogram. One op call
    (``torch.ops.audiofx.spectral_features``), so it compiles with
    ``torch.compile(fullgraph=True)``. Precision as :func:`spectral_centroid` (float64 frames and
    FFT on CPU).

    Args:
        x: ``(..., T)`` signal.
        sr, n_fft, hop_length, win_length, window, center, pad_mode, freq: as
            :func:`spectral_centroid`.
        p, norm: as :func:`spectral_bandwidth`.
        features: names among :data:`SPECTRAL_FEATURES` (``"centroid"``, ``"bandwidth"``).
        chunk_frames: frames per chunk (>= 1), or None for the automatic size.
        lengths: optional integer tensor of shape ``x.shape[:-1]`` (any device): the valid samples
            of each row of a right-padded batch, in ``[1, T]``. See "Variable-length batches" in
            the module docstring.

    Returns:
        ``{name: (..., n_frames) tensor}`` for each requested feature, equal to
        :func:`spectral_centroid` / :func:`spectral_bandwidth` with the same arguments. With
        ``lengths``: ``(dict, frame_lengths)``, every feature zero on the invalid frames.
    """
    if isinstance(features, str):
        features = (features,)
    features = tuple(features)
    unknown = [f for f in features if f not in SPECTRAL_FEATURES]
    if not features or unknown:
        raise ValueError(f"features must name at least one of "
                         f"{', '.join(map(repr, SPECTRAL_FEATURES))}, got {features!r}")
    p = _check_bandwidth_args(p, norm)
    chunk = 0 if chunk_frames is None else _check_positive_int("chunk_frames", chunk_frames)
    if x is None:
        raise TypeError("x must be a torch.Tensor of shape (..., time), got None")
    _, (n, H, mode, w), f, bin_hz = _spectral_input(x, None, sr, n_fft, hop_length, win_length,
                                                    window, center, pad_mode, freq)
    if lengths is None:
        c, b = _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, p, norm, chunk)
        out = {"centroid": c, "bandwidth": b}
        return {name: out[name] for name in features}
    rows = _rows(lengths, x, n, H, center, (mode,))
    c, b = _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, p, norm, chunk)
    for t0, block in _row_blocks(x, rows, n, H, center, mode):
        bc, bb = _ops_ns.spectral_features(block, w, n, H, False, "none", f, bin_hz, p, norm,
                                           chunk)
        c, b = _splice(c, t0, bc, -1), _splice(b, t0, bb, -1)
    out = {"centroid": c, "bandwidth": b}
    return {name: _zero_past(out[name], rows, -1) for name in features}, rows.frame_counts
