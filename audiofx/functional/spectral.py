"""The STFT and the spectral statistics computed by the kernels: :func:`stft`,
:func:`spectral_centroid`, :func:`spectral_bandwidth`, :func:`spectral_features`, the window
(:func:`get_window`) and the magnitude spectrogram (:func:`magnitude_spectrogram`), librosa's
definitions and defaults (DESIGN §3). Framing and variable-length batches: see
:mod:`audiofx.functional`.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

import torch

from .. import _ops
from .._spectrum import compute_dtype, frame_spectrum
from . import spectrogram_chunks as chunks
from .checks import (
    check_bandwidth_args,
    check_nonnegative,
    check_positive_int,
    check_real,
    check_S,
    check_x,
    effective_hop,
    resolve_pad_mode,
    row_lengths,
)

__all__ = [
    "get_window",
    "stft",
    "magnitude_spectrogram",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_features",
    "SPECTRAL_FEATURES",
]

_ops_ns = _ops.ops

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
    M = check_positive_int("win_length", win_length)
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


def stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode,
               window_dtype: Optional[torch.dtype] = None):
    """Checks the STFT arguments; returns (n_fft, hop_length, op pad_mode, padded window)."""
    check_x(x)
    n_fft = check_positive_int("n_fft", n_fft)
    if win_length is None:
        win_length = n_fft
    win_length = check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length must be <= n_fft = {n_fft}, got {win_length}")
    if hop_length is None:
        hop_length = win_length // 4
        if hop_length < 1:
            raise ValueError(f"hop_length defaults to win_length // 4, which is 0 for "
                             f"win_length = {win_length}; pass hop_length >= 1")
    mode = resolve_pad_mode(center, pad_mode, x.shape[-1], n_fft)
    H = effective_hop(check_positive_int("hop_length", hop_length), x.shape[-1], center, mode)
    return n_fft, H, mode, _stft_window(window, win_length, n_fft, x, window_dtype)


def stft(x: torch.Tensor, n_fft: int = 2048, hop_length: Optional[int] = None,
         win_length: Optional[int] = None, window="hann", center: bool = True,
         pad_mode: Optional[str] = "constant", *, lengths: Optional[torch.Tensor] = None):
    """Short-time Fourier transform, librosa's definition and layout.

    Each frame ``t`` (the module docstring's framing with ``frame_length = n_fft``) is multiplied
    by the window and transformed with a real FFT (no normalisation). The pad-frame-window step is
    one fused kernel (padding virtual); the FFT is ``torch.fft``'s (pocketfft/MKL on CPU, cuFFT
    on CUDA); both in one op, ``torch.ops.audiofx.stft``, which on the CPU builds the
    spectrogram a cache-sized chunk of frames at a time straight into the output (peak memory
    about the output's instead of ~3x). Differentiable in ``x`` and a tensor ``window``: the
    backward inverse-transforms and overlap-adds the gradient chunk by chunk as well.

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
        and layout of ``librosa.stft`` and ``torch.stft(..., return_complex=True)``. A frame
        holding a NaN or infinite sample is NaN (or infinite) in every bin, the others are not
        affected.
        Devices: CPU and CUDA (float16 on CUDA only where cuFFT supports ``n_fft``: powers of 2).
        With ``lengths``: ``(spectrogram, frame_lengths)``, the columns (frames, last dim)
        ``t >= frame_lengths[...]`` all zero.
    """
    # torch.fft has no bfloat16 transform: a bfloat16 signal is windowed into float32 and
    # transformed into complex64.
    bf16 = isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16
    n_fft, H, mode, w = stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode,
                                  torch.float32 if bf16 else None)
    rows = None if lengths is None else row_lengths(lengths, x, n_fft, H, center, (mode,))
    L = None if rows is None else rows.lengths
    if bf16:
        x = x.float()
    # The kernel zeroes each row's frames past its own count: they transform to exact zeros.
    spec = _ops_ns.stft(x, w, n_fft, H, center, mode, 0, L)
    return spec if rows is None else (spec, rows.frame_counts)


def _magnitude(x, w, n_fft, H, center, mode, lengths=None, power: float = 1.0):
    """``|rfft(windowed frames)| ** power`` in the spectral compute dtype, ``(..., bins,
    frames)``, from checked arguments (the op's pad_mode, the padded window). Outside autograd
    and compile (and without lengths), a block of frames at a time: the peak is the output plus
    one block, not the frames and spectrum of the whole signal."""
    if lengths is None and chunks.chunked(x, w):
        return chunks.map_spectrogram(x, w, n_fft, H, center, mode, power, lambda S: S,
                                      out_dtype=compute_dtype(x))
    mag = frame_spectrum(x, w, n_fft, H, center, mode, lengths).abs()
    if power != 1.0:
        mag = mag.pow(power)
    return mag.transpose(-1, -2)


def magnitude_spectrogram(x: torch.Tensor, n_fft: int = 2048, hop_length: Optional[int] = 512,
                          win_length: Optional[int] = None, window="hann", center: bool = True,
                          pad_mode: Optional[str] = "constant", power: float = 1.0, *,
                          lengths: Optional[torch.Tensor] = None):
    """``|stft(x)| ** power``, windowed and transformed in the spectral compute dtype.

    The one definition of the magnitude spectrogram that the spectral functions share (the
    statistics with a given centroid, :mod:`audiofx.spectral`'s mel/rolloff/flatness/contrast
    from ``x``, and the spectral backward's recomputation): frames windowed with a float64
    window and transformed in float64 on CPU (as librosa, whose float32 STFT is float64
    inside) and in float32 on CUDA for float32/float16/bfloat16.

    Args:
        x: ``(..., T)`` signal.
        n_fft, hop_length, win_length, window, center, pad_mode: as :func:`stft`.
        power: exponent (> 0): 1 for magnitude, 2 for power.
        lengths: optional per-row valid samples (:mod:`audiofx.functional`).

    Returns:
        Real ``(..., 1 + n_fft // 2, n_frames)`` in the compute dtype (float64 on CPU; not
        rounded to x's dtype). With ``lengths``: ``(S, frame_lengths)``, zero past the counts.
    """
    n, H, mode, w = stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode,
                              torch.float64)
    power = check_real("power", power)
    rows = None if lengths is None else row_lengths(lengths, x, n, H, center, (mode,))
    S = _magnitude(x, w, n, H, center, mode, None if rows is None else rows.lengths, power)
    return S if rows is None else (S, rows.frame_counts)


def bin_spacing_hz(sr: float, n_fft: int) -> float:
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


def n_fft_of_spectrogram(n_fft, n_bins: int) -> int:
    """librosa's rule for a given spectrogram: ``n_fft`` is kept when ``n_fft // 2 + 1`` matches
    the bins (so an odd ``n_fft`` stays odd), else it is ``2 * (n_bins - 1)``."""
    if isinstance(n_fft, bool) or not isinstance(n_fft, numbers.Integral) or n_fft < 1 \
            or n_fft // 2 + 1 != n_bins:
        return 2 * (n_bins - 1)
    return int(n_fft)


def spectral_input(x, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq,
                    lengths=None):
    """Shared front end of the spectral functions: ("S", S, freq, bin_hz) or
    ("x", (n_fft, hop, mode, window), freq, bin_hz)."""
    if (x is None) == (S is None):
        raise ValueError("pass exactly one of x (a signal (..., T)) or S (a magnitude "
                         "spectrogram (..., n_bins, n_frames))")
    if lengths is not None and S is not None:
        raise ValueError("lengths applies to a signal x only: with S the frames are already "
                         "made; zero S's invalid frames yourself (frame_mask) or pass x")
    sr = check_real("sr", sr)
    if S is not None:
        check_S(S)
        n_bins = S.shape[-2]
        n_fft_S = n_fft_of_spectrogram(n_fft, n_bins)
        if freq is None and n_fft_S < 1:
            raise ValueError("S needs at least 2 bins to infer n_fft = 2 * (n_bins - 1); pass "
                             "freq for a single bin")
        bin_hz = bin_spacing_hz(sr, n_fft_S) if n_fft_S >= 1 else 0.0
        return "S", S, _freq_tensor(freq, n_bins, S.device), bin_hz
    # The statistics window in float64 (as librosa): the kernels window and transform in their
    # accumulation type.
    args = stft_args(x, n_fft, hop_length, win_length, window, center, pad_mode, torch.float64)
    n_fft = args[0]
    return "x", args, _freq_tensor(freq, n_fft // 2 + 1, x.device), bin_spacing_hz(sr, n_fft)


def spectral_centroid(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                      sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                      win_length: Optional[int] = None, window="hann", center: bool = True,
                      pad_mode: Optional[str] = "constant", freq=None,
                      lengths: Optional[torch.Tensor] = None):
    """Spectral centroid per frame: ``c = sum_k f_k S_k / sum_k S_k`` on the magnitude
    spectrogram ``S``, librosa's definition and defaults.

    Pass either ``x`` (``(..., T)``; then ``S = |stft(x)|`` with the STFT arguments, computed in
    cache-sized chunks without materialising the spectrogram, see :func:`spectral_features`) or
    ``S`` (``(..., n_bins, n_frames)``, non-negative: a ``ValueError`` otherwise, as librosa,
    or an assertion in the graph under ``torch.compile``; ``n_fft`` is then
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
        0, :]``). With ``lengths``: ``(centroid, frame_lengths)``. A frame holding a NaN or
        infinite sample (or ``S`` value) is NaN.

    Precision: from ``x``, frames are windowed (float64 window) and transformed in the
    accumulation type, float64 on CPU (as librosa, whose float32 STFT is float64 inside; a float32
    FFT's round-off, ~1e-7 of a frame's peak in every bin, moves the bandwidth of a pure tone by
    ~1e-3 at p=2) and float32 on CUDA for float32/float16/bfloat16; sums accumulate in float64 on
    CPU. From ``S`` the sums accumulate the same way.
    """
    kind, src, f, bin_hz = spectral_input(x, S, sr, n_fft, hop_length, win_length, window,
                                           center, pad_mode, freq, lengths)
    if kind == "S":
        check_nonnegative(S, "the spectral centroid")
        return _ops_ns.spectral_stats(src, f, bin_hz, None, 2.0, True)[0]
    n, H, mode, w = src
    rows = None if lengths is None else row_lengths(lengths, x, n, H, center, (mode,))
    c = _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, 2.0, True, 0,
                                  None if rows is None else rows.lengths)[0]
    return c if rows is None else (c, rows.frame_counts)


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
        :func:`spectral_centroid`. With ``lengths``: ``(bandwidth, frame_lengths)``. A frame
        holding a NaN or infinite sample (or ``S`` value) is NaN; ``S`` must be non-negative
        (a ``ValueError``, as :func:`spectral_centroid`).
    """
    p = check_bandwidth_args(p, norm)
    kind, src, f, bin_hz = spectral_input(x, S, sr, n_fft, hop_length, win_length, window,
                                           center, pad_mode, freq, lengths)
    if kind == "S":
        check_nonnegative(S, "the spectral bandwidth")
    rows = None
    if kind == "x":
        n, H, mode, w = src
        if lengths is not None:
            rows = row_lengths(lengths, x, n, H, center, (mode,))
        L = None if rows is None else rows.lengths
        if centroid is None:
            b = _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, p, norm, 0, L)[1]
            return b if rows is None else (b, rows.frame_counts)
        # With a given centroid: the spectrogram materialised, in spectral_features' precision
        # (the frames past each clip's count are zero, and so is their bandwidth).
        src = _magnitude(x, w, n, H, center, mode, L)
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
    return b if rows is None else (b, rows.frame_counts)


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
    p = check_bandwidth_args(p, norm)
    chunk = 0 if chunk_frames is None else check_positive_int("chunk_frames", chunk_frames)
    if x is None:
        raise TypeError("x must be a torch.Tensor of shape (..., time), got None")
    _, (n, H, mode, w), f, bin_hz = spectral_input(x, None, sr, n_fft, hop_length, win_length,
                                                    window, center, pad_mode, freq)
    rows = None if lengths is None else row_lengths(lengths, x, n, H, center, (mode,))
    c, b = _ops_ns.spectral_features(x, w, n, H, center, mode, f, bin_hz, p, norm, chunk,
                                     None if rows is None else rows.lengths)
    out = {"centroid": c, "bandwidth": b}
    out = {name: out[name] for name in features}
    return out if rows is None else (out, rows.frame_counts)
