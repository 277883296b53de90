"""The timing machinery: interleaved rounds, medians, and ratios taken within a round.

Every table of the report times its implementations with :func:`time_interleaved` (each round
takes one sample of every implementation in turn, so that load drifts on a shared machine hit
them alike) and judges its targets on :func:`paired_ratio` (the median over rounds of the ratio
of the two samples one round took).
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Dict, Optional, Tuple

import torch

#: An implementation whose warm-up call took longer than this (librosa's and torch's spectral
#: paths on the batch: seconds per call) is sampled in only SLOW_ROUNDS of the rounds, so that
#: the report stays near 3 minutes; the fast ones keep every round.
SLOW_CALL_S = 0.5
SLOW_ROUNDS = 3
#: Seconds the rounds of one (workload, op) should span at least (see time_interleaved).
MIN_SPAN_S = 1.5

#: Samples of one timed run: {implementation: {round: seconds per call}}.
Samples = Dict[str, Dict[int, float]]


def time_interleaved(impls: Dict[str, Callable], repeats: int,
                     min_sample_s: float = 0.02,
                     min_span_s: float = 0.0,
                     samples: Optional[Samples] = None,
                     ) -> Tuple[Dict[str, float], Dict[str, object]]:
    """Median seconds per call of each implementation, and the warm-up call's result of each.

    One warm-up call each (allocator, thread pool, FFT plans, lazy imports), which also sizes the
    sample: a fast implementation is called ``n`` times back to back per sample (``n`` such that
    a sample lasts >= ``min_sample_s``), so that timer resolution does not decide the median of a
    0.1 ms call. Then ``repeats`` rounds, each taking one sample of every implementation in turn
    (one whose warm-up took over SLOW_CALL_S only in SLOW_ROUNDS rounds spread over the run).
    With ``min_span_s``, rounds are added (up to 4x ``repeats``) until they span about that many
    seconds, so that a burst of load from the machine's other tenants, which can last a few
    hundred ms, meets only a minority of a fast workload's samples and not the median.
    ``samples``, when given, receives every sample: ``{impl: {round: seconds per call}}``, for
    ratios taken within a round (:func:`paired_ratio`).
    """
    inner, warm, results, slow = {}, {}, {}, set()
    for k, fn in impls.items():
        t0 = time.perf_counter()
        results[k] = fn()
        dt = time.perf_counter() - t0
        warm[k] = dt
        inner[k] = max(1, min(1000, math.ceil(min_sample_s / max(dt, 1e-7))))
        if dt > SLOW_CALL_S:
            slow.add(k)
    rounds: Samples = {} if samples is None else samples
    for k in impls:
        rounds.setdefault(k, {})
    if min_span_s > 0:
        round_s = max(1e-3, sum(max(min_sample_s, warm[k]) for k in impls if k not in slow))
        repeats = max(repeats, min(4 * repeats, math.ceil(min_span_s / round_s)))
    # The rounds a slow implementation is sampled in, spread over the run (first and last).
    slow_rounds = {round(j * (repeats - 1) / max(1, SLOW_ROUNDS - 1)) for j in range(SLOW_ROUNDS)}
    for i in range(repeats):
        for k, fn in impls.items():
            if k in slow and i not in slow_rounds:
                continue
            n = inner[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            rounds[k][i] = (time.perf_counter() - t0) / n
    return {k: statistics.median(rounds[k].values()) for k in impls}, results


def paired_ratio(samples: Samples, num: str, den: str) -> Optional[float]:
    """Median over the rounds that sampled both of ``num``'s time over ``den``'s (None when no
    round did). The two samples of a round are tens of ms apart, so a slow phase of the machine
    (another tenant's burst, which can outlast several rounds of a fast workload) scales both
    and cancels, where a ratio of the two medians would keep it whenever it met one more of the
    numerator's samples than of the denominator's."""
    a, b = samples.get(num, {}), samples.get(den, {})
    both = sorted(set(a) & set(b))
    return statistics.median(a[i] / b[i] for i in both) if both else None


def measured_ratio(samples: Samples, seconds: Dict[str, float], num: str, den: str) -> float:
    """:func:`paired_ratio` of ``num`` over ``den``, or the ratio of their medians when no round
    sampled both."""
    v = paired_ratio(samples, num, den)
    return seconds[num] / seconds[den] if v is None else v


def synced(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` followed by ``torch.cuda.synchronize()``: a CUDA call timed to its end."""
    def run():
        out = fn()
        torch.cuda.synchronize()
        return out
    return run
