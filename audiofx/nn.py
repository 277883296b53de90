"""``nn.Module`` wrappers over :mod:`audiofx.functional` and :mod:`audiofx.spectral`
(torchaudio-transforms style), and :class:`FeatureStack`, the feature front end of the models.

Each module builds its configuration and constant tensors once in ``__init__`` (analysis window,
mel filterbank, DCT matrix) and its ``forward`` is one call into the functional layer, so
``.to(device)`` / ``.double()`` move the constants with the module, ``state_dict()`` round-trips,
and ``torch.compile(fullgraph=True)`` traces through (the ops have fake kernels). No new maths
lives here: every value is the functional layer's.

Buffers: the window, filterbank and DCT matrix are derivable from the constructor arguments, so
they are registered with ``persistent=False`` and are *not* in ``state_dict()``; the only state
that is saved is :class:`FeatureStack`'s running statistics (``running_mean``, ``running_var``,
``num_batches_tracked``) when ``standardize=True``. The constants are built and kept in float64
(exact for float64 input; the functional layer converts them to the input's dtype, a small copy
per call); casting the module (``.float()``, ``.to(dtype)``) rounds them like any buffer.

Variable length: every ``forward`` takes ``lengths`` (valid samples per row of a right-padded
batch, shape ``x.shape[:-1]``). Without it the result is the functional result; with it the
module returns ``(result, frame_lengths)`` as the functional layer does, each row computed as if
it were its clip alone and frames past ``frame_lengths`` zero.

Devices: whatever the ops support (CPU float32/float64; CUDA also float16/bfloat16 for the frame
ops). Autograd: as the ops (see DESIGN §3).
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence, Union

import torch
from torch import nn

from . import functional as F
from . import spectral as S

__all__ = [
    "AmplitudeEnvelope",
    "RMS",
    "ZeroCrossingRate",
    "STFT",
    "Spectrogram",
    "SpectralCentroid",
    "SpectralBandwidth",
    "MelSpectrogram",
    "MFCC",
    "FeatureStack",
    "FEATURE_NAMES",
]

#: Feature names :class:`FeatureStack` accepts: amplitude envelope, RMS, zero-crossing rate,
#: spectral centroid, spectral bandwidth (1 row each), log-mel (``n_mels`` rows), MFCC
#: (``n_mfcc`` rows).
FEATURE_NAMES = ("ae", "rms", "zcr", "centroid", "bandwidth", "mel", "mfcc")

_FRAME_NAMES = ("ae", "rms", "zcr")
_SPECTRAL_NAMES = ("centroid", "bandwidth")
_MEL_NAMES = ("mel", "mfcc")


def _window_buffer(window, win_length: int) -> torch.Tensor:
    return F.get_window(window, win_length, dtype=torch.float64)


def _win_length(n_fft: int, win_length: Optional[int]) -> int:
    n_fft = F.checks.check_positive_int("n_fft", n_fft)
    win = n_fft if win_length is None else F.checks.check_positive_int("win_length", win_length)
    if win > n_fft:
        raise ValueError(f"win_length must be <= n_fft = {n_fft}, got {win}")
    return win


def _power_spectrogram(x, window, n_fft, hop_length, win_length, center, pad_mode, power,
                       lengths):
    """``|stft(x)| ** power`` (power 1 or 2), and the frame lengths when ``lengths`` is given."""
    out = F.stft(x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                 center=center, pad_mode=pad_mode, **_lengths_kw(lengths))
    X, frame_lengths = (out, None) if lengths is None else out
    P = X.real.square() + X.imag.square() if power == 2.0 else X.abs()
    return P, frame_lengths


def _with_lengths(result, frame_lengths):
    return result if frame_lengths is None else (result, frame_lengths)


def _lengths_kw(lengths):
    """``lengths`` as a keyword only when given, so that the call without it is the functional
    layer's plain call."""
    return {} if lengths is None else {"lengths": lengths}


class _FrameModule(nn.Module):
    """Common configuration of the frame-feature modules."""

    def __init__(self, frame_length: int, hop_length: int, center: bool, pad_mode):
        super().__init__()
        self.frame_length = F.checks.check_positive_int("frame_length", frame_length)
        self.hop_length = F.checks.check_positive_int("hop_length", hop_length)
        if not isinstance(center, bool):
            raise TypeError(f"center must be a bool, got {center!r}")
        self.center = center
        self.pad_mode = pad_mode

    def extra_repr(self) -> str:
        return (f"frame_length={self.frame_length}, hop_length={self.hop_length}, "
                f"center={self.center}, pad_mode={self.pad_mode!r}")


class AmplitudeEnvelope(_FrameModule):
    """:func:`audiofx.amplitude_envelope` as a module: ``(..., time) -> (..., frames)``, the
    largest sample of each frame (``absolute=True``: of ``|x|``), in the units of ``x``."""

    def __init__(self, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
                 pad_mode: Optional[str] = "constant", absolute: bool = False):
        super().__init__(frame_length, hop_length, center, pad_mode)
        self.absolute = absolute

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        return F.amplitude_envelope(x, self.frame_length, self.hop_length, self.center,
                                    self.pad_mode, self.absolute, **_lengths_kw(lengths))


class RMS(_FrameModule):
    """:func:`audiofx.rms` as a module: ``(..., time) -> (..., frames)``, the root-mean-square of
    each (padded) frame, in the units of ``x``."""

    def __init__(self, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
                 pad_mode: Optional[str] = "constant"):
        super().__init__(frame_length, hop_length, center, pad_mode)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        return F.rms(x, self.frame_length, self.hop_length, self.center, self.pad_mode,
                     **_lengths_kw(lengths))


class ZeroCrossingRate(_FrameModule):
    """:func:`audiofx.zero_crossing_rate` as a module: ``(..., time) -> (..., frames)``,
    crossings per sample in ``[0, 1)`` (librosa's definition; ``edge`` padding when centred)."""

    def __init__(self, frame_length: int = 2048, hop_length: int = 512, center: bool = True,
                 threshold: float = 1e-10, zero_pos: bool = True,
                 pad_mode: Optional[str] = "edge"):
        super().__init__(frame_length, hop_length, center, pad_mode)
        self.threshold = threshold
        self.zero_pos = zero_pos

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        return F.zero_crossing_rate(x, self.frame_length, self.hop_length, self.center,
                                    self.threshold, self.zero_pos, self.pad_mode,
                                    **_lengths_kw(lengths))


class _STFTModule(nn.Module):
    """Common configuration of the STFT-based modules; the window is a non-persistent buffer."""

    def __init__(self, n_fft: int, hop_length: Optional[int], win_length: Optional[int], window,
                 center: bool, pad_mode):
        super().__init__()
        self.win_length = _win_length(n_fft, win_length)
        self.n_fft = int(n_fft)
        if hop_length is None:
            hop_length = max(self.win_length // 4, 1)
        self.hop_length = F.checks.check_positive_int("hop_length", hop_length)
        if not isinstance(center, bool):
            raise TypeError(f"center must be a bool, got {center!r}")
        self.center = center
        self.pad_mode = pad_mode
        self.register_buffer("window", _window_buffer(window, self.win_length), persistent=False)

    def _power(self, x, power, lengths):
        return _power_spectrogram(x, self.window, self.n_fft, self.hop_length, self.win_length,
                                  self.center, self.pad_mode, power, lengths)

    def extra_repr(self) -> str:
        return (f"n_fft={self.n_fft}, win_length={self.win_length}, "
                f"hop_length={self.hop_length}, center={self.center}, pad_mode={self.pad_mode!r}")


class STFT(_STFTModule):
    """:func:`audiofx.stft` as a module: ``(..., time) -> complex (..., 1 + n_fft // 2,
    frames)``, librosa's values and layout. ``hop_length`` defaults to ``win_length // 4``."""

    def __init__(self, n_fft: int = 2048, hop_length: Optional[int] = None,
                 win_length: Optional[int] = None, window="hann", center: bool = True,
                 pad_mode: Optional[str] = "constant"):
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        return F.stft(x, self.n_fft, self.hop_length, self.win_length, self.window, self.center,
                      self.pad_mode, **_lengths_kw(lengths))


def _check_power_1_or_2(power) -> float:
    if isinstance(power, bool) or power not in (1, 2):
        raise ValueError(f"power must be 1 (magnitude) or 2 (power), got {power!r}")
    return float(power)


def _check_db_args(db, top_db):
    if not isinstance(db, bool):
        raise TypeError(f"db must be a bool, got {db!r}")
    return S._check_top_db(top_db)


class Spectrogram(_STFTModule):
    """Magnitude (``power=1``) or power (``power=2``) spectrogram ``|stft(x)| ** power``,
    optionally in dB: ``(..., time) -> (..., 1 + n_fft // 2, frames)``.

    With ``db=True`` the result is :func:`audiofx.amplitude_to_db` (power 1) or
    :func:`audiofx.power_to_db` (power 2) with ``ref=1``, ``amin`` 1e-5 / 1e-10 and ``top_db``
    (default None: no clipping; a number clips against the maximum of the *whole* batch, as
    librosa does for one array, so batch items then affect each other).
    """

    def __init__(self, n_fft: int = 2048, hop_length: Optional[int] = None,
                 win_length: Optional[int] = None, window="hann", center: bool = True,
                 pad_mode: Optional[str] = "constant", power: float = 2.0, db: bool = False,
                 top_db: Optional[float] = None):
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        self.power = _check_power_1_or_2(power)
        self.top_db = _check_db_args(db, top_db)
        self.db = db

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        P, frame_lengths = self._power(x, self.power, lengths)
        if self.db:
            to_db = S.power_to_db if self.power == 2.0 else S.amplitude_to_db
            P = to_db(P, top_db=self.top_db)
        return _with_lengths(P, frame_lengths)


class SpectralCentroid(_STFTModule):
    """:func:`audiofx.spectral_centroid` of ``x`` as a module: ``(..., time) -> (..., frames)``
    in Hz (computed in chunks without materialising the spectrogram)."""

    def __init__(self, sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                 win_length: Optional[int] = None, window="hann", center: bool = True,
                 pad_mode: Optional[str] = "constant"):
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        self.sr = F.checks.check_real("sr", sr)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        return F.spectral_centroid(x, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
                                   win_length=self.win_length, window=self.window,
                                   center=self.center, pad_mode=self.pad_mode,
                                   **_lengths_kw(lengths))


class SpectralBandwidth(_STFTModule):
    """:func:`audiofx.spectral_bandwidth` of ``x`` as a module: ``(..., time) -> (...,
    frames)`` in Hz (order ``p``, per-frame normalised spectrum when ``norm``)."""

    def __init__(self, sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                 win_length: Optional[int] = None, window="hann", center: bool = True,
                 pad_mode: Optional[str] = "constant", p: float = 2, norm: bool = True):
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        self.sr = F.checks.check_real("sr", sr)
        self.p = F.checks.check_bandwidth_args(p, norm)
        self.norm = norm

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        return F.spectral_bandwidth(x, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
                                    win_length=self.win_length, window=self.window,
                                    center=self.center, pad_mode=self.pad_mode, p=self.p,
                                    norm=self.norm, **_lengths_kw(lengths))


class MelSpectrogram(_STFTModule):
    """:func:`audiofx.melspectrogram` as a module: ``(..., time) -> (..., n_mels, frames)``,
    ``mel_basis @ |stft(x)| ** power`` with the filterbank (:func:`audiofx.mel_filterbank`,
    librosa's) built once as a buffer; optionally in dB (:class:`Spectrogram`'s ``db`` and
    ``top_db``). librosa's defaults (``n_mels=128``, ``hop_length=512``)."""

    def __init__(self, sr: float = 22050, n_fft: int = 2048, hop_length: Optional[int] = 512,
                 win_length: Optional[int] = None, window="hann", center: bool = True,
                 pad_mode: Optional[str] = "constant", power: float = 2.0, n_mels: int = 128,
                 fmin: float = 0.0, fmax: Optional[float] = None, htk: bool = False,
                 norm: Union[str, float, None] = "slaney", db: bool = False,
                 top_db: Optional[float] = None):
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        self.sr = F.checks.check_real("sr", sr)
        self.power = _check_power_1_or_2(power)
        self.top_db = _check_db_args(db, top_db)
        self.db = db
        self.n_mels = F.checks.check_positive_int("n_mels", n_mels)
        self.register_buffer(
            "mel_basis",
            S.mel_filterbank(sr=self.sr, n_fft=self.n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                             htk=htk, norm=norm, dtype=torch.float64),
            persistent=False)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        P, frame_lengths = self._power(x, self.power, lengths)
        M = torch.matmul(self.mel_basis.to(P.dtype), P)
        if self.db:
            to_db = S.power_to_db if self.power == 2.0 else S.amplitude_to_db
            M = to_db(M, top_db=self.top_db)
        return _with_lengths(M, frame_lengths)


def _dct_buffer(n_mels: int, n_mfcc: int, dct_type: int, norm, lifter: float) -> torch.Tensor:
    """The DCT rows of :func:`audiofx.mfcc` with its liftering folded into them (the lifter
    scales coefficient ``i`` by ``1 + lifter/2 * sin(pi i / lifter)``: a per-row factor)."""
    D = S.dct_matrix(n_mels, n_mfcc, dct_type=dct_type, norm=norm, dtype=torch.float64)
    if lifter > 0:
        i = torch.arange(1, 1 + D.shape[0], dtype=torch.float64)
        D = D * (1 + (lifter / 2) * torch.sin(math.pi * i / lifter))[:, None]
    return D


class MFCC(_STFTModule):
    """:func:`audiofx.mfcc` as a module: ``(..., time) -> (..., n_mfcc, frames)``.

    ``DCT @ power_to_db(mel_basis @ |stft(x)| ** 2, top_db=top_db)``, the filterbank and the DCT
    matrix (liftering folded in) built once as buffers. ``top_db`` defaults to None (no
    clipping), not librosa's 80: librosa clips against the maximum of the whole array, which for
    a batch would let the loudest clip change the others' coefficients; pass ``top_db=80`` for
    librosa's numbers on a single clip.
    """

    def __init__(self, sr: float = 22050, n_mfcc: int = 20, dct_type: int = 2,
                 norm: Optional[str] = "ortho", lifter: float = 0,
                 mel_norm: Union[str, float, None] = "slaney", n_fft: int = 2048,
                 hop_length: Optional[int] = 512, win_length: Optional[int] = None,
                 window="hann", center: bool = True, pad_mode: Optional[str] = "constant",
                 n_mels: int = 128, fmin: float = 0.0, fmax: Optional[float] = None,
                 htk: bool = False, top_db: Optional[float] = None):
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        self.sr = F.checks.check_real("sr", sr)
        self.n_mels = F.checks.check_positive_int("n_mels", n_mels)
        self.n_mfcc = F.checks.check_positive_int("n_mfcc", n_mfcc)
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc must be <= n_mels = {self.n_mels}, got {self.n_mfcc}")
        self.top_db = S._check_top_db(top_db)
        lifter = S._check_nonneg_real("lifter", lifter)
        self.register_buffer(
            "mel_basis",
            S.mel_filterbank(sr=self.sr, n_fft=self.n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                             htk=htk, norm=mel_norm, dtype=torch.float64),
            persistent=False)
        self.register_buffer("dct", _dct_buffer(self.n_mels, self.n_mfcc, dct_type, norm, lifter),
                             persistent=False)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        P, frame_lengths = self._power(x, 2.0, lengths)
        M = S.power_to_db(torch.matmul(self.mel_basis.to(P.dtype), P), top_db=self.top_db)
        return _with_lengths(torch.matmul(self.dct.to(M.dtype), M), frame_lengths)


def _check_features(features) -> tuple:
    if isinstance(features, str):
        features = (features,)
    try:
        features = tuple(features)
    except TypeError:
        raise TypeError(f"features must be a sequence of names from {FEATURE_NAMES}, got "
                        f"{features!r}") from None
    unknown = [f for f in features if f not in FEATURE_NAMES]
    if not features or unknown:
        raise ValueError(f"features must name at least one of {', '.join(map(repr, FEATURE_NAMES))}"
                         f", got {features!r}")
    if len(set(features)) != len(features):
        raise ValueError(f"features must not repeat a name, got {features!r}")
    return features


class FeatureStack(nn.Module):
    """The selected frame features of a batch of waveforms, stacked as ``(B, F, frames)``.

    ``x`` ``(..., time) -> (..., F, frames)`` (typically ``(B, T) -> (B, F, frames)``), rows in
    the order of ``features``: ``"ae"`` (amplitude envelope), ``"rms"``, ``"zcr"`` (one row each,
    from one fused :func:`audiofx.frame_features` pass over the signal), ``"centroid"``,
    ``"bandwidth"`` (Hz, one row each), ``"mel"`` (log-mel: ``power_to_db`` of the power mel
    spectrogram, ``n_mels`` rows) and ``"mfcc"`` (``n_mfcc`` rows, the DCT of that log-mel). The
    spectral features come from one STFT: with mel or MFCC selected, its power spectrogram feeds
    the mel filterbank and its magnitude the centroid/bandwidth statistics; with only centroid /
    bandwidth, one chunked :func:`audiofx.spectral_features` call that never materialises the
    spectrogram (float64 frames and FFT on CPU, so a little more precise). All use
    the same frame grid (``center=True``, ``hop_length``), so frame counts agree; the dB scale has
    no ``top_db`` clip, so batch items never affect each other.

    Args:
        features: names from :data:`FEATURE_NAMES`, each at most once.
        sr: sampling rate of ``x`` (Hz).
        frame_length: frame of the amplitude envelope, RMS and zero-crossing rate (samples).
        hop_length: samples between frames, shared by all features.
        n_fft: FFT length of the spectral features (default ``frame_length``); with frame and
            spectral features together it must have ``frame_length``'s parity (else the
            centred frame counts differ).
        n_mels, n_mfcc: rows of ``"mel"`` and ``"mfcc"`` (``n_mfcc <= n_mels``).
        standardize: subtract a running mean and divide by a running standard deviation per
            row (buffers ``running_mean``, ``running_var`` ``(F,)``, ``num_batches_tracked``,
            saved in ``state_dict``). In training mode each call first updates them from the
            batch's valid frames (masked frames excluded) with factor ``max(momentum, 1 / (n +
            1))`` for the ``n``-th batch, so the first batch sets them and early batches average
            cumulatively; then, in both modes, the running statistics are applied.
        momentum: the running statistics' update factor (in (0, 1]).
        fmin, fmax, htk, mel_norm: the mel filterbank (:func:`audiofx.mel_filterbank`).
        window: the analysis window name of the spectral features.
        eps: added to the running variance before the square root.

    ``forward(x, lengths=None)``: ``x`` float ``(..., T)`` on any device the ops support.
    Returns ``feats`` ``(..., F, n_frames)`` (``n_frames = 1 + T // hop_length`` for even frame
    lengths); with ``lengths`` (valid samples per row, ``x.shape[:-1]``) returns ``(feats,
    mask)``, ``mask`` bool ``(..., n_frames)`` True on the frames of each row's clip alone, the
    features of each row computed as if it were alone and its masked frames set to 0.

    ``config()`` returns the constructor arguments as a JSON-able dict
    (``FeatureStack(**fs.config())`` rebuilds it); ``feature_dim`` is ``F``; ``rows`` maps each
    name to its row slice. ``torch.compile(fullgraph=True)`` holds.
    """

    def __init__(self, features: Sequence[str], sr: float = 22050, frame_length: int = 2048,
                 hop_length: int = 512, n_fft: Optional[int] = None, n_mels: int = 64,
                 n_mfcc: int = 20, standardize: bool = False, momentum: float = 0.01, *,
                 fmin: float = 0.0, fmax: Optional[float] = None, htk: bool = False,
                 mel_norm: Union[str, float, None] = "slaney", window: str = "hann",
                 eps: float = 1e-5):
        super().__init__()
        self.features = _check_features(features)
        self.sr = F.checks.check_real("sr", sr)
        self.frame_length = F.checks.check_positive_int("frame_length", frame_length)
        self.hop_length = F.checks.check_positive_int("hop_length", hop_length)
        self.n_fft = self.frame_length if n_fft is None else F.checks.check_positive_int("n_fft", n_fft)
        self.n_mels = F.checks.check_positive_int("n_mels", n_mels)
        self.n_mfcc = F.checks.check_positive_int("n_mfcc", n_mfcc)
        if not isinstance(standardize, bool):
            raise TypeError(f"standardize must be a bool, got {standardize!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
                or not 0 < momentum <= 1:
            raise ValueError(f"momentum must be a number in (0, 1], got {momentum!r}")
        if not isinstance(window, str):
            raise TypeError(f"window must be a window name (a str, so that config() stays "
                            f"JSON-able), got {type(window).__name__}")
        self.standardize = standardize
        self.momentum = float(momentum)
        self.eps = F.checks.check_real("eps", eps)
        self._cfg = dict(features=list(self.features), sr=sr, frame_length=self.frame_length,
                         hop_length=self.hop_length, n_fft=n_fft, n_mels=self.n_mels,
                         n_mfcc=self.n_mfcc, standardize=standardize, momentum=self.momentum,
                         fmin=fmin, fmax=fmax, htk=htk, mel_norm=mel_norm, window=window,
                         eps=self.eps)

        self._frame = [f for f in self.features if f in _FRAME_NAMES]
        self._spectral = [f for f in self.features if f in _SPECTRAL_NAMES]
        self._mel = [f for f in self.features if f in _MEL_NAMES]
        if self._frame and (self._spectral or self._mel) \
                and self.frame_length % 2 != self.n_fft % 2:
            raise ValueError(f"n_fft ({self.n_fft}) and frame_length ({self.frame_length}) must "
                             f"both be even or both odd: centred frames of the two then fall on "
                             f"the same grid")
        if "mfcc" in self.features and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc must be <= n_mels = {self.n_mels}, got {self.n_mfcc}")

        self.rows = {}
        start = 0
        for f in self.features:
            n = self.n_mels if f == "mel" else self.n_mfcc if f == "mfcc" else 1
            self.rows[f] = slice(start, start + n)
            start += n
        self.feature_dim = start

        dtype = torch.get_default_dtype()
        if self._spectral or self._mel:
            self.register_buffer("window", _window_buffer(window, self.n_fft), persistent=False)
        if self._mel:
            self.register_buffer(
                "mel_basis",
                S.mel_filterbank(sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=fmin,
                                 fmax=fmax, htk=htk, norm=mel_norm, dtype=torch.float64),
                persistent=False)
        if "mfcc" in self.features:
            self.register_buffer("dct", _dct_buffer(self.n_mels, self.n_mfcc, 2, "ortho", 0.0),
                                 persistent=False)
        if standardize:
            self.register_buffer("running_mean", torch.zeros(self.feature_dim, dtype=dtype))
            self.register_buffer("running_var", torch.ones(self.feature_dim, dtype=dtype))
            self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def config(self) -> dict:
        """The constructor arguments (JSON-able): ``FeatureStack(**config())`` rebuilds it."""
        return dict(self._cfg, features=list(self.features))

    def extra_repr(self) -> str:
        return (f"features={self.features}, feature_dim={self.feature_dim}, sr={self.sr}, "
                f"frame_length={self.frame_length}, hop_length={self.hop_length}, "
                f"n_fft={self.n_fft}, standardize={self.standardize}")

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None):
        if lengths is not None and not isinstance(lengths, torch.Tensor):
            raise TypeError(f"lengths must be an integer tensor of shape x.shape[:-1], got "
                            f"{type(lengths).__name__}")
        kw = _lengths_kw(lengths)
        parts = {}
        frame_lengths = None
        if self._frame:
            out = F.frame_features(x, self.frame_length, self.hop_length, center=True,
                                   pad_mode="constant", **kw)
            ff, frame_lengths = (out, None) if lengths is None else out
            parts.update(ae=ff.amplitude_envelope, rms=ff.rms, zcr=ff.zero_crossing_rate)
        if self._mel:
            P, frame_lengths = _power_spectrogram(x, self.window, self.n_fft, self.hop_length,
                                                  None, True, "constant", 2.0, lengths)
            logmel = S.power_to_db(torch.matmul(self.mel_basis.to(P.dtype), P), top_db=None)
            parts["mel"] = logmel
            if "mfcc" in self._mel:
                parts["mfcc"] = torch.matmul(self.dct.to(logmel.dtype), logmel)
            if self._spectral:
                # The spectrogram is there already: centroid and bandwidth from its magnitude
                # (one STFT for every spectral feature). Frames past a clip's end are zero, so
                # their statistics are 0, as from the signal.
                mag = P.sqrt()
                c = F.spectral_centroid(S=mag, sr=self.sr, n_fft=self.n_fft)
                parts["centroid"] = c
                if "bandwidth" in self._spectral:
                    parts["bandwidth"] = F.spectral_bandwidth(S=mag, sr=self.sr, n_fft=self.n_fft,
                                                              centroid=c)
        elif self._spectral:
            out = F.spectral_features(x, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
                                      window=self.window, features=tuple(self._spectral), **kw)
            sf, frame_lengths = (out, None) if lengths is None else out
            parts.update(sf)
        feats = torch.cat([parts[f] if f in _MEL_NAMES else parts[f].unsqueeze(-2)
                           for f in self.features], dim=-2)
        mask = None
        if frame_lengths is not None:
            frames = torch.arange(feats.shape[-1], device=feats.device)
            mask = frames < frame_lengths.to(feats.device).unsqueeze(-1)
        if self.standardize:
            if self.training:
                self._update_statistics(feats, mask)
            mean = self.running_mean.to(feats.dtype).unsqueeze(-1)
            inv_std = torch.rsqrt(self.running_var.to(feats.dtype).unsqueeze(-1) + self.eps)
            feats = (feats - mean) * inv_std
        if mask is None:
            return feats
        return feats.masked_fill(~mask.unsqueeze(-2), 0.0), mask

    @torch.no_grad()
    def _update_statistics(self, feats: torch.Tensor, mask: Optional[torch.Tensor]) -> None:
        """Running mean / variance per row from the valid frames of ``feats`` (..., F, frames)."""
        rows = feats.transpose(-1, -2).reshape(-1, feats.shape[-2]).to(torch.float64)
        if mask is None:
            w = torch.ones(rows.shape[0], dtype=torch.float64, device=rows.device)
        else:
            w = mask.reshape(-1).to(torch.float64)
        count = w.sum().clamp_min(1.0)
        mean = (w[:, None] * rows).sum(0) / count
        var = (w[:, None] * (rows - mean).square()).sum(0) / count
        self.num_batches_tracked.add_(1)
        factor = torch.clamp(1.0 / self.num_batches_tracked.to(torch.float64), min=self.momentum)
        new_mean = self.running_mean.to(torch.float64).lerp(mean, factor)
        new_var = self.running_var.to(torch.float64).lerp(var, factor)
        self.running_mean.copy_(new_mean)
        self.running_var.copy_(new_var)
