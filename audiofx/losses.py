"""Spectral losses for training waveform models, on :func:`audiofx.stft` (its kernels and its
backward).

:class:`MultiResolutionSTFTLoss` is the auxiliary loss of Parallel WaveGAN (Yamamoto, Song and
Kim, ICASSP 2020, eq. 1-3), also used by HiFi-GAN-style vocoders and auraloss. For a prediction
``x`` and a target ``y`` and each resolution ``m`` (an ``(n_fft, hop_length, win_length)``
triple, hann window, centred frames):

* magnitudes ``|X| = sqrt(max(re(X)^2 + im(X)^2, eps))`` with ``X = stft(x)`` (likewise
  ``|Y|``); the clamp, at ``eps = 1e-7`` by default (ParallelWaveGAN's value; auraloss uses
  1e-8), keeps ``log`` finite and the gradient of ``sqrt`` bounded on silent bins;
* spectral convergence ``L_sc = || |Y| - |X| ||_F / || |Y| ||_F`` (eq. 2);
* log-magnitude ``L_mag = mean | log |Y| - log |X| |`` over every (bin, frame) (eq. 3);

and the loss is ``sc_weight * L_sc + mag_weight * L_mag`` with each term averaged over the
resolutions (eq. 1). As in the reference implementations, the Frobenius norms and the mean run
over the whole batch at once (``reduction="mean"``); ``reduction="none"`` gives one value per
item of the leading dims instead.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from . import functional as F
from .nn import STFT

__all__ = ["MultiResolutionSTFTLoss", "DEFAULT_RESOLUTIONS", "spectral_terms"]

#: Parallel WaveGAN's three resolutions, as ``(n_fft, hop_length, win_length)``.
DEFAULT_RESOLUTIONS: Tuple[Tuple[int, int, int], ...] = (
    (1024, 120, 600), (2048, 240, 1200), (512, 50, 240))

_REDUCTIONS = ("mean", "none")


def spectral_terms(X: torch.Tensor, Y: torch.Tensor, eps: float,
                   mask: Optional[torch.Tensor] = None,
                   reduction: str = "mean") -> Tuple[torch.Tensor, torch.Tensor]:
    """Spectral convergence and log-magnitude L1 of the complex spectrograms ``X`` (prediction)
    and ``Y`` (target), ``(..., bins, frames)``: the terms of :class:`MultiResolutionSTFTLoss`
    at one resolution, whatever computed the spectrograms.

    ``mask`` (bool ``(..., frames)``, optional) keeps the frames where it is True: the others
    are left out of both norms and out of the mean (which divides by ``bins`` times the number of
    kept frames). ``reduction="mean"``: sums over the whole batch (two 0-dim tensors);
    ``"none"``: over each item's bins and frames (two ``(...)`` tensors).
    """
    mx = torch.sqrt(torch.clamp(X.real.square() + X.imag.square(), min=eps))
    my = torch.sqrt(torch.clamp(Y.real.square() + Y.imag.square(), min=eps))
    diff = (my - mx).square()
    ref = my.square()
    log_l1 = (torch.log(my) - torch.log(mx)).abs()
    per_item = reduction == "none"
    bins = X.shape[-2]
    if mask is None:
        count = bins * X.shape[-1] if per_item else X.numel()
    else:
        w = mask.unsqueeze(-2).to(mx.dtype)
        diff, ref, log_l1 = diff * w, ref * w, log_l1 * w
        count = bins * (mask.sum(-1) if per_item else mask.sum()).to(mx.dtype)
    if per_item:
        return (torch.sqrt(diff.sum((-2, -1))) / torch.sqrt(ref.sum((-2, -1))),
                log_l1.sum((-2, -1)) / count)
    return torch.sqrt(diff.sum()) / torch.sqrt(ref.sum()), log_l1.sum() / count


def _check_resolutions(resolutions) -> Tuple[Tuple[int, int, int], ...]:
    if isinstance(resolutions, (str, bytes)) or not isinstance(resolutions, Sequence):
        raise TypeError(f"resolutions must be a sequence of (n_fft, hop_length, win_length) "
                        f"triples, got {type(resolutions).__name__}")
    if len(resolutions) == 0:
        raise ValueError("resolutions must hold at least one (n_fft, hop_length, win_length) "
                         "triple")
    out = []
    for i, r in enumerate(resolutions):
        if not isinstance(r, Sequence) or len(r) != 3:
            raise ValueError(f"resolutions[{i}] must be an (n_fft, hop_length, win_length) "
                             f"triple, got {r!r}")
        n_fft, hop, win = (F.checks.check_positive_int(f"resolutions[{i}][{j}] ({name})", v)
                           for j, (name, v) in enumerate(zip(("n_fft", "hop_length",
                                                              "win_length"), r)))
        if win > n_fft:
            raise ValueError(f"resolutions[{i}]: win_length must be <= n_fft = {n_fft}, "
                             f"got {win}")
        out.append((n_fft, hop, win))
    return tuple(out)


def _check_weight(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class MultiResolutionSTFTLoss(nn.Module):
    """Multi-resolution STFT loss (Parallel WaveGAN eq. 1-3; the module docstring gives the
    formula): spectral convergence plus log-magnitude L1, averaged over resolutions.

    Args:
        resolutions: ``(n_fft, hop_length, win_length)`` triples (default
            :data:`DEFAULT_RESOLUTIONS`: (1024, 120, 600), (2048, 240, 1200), (512, 50, 240)).
        window: window name (:func:`audiofx.get_window`, periodic), of each ``win_length``,
            zero-padded to ``n_fft`` at the centre.
        eps: floor of the squared magnitude before the square root (and so before the log):
            ``|X| = sqrt(max(|X|^2, eps))``; default 1e-7 as ParallelWaveGAN.
        center, pad_mode: framing of :func:`audiofx.stft`; the default ``"reflect"`` is
            ``torch.stft``'s and the reference implementations' (it needs every clip longer than
            ``n_fft // 2`` samples; ``"constant"`` has no such limit).
        sc_weight, mag_weight: the weights of the two terms in the total.
        reduction: ``"mean"`` (the norms and the mean over the whole batch, as the reference
            implementations: a 0-dim loss) or ``"none"`` (per item of the leading dims).

    ``forward(x, y, lengths=None, return_parts=False)``: ``x`` the prediction and ``y`` the
    target, real floating tensors of the same shape ``(..., T)``, dtype and device (any device
    :func:`audiofx.stft` supports). ``lengths`` (integer, ``x.shape[:-1]``): valid samples of
    each row of a right-padded batch, shared by ``x`` and ``y``; each clip is then framed alone
    (``audiofx.stft(..., lengths=)``) and only its own frames (``t < frame_lengths``) count: in
    both Frobenius norms and in the log-magnitude mean, whose divisor is ``bins`` times the
    number of those frames. Returns the loss, or with ``return_parts`` the tuple ``(loss,
    spectral_convergence, log_magnitude)``, the parts averaged over resolutions and unweighted.
    Differentiable in ``x`` and ``y`` (through audiofx's STFT backward); works under
    ``torch.compile``.
    """

    def __init__(self, resolutions: Sequence[Tuple[int, int, int]] = DEFAULT_RESOLUTIONS,
                 window: str = "hann", eps: float = 1e-7, center: bool = True,
                 pad_mode: Optional[str] = "reflect", sc_weight: float = 1.0,
                 mag_weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.resolutions = _check_resolutions(resolutions)
        if not isinstance(window, str):
            raise TypeError(f"window must be a window name (str), got {type(window).__name__}: "
                            f"each resolution builds its own window of its win_length")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
            raise TypeError(f"eps must be a real number > 0, got {type(eps).__name__}")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        if not isinstance(center, bool):
            raise TypeError(f"center must be a bool, got {center!r}")
        for n_fft, _, _ in self.resolutions:
            F.checks.resolve_pad_mode(center, pad_mode, None, n_fft)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.window = window
        self.eps = float(eps)
        self.center = center
        self.pad_mode = pad_mode
        self.sc_weight = _check_weight("sc_weight", sc_weight)
        self.mag_weight = _check_weight("mag_weight", mag_weight)
        self.reduction = reduction
        self.stfts = nn.ModuleList(
            STFT(n_fft, hop_length=hop, win_length=win, window=window, center=center,
                 pad_mode=pad_mode) for n_fft, hop, win in self.resolutions)

    def extra_repr(self) -> str:
        return (f"resolutions={self.resolutions}, window={self.window!r}, eps={self.eps}, "
                f"center={self.center}, pad_mode={self.pad_mode!r}, "
                f"sc_weight={self.sc_weight}, mag_weight={self.mag_weight}, "
                f"reduction={self.reduction!r}")

    def forward(self, x: torch.Tensor, y: torch.Tensor, lengths: Optional[torch.Tensor] = None,
                return_parts: bool = False):
        _check_pair(x, y)
        sc_sum = mag_sum = None
        for stft in self.stfts:
            if lengths is None:
                X, Y, mask = stft(x), stft(y), None
            else:
                X, frame_lengths = stft(x, lengths)
                Y, _ = stft(y, lengths)
                frames = torch.arange(X.shape[-1], device=X.device)
                mask = frames < frame_lengths.to(X.device).unsqueeze(-1)
            sc, mag = spectral_terms(X, Y, self.eps, mask, self.reduction)
            sc_sum = sc if sc_sum is None else sc_sum + sc
            mag_sum = mag if mag_sum is None else mag_sum + mag
        n = len(self.stfts)
        sc, mag = sc_sum / n, mag_sum / n
        loss = self.sc_weight * sc + self.mag_weight * mag
        return (loss, sc, mag) if return_parts else loss


def _check_pair(x, y) -> None:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor (..., T), got {type(t).__name__}")
        if t.is_complex() or not t.is_floating_point():
            raise TypeError(f"{name} must be a real floating tensor, got dtype {t.dtype}")
    if x.shape != y.shape:
        raise ValueError(f"x (prediction) and y (target) must have the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.dtype != y.dtype or x.device != y.device:
        raise ValueError(f"x and y must have the same dtype and device, got {x.dtype} on "
                         f"{x.device} and {y.dtype} on {y.device}")
    if x.dim() == 0:
        raise ValueError("x and y must have a time dim (..., T), got 0-dim tensors")
