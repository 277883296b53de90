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
         pad_mode: Optional[str] = "constant") -> torch.Tensor:
    """Short-time Fourier transform, librosa's definition and layout.

    Each frame ``t`` (the module docstring's framing with ``frame_length = n_fft``) is multiplied
    by the window and transformed with a real FFT (no normalisation). The pad-frame-window step is
    one fused kernel (``torch.ops.audiofx.stft_frames``, padding virtual); the FFT is
    ``torch.fft.rfft`` (pocketfft/MKL on CPU, cuFFT on CUDA).

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

    Returns:
        Complex ``(..., 1 + n_fft // 2, n_frames)`` of ``x``'s precision, contiguous: the values
        and layout of ``librosa.stft`` and ``torch.stft(..., return_complex=True)``.
        Devices: CPU and CUDA (float16 on CUDA only where cuFFT supports ``n_fft``: powers of 2).
    """
    n_fft, H, mode, w = _stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode)
    frames = _ops_ns.stft_frames(x, w, n_fft, H, center, mode)
    return torch.fft.rfft(frames, dim=-1).transpose(-1, -2).contiguous()


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


def _spectral_input(x, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq):
    """Shared front end of the spectral functions: ("S", S, freq, bin_hz) or
    ("x", (n_fft, hop, mode, window), freq, bin_hz)."""
    if (x is None) == (S is None):
        raise ValueError("pass exactly one of x (a signal (..., T)) or S (a magnitude "
                         "spectrogram (..., n_bins, n_frames))")
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
                      pad_mode: Optional[str] = "constant", freq=None) -> torch.Tensor:
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

    Returns:
        ``(..., n_frames)`` of the input's dtype (``librosa.feature.spectral_centroid(...)[...,
        0, :]``).

    Precision: from ``x``, frames are windowed (float64 window) and transformed in the
    accumulation type, float64 on CPU (as librosa, whose float32 STFT is float64 inside; a float32
    FFT's round-off, ~1e-7 of a frame's peak in every bin, moves the bandwidth of a pure tone by
    ~1e-3 at p=2) and float32 on CUDA for float32/float16/bfloat16; sums accumulate in float64 on
    CPU. From ``S`` the sums accumulate the same way.
    """
    kind, src, f, bin_hz = _spectral_input(x, S, sr, n_fft, hop_length, win_length, window,
                                           center, pad_mode, freq)
    if kind == "S":
        return _ops_ns.spectral_stats(src, f, bin_hz, None, 2.0, True)[0]
    n, H, mode, w = src
    return _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, 2.0, True)[0]


def spectral_bandwidth(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                       sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                       win_length: Optional[int] = None, window="hann", center: bool = True,
                       pad_mode: Optional[str] = "constant", freq=None,
                       centroid: Optional[torch.Tensor] = None, norm: bool = True,
                       p: float = 2) -> torch.Tensor:
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

    Returns:
        ``(..., n_frames)`` of the input's dtype
        (``librosa.feature.spectral_bandwidth(...)[..., 0, :]``). Precision as
        :func:`spectral_centroid`.
    """
    p = _check_bandwidth_args(p, norm)
    kind, src, f, bin_hz = _spectral_input(x, S, sr, n_fft, hop_length, win_length, window,
                                           center, pad_mode, freq)
    if kind == "x":
        n, H, mode, w = src
        if centroid is None:
            return _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, p, norm)[1]
        # With a given centroid: the spectrogram materialised, in spectral_features' precision.
        compute = _spectral_compute_dtype(x)
        frames = _ops_ns.stft_frames(x.to(compute), w.to(compute), n, H, center, mode)
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
    return _ops_ns.spectral_stats(src, f, bin_hz, centroid, p, norm)[1].to(
        x.dtype if x is not None else src.dtype)


def spectral_features(x: torch.Tensor, sr: float = 22050, n_fft: int = 2048,
                      hop_length: Optional[int] = 512, win_length: Optional[int] = None,
                      window="hann", center: bool = True, pad_mode: Optional[str] = "constant",
                      freq=None, p: float = 2, norm: bool = True,
                      features=SPECTRAL_FEATURES, chunk_frames: Optional[int] = None) -> dict:
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

    Returns:
        ``{name: (..., n_frames) tensor}`` for each requested feature, equal to
        :func:`spectral_centroid` / :func:`spectral_bandwidth` with the same arguments.
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
    c, b = _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, p, norm, chunk)
    out = {"centroid": c, "bandwidth": b}
    return {name: out[name] for name in features}
