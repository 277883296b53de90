"""Frames far longer than the signal, computed exactly on an equivalent shorter frame.

The frame kernels' work grows with the frame length ``N`` (each frame combines ``N / gcd(N, H)``
blocks), so ``rms(x, frame_length=2**34)`` of 8,000 samples ran for minutes although almost all
of every frame is padding. Where the padding is made of runs of one value (``constant``, ``edge``)
or of whole periods of the signal (``wrap``, centred or end-wrap), a frame's envelope, sum of
squares and zero crossings follow from those of a shorter frame:

* centred ``constant``/``edge``: shortening every frame by ``k`` samples at each end removes
  ``k`` copies of the left and right pad values from each frame (as long as every frame keeps at
  least one of each, its maximum and its crossings are unchanged, and the sum of squares drops by
  ``k * (left**2 + right**2)``);
* ``wrap``: shortening by whole periods ``T`` (centred: ``k`` at each end; end-wrap: ``k`` at the
  end), keeping at least one period, removes ``m`` periods: ``m * sum(x**2)`` and ``m`` times the
  crossings around one period (the pair ``x[T-1], x[0]`` included).

Then ``rms = sqrt((rms'**2 N' + removed squares) / N)`` and ``zcr = (zcr' N' + removed
crossings) / N``, with the counts and sums from the kernels themselves. Used by the frame
functions outside ``torch.compile`` and without ``lengths``, for frames over 2**16 samples at
least four times the equivalent one; the results equal the direct call's to the rounding of one
rescaling (a float32 rms within one ulp). Differentiable (a composition of the ops).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .. import _ops

__all__ = ["ShortFrame", "plan", "rms", "amplitude_envelope", "zero_crossing_rate", "finish_rms",
           "finish_zcr", "exact_counts"]

_ops_ns = _ops.ops
#: Frames at or below this length are left to the kernels as they are.
MIN_LONG_FRAME = 1 << 16


@dataclass(frozen=True)
class ShortFrame:
    """An equivalent shorter frame ``n`` for a long frame ``N`` (see the module docstring):
    ``runs`` pad samples removed at each end of every frame (centred constant/edge), or
    ``periods`` whole periods removed (wrap)."""

    N: int
    n: int
    runs: int = 0
    periods: int = 0


def plan(T: int, N: int, H: int, center: bool, mode: str) -> Optional[ShortFrame]:
    """The shorter equivalent frame for framing ``(N, H, center, mode)`` of ``T`` samples, or
    None where there is none worth taking."""
    if N <= MIN_LONG_FRAME or T < 1:
        return None
    if center and mode in ("constant", "edge"):
        p = N // 2
        nf = 1 + (T + 2 * p - N) // H
        k = min(p - (nf - 1) * H, N - p - T) - 1  # every frame keeps >= 1 pad on each side
        if k < 1 or N - 2 * k > N // 4:
            return None
        return ShortFrame(N, N - 2 * k, runs=k)
    if mode == "wrap" and N >= 8 * T:
        if center:
            k = (N - T) // (2 * T)  # whole periods off each end, >= one period left
            return ShortFrame(N, N - 2 * k * T, periods=2 * k) if k >= 1 else None
        k = (N - T) // T  # end-wrap: one frame (N >= T), periods off its end
        return ShortFrame(N, N - k * T, periods=k) if k >= 1 else None
    return None


def _period_sum_squares(x: torch.Tensor) -> torch.Tensor:
    """``sum(x**2)`` over the last dim, by the rms kernel (its accumulation), float64."""
    T = x.shape[-1]
    r = _ops_ns.rms(x, T, 1, False, "none").to(torch.float64)[..., 0]
    return r * r * T


def _period_crossings(x: torch.Tensor, threshold: float, zero_pos: bool) -> torch.Tensor:
    """Crossings around one period (``x[T-1], x[0]`` included), by the zcr kernel, float64."""
    T = x.shape[-1]
    ring = torch.cat([x, x[..., :1]], dim=-1)
    if T + 1 > (1 << 23):  # the float32 rate no longer holds the count exactly
        ring = ring.to(torch.float64)
    rate = _ops_ns.zero_crossing_rate(ring, T + 1, 1, False, "none", threshold, zero_pos)
    return torch.round(rate.to(torch.float64)[..., 0] * (T + 1))


def finish_rms(x: torch.Tensor, s: ShortFrame, mode: str, short: torch.Tensor) -> torch.Tensor:
    """The rms of the long frames from ``short``, the rms kernel's result with frame ``s.n``."""
    sq = short.to(torch.float64) ** 2 * s.n
    if s.runs and mode == "edge":
        edges = x[..., :1].to(torch.float64) ** 2 + x[..., -1:].to(torch.float64) ** 2
        sq = sq + s.runs * edges
    if s.periods:
        sq = sq + s.periods * _period_sum_squares(x)[..., None]
    return torch.sqrt(sq / float(s.N)).to(x.dtype)


def exact_counts(x: torch.Tensor, s: ShortFrame) -> bool:
    """Whether the zcr kernel's rates in ``x``'s dtype give the crossing counts of frames of
    ``s.n`` exactly (a float32 rate holds counts below 2**23)."""
    return x.dtype == torch.float64 or s.n <= (1 << 23)


def finish_zcr(x: torch.Tensor, s: ShortFrame, rate: torch.Tensor, threshold: float,
               zero_pos: bool) -> torch.Tensor:
    """The zero-crossing rate of the long frames from ``rate``, the zcr kernel's result with
    frame ``s.n`` (computed where :func:`exact_counts` holds)."""
    count = torch.round(rate.to(torch.float64) * s.n)
    if s.periods:
        count = count + s.periods * _period_crossings(x, threshold, zero_pos)[..., None]
    return (count / float(s.N)).to(x.dtype)


def rms(x: torch.Tensor, s: ShortFrame, H: int, center: bool, mode: str) -> torch.Tensor:
    """:func:`audiofx.rms` with the frame of ``s``."""
    return finish_rms(x, s, mode, _ops_ns.rms(x, s.n, H, center, mode))


def amplitude_envelope(x: torch.Tensor, s: ShortFrame, H: int, center: bool, mode: str,
                       absolute: bool) -> torch.Tensor:
    """:func:`audiofx.amplitude_envelope` with the frame of ``s`` (the maximum is unchanged)."""
    return _ops_ns.amplitude_envelope(x, s.n, H, center, mode, absolute)


def zero_crossing_rate(x: torch.Tensor, s: ShortFrame, H: int, center: bool, mode: str,
                       threshold: float, zero_pos: bool) -> torch.Tensor:
    """:func:`audiofx.zero_crossing_rate` with the frame of ``s``."""
    xs = x if exact_counts(x, s) else x.to(torch.float64)
    rate = _ops_ns.zero_crossing_rate(xs, s.n, H, center, mode, threshold, zero_pos)
    return finish_zcr(x, s, rate, threshold, zero_pos)
