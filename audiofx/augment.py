"""Waveform augmentation for training: additive noise at a random SNR, random gain, random time
shift. Everything runs on the batch's device, on right-padded batches ``(B, T)`` with per-row
``lengths`` (as :func:`audiofx.data.collate` makes them): padding stays zero and is never counted
as signal. Random draws come from an explicit ``torch.Generator`` on the batch's device, so a
training run is reproducible and its augmentation state can be checkpointed.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence, Tuple

import torch

__all__ = ["add_noise", "random_gain", "time_shift", "WaveformAugment"]


def _valid_mask(x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
    """``(B, T)`` bool, True on samples inside each row's length."""
    if lengths is None:
        return torch.ones(x.shape, dtype=torch.bool, device=x.device)
    return torch.arange(x.shape[-1], device=x.device)[None, :] < lengths.to(x.device)[:, None]


def _check_batch(x, lengths) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise TypeError("x must be a floating tensor of shape (batch, time), got "
                        f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    if lengths is not None and (not isinstance(lengths, torch.Tensor)
                                or lengths.shape != (x.shape[0],)):
        raise ValueError(f"lengths must be a tensor of shape ({x.shape[0]},), got "
                         f"{tuple(getattr(lengths, 'shape', ()))}")


def _uniform(lo: float, hi: float, n: int, like: torch.Tensor, generator) -> torch.Tensor:
    u = torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)
    return lo + (hi - lo) * u


def add_noise(x: torch.Tensor, snr_db: torch.Tensor, lengths: Optional[torch.Tensor] = None,
              generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """White Gaussian noise at a given signal-to-noise ratio.

    Args:
        x: ``(B, T)`` waveforms (right-padded).
        snr_db: ``(B,)`` SNR in dB per row: noise power = (mean power of the row's valid
            samples) / ``10 ** (snr_db / 10)``. A silent row gets no noise.
        lengths: ``(B,)`` valid samples per row (None: all ``T``); padding stays zero.
        generator: source of the noise (on ``x``'s device).

    Returns:
        ``(B, T)`` of ``x``'s dtype.
    """
    _check_batch(x, lengths)
    mask = _valid_mask(x, lengths).to(x.dtype)
    n_valid = mask.sum(-1).clamp_min(1)
    power = (x.square() * mask).sum(-1) / n_valid
    noise_std = torch.sqrt(power / 10.0 ** (snr_db.to(x) / 10.0))
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + noise * noise_std[:, None] * mask


def random_gain(x: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """``x * 10 ** (gain_db / 20)`` per row; ``x`` ``(B, T)``, ``gain_db`` ``(B,)`` in dB."""
    return x * (10.0 ** (gain_db.to(x) / 20.0))[:, None]


def time_shift(x: torch.Tensor, shift: torch.Tensor, lengths: Optional[torch.Tensor] = None,
               circular: bool = False) -> torch.Tensor:
    """Shift each row by ``shift[b]`` samples inside its valid length.

    Positive shifts delay (move the signal right), negative ones advance it. With
    ``circular=False`` the samples shifted past either end of the valid region are dropped and
    the gap is zero-filled; with ``circular=True`` they wrap around within the valid region.
    Lengths are unchanged and padding stays zero.

    Args:
        x: ``(B, T)``; shift: ``(B,)`` integer samples; lengths: ``(B,)`` or None (all ``T``).

    Returns:
        ``(B, T)``.
    """
    _check_batch(x, lengths)
    B, T = x.shape
    length = (torch.full((B,), T, device=x.device) if lengths is None
              else lengths.to(x.device))
    t = torch.arange(T, device=x.device)[None, :]
    src = t - shift.to(x.device).long()[:, None]
    valid = t < length[:, None]
    if circular:
        src = torch.remainder(src, length.clamp_min(1)[:, None])
    else:
        valid = valid & (src >= 0) & (src < length[:, None])
    src = src.clamp(0, T - 1)
    return torch.where(valid, torch.gather(x, 1, src), torch.zeros((), dtype=x.dtype,
                                                                    device=x.device))


class WaveformAugment(torch.nn.Module):
    """Random gain, time shift and additive noise per clip, for training batches.

    Each clip independently: with probability ``p_gain`` a gain drawn uniformly in ``gain_db``
    (dB); with probability ``p_shift`` a time shift drawn uniformly in ``+-max_shift`` seconds
    (zero-filled, or circular with ``circular=True``); with probability ``p_noise`` white noise at
    an SNR drawn uniformly in ``snr_db`` (dB). ``forward(x, lengths=None, generator=None)``:
    ``x`` ``(B, T)`` on any device -> ``(B, T)``; the draws come from ``generator`` (on ``x``'s
    device; None: torch's global generator). Stateless: nothing to save but the generator.
    """

    def __init__(self, snr_db: Sequence[float] = (10.0, 40.0),
                 gain_db: Sequence[float] = (-6.0, 6.0), max_shift: float = 0.1,
                 sr: int = 16000, circular: bool = False, p_noise: float = 0.8,
                 p_gain: float = 1.0, p_shift: float = 0.8):
        super().__init__()
        self.snr_db = self._range("snr_db", snr_db)
        self.gain_db = self._range("gain_db", gain_db)
        for name, v in (("max_shift", max_shift), ("p_noise", p_noise), ("p_gain", p_gain),
                        ("p_shift", p_shift)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) \
                    or v < 0 or (name.startswith("p_") and v > 1):
                raise ValueError(f"{name} must be a number "
                                 f"{'in [0, 1]' if name.startswith('p_') else '>= 0 (s)'}, "
                                 f"got {v!r}")
        if isinstance(sr, bool) or not isinstance(sr, int) or sr < 1:
            raise ValueError(f"sr must be an int >= 1 (Hz), got {sr!r}")
        self.max_shift, self.sr, self.circular = float(max_shift), sr, bool(circular)
        self.p_noise, self.p_gain, self.p_shift = float(p_noise), float(p_gain), float(p_shift)

    @staticmethod
    def _range(name: str, r) -> Tuple[float, float]:
        try:
            lo, hi = (float(v) for v in r)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a (low, high) pair of numbers, got {r!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"{name} must be a finite (low, high) pair with low <= high, "
                             f"got {r!r}")
        return lo, hi

    def config(self) -> dict:
        """The constructor arguments (JSON-able): ``WaveformAugment(**cfg)`` rebuilds it."""
        return dict(snr_db=list(self.snr_db), gain_db=list(self.gain_db),
                    max_shift=self.max_shift, sr=self.sr, circular=self.circular,
                    p_noise=self.p_noise, p_gain=self.p_gain, p_shift=self.p_shift)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        _check_batch(x, lengths)
        B = x.shape[0]

        def chosen(p):
            return torch.rand(B, generator=generator, device=x.device) < p

        # Every draw is made whatever the probabilities, so the generator advances the same way.
        gain = torch.where(chosen(self.p_gain), _uniform(*self.gain_db, B, x, generator), 0.0)
        max_s = int(round(self.max_shift * self.sr))
        shift = torch.randint(-max_s, max_s + 1, (B,), generator=generator, device=x.device)
        shift = torch.where(chosen(self.p_shift), shift, 0)
        snr = _uniform(*self.snr_db, B, x, generator)
        use_noise = chosen(self.p_noise)
        x = random_gain(x, gain)
        x = time_shift(x, shift, lengths, circular=self.circular)
        noisy = add_noise(x, snr, lengths, generator)
        return torch.where(use_noise[:, None], noisy, x)
