"""Argument checks of the functional layer: every public function validates here, with a
``ValueError``/``TypeError`` naming the argument and the allowed values, before any op runs
(DESIGN §1). Public so that the modules above (``audiofx.spectral``, ``audiofx.nn``,
``audiofx.extract``, the compat layer) check their arguments the same way."""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional, Sequence

import torch

from .. import _ops

__all__ = [
    "CUDA_ONLY_DTYPES",
    "check_x",
    "check_S",
    "check_nonnegative",
    "check_positive_int",
    "check_real",
    "resolve_pad_mode",
    "frame_args",
    "effective_hop",
    "check_zcr_args",
    "check_bandwidth_args",
    "RowLengths",
    "row_lengths",
    "check_lengths",
    "check_length_values",
    "frame_counts",
]

#: Dtypes the kernels support on CUDA only.
CUDA_ONLY_DTYPES = (torch.float16, torch.bfloat16)


def check_x(x) -> None:
    """``x`` must be a non-empty real floating tensor ``(..., T)`` of a dtype its device runs."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (..., time), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"x must be a real floating tensor (float32 or float64; float16/bfloat16 on CUDA), "
            f"got dtype {x.dtype}"
        )
    if x.dtype in CUDA_ONLY_DTYPES and x.device.type != "cuda":
        raise TypeError(
            f"x of dtype {x.dtype} is supported on CUDA only; on {x.device.type} use float32 or "
            f"float64"
        )
    if x.dim() == 0 or x.numel() == 0:
        raise ValueError(f"x must be non-empty with a time dimension, got shape {tuple(x.shape)}")


def check_S(S) -> None:
    """``S`` must be a real floating magnitude spectrogram ``(..., n_bins, n_frames)``."""
    if not isinstance(S, torch.Tensor):
        raise TypeError(f"S must be a torch.Tensor of shape (..., n_bins, n_frames), got "
                        f"{type(S).__name__}")
    if S.is_complex() or not S.is_floating_point():
        raise TypeError(f"S must be a real floating tensor (a magnitude spectrogram, e.g. "
                        f"stft(x).abs()), got dtype {S.dtype}")
    if S.dtype in CUDA_ONLY_DTYPES and S.device.type != "cuda":
        raise TypeError(f"S of dtype {S.dtype} is supported on CUDA only; on {S.device.type} use "
                        f"float32 or float64")
    if S.dim() < 2 or S.shape[-2] < 1:
        raise ValueError(f"S must have shape (..., n_bins, n_frames) with n_bins >= 1, got "
                         f"{tuple(S.shape)}")


def check_nonnegative(S, what: str) -> None:
    """``S`` must be a spectrogram (:func:`check_S`) of non-negative values (magnitudes or
    energies, as librosa requires of the centroid, bandwidth, rolloff and flatness): a
    ``ValueError`` saying which function and the most negative value. NaN is not negative (it
    gives NaN frames instead). Under ``torch.compile`` / ``torch.export`` the same check runs
    inside the graph (``torch._assert_async``: a ``RuntimeError``, on CUDA a device-side
    assert) instead of a host sync on the values."""
    check_S(S)
    if torch.compiler.is_compiling():
        torch._assert_async(torch.logical_not((S < 0).any()),
                            "audiofx: S must be non-negative (a magnitude or power spectrogram)")
        return
    if bool((S < 0).any()):
        low = float(torch.where(S < 0, S, torch.zeros((), dtype=S.dtype, device=S.device)).min())
        raise ValueError(f"S must be non-negative (a magnitude or power spectrogram): "
                         f"{what} of negative energies is undefined; S holds values down to "
                         f"{low:.4g}")


def check_positive_int(name: str, value) -> int:
    """``value`` as an int >= 1 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_real(name: str, value, positive: bool = True) -> float:
    """``value`` as a finite float (> 0 with ``positive``; bools rejected).

    Under ``torch.compile`` the value is returned unchecked: with ``dynamic=True`` a float
    attribute or default becomes a ``SymFloat``, which ``math.isfinite`` cannot take, and the
    eager call (a module's ``__init__``, the first run) has checked it already."""
    if torch.compiler.is_compiling():
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def resolve_pad_mode(center, pad_mode: Optional[str], length: Optional[int], frame_length: int,
                     name: str = "pad_mode") -> str:
    """Checks (center, pad_mode) against a signal of ``length`` samples and returns the op's
    pad_mode string (``"none"`` for no padding). ``length=None`` checks the arguments only."""
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


def effective_hop(H: int, T: int, center: bool, mode: str) -> int:
    """A hop equivalent to ``H`` for signals of at most ``T`` samples that fits the ops' int64
    (``hop_length=2**63`` reached the dispatcher as an error). Centred or unpadded, any hop
    above ``T`` gives one frame, the first (the counts grow with ``T + 2*(N//2) - N <= T`` and
    ``T - N``), so ``H`` becomes ``min(H, T + 1)``. End-wrap (``center=False, pad_mode="wrap"``)
    keeps a second frame when ``T > N``, starting at ``H`` in the signal repeated with period
    ``T``: a hop from 2**62 on is taken modulo ``T`` (into ``[T, 2T)``, which keeps the count);
    per-row ``lengths`` shorter than ``T`` would need it modulo their own length, so rows of a
    variable-length end-wrap call see such a hop modulo ``T``."""
    if center or mode != "wrap":
        return min(H, T + 1)
    if H < (1 << 62):
        return H
    return T + (H - T) % T


def frame_args(x, frame_length, hop_length, center, pad_mode):
    """The checks every frame function starts with: ``(N, H, op pad_mode)``."""
    check_x(x)
    N = check_positive_int("frame_length", frame_length)
    H = check_positive_int("hop_length", hop_length)
    mode = resolve_pad_mode(center, pad_mode, x.shape[-1], N)
    return N, effective_hop(H, x.shape[-1], center, mode), mode


def check_zcr_args(threshold, zero_pos) -> float:
    """The zero-crossing arguments: ``threshold`` a finite real >= 0, ``zero_pos`` a bool."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number >= 0, got {threshold!r}")
    if not threshold >= 0 or threshold == float("inf"):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    if not isinstance(zero_pos, bool):
        raise TypeError(f"zero_pos must be a bool, got {zero_pos!r}")
    return float(threshold)


def check_bandwidth_args(p, norm) -> float:
    """The bandwidth's order ``p`` (finite, > 0) and ``norm`` (a bool); returns ``p``."""
    p = check_real("p", p)
    if not isinstance(norm, bool):
        raise TypeError(f"norm must be a bool, got {norm!r}")
    return p


# ---------------------------------------------------------------------------------------------
# Variable-length batches: the ``lengths`` of a right-padded batch. The kernels read them
# (csrc/framing.h FrameSpec::lengths); Python only checks them and computes the frame counts.

def check_lengths(lengths, x: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``lengths`` after its type checks and, given ``x``, its shape check (``x.shape[:-1]``),
    as int64 on its own device."""
    if not isinstance(lengths, torch.Tensor):
        shape = "" if x is None else f" of shape x.shape[:-1] = {tuple(x.shape[:-1])}"
        raise TypeError(f"lengths must be an integer torch.Tensor{shape} (valid samples per "
                        f"row), got {type(lengths).__name__}")
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"lengths must be an integer tensor (valid samples per row, e.g. int64), "
                        f"got dtype {lengths.dtype}")
    if x is not None and tuple(lengths.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"lengths must have shape x.shape[:-1] = {tuple(x.shape[:-1])} (one "
                         f"count per row of the right-padded batch), got {tuple(lengths.shape)}")
    return lengths.to(torch.int64)


def check_length_values(lengths: torch.Tensor, T: Optional[int], frame_length: int,
                        modes: Sequence[str]) -> None:
    """Range checks of the per-row lengths, before any kernel runs: values in ``[1, T]``,
    ``> frame_length // 2`` with ``reflect``, ``>= frame_length`` without padding.

    Run where they cost no device sync: on CPU tensors, outside ``torch.compile``. Lengths on an
    accelerator (and every value under compile) are clamped into ``[1, T]`` by the kernels
    instead, so that no value makes them read outside the row."""
    if torch.compiler.is_compiling() or lengths.numel() == 0 or lengths.device.type != "cpu":
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


def frame_counts(lengths: torch.Tensor, N: int, H: int, center: bool, mode: str) -> torch.Tensor:
    """DESIGN §2's frame count applied elementwise to an int64 tensor of lengths."""
    if center:
        return 1 + torch.div(lengths + (2 * (N // 2) - N), H, rounding_mode="floor")
    if mode == "wrap":
        excess = (lengths - N).clamp(min=0)
        return 1 + torch.div(excess + (H - 1), H, rounding_mode="floor")
    return (1 + torch.div(lengths - N, H, rounding_mode="floor")).clamp(min=0)


class RowLengths(NamedTuple):
    """A checked variable-length call: ``lengths`` (int64 on x's device, what the ops take) and
    ``frame_counts`` (each clip's own frame count, what the functions return)."""

    lengths: torch.Tensor
    frame_counts: torch.Tensor


def row_lengths(lengths, x: torch.Tensor, N: int, H: int, center: bool,
                modes: Sequence[str]) -> RowLengths:
    """Checks ``lengths`` for the framing ``(N, H, center, modes[0])`` (every mode in ``modes``
    shares its geometry) and returns them as the ops take them (int64, contiguous, on x's device;
    a CPU tensor moves without blocking the host) with the clips' frame counts (of the lengths
    clamped into ``[1, T]``, as the kernels clamp them)."""
    T = x.shape[-1]
    L = check_lengths(lengths, x)
    check_length_values(L, T, N, modes)
    L = L.to(device=x.device, non_blocking=True).contiguous()
    return RowLengths(L, frame_counts(L.clamp(1, T), N, H, center, modes[0]))
