"""The spectrogram of long signals a block of frames at a time (issue 14, item 4).

A function of the magnitude spectrogram computed from ``x`` (mel, MFCC, rolloff, flatness,
contrast, the magnitude spectrogram itself) used to hold the float64 frames, their complex
spectrum and the magnitudes of the whole signal at once: 5.1 GiB extra for one 2**26-sample
float32 signal (7.2 GiB in the issue's measurement), for a 64 MiB mel spectrogram.
:func:`map_spectrogram` instead windows and transforms a block of frames (a few rows whole, or
a stretch of one long row) of :func:`block_budget` bytes, applies the function to that block's
magnitudes and writes its result into the output, so the peak is the output plus one block's
working set.

A block of frames ``[t0, t1)`` reads the samples ``[t0*H - pad, (t1-1)*H + N - pad)``: a view of
``x`` inside the signal, and at its ends a small gathered segment that applies the padding
(``constant``, ``edge``, ``reflect``, ``wrap``, end-wrap) by DESIGN §2's index map; its frames are
then the op's frames without padding, the same values (the same window product, the same FFT of
each frame). Used outside autograd and ``torch.compile`` (they see the one-shot path).
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Tuple

import torch

from .. import _ops
from .._spectrum import frame_spectrum

__all__ = ["BLOCK_BYTES", "MIN_BLOCK_BYTES", "BLOCKS", "block_budget", "chunked",
           "frame_segment", "frame_blocks", "map_spectrogram"]

#: Bytes of float64 windowed frames per block (its spectrum and magnitudes come on top: ~3x):
#: a 64th of the whole, within [MIN_BLOCK_BYTES, BLOCK_BYTES], so the working set grows with
#: the signal up to a cap (2 MiB for 2**22 samples, 32 MiB from 2**26 on) while the number of
#: blocks, and the fixed cost of each (a few op calls), stays small.
BLOCK_BYTES = 32 << 20
MIN_BLOCK_BYTES = 2 << 20
BLOCKS = 64


def chunked(x: torch.Tensor, *tensors: Optional[torch.Tensor]) -> bool:
    """Whether the block-wise path applies: outside ``torch.compile`` and outside autograd
    (an ``x`` or window requiring grad with grad mode on sees the one-shot path, whose graph
    the backward needs)."""
    if torch.compiler.is_compiling():
        return False
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x,) + tensors):
        return False
    return True


def frame_segment(flat: torch.Tensor, t0: int, t1: int, N: int, H: int, center: bool,
                  mode: str) -> torch.Tensor:
    """The samples of frames ``[t0, t1)`` of the rows ``flat`` ``(R, T)``, padding applied:
    ``(R, (t1 - t0 - 1) * H + N)``, framed without padding into exactly those frames."""
    T = flat.shape[-1]
    off = N // 2 if center else 0
    a, b = t0 * H - off, (t1 - 1) * H + N - off
    if 0 <= a and b <= T:
        return flat[:, a:b]
    idx = torch.arange(a, b, device=flat.device)
    inside = (idx >= 0) & (idx < T)
    if mode == "wrap":
        src = torch.remainder(idx, T)
    elif mode == "reflect":  # numpy's: T > N // 2 (checked), so one reflection reaches
        src = torch.where(idx < 0, -idx, torch.where(idx >= T, 2 * (T - 1) - idx, idx))
    else:  # edge, constant (masked below), none (always inside)
        src = idx.clamp(0, T - 1)
    seg = flat.index_select(-1, src)
    if mode == "constant":
        seg = torch.where(inside, seg, torch.zeros((), dtype=seg.dtype, device=seg.device))
    return seg


def frame_blocks(R: int, nf: int, per_frame_bytes: int,
                 budget: int = BLOCK_BYTES) -> Iterator[Tuple[int, int, int, int]]:
    """``(r0, r1, t0, t1)`` blocks covering ``R`` rows x ``nf`` frames, each about ``budget``
    bytes at ``per_frame_bytes`` a frame: whole rows while a row fits, else stretches of one
    row."""
    per_row = nf * per_frame_bytes
    if per_row <= budget:
        rows = max(1, budget // max(1, per_row))
        for r0 in range(0, R, rows):
            yield r0, min(R, r0 + rows), 0, nf
        return
    frames = max(1, budget // max(1, per_frame_bytes))
    for r in range(R):
        for t0 in range(0, nf, frames):
            yield r, r + 1, t0, min(nf, t0 + frames)


def block_budget(total_bytes: int) -> int:
    """Bytes of frames per block for ``total_bytes`` of frames in all (see :data:`BLOCKS`)."""
    return max(MIN_BLOCK_BYTES, min(BLOCK_BYTES, total_bytes // BLOCKS))


def map_spectrogram(x: torch.Tensor, window: torch.Tensor, n_fft: int, H: int, center: bool,
                    mode: str, power: float, fn: Callable[[torch.Tensor], torch.Tensor],
                    out_dtype: Optional[torch.dtype] = None,
                    budget: Optional[int] = None) -> torch.Tensor:
    """``fn(S)`` for ``S = |stft(x)| ** power`` (frames windowed and transformed in the
    spectral compute dtype, then rounded to ``out_dtype``, default ``x``'s; ``(..., bins,
    frames)``), one block of frames at a time.

    ``fn`` maps ``(rows, bins, frames)`` magnitudes to ``(rows, *shape, frames)`` with the
    frames independent of each other (per-frame features, a filterbank product). Returns
    ``(..., *shape, n_frames)``, equal to ``fn`` of the whole spectrogram. Called with checked
    arguments (the op's pad_mode, the window padded to ``n_fft``)."""
    out_dtype = out_dtype or x.dtype
    T = x.shape[-1]
    lead = x.shape[:-1]
    flat = x.reshape(-1, T)
    R = flat.shape[0]
    nf = int(_ops.n_frames(T, n_fft, H, center, mode))
    if budget is None:
        budget = block_budget(R * nf * n_fft * 8)
    out = None
    for r0, r1, t0, t1 in frame_blocks(R, nf, n_fft * 8, budget):
        if t0 == 0 and t1 == nf:
            spec = frame_spectrum(flat[r0:r1], window, n_fft, H, center, mode)
        else:
            seg = frame_segment(flat[r0:r1], t0, t1, n_fft, H, center, mode)
            spec = frame_spectrum(seg, window, n_fft, H, False, "none")
        mag = spec.abs()
        del spec
        if power != 1.0:
            mag = mag.pow_(power)
        S = mag.transpose(-1, -2).to(out_dtype)
        del mag
        res = fn(S)
        del S
        if out is None:
            out = torch.empty((R, *res.shape[1:-1], nf), dtype=res.dtype, device=res.device)
        out[r0:r1, ..., t0:t1] = res
    return out.reshape(*lead, *out.shape[1:])
