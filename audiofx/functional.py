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
"""
from __future__ import annotations

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


def _resolve_pad_mode(center, pad_mode: Optional[str], length: int, frame_length: int,
                      name: str = "pad_mode") -> str:
    """Checks (center, pad_mode) against the signal and returns the op's pad_mode string."""
    if not isinstance(center, bool):
        raise TypeError(f"center must be a bool, got {type(center).__name__} {center!r}")
    if center:
        if pad_mode not in _ops.CENTER_PAD_MODES:
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, _ops.CENTER_PAD_MODES))} when "
                f"center=True, got {pad_mode!r}"
            )
        if pad_mode == "reflect" and length <= frame_length // 2:
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
    if op_mode == "none" and length < frame_length:
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


def frame(x: torch.Tensor, frame_length: int, hop_length: int, center: bool = False,
          pad_mode: Optional[str] = "wrap") -> torch.Tensor:
    """Slice ``x`` into (padded) frames, materialised.

    Args:
        x: ``(..., T)`` signal.
        frame_length: samples per frame ``N`` (>= 1).
        hop_length: samples between frame starts ``H`` (>= 1).
        center, pad_mode: padding, see the module docstring. The default is the end-wrap
            convention: the last frame is completed with the start of the signal.

    Returns:
        ``(..., n_frames, N)``: ``out[..., t, n] = padded[..., t*H + n]``. Differs from
        ``librosa.util.frame`` in layout (frames first, then samples); see
        :func:`audiofx.compat.librosa.util.frame` for librosa's.
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    return _ops_ns.frame(x, N, H, center, mode)


def amplitude_envelope(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True, pad_mode: Optional[str] = "constant",
                       absolute: bool = False) -> torch.Tensor:
    """Amplitude envelope: the largest sample of each frame.

    Args:
        x: ``(..., T)`` signal.
        frame_length, hop_length, center, pad_mode: framing (module docstring); padded samples
            take part (so zero padding makes the envelope of a negative signal 0 at the ends).
        absolute: take the largest ``|x|`` instead of the largest signed value.

    Returns:
        ``(..., n_frames)`` in the units of ``x``. NaN in a frame gives NaN (as ``numpy.max``).
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    if not isinstance(absolute, bool):
        raise TypeError(f"absolute must be a bool, got {absolute!r}")
    return _ops_ns.amplitude_envelope(x, N, H, center, mode, absolute)


def rms(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
        pad_mode: Optional[str] = "constant") -> torch.Tensor:
    """Root-mean-square energy per frame: ``sqrt(sum(x_i**2) / N)`` over the padded frame.

    Equals ``librosa.feature.rms(y=x)[..., 0, :]`` with the same arguments. Sums accumulate in
    float64 on CPU (float32 on CUDA for float32/half/bfloat16 inputs).

    Returns:
        ``(..., n_frames)`` in the units of ``x``.
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    return _ops_ns.rms(x, N, H, center, mode)


def zero_crossing_rate(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True, threshold: float = 1e-10, zero_pos: bool = True,
                       pad_mode: Optional[str] = "edge") -> torch.Tensor:
    """Zero-crossing rate per frame, librosa's definition.

    Samples with ``|x| <= threshold`` count as 0. With ``zero_pos`` a 0 counts as positive (sign
    bit test), otherwise ``sign()`` in {-1, 0, 1} is compared. The frame's crossings are the pairs
    ``(x[i-1], x[i])``, ``i = 1..N-1``, inside the frame whose classes differ; the rate is
    crossings / ``N``. With ``center=True`` the padding is ``edge`` by default (as librosa).
    Not differentiable: its gradient is zero.

    Returns:
        ``(..., n_frames)``, values in ``[0, (N-1)/N]`` (a rate per sample, not per second).
    """
    N, H, mode = _common(x, frame_length, hop_length, center, pad_mode)
    thr = _check_zcr_args(threshold, zero_pos)
    return _ops_ns.zero_crossing_rate(x, N, H, center, mode, thr, zero_pos)


def frame_features(x: torch.Tensor, frame_length: int = 2048, hop_length: int = 512,
                   center: bool = True, pad_mode: Optional[str] = "constant",
                   zcr_pad_mode: Optional[str] = None, absolute: bool = False,
                   threshold: float = 1e-10, zero_pos: bool = True) -> FrameFeatures:
    """Amplitude envelope, RMS and zero-crossing rate in one pass over the signal.

    Same values as :func:`amplitude_envelope`, :func:`rms` and :func:`zero_crossing_rate` called
    with these arguments, where the zero-crossing rate pads with ``zcr_pad_mode`` (default:
    ``"edge"`` when centred, as librosa; ``pad_mode`` otherwise, which it must equal).

    Returns:
        :class:`FrameFeatures` ``(amplitude_envelope, rms, zero_crossing_rate)``, each
        ``(..., n_frames)``.
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
    ae, r, z = _ops_ns.frame_features(x, N, H, center, mode, zmode, absolute, thr, zero_pos)
    return FrameFeatures(ae, r, z)
