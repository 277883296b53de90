"""The multi-resolution STFT loss (issue 13, item 5): forward and forward + backward of
:class:`audiofx.losses.MultiResolutionSTFTLoss` against the same loss written with
``torch.stft``, on float32 clips of 4 s (the §6 batch by default; ``--batch`` shrinks it).

Both implementations share everything but the transform: Parallel WaveGAN's three resolutions,
the hann window, ``center=True, pad_mode="reflect"`` and the terms of
:func:`audiofx.losses.spectral_terms` on the two spectrograms; so the ratio is that of
``audiofx.stft`` (kernel + FFT, and its backward) against ``torch.stft`` (and its backward).
The target (:data:`~audiofx.bench.targets.LOSS_TARGET`): forward + backward at least 2x faster
than the ``torch.stft`` version, judged on the median of within-round ratios.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple

import torch

from .formatting import fmt_ms, fmt_ratio, yes_no
from .targets import LOSS_TARGET
from .timing import MIN_SPAN_S, Samples, measured_ratio, synced, time_interleaved
from .workloads import make_signal, workload_seed

def torch_stft_loss(resolutions, eps: float = 1e-7, reduction: str = "mean") -> Callable:
    """The loss of :class:`~audiofx.losses.MultiResolutionSTFTLoss` (default options) with
    ``torch.stft`` for the transform: ``f(x, y) -> loss``."""
    from ..losses import spectral_terms

    windows = {}

    def loss(x, y):
        sc = mag = 0.0
        for n_fft, hop, win in resolutions:
            key = (win, x.dtype, x.device)
            if key not in windows:
                windows[key] = torch.hann_window(win, periodic=True, dtype=x.dtype,
                                                 device=x.device)
            w = windows[key]
            X, Y = (torch.stft(s, n_fft, hop, win, w, center=True, pad_mode="reflect",
                               return_complex=True) for s in (x, y))
            s_, m_ = spectral_terms(X, Y, eps, None, reduction)
            sc, mag = sc + s_, mag + m_
        return (sc + mag) / len(resolutions)

    return loss


@dataclass
class LossResult:
    device: str
    shape: Tuple[int, ...]
    #: Median seconds per call: "<impl> forward" (no grad) and "<impl>" (forward + backward).
    seconds: Dict[str, float]
    samples: Samples = field(default_factory=dict)
    #: max |audiofx - torch| / max |torch| over the loss and the gradient.
    rel_err: float = float("nan")

    def ratio(self) -> float:
        t = LOSS_TARGET
        return measured_ratio(self.samples, self.seconds, t.num, t.den)

    def ok(self) -> bool:
        return LOSS_TARGET.holds(self.ratio())


def _forward_backward(loss_fn, x, y):
    xg = x.detach().requires_grad_(True)
    loss = loss_fn(xg, y)
    loss.backward()
    return loss.detach(), xg.grad


def run_loss(shape: Sequence[int], repeats: int, device: str = "cpu",
             min_span_s: float = MIN_SPAN_S, log=print) -> LossResult:
    """Times the two implementations on a float32 prediction/target pair of ``shape``:
    forward alone (no grad) and forward + backward (gradient of the prediction), interleaved."""
    from ..losses import DEFAULT_RESOLUTIONS, MultiResolutionSTFTLoss

    shape = tuple(shape)
    y = make_signal(shape, seed=workload_seed(shape)).to(device)
    x = (0.8 * y + 0.1 * make_signal(shape, seed=workload_seed(shape) + 7).to(device))
    ours = MultiResolutionSTFTLoss().to(device)
    theirs = torch_stft_loss(DEFAULT_RESOLUTIONS)
    wrap = synced if device != "cpu" else (lambda f: f)

    def no_grad(f):
        def run():
            with torch.no_grad():
                return f(x, y)
        return run

    impls = {"audiofx forward": wrap(no_grad(ours)),
             "torch.stft forward": wrap(no_grad(theirs)),
             "audiofx": wrap(lambda: _forward_backward(ours, x, y)),
             "torch.stft": wrap(lambda: _forward_backward(theirs, x, y))}
    t0 = time.perf_counter()
    samples: Samples = {}
    sec, results = time_interleaved(impls, repeats, min_span_s=min_span_s, samples=samples)
    (la, ga), (lt, gt) = results["audiofx"], results["torch.stft"]
    err = max(float((la - lt).abs() / lt.abs()),
              float((ga - gt).abs().max() / gt.abs().max()))
    r = LossResult(device, shape, sec, samples, err)
    log(f"  [loss {device}] forward + backward: audiofx {sec['audiofx'] * 1e3:.0f} ms, "
        f"torch.stft {sec['torch.stft'] * 1e3:.0f} ms, {r.ratio():.2f}x  "
        f"({time.perf_counter() - t0:.0f} s)")
    return r


def loss_lines(results: List[LossResult], workload: str) -> Tuple[List[str], bool]:
    """The loss section's body: what was run, the table, whether the target holds."""
    if not results:
        return [], True
    lines = [f"float32, {workload} (prediction and target), "
             f"`MultiResolutionSTFTLoss()`: resolutions (1024, 120, 600), (2048, 240, 1200), "
             f"(512, 50, 240), hann, centred with reflect padding; against the same loss with "
             f"`torch.stft` for the transform (same terms, same options). Forward: no grad; "
             f"forward + backward: the gradient of the prediction. Ratio: median of "
             f"within-round ratios; agreement: max relative difference of loss and gradient.",
             "", "| device | audiofx forward ms | torch.stft forward ms | audiofx fwd + bwd ms "
             "| torch.stft fwd + bwd ms | torch.stft / audiofx (fwd + bwd) | target | holds "
             "| agreement |", "|---|---:|---:|---:|---:|---:|---|---|---:|"]
    ok = True
    for r in results:
        ok &= r.ok()
        s = r.seconds
        lines.append(f"| {r.device} | {fmt_ms(s['audiofx forward'])} "
                     f"| {fmt_ms(s['torch.stft forward'])} | {fmt_ms(s['audiofx'])} "
                     f"| {fmt_ms(s['torch.stft'])} | {fmt_ratio(r.ratio())} "
                     f"| >= {LOSS_TARGET.bound:g}x | {yes_no(r.ok())} | {r.rel_err:.1e} |")
    return lines + [""], ok
