"""``librosa.feature`` mirrors: same keyword arguments, defaults and ``(..., 1, t)`` shapes."""
from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np
import torch

from ... import functional as F
from ._convert import audio_to_tensor

__all__ = ["rms", "zero_crossing_rate"]


def rms(*, y: Optional[np.ndarray] = None, S: Optional[np.ndarray] = None,
        frame_length: int = 2048, hop_length: int = 512, center: bool = True,
        pad_mode: str = "constant", dtype=np.float32) -> np.ndarray:
    """``librosa.feature.rms``: root-mean-square energy per frame, from ``y`` or ``S``.

    Args:
        y: audio, ``(..., n)`` float32/float64 (takes precedence, as librosa); or
        S: a spectrogram ``(..., 1 + frame_length // 2, t)`` (complex or magnitude): librosa's
            Parseval formula, :func:`audiofx.spectral.rms_from_spectrogram`.
        frame_length, hop_length, center, pad_mode: as librosa.
        dtype: output dtype (librosa also accumulates in it; audiofx accumulates in float64 and
            rounds once, so it is at least as accurate).

    Returns:
        ``(..., 1, t)`` array of ``dtype``.
    """
    if y is None:
        if S is None:
            raise ValueError("pass y (audio) or S (a spectrogram)")
        from ... import spectral

        S = np.asarray(S)
        out = spectral.rms_from_spectrogram(torch.from_numpy(np.ascontiguousarray(S)),
                                            frame_length=frame_length)
        return out.numpy()[..., None, :].astype(dtype, copy=False)
    x = audio_to_tensor(y, finite=False)  # librosa's rms does not check: NaN frames
    out = F.rms(x, frame_length, hop_length, center=center, pad_mode=pad_mode)
    return out.numpy()[..., None, :].astype(dtype, copy=False)


def zero_crossing_rate(y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True, threshold: float = 1e-10,
                       ref_magnitude: Optional[Union[float, Callable]] = None,
                       pad: bool = False, zero_pos: bool = True) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate``: crossings per frame / ``frame_length``.

    Args:
        y: audio, ``(..., n)``.
        frame_length, hop_length, center: as librosa (centring pads with ``edge``).
        threshold, ref_magnitude, zero_pos: as ``librosa.zero_crossings``; a callable
            ``ref_magnitude`` is applied to ``|frames|``, as librosa does.
        pad: count the first sample of every frame as a crossing (librosa's ``pad``).

    Returns:
        ``(..., 1, t)`` float64 array (librosa's dtype: a mean of booleans).
    """
    x = audio_to_tensor(y)
    if callable(ref_magnitude):
        frames = F.frame(x, frame_length, hop_length, center=center,
                         pad_mode="edge" if center else None)
        threshold = threshold * float(ref_magnitude(np.abs(frames.numpy())))
    elif ref_magnitude is not None:
        threshold = threshold * float(ref_magnitude)
    out = F.zero_crossing_rate(x, frame_length, hop_length, center=center,
                               threshold=float(threshold), zero_pos=zero_pos)
    # librosa's rate is a float64 mean of booleans; a float32 rate is count / N rounded once, so
    # the count is recovered exactly and divided again in float64.
    counts = np.rint(out.numpy().astype(np.float64) * frame_length) + (1.0 if pad else 0.0)
    return (counts / frame_length)[..., None, :]


# ---------------------------------------------------------------------------------------------
# Spectral features

import torch  # noqa: E402

from .core import pad_mode_arg, window_arg  # noqa: E402

__all__ += ["spectral_centroid", "spectral_bandwidth"]


def _spectral_inputs(y, S, freq):
    """(x tensor or None, S tensor or None, freq) with librosa's checks on S."""
    if y is None and S is None:
        raise ValueError("pass y (audio) or S (a magnitude spectrogram)")
    if S is not None:
        S = np.asarray(S)
        if np.iscomplexobj(S):
            raise TypeError("S must be real (a magnitude spectrogram), got a complex array")
        if S.dtype not in (np.float32, np.float64):
            S = S.astype(np.float64)
        if S.ndim < 2:
            raise ValueError(f"S must have shape (..., d, t), got {S.shape}")
        if not np.isfinite(S).all():
            raise ValueError("S must be finite")
        if np.any(S < 0):
            raise ValueError("S must be non-negative (spectral features are defined on "
                             "magnitudes)")
        return None, torch.from_numpy(np.ascontiguousarray(S)), freq
    return audio_to_tensor(y), None, freq


def _freq_arg(freq):
    if freq is None:
        return None
    freq = np.asarray(freq)
    if freq.ndim != 1:
        raise ValueError(f"freq must be 1-D (one frequency per bin); per-frame frequencies "
                         f"{freq.shape} are not supported")
    return freq.astype(np.float64)


def spectral_centroid(*, y: Optional[np.ndarray] = None, sr: float = 22050,
                      S: Optional[np.ndarray] = None, n_fft: int = 2048, hop_length: int = 512,
                      freq: Optional[np.ndarray] = None, win_length: Optional[int] = None,
                      window="hann", center: bool = True,
                      pad_mode: str = "constant") -> np.ndarray:
    """``librosa.feature.spectral_centroid``: centroid frequency per frame.

    Args:
        y, S: audio ``(..., n)`` or magnitude spectrogram ``(..., d, t)`` (then
            ``n_fft = 2 * (d - 1)``), as librosa; S takes precedence.
        sr, n_fft, hop_length, win_length, window, center, pad_mode: as librosa (``window`` as
            :func:`audiofx.compat.librosa.stft`).
        freq: 1-D bin frequencies (librosa also takes per-frame ``(d, t)`` ones; not supported).

    Returns:
        ``(..., 1, t)`` float64 array (librosa's dtype: it multiplies by float64 frequencies).
        For float32 input the computation is in float32 with float64 sums.
    """
    x, St, freq = _spectral_inputs(y, S, _freq_arg(freq))
    out = F.spectral_centroid(x, S=St, sr=sr, n_fft=n_fft, hop_length=hop_length,
                              win_length=win_length, window=window_arg(window), center=center,
                              pad_mode=pad_mode_arg(center, pad_mode), freq=freq)
    return out.numpy().astype(np.float64)[..., None, :]


def spectral_bandwidth(*, y: Optional[np.ndarray] = None, sr: float = 22050,
                       S: Optional[np.ndarray] = None, n_fft: int = 2048, hop_length: int = 512,
                       win_length: Optional[int] = None, window="hann", center: bool = True,
                       pad_mode: str = "constant", freq: Optional[np.ndarray] = None,
                       centroid: Optional[np.ndarray] = None, norm: bool = True,
                       p: float = 2) -> np.ndarray:
    """``librosa.feature.spectral_bandwidth``: p-th order bandwidth per frame.

    Args:
        y, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq: as
            :func:`spectral_centroid`.
        centroid: optional precomputed centroid ``(..., 1, t)``.
        norm, p: as librosa.

    Returns:
        ``(..., 1, t)`` float64 array.
    """
    x, St, freq = _spectral_inputs(y, S, _freq_arg(freq))
    if centroid is not None:
        centroid = torch.from_numpy(np.asarray(centroid, dtype=np.float64)[..., 0, :])
    out = F.spectral_bandwidth(x, S=St, sr=sr, n_fft=n_fft, hop_length=hop_length,
                               win_length=win_length, window=window_arg(window), center=center,
                               pad_mode=pad_mode_arg(center, pad_mode), freq=freq,
                               centroid=centroid, norm=bool(norm), p=p)
    return out.numpy().astype(np.float64)[..., None, :]


# ---------------------------------------------------------------------------------------------
# Rolloff, flatness, contrast, mel spectrogram and MFCC (audiofx.spectral)

from ... import spectral as _spectral  # noqa: E402

__all__ += ["spectral_rolloff", "spectral_flatness", "spectral_contrast", "melspectrogram",
            "mfcc"]


def _real_S(S, name: str = "S") -> torch.Tensor:
    """A real spectrogram (..., d, t) as a tensor, without the magnitude checks (librosa does
    not check a mel/dB spectrogram's sign)."""
    S = np.asarray(S)
    if np.iscomplexobj(S):
        raise TypeError(f"{name} must be real, got a complex array")
    if S.dtype not in (np.float32, np.float64):
        S = S.astype(np.float64)
    if S.ndim < 2:
        raise ValueError(f"{name} must have shape (..., d, t), got {S.shape}")
    return torch.from_numpy(np.ascontiguousarray(S))


def _stft_kw(n_fft, hop_length, win_length, window, center, pad_mode) -> dict:
    return dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                window=window_arg(window), center=center, pad_mode=pad_mode_arg(center, pad_mode))


def spectral_rolloff(*, y: Optional[np.ndarray] = None, sr: float = 22050,
                     S: Optional[np.ndarray] = None, n_fft: int = 2048, hop_length: int = 512,
                     win_length: Optional[int] = None, window="hann", center: bool = True,
                     pad_mode: str = "constant", freq: Optional[np.ndarray] = None,
                     roll_percent: float = 0.85) -> np.ndarray:
    """``librosa.feature.spectral_rolloff``: roll-off frequency per frame.

    Args:
        y, S, sr, n_fft, hop_length, win_length, window, center, pad_mode, freq: as
            :func:`spectral_centroid` (1-D ``freq`` only).
        roll_percent: in (0, 1).

    Returns:
        ``(..., 1, t)`` float64 array (librosa's dtype).
    """
    x, St, freq = _spectral_inputs(y, S, _freq_arg(freq))
    out = _spectral.spectral_rolloff(x, S=St, sr=sr, freq=freq, roll_percent=roll_percent,
                                     **_stft_kw(n_fft, hop_length, win_length, window, center,
                                                pad_mode))
    return out.numpy().astype(np.float64)[..., None, :]


def spectral_flatness(*, y: Optional[np.ndarray] = None, S: Optional[np.ndarray] = None,
                      n_fft: int = 2048, hop_length: int = 512,
                      win_length: Optional[int] = None, window="hann", center: bool = True,
                      pad_mode: str = "constant", amin: float = 1e-10,
                      power: float = 2.0) -> np.ndarray:
    """``librosa.feature.spectral_flatness``: geometric / arithmetic mean of
    ``max(amin, S ** power)`` per frame.

    Returns:
        ``(..., 1, t)`` array of the input's dtype (float32 for float32 ``y``, as librosa; its
        float32 silent frames read ``1.0003``, log-mean round-off, where audiofx gives 1.0).
    """
    x, St, _ = _spectral_inputs(y, S, None)
    out = _spectral.spectral_flatness(x, S=St, amin=amin, power=power,
                                      **_stft_kw(n_fft, hop_length, win_length, window, center,
                                                 pad_mode))
    return out.numpy()[..., None, :]


def spectral_contrast(*, y: Optional[np.ndarray] = None, sr: float = 22050,
                      S: Optional[np.ndarray] = None, n_fft: int = 2048, hop_length: int = 512,
                      win_length: Optional[int] = None, window="hann", center: bool = True,
                      pad_mode: str = "constant", freq: Optional[np.ndarray] = None,
                      fmin: float = 200.0, n_bands: int = 6, quantile: float = 0.02,
                      linear: bool = False) -> np.ndarray:
    """``librosa.feature.spectral_contrast``: octave-band peak/valley contrast.

    Returns:
        ``(..., n_bands + 1, t)`` float64 array (librosa's dtype).
    """
    x, St, freq = _spectral_inputs(y, S, _freq_arg(freq))
    out = _spectral.spectral_contrast(x, S=St, sr=sr, freq=freq, fmin=fmin, n_bands=n_bands,
                                      quantile=quantile, linear=bool(linear),
                                      **_stft_kw(n_fft, hop_length, win_length, window, center,
                                                 pad_mode))
    return out.numpy().astype(np.float64)


_MEL_KWARGS = ("n_mels", "fmin", "fmax", "htk", "norm", "dtype")


def _mel_kwargs(kwargs: dict, where: str):
    unknown = sorted(set(kwargs) - set(_MEL_KWARGS))
    if unknown:
        raise TypeError(f"{where} got unexpected keyword arguments {unknown}; the mel filterbank "
                        f"takes {', '.join(_MEL_KWARGS)}")
    kw = dict(kwargs)
    basis_dtype = np.dtype(kw.pop("dtype", np.float32))
    return kw, basis_dtype


def melspectrogram(*, y: Optional[np.ndarray] = None, sr: float = 22050,
                   S: Optional[np.ndarray] = None, n_fft: int = 2048, hop_length: int = 512,
                   win_length: Optional[int] = None, window="hann", center: bool = True,
                   pad_mode: str = "constant", power: float = 2.0, **kwargs) -> np.ndarray:
    """``librosa.feature.melspectrogram``: ``mel_basis @ |stft(y)| ** power``.

    Args:
        y, S: audio ``(..., n)`` or a power spectrogram ``(..., d, t)`` (S takes precedence).
        sr, n_fft, hop_length, win_length, window, center, pad_mode, power: as librosa.
        **kwargs: ``filters.mel``'s ``n_mels``, ``fmin``, ``fmax``, ``htk``, ``norm``, ``dtype``.

    Returns:
        ``(..., n_mels, t)`` array of librosa's dtype (the input's, promoted with the filterbank
        ``dtype``, float32 by default). audiofx applies the filterbank in the input's precision
        (librosa's float64 results use float32 weights: ~6e-8 relative difference).
    """
    kw, basis_dtype = _mel_kwargs(kwargs, "melspectrogram")
    if S is not None:
        St, x = _real_S(S), None
    else:
        St, x = None, audio_to_tensor(y)
    out = _spectral.melspectrogram(x, S=St, sr=sr, power=power, **kw,
                                   **_stft_kw(n_fft, hop_length, win_length, window, center,
                                              pad_mode))
    out = out.numpy()
    return out.astype(np.result_type(out.dtype, basis_dtype), copy=False)


def mfcc(*, y: Optional[np.ndarray] = None, sr: float = 22050, S: Optional[np.ndarray] = None,
         n_mfcc: int = 20, dct_type: int = 2, norm: Optional[str] = "ortho", lifter: float = 0,
         mel_norm="slaney", **kwargs) -> np.ndarray:
    """``librosa.feature.mfcc``: DCT of the log-power mel spectrogram.

    Args:
        y, S: audio, or a log-power mel spectrogram ``(..., n_mels, t)`` (S takes precedence).
        n_mfcc, norm, lifter, mel_norm: as librosa.
        dct_type: 2 or 3 (librosa also takes 1 and 4).
        **kwargs: :func:`melspectrogram`'s arguments (STFT and filterbank).

    Returns:
        ``(..., n_mfcc, t)`` array of the (mel) spectrogram's dtype.
    """
    if S is not None:
        out = _spectral.mfcc(S=_real_S(S), n_mfcc=n_mfcc, dct_type=dct_type, norm=norm,
                             lifter=lifter)
        return out.numpy()
    if "norm" in kwargs:
        raise TypeError("mfcc: the filterbank's norm is mel_norm (norm is the DCT's)")
    mel = melspectrogram(y=y, sr=sr, norm=mel_norm, **kwargs)
    db = _spectral.power_to_db(torch.from_numpy(mel))
    return _spectral.mfcc(S=db, n_mfcc=n_mfcc, dct_type=dct_type, norm=norm,
                          lifter=lifter).numpy()
