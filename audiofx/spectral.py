"""More of librosa's spectral set, in pure torch on top of the STFT op (DESIGN §3, issue 3):
spectral rolloff, flatness and contrast, the mel filterbank, the mel spectrogram, dB scaling,
MFCC and RMS from a spectrogram.

Each function has librosa's definition and defaults. Functions with an ``x``/``S`` pair take
either a signal ``x`` ``(..., T)`` (then one STFT, :func:`audiofx.stft`'s framing and window, with
frames windowed and transformed in the accumulation type -- float64 on CPU, as librosa, whose
float32 STFT is float64 inside -- and the spectrogram rounded to ``x``'s dtype) or a spectrogram
``S`` ``(..., n_bins, n_frames)``. From ``x``, the result equals the function of ``S`` = that
spectrogram. Frame-level outputs are ``(..., n_frames)`` (librosa's singleton axis dropped; the
compat layer restores it). Everything is made of torch ops without host syncs on tensor values,
so it runs on any device, is differentiable where librosa's definition is, and compiles with
``torch.compile(fullgraph=True)`` (:func:`spectral_contrast` aside, whose band layout is built on
the host from the bin frequencies).

Long signals: from ``x``, outside autograd and ``torch.compile``, the spectrogram is made and
used a block of frames at a time (:mod:`audiofx.functional.spectrogram_chunks`), so the peak
memory is the result plus one block (tens of MiB), not the float64 frames, spectrum and
magnitudes of the whole signal (5-7 GiB for 2**26 samples before; ``audiofx bench --only
memory_long`` measures it against librosa).

Non-finite values (issue 14): a frame whose spectrogram column holds a NaN or an infinity (from
``x``: every frame that holds a non-finite sample) gives NaN in every value of that frame,
never a number; the other frames are as without it (the dB floor of ``top_db`` is taken over the
finite values). Functions librosa defines on energies (rolloff, flatness; centroid and bandwidth
in :mod:`audiofx.functional`) raise a ``ValueError`` for an ``S`` with negative values (an
assertion in the graph under ``torch.compile``).
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable, Optional, Union

import torch

from . import _ops
from .functional import checks, magnitude_spectrogram
from .functional import spectral as FS
from .functional import spectrogram_chunks as chunks

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_frequencies",
    "mel_filterbank",
    "melspectrogram",
    "power_to_db",
    "amplitude_to_db",
    "mfcc",
    "dct_matrix",
    "spectral_rolloff",
    "spectral_flatness",
    "spectral_contrast",
    "rms_from_spectrogram",
]

_ops_ns = _ops.ops

# librosa's Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = (_MIN_LOG_HZ - 0.0) / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def _check_nonneg_real(name: str, value) -> float:
    if _compiling():  # a SymFloat under compile(dynamic=True): checked eagerly (check_real)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_open_unit(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1), got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------
# The spectrogram front end


def _per_frame(x, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq,
               power: float, fn):
    """``fn(S, n_fft, freq)`` on the spectrogram, as librosa's ``_spectrogram`` front end: ``S``
    checked and used as given (``n_fft`` kept when it matches ``S``'s bins, so an odd ``n_fft``
    stays odd, else ``2 * (n_bins - 1)``), or ``|stft(x)| ** power`` rounded to ``x``'s dtype;
    ``freq`` a float64 tensor of bin frequencies or None (then ``k * sr / n_fft``).

    ``fn`` maps ``(..., bins, frames)`` to ``(..., *shape, frames)``, each frame on its own.
    From ``x`` outside autograd and ``torch.compile``, it runs a block of frames at a time
    (:mod:`audiofx.functional.spectrogram_chunks`): the peak memory is the result plus one
    block, not the frames, spectrum and magnitudes of the whole signal (issue 14)."""
    kind, src, f, _ = FS.spectral_input(x, S, sr, n_fft, hop_length, win_length, window, center,
                                        pad_mode, freq)
    if kind == "S":
        return fn(S, FS.n_fft_of_spectrogram(n_fft, S.shape[-2]), f)
    n, H, mode, w = src
    if chunks.chunked(x, w):
        return chunks.map_spectrogram(x, w, n, H, center, mode, power, lambda b: fn(b, n, f))
    mag = magnitude_spectrogram(x, n, src[1], win_length, window, center, pad_mode, power)
    return fn(mag.to(x.dtype), n, f)


def _nan_where_nonfinite(out: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """``out`` (``(..., frames)`` or ``(..., k, frames)`` of ``S``'s frames) with NaN in every
    frame whose column of ``S`` holds a NaN or an infinity: a non-finite sample reaches every
    bin of the frames holding it, and their features are not numbers (never a plausible one,
    such as the 0 Hz rolloff a NaN used to give)."""
    bad = ~torch.isfinite(S).all(dim=-2)
    if out.dim() == S.dim():
        bad = bad.unsqueeze(-2)
    return torch.where(bad, torch.full((), math.nan, dtype=out.dtype, device=out.device), out)


def _bin_frequencies(sr: float, n_fft: int, n_bins: int, dtype=torch.float64, device=None):
    """numpy's ``rfftfreq(n_fft, 1 / sr)``: ``k * (1 / (n_fft * (1 / sr)))``."""
    step = FS.bin_spacing_hz(sr, n_fft) if n_fft > 0 else 0.0
    return torch.arange(n_bins, dtype=dtype, device=device) * step


def _check_power(power) -> float:
    return checks.check_real("power", power)


# ---------------------------------------------------------------------------------------------
# Mel scale and filterbank


def _float_tensor(values) -> torch.Tensor:
    """A floating tensor as given, anything else (a number, an integer tensor) as float64."""
    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(values,
                                                                        dtype=torch.float64)
    return t if t.is_floating_point() else t.to(torch.float64)


def hz_to_mel(frequencies, *, htk: bool = False) -> torch.Tensor:
    """Hz to mels, ``librosa.hz_to_mel``.

    Args:
        frequencies: a number or a tensor of frequencies in Hz (any shape).
        htk: the HTK formula ``2595 * log10(1 + f / 700)``; otherwise Slaney's (librosa's
            default): ``f / (200/3)`` below 1 kHz, ``15 + log(f / 1000) / (log(6.4) / 27)`` above.

    Returns:
        A tensor of mels of the same shape (float64 for a number or an integer tensor).
    """
    _check_bool("htk", htk)
    f = _float_tensor(frequencies)
    if htk:
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    linear = (f - 0.0) / _F_SP
    log = _MIN_LOG_MEL + torch.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return torch.where(f >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mels, *, htk: bool = False) -> torch.Tensor:
    """Mels to Hz, ``librosa.mel_to_hz``: the inverse of :func:`hz_to_mel` (same ``htk``).

    Returns:
        A tensor of frequencies in Hz of ``mels``' shape (float64 for a number).
    """
    _check_bool("htk", htk)
    m = _float_tensor(mels)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = 0.0 + _F_SP * m
    log = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return torch.where(m >= _MIN_LOG_MEL, log, linear)


def _hz_to_mel_scalar(f: float, htk: bool) -> float:
    if htk:
        return 2595.0 * math.log10(1.0 + f / 700.0)
    if f >= _MIN_LOG_HZ:
        return _MIN_LOG_MEL + math.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return (f - 0.0) / _F_SP


def mel_frequencies(n_mels: int = 128, *, fmin: float = 0.0, fmax: float = 11025.0,
                    htk: bool = False, device=None) -> torch.Tensor:
    """``n_mels`` frequencies (Hz, float64) evenly spaced in mels from ``fmin`` to ``fmax``,
    ``librosa.mel_frequencies`` (numpy's ``linspace`` rounding: ``start + k * step``, the last one
    ``fmax`` exactly in mels)."""
    n = checks.check_positive_int("n_mels", n_mels)
    _check_bool("htk", htk)
    lo = _hz_to_mel_scalar(_check_nonneg_real("fmin", fmin), htk)
    hi = _hz_to_mel_scalar(_check_nonneg_real("fmax", fmax), htk)
    k = torch.arange(n, dtype=torch.float64, device=device)
    div = n - 1
    if div > 0:
        step = (hi - lo) / div
        mels = k * step + lo if step != 0 else k / div * (hi - lo) + lo
        mels[-1] = hi
    else:
        mels = k * (hi - lo) + lo
    return mel_to_hz(mels, htk=htk)


def _check_mel_norm(norm):
    if norm is None or norm == "slaney":
        return norm
    if isinstance(norm, str):
        raise ValueError(f"norm must be 'slaney', None or a number (an Lp norm per filter, as "
                         f"librosa.util.normalize), got {norm!r}")
    if isinstance(norm, bool) or not isinstance(norm, numbers.Real) or math.isnan(norm) \
            or (norm < 0 and norm != -math.inf):
        raise ValueError(f"norm must be 'slaney', None, a number > 0, 0, inf or -inf, got "
                         f"{norm!r}")
    return float(norm)


def mel_filterbank(*, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                   fmax: Optional[float] = None, htk: bool = False,
                   norm: Union[str, float, None] = "slaney", dtype: torch.dtype = torch.float32,
                   device=None) -> torch.Tensor:
    """Mel filterbank, equal to ``librosa.filters.mel`` (same arguments and defaults).

    ``n_mels`` triangular filters over the ``1 + n_fft // 2`` STFT bins (at ``k * sr / n_fft``
    Hz), with corners at ``n_mels + 2`` frequencies evenly spaced in mels between ``fmin`` and
    ``fmax``: filter ``i`` rises from corner ``i`` to ``i + 1`` and falls to ``i + 2``.

    Args:
        sr: sampling rate (> 0).
        n_fft: FFT length (>= 1).
        n_mels: number of filters (>= 1).
        fmin, fmax: lowest and highest corner (Hz); ``fmax`` defaults to ``sr / 2``.
        htk: HTK mel scale instead of Slaney's (see :func:`hz_to_mel`).
        norm: ``"slaney"`` scales filter ``i`` by ``2 / (corner[i+2] - corner[i])`` (constant
            energy per band); None leaves peaks at 1; a number ``p`` divides each filter by its
            Lp norm (``inf``: max, ``-inf``: min, ``0``: count of non-zeros; filters whose norm is
            below the dtype's tiny are left as they are), as ``librosa.util.normalize``.
        dtype, device: of the result (built in float64; librosa's rounding order for float32).

    Returns:
        ``(n_mels, 1 + n_fft // 2)`` weights. Warns, as librosa, when a filter is empty (outside
        ``torch.compile``, where the check would need the values).
    """
    sr = checks.check_real("sr", sr)
    n_fft = checks.check_positive_int("n_fft", n_fft)
    n_mels = checks.check_positive_int("n_mels", n_mels)
    fmax = sr / 2 if fmax is None else _check_nonneg_real("fmax", fmax)
    norm = _check_mel_norm(norm)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    n_bins = 1 + n_fft // 2
    fftfreqs = _bin_frequencies(sr, n_fft, n_bins, device=device)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk, device=device)
    fdiff = mel_f[1:] - mel_f[:-1]
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    # librosa stores the triangles in dtype, then scales them (in float64) in place.
    weights = torch.clamp_min(torch.minimum(lower, upper), 0.0).to(dtype).to(torch.float64)
    if norm == "slaney":
        enorm = 2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels])
        weights = weights * enorm[:, None]
    elif norm is not None:
        mag = weights.abs()
        if norm == math.inf:
            length = mag.amax(dim=-1, keepdim=True)
        elif norm == -math.inf:
            length = mag.amin(dim=-1, keepdim=True)
        elif norm == 0:
            length = (mag > 0).sum(dim=-1, keepdim=True).to(torch.float64)
        else:
            length = mag.pow(norm).sum(dim=-1, keepdim=True).pow(1.0 / norm)
        tiny = torch.finfo(dtype).tiny
        weights = weights / torch.where(length < tiny, torch.ones_like(length), length)
    weights = weights.to(dtype)
    if not _compiling() and not bool(((mel_f[:-2] == 0) | (weights.amax(dim=1) > 0)).all()):
        warnings.warn("Empty filters detected in mel frequency basis. Some channels will produce "
                      "empty responses. Try increasing your sampling rate (and fmax) or reducing "
                      "n_mels.", stacklevel=2)
    return weights


def melspectrogram(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                   sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                   win_length: Optional[int] = None, window="hann", center: bool = True,
                   pad_mode: Optional[str] = "constant", power: float = 2.0, n_mels: int = 128,
                   fmin: float = 0.0, fmax: Optional[float] = None, htk: bool = False,
                   norm: Union[str, float, None] = "slaney") -> torch.Tensor:
    """Mel spectrogram, ``librosa.feature.melspectrogram``: ``mel_basis @ |stft(x)| ** power``.

    Args:
        x: ``(..., T)`` signal; or
        S: ``(..., n_bins, n_frames)`` spectrogram (already raised to ``power``: ``power`` is
            then not used; ``n_fft`` is kept if ``n_fft // 2 + 1 == n_bins``, else
            ``2 * (n_bins - 1)``, as librosa).
        sr, n_fft, hop_length, win_length, window, center, pad_mode: as
            :func:`audiofx.spectral_centroid`.
        power: exponent of the magnitude (> 0): 2 power, 1 energy.
        n_mels, fmin, fmax, htk, norm: the filterbank, :func:`mel_filterbank`.

    Returns:
        ``(..., n_mels, n_frames)`` of the input's dtype, in the units of ``|X| ** power``. The
        filterbank is built in that dtype (librosa's is float32 always, so its float64 results
        carry float32-rounded weights: relative differences up to ~6e-8).
    """
    power = _check_power(power)
    bases = {}

    def mel(S, n, _):
        if S.dtype not in bases:
            bases[S.dtype] = mel_filterbank(sr=sr, n_fft=n, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                            htk=htk, norm=norm, dtype=S.dtype, device=S.device)
        basis = bases[S.dtype]
        if basis.shape[-1] != S.shape[-2]:
            raise ValueError(f"S has {S.shape[-2]} bins; a mel filterbank for n_fft = {n} has "
                             f"{basis.shape[-1]}")
        return _nan_where_nonfinite(torch.matmul(basis, S), S)

    return _per_frame(x, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, None,
                      power, mel)


# ---------------------------------------------------------------------------------------------
# Decibels


def _db_input(S, name: str = "S") -> torch.Tensor:
    if not isinstance(S, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(S).__name__}")
    if S.is_complex():
        return S.abs()
    if not S.is_floating_point():
        return S.to(torch.get_default_dtype() if S.dtype != torch.float64 else S.dtype)
    return S


def _check_top_db(top_db) -> Optional[float]:
    if top_db is None:
        return None
    return _check_nonneg_real("top_db", top_db)


def _finite_max(t: torch.Tensor, in_blocks: bool) -> torch.Tensor:
    """The maximum of ``t``'s finite values (-inf if none), a 0-d tensor: without a temporary
    the size of ``t`` when ``in_blocks`` (outside autograd and compile)."""
    if not in_blocks or not t.is_contiguous():
        return torch.nan_to_num(t, nan=-math.inf, posinf=-math.inf).amax()
    flat = t.reshape(-1)
    step = 1 << 20
    maxima = [torch.nan_to_num(flat[i:i + step], nan=-math.inf, posinf=-math.inf).amax()
              for i in range(0, max(1, flat.numel()), step)]
    return torch.stack(maxima).amax()


def _db(magnitude: torch.Tensor, ref_value, amin: float, top_db: Optional[float],
        inplace: bool = False):
    """``10 log10(max(amin, magnitude) / max(amin, |ref|))``, floored at the finite maximum
    minus ``top_db``. ``inplace``: the result may overwrite ``magnitude`` (a temporary of the
    caller's); otherwise, outside autograd and compile, it is made with one new tensor (the
    dB of a 2**26-sample signal's mel spectrogram is 64 MiB, not 4 temporaries of it)."""
    lean = chunks.chunked(magnitude) and (not isinstance(ref_value, torch.Tensor)
                                          or not ref_value.requires_grad)
    if lean:
        log_spec = magnitude.clamp_min_(amin) if inplace else torch.clamp_min(magnitude, amin)
        log_spec.log10_().mul_(10.0)
    else:
        log_spec = 10.0 * torch.log10(torch.clamp_min(magnitude, amin))
    if isinstance(ref_value, torch.Tensor):
        ref_db = 10.0 * torch.log10(torch.clamp_min(ref_value.abs(), amin)).to(log_spec.dtype)
        log_spec = log_spec.sub_(ref_db) if lean and ref_db.dim() == 0 else log_spec - ref_db
    else:
        ref_db = 10.0 * math.log10(max(amin, abs(ref_value)))
        log_spec = log_spec.sub_(ref_db) if lean else log_spec - ref_db
    if top_db is not None:
        # librosa's clip is against the maximum of the whole array (all channels); here of
        # its finite values, so that a NaN or infinity (a non-finite sample's frames) stays
        # where it is instead of turning every value into NaN or -inf.
        floor = _finite_max(log_spec, lean) - top_db
        log_spec = log_spec.clamp_(min=floor) if lean else torch.maximum(log_spec, floor)
    return log_spec


def _ref_value(ref, magnitude: torch.Tensor):
    if callable(ref):
        value = ref(magnitude)
        if not isinstance(value, (torch.Tensor, numbers.Real)) or isinstance(value, bool):
            raise TypeError(f"ref must return a tensor or a number, got {type(value).__name__}")
        return value
    if isinstance(ref, torch.Tensor) or _compiling():
        return ref
    if isinstance(ref, bool) or not isinstance(ref, numbers.Real) or not math.isfinite(ref):
        raise TypeError(f"ref must be a finite number, a tensor or a callable such as "
                        f"torch.amax, got {ref!r}")
    return float(ref)


def power_to_db(S: torch.Tensor, *, ref: Union[float, torch.Tensor, Callable] = 1.0,
                amin: float = 1e-10, top_db: Optional[float] = 80.0) -> torch.Tensor:
    """Power to decibels, ``librosa.power_to_db``:
    ``10 * log10(max(amin, S)) - 10 * log10(max(amin, |ref|))``, then, with ``top_db``, raised to
    at least ``max(result) - top_db``.

    Args:
        S: power, any shape (complex input: its magnitude is used, as librosa).
        ref: reference power: a number, a tensor broadcastable to ``S``, or a callable applied to
            ``S`` (``torch.amax``: the maximum of the whole tensor, as librosa's ``np.max``).
        amin: floor (> 0) of ``S`` and ``ref``.
        top_db: dynamic range (>= 0) below the maximum of the **whole tensor** (librosa's
            semantics: for batched input, the loudest item sets the floor for all), or None.
            The maximum is over the finite values: a NaN or infinity stays where it is
            (librosa's would make every value NaN or -inf).

    Returns:
        dB tensor of ``S``'s (real) dtype and shape. No host syncs: compiles with
        ``torch.compile(fullgraph=True)``.
    """
    magnitude = _db_input(S)
    amin = checks.check_real("amin", amin)
    top_db = _check_top_db(top_db)
    return _db(magnitude, _ref_value(ref, magnitude), amin, top_db)


def amplitude_to_db(S: torch.Tensor, *, ref: Union[float, torch.Tensor, Callable] = 1.0,
                    amin: float = 1e-5, top_db: Optional[float] = 80.0) -> torch.Tensor:
    """Amplitude to decibels, ``librosa.amplitude_to_db``: ``power_to_db(|S| ** 2, ref=|ref| ** 2,
    amin=amin ** 2, top_db=top_db)``, where a callable ``ref`` is applied to ``|S|``.

    Returns:
        dB tensor of ``S``'s real dtype and shape (see :func:`power_to_db`).
    """
    magnitude = _db_input(S).abs()
    amin = checks.check_real("amin", amin)
    top_db = _check_top_db(top_db)
    ref_value = _ref_value(ref, magnitude)
    ref_value = ref_value.abs() ** 2 if isinstance(ref_value, torch.Tensor) else ref_value ** 2
    return _db(magnitude.square(), ref_value, amin ** 2, top_db)


# ---------------------------------------------------------------------------------------------
# MFCC


def dct_matrix(n: int, n_out: Optional[int] = None, *, dct_type: int = 2,
               norm: Optional[str] = "ortho", dtype: torch.dtype = torch.float64,
               device=None) -> torch.Tensor:
    """The matrix ``D`` ``(n_out, n)`` of ``scipy.fft.dct(x, type=dct_type, norm=norm)`` for
    ``x`` of length ``n``: ``dct(x)[:n_out] == D @ x``.

    Args:
        n: transform length (>= 1).
        n_out: rows kept (default ``n``; at most ``n``).
        dct_type: 2 (DCT-II) or 3 (DCT-III, its inverse up to scaling).
        norm: ``"ortho"`` (orthonormal), None / ``"backward"`` (unnormalised) or ``"forward"``
            (scaled by ``1 / (2n)``), scipy's meanings.
    """
    n = checks.check_positive_int("n", n)
    n_out = n if n_out is None else min(checks.check_positive_int("n_out", n_out), n)
    if dct_type not in (2, 3) or isinstance(dct_type, bool):
        raise ValueError(f"dct_type must be 2 or 3, got {dct_type!r}")
    if norm not in ("ortho", None, "backward", "forward"):
        raise ValueError(f"norm must be 'ortho', None, 'backward' or 'forward', got {norm!r}")
    k = torch.arange(n_out, dtype=torch.float64, device=device)[:, None]
    m = torch.arange(n, dtype=torch.float64, device=device)[None, :]
    if dct_type == 2:
        D = 2.0 * torch.cos(math.pi * k * (2.0 * m + 1.0) / (2.0 * n))
        if norm == "ortho":
            scale = torch.full((n_out, 1), math.sqrt(1.0 / (2.0 * n)), dtype=torch.float64,
                               device=device)
            scale[0] = math.sqrt(1.0 / (4.0 * n))
            D = D * scale
    else:
        D = 2.0 * torch.cos(math.pi * m * (2.0 * k + 1.0) / (2.0 * n))
        D[:, 0] = 1.0
        if norm == "ortho":
            scale = torch.full((1, n), math.sqrt(1.0 / (2.0 * n)), dtype=torch.float64,
                               device=device)
            scale[0, 0] = math.sqrt(1.0 / n)
            D = D * scale
    if norm == "forward":
        D = D / (2.0 * n)
    return D.to(dtype)


def mfcc(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
         sr: float = 22050, n_mfcc: int = 20, dct_type: int = 2, norm: Optional[str] = "ortho",
         lifter: float = 0, mel_norm: Union[str, float, None] = "slaney", n_fft: int = 2048,
         hop_length: Optional[int] = 512, win_length: Optional[int] = None, window="hann",
         center: bool = True, pad_mode: Optional[str] = "constant", power: float = 2.0,
         n_mels: int = 128, fmin: float = 0.0, fmax: Optional[float] = None,
         htk: bool = False) -> torch.Tensor:
    """Mel-frequency cepstral coefficients, ``librosa.feature.mfcc``.

    From ``x``: ``S = power_to_db(melspectrogram(x, ..., norm=mel_norm))`` (ref 1, amin 1e-10,
    top_db 80 over the whole tensor, as librosa). Then the DCT along the mel axis, a matrix
    product (:func:`dct_matrix`, ``scipy.fft.dct`` semantics), its first ``n_mfcc`` rows kept;
    ``lifter > 0`` multiplies coefficient ``i`` (1-based) by ``1 + lifter/2 * sin(pi i / lifter)``.

    Args:
        x: ``(..., T)`` signal; or
        S: ``(..., n_mels, n_frames)`` log-power mel spectrogram (dB), as librosa.
        n_mfcc: coefficients kept (>= 1; at most the number of mel bands, as librosa's slice).
        dct_type, norm: the DCT (2 or 3; ``"ortho"``, None, ``"backward"``, ``"forward"``).
        lifter: cepstral liftering (>= 0; 0: none).
        mel_norm: the filterbank's ``norm`` (librosa 0.11's ``mel_norm``).
        sr, n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax,
            htk: :func:`melspectrogram`'s (used with ``x``).

    Returns:
        ``(..., min(n_mfcc, n_mels), n_frames)`` of the input's dtype.
    """
    n_mfcc = checks.check_positive_int("n_mfcc", n_mfcc)
    lifter = _check_nonneg_real("lifter", lifter)
    if S is None:
        if x is None:
            raise ValueError("pass exactly one of x (a signal (..., T)) or S (a log-power mel "
                             "spectrogram (..., n_mels, n_frames))")
        mel = melspectrogram(x, sr=sr, n_fft=n_fft, hop_length=hop_length,
                             win_length=win_length, window=window, center=center,
                             pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin,
                             fmax=fmax, htk=htk, norm=mel_norm)
        # power_to_db's defaults; the mel spectrogram is ours to overwrite.
        S = _db(mel, 1.0, 1e-10, 80.0, inplace=True)
    elif x is not None:
        raise ValueError("pass exactly one of x (a signal (..., T)) or S (a log-power mel "
                         "spectrogram (..., n_mels, n_frames))")
    else:
        checks.check_S(S)
    n = S.shape[-2]
    if lifter > 0 and n_mfcc > n:
        raise ValueError(f"n_mfcc = {n_mfcc} exceeds the {n} mel bands; liftering needs "
                         f"n_mfcc <= n_mels")
    D = dct_matrix(n, n_mfcc, dct_type=dct_type, norm=norm, dtype=S.dtype, device=S.device)
    M = _nan_where_nonfinite(torch.matmul(D, S), S)
    if lifter > 0:
        i = torch.arange(1, 1 + n_mfcc, dtype=S.dtype, device=S.device)
        LI = torch.sin(math.pi * i / lifter)
        M = M * (1 + (lifter / 2) * LI)[:, None]
    return M


# ---------------------------------------------------------------------------------------------
# Rolloff, flatness, contrast, RMS from S


def spectral_rolloff(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                     sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                     win_length: Optional[int] = None, window="hann", center: bool = True,
                     pad_mode: Optional[str] = "constant", freq=None,
                     roll_percent: float = 0.85) -> torch.Tensor:
    """Roll-off frequency per frame, ``librosa.feature.spectral_rolloff``: the smallest bin
    frequency ``f_k`` among the bins where the cumulative sum ``sum_{j<=k} S_j`` reaches
    ``roll_percent`` of the frame's total (``>=``: so a silent frame gives ``f_0``, 0 Hz).

    Args:
        x: ``(..., T)`` signal (then ``S = |stft(x)|``); or
        S: ``(..., n_bins, n_frames)`` magnitude (or power) spectrogram, non-negative (a
            ``ValueError`` otherwise, as librosa).
        sr, n_fft, hop_length, win_length, window, center, pad_mode: as
            :func:`audiofx.spectral_centroid`.
        freq: optional 1-D bin frequencies (any order: the minimum over the qualifying bins is
            taken, as librosa's ``nanmin``); default ``k * sr / n_fft``.
        roll_percent: in (0, 1).

    Returns:
        ``(..., n_frames)`` in Hz, of the input's dtype. The cumulative sum runs in that dtype
        (librosa's too; in float32 a frame whose threshold falls within round-off of a bin's
        cumulative sum can pick the neighbouring bin).
    """
    roll_percent = _check_open_unit("roll_percent", roll_percent)
    if S is not None and x is None:
        checks.check_nonnegative(S, "the spectral rolloff")

    def rolloff(S, n, f):
        total = torch.cumsum(S, dim=-2)
        threshold = roll_percent * total[..., -1:, :]
        below = total < threshold
        if f is None:
            # Default frequencies increase with k and the cumulative sum does not decrease, so
            # the first qualifying bin is the number of bins below the threshold.
            k = below.sum(dim=-2)
            step = FS.bin_spacing_hz(checks.check_real("sr", sr), n)
            out = (k.to(torch.float64) * step).to(S.dtype)
        else:
            cand = torch.where(below, torch.full_like(total, math.inf, dtype=torch.float64),
                               f[:, None].expand(total.shape))
            out = cand.amin(dim=-2).to(S.dtype)
        return _nan_where_nonfinite(out, S)

    return _per_frame(x, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq,
                      1.0, rolloff)


def spectral_flatness(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                      n_fft: int = 2048, hop_length: Optional[int] = 512,
                      win_length: Optional[int] = None, window="hann", center: bool = True,
                      pad_mode: Optional[str] = "constant", amin: float = 1e-10,
                      power: float = 2.0) -> torch.Tensor:
    """Spectral flatness per frame, ``librosa.feature.spectral_flatness``: the geometric over the
    arithmetic mean of ``P = max(amin, S ** power)`` over the bins.

    Args:
        x: ``(..., T)`` signal (then ``S = |stft(x)|``); or
        S: ``(..., n_bins, n_frames)`` magnitude spectrogram, non-negative (a ``ValueError``
            otherwise, as librosa).
        n_fft, hop_length, win_length, window, center, pad_mode: as :func:`audiofx.stft`.
        amin: floor (> 0) of ``S ** power``; a silent frame gives 1.
        power: exponent (> 0) applied to ``S``.

    Returns:
        ``(..., n_frames)`` of the input's dtype, unitless, in (0, 1] (1 for a flat spectrum).
    """
    amin = checks.check_real("amin", amin)
    power = _check_power(power)
    if S is not None and x is None:
        checks.check_nonnegative(S, "the spectral flatness")

    def flatness(S, n, f):
        P = torch.clamp_min(S.pow(power) if power != 1.0 else S, amin)
        gmean = torch.exp(torch.log(P).mean(dim=-2))
        return _nan_where_nonfinite(gmean / P.mean(dim=-2), S)

    return _per_frame(x, S, 22050, n_fft, hop_length, win_length, window, center, pad_mode,
                      None, 1.0, flatness)


def _contrast_bands(freq: list, sr: float, fmin: float, n_bands: int, quantile: float):
    """librosa's octave bands as (bin indices, quantile count, drop the last bin) per band."""
    octa = [0.0] + [fmin * 2.0 ** k for k in range(n_bands + 1)]
    if any(o >= 0.5 * sr for o in octa[:-1]):
        raise ValueError(f"the octave bands exceed the Nyquist frequency sr / 2 = {sr / 2}: "
                         f"reduce fmin ({fmin}) or n_bands ({n_bands})")
    bands = []
    for k, (lo, hi) in enumerate(zip(octa[:-1], octa[1:])):
        band = [lo <= f <= hi for f in freq]
        idx = [i for i, b in enumerate(band) if b]
        if not idx:
            raise ValueError(f"band {k} ({lo} to {hi} Hz) contains no frequency bin; increase "
                             f"n_fft or fmin, or reduce n_bands")
        if k > 0:
            band[idx[0] - 1] = True
        if k == n_bands:
            for i in range(idx[-1] + 1, len(band)):
                band[i] = True
        rows = [i for i, b in enumerate(band) if b]
        q = max(int(round(quantile * len(rows))), 1)
        if k < n_bands:
            rows = rows[:-1]
        bands.append((rows, q))
    return bands


def spectral_contrast(x: Optional[torch.Tensor] = None, *, S: Optional[torch.Tensor] = None,
                      sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                      win_length: Optional[int] = None, window="hann", center: bool = True,
                      pad_mode: Optional[str] = "constant", freq=None, fmin: float = 200.0,
                      n_bands: int = 6, quantile: float = 0.02,
                      linear: bool = False) -> torch.Tensor:
    """Spectral contrast per octave band, ``librosa.feature.spectral_contrast``.

    Band ``k`` covers the bins with ``f`` in ``[octa[k], octa[k+1]]``, ``octa = [0, fmin,
    2 fmin, ..., 2**n_bands fmin]``; bands after the first also take the bin just below, and the
    last takes every bin above. Of the band's sorted magnitudes (all but the last bin, except in
    the last band) the mean of the ``q`` smallest is the valley and of the ``q`` largest the peak,
    ``q = max(1, round(quantile * band size))`` (size counting the dropped bin, as librosa).

    Args:
        x: ``(..., T)`` signal (then ``S = |stft(x)|``); or
        S: ``(..., n_bins, n_frames)`` magnitude spectrogram.
        sr, n_fft, hop_length, win_length, window, center, pad_mode: as
            :func:`audiofx.spectral_centroid`.
        freq: optional 1-D bin frequencies (read on the host: the bands are index sets).
        fmin: lower edge of the second band (Hz, > 0); ``fmin * 2**(n_bands - 1) < sr / 2``.
        n_bands: octave bands above the first (>= 1).
        quantile: in (0, 1).
        linear: ``peak - valley`` instead of
            ``power_to_db(peak) - power_to_db(valley)`` (librosa's defaults, so ``top_db=80``
            against the maximum over the whole tensor, all batch items together).

    Returns:
        ``(..., n_bands + 1, n_frames)`` of the input's dtype (dB unless ``linear``).
    """
    fmin = checks.check_real("fmin", fmin)
    n_bands = checks.check_positive_int("n_bands", n_bands)
    quantile = _check_open_unit("quantile", quantile)
    _check_bool("linear", linear)
    layout = {}

    def peaks_and_valleys(S, n, f):
        n_bins = S.shape[-2]
        if "bands" not in layout:
            freqs = (f.cpu() if f is not None else _bin_frequencies(float(sr), n, n_bins))
            layout["bands"] = _contrast_bands(freqs.tolist(), float(sr), fmin, n_bands, quantile)
        valleys, peaks = [], []
        for rows, q in layout["bands"]:
            if rows and rows == list(range(rows[0], rows[-1] + 1)):
                sub = S[..., rows[0]: rows[-1] + 1, :]
            else:
                sub = S.index_select(-2, torch.tensor(rows, dtype=torch.long, device=S.device))
            srt = torch.sort(sub, dim=-2).values
            valleys.append(srt[..., :q, :].mean(dim=-2))
            peaks.append(srt[..., max(srt.shape[-2] - q, 0):, :].mean(dim=-2))
        both = torch.stack([torch.stack(valleys, dim=-2), torch.stack(peaks, dim=-2)], dim=-3)
        bad = ~torch.isfinite(S).all(dim=-2)
        return torch.where(bad[..., None, None, :], torch.full((), math.nan, dtype=both.dtype,
                                                              device=both.device), both)

    both = _per_frame(x, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq,
                      1.0, peaks_and_valleys)
    valley, peak = both[..., 0, :, :], both[..., 1, :, :]
    if linear:
        return peak - valley
    return power_to_db(peak) - power_to_db(valley)


def rms_from_spectrogram(S: torch.Tensor, frame_length: int = 2048) -> torch.Tensor:
    """RMS per frame from a spectrogram, ``librosa.feature.rms(S=S, frame_length=...)``:
    ``sqrt(2 * sum_k w_k |S_k|**2 / frame_length**2)`` with ``w = 1/2`` for the DC bin and (even
    ``frame_length``) the Nyquist bin, 1 otherwise -- Parseval's identity for a frame
    (exact for a rectangular window; with ``S = stft(x)`` it is the RMS of the windowed frame).

    Args:
        S: ``(..., 1 + frame_length // 2, n_frames)`` complex STFT or magnitude spectrogram.
        frame_length: the frame (FFT) length the bins come from.

    Returns:
        ``(..., n_frames)`` of ``S``'s real dtype, in the units of the signal.
    """
    if not isinstance(S, torch.Tensor):
        raise TypeError(f"S must be a torch.Tensor of shape (..., n_bins, n_frames), got "
                        f"{type(S).__name__}")
    if not (S.is_complex() or S.is_floating_point()):
        raise TypeError(f"S must be a floating or complex tensor, got dtype {S.dtype}")
    if S.dim() < 2:
        raise ValueError(f"S must have shape (..., n_bins, n_frames), got {tuple(S.shape)}")
    N = checks.check_positive_int("frame_length", frame_length)
    n_bins = S.shape[-2]
    if n_bins != N // 2 + 1:
        raise ValueError(f"S has {n_bins} bins, so frame_length must be {2 * n_bins - 2} or "
                         f"{2 * n_bins - 1}; got frame_length = {N}")
    power = S.real.square() + S.imag.square() if S.is_complex() else S.square()
    w = torch.ones(n_bins, dtype=power.dtype, device=power.device)
    w[0] = 0.5
    if N % 2 == 0:
        w[-1] = 0.5
    return torch.sqrt(2 * torch.matmul(w, power) / N ** 2)
