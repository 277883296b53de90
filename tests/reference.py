"""Slow, obvious numpy float64 references for the frame ops, written from DESIGN.md §2 and §3.

Nothing here calls audiofx: every expected value in the test suite comes from these functions or
from librosa. Inputs may be numpy arrays or CPU tensors of shape ``(..., T)``; outputs are float64
numpy arrays of shape ``(..., n_frames)`` (``(..., n_frames, N)`` for :func:`ref_frames`).

Framing (DESIGN §2): frame ``t`` is ``padded[t*H : t*H + N]`` where

* ``center=True``: ``N//2`` samples on both sides, ``np.pad`` with the numpy mode name;
* ``center=False, pad_mode="wrap"`` (end-wrap): ``padded[p] = x[p % T]`` for
  ``p < (n_frames-1)*H + N``;
* ``center=False, pad_mode=None``: no padding. (``audiofx.functional`` also accepts librosa's
  ``"constant"``/``"edge"``/``"reflect"`` without centring and ignores them, as librosa does;
  :func:`ref_pad` follows that documented rule.)
"""
from __future__ import annotations

import math

import numpy as np
import torch

CENTER_PAD_MODES = ("constant", "edge", "reflect", "wrap")


def to_numpy64(x) -> np.ndarray:
    """float64 copy of a numpy array or (CPU) tensor; exact for float32 and float64 inputs."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def rel_err(a, ref) -> float:
    """``max|a - ref| / max|ref|`` in float64 (absolute error when ``ref`` is all zero)."""
    a = to_numpy64(a)
    ref = to_numpy64(ref)
    assert a.shape == ref.shape, (a.shape, ref.shape)
    if ref.size == 0:
        return 0.0
    diff = float(np.max(np.abs(a - ref)))
    scale = float(np.max(np.abs(ref)))
    return diff / scale if scale > 0 else diff


def ref_num_frames(T: int, N: int, H: int, center: bool = True, pad_mode="constant") -> int:
    """The frame-count column of DESIGN §2's table."""
    if center:
        return 1 + (T + 2 * (N // 2) - N) // H
    if pad_mode == "wrap":
        return 1 + math.ceil(max(T - N, 0) / H)
    if T < N:
        raise ValueError("no padding needs T >= N")
    return 1 + (T - N) // H


def ref_pad(x, N: int, H: int, center: bool = True, pad_mode="constant"):
    """(padded float64 signal, n_frames) for the framing of DESIGN §2."""
    x = to_numpy64(x)
    T = x.shape[-1]
    nf = ref_num_frames(T, N, H, center, pad_mode)
    if center:
        if pad_mode not in CENTER_PAD_MODES:
            raise ValueError(pad_mode)
        if pad_mode == "reflect" and T <= N // 2:
            raise ValueError("reflect needs T > N//2")
        widths = [(0, 0)] * (x.ndim - 1) + [(N // 2, N // 2)]
        padded = np.pad(x, widths, mode=pad_mode)
    elif pad_mode == "wrap":
        P = (nf - 1) * H + N
        padded = x[..., np.arange(max(P, T)) % T]
    else:
        padded = x
    assert padded.shape[-1] >= (nf - 1) * H + N
    return padded, nf


def ref_frames(x, N: int, H: int, center: bool = False, pad_mode="wrap") -> np.ndarray:
    """``(..., n_frames, N)``: ``out[..., t, :] = padded[..., t*H : t*H + N]``."""
    padded, nf = ref_pad(x, N, H, center, pad_mode)
    # windows[..., s, :] = padded[..., s : s + N]; frame t starts at s = t*H.
    windows = np.lib.stride_tricks.sliding_window_view(padded, N, axis=-1)
    out = windows[..., : (nf - 1) * H + 1 : H, :]
    assert out.shape[-2] == nf
    return np.ascontiguousarray(out)


def ref_amplitude_envelope(x, N=2048, H=512, center=True, pad_mode="constant",
                           absolute=False) -> np.ndarray:
    """Largest sample (or largest ``|sample|``) of each padded frame."""
    fr = ref_frames(x, N, H, center, pad_mode)
    if absolute:
        fr = np.abs(fr)
    return fr.max(axis=-1)


def ref_rms(x, N=2048, H=512, center=True, pad_mode="constant") -> np.ndarray:
    """``sqrt(mean(frame**2))`` over the N samples of each padded frame, in float64."""
    fr = ref_frames(x, N, H, center, pad_mode)
    return np.sqrt(np.mean(fr * fr, axis=-1))


def crossing_classes(values: np.ndarray, threshold: float, zero_pos: bool) -> np.ndarray:
    """librosa's rule: ``|v| <= threshold`` becomes 0 (a +0.0), then signbit (zero_pos) or sign."""
    v = np.where(np.abs(values) <= threshold, 0.0, values)
    return np.signbit(v).astype(np.int8) if zero_pos else np.sign(v).astype(np.int8)


def threshold_in_dtype(threshold: float, dtype) -> float:
    """The threshold as the comparison sees it: rounded to the input's dtype (as librosa, whose
    zero-crossing kernel is compiled per dtype, and numpy's weak Python scalars do)."""
    return float(np.dtype(dtype).type(threshold))


def ref_zero_crossings(x, N=2048, H=512, center=True, pad_mode="edge", threshold=1e-10,
                       zero_pos=True, dtype=np.float64) -> np.ndarray:
    """Crossing count per frame: ``i`` in ``1..N-1`` with ``class[i] != class[i-1]`` (int64)."""
    fr = ref_frames(x, N, H, center, pad_mode)
    cls = crossing_classes(fr, threshold_in_dtype(threshold, dtype), zero_pos)
    return np.count_nonzero(cls[..., 1:] != cls[..., :-1], axis=-1).astype(np.int64)


def ref_zero_crossing_rate(x, N=2048, H=512, center=True, pad_mode="edge", threshold=1e-10,
                           zero_pos=True, dtype=np.float64) -> np.ndarray:
    """``crossings / N`` computed in float64, then rounded once to ``dtype``."""
    counts = ref_zero_crossings(x, N, H, center, pad_mode, threshold, zero_pos, dtype)
    return (counts.astype(np.float64) / float(N)).astype(dtype)


# ----------------------------------------------------------------------------------------------
# Test cases shared by the test modules

# (frame_length, hop_length) pairs every op is checked on: librosa's default, H not dividing N,
# gcd > 1, H == N, tiny odd sizes, N == H == 1, and H > N (gaps between frames).
FRAME_HOP = [(2048, 512), (512, 300), (400, 160), (256, 256), (7, 3), (1, 1), (5, 8)]

# (center, pad_mode) configurations of DESIGN §2.
PAD_CONFIGS = [
    (True, "constant"),
    (True, "edge"),
    (True, "reflect"),
    (True, "wrap"),
    (False, "wrap"),
    (False, None),
]

SIGNAL_KINDS = (
    "normal",       # N(0, 1)
    "chirp",        # a sweep 50 Hz -> 8 kHz at 22.05 kHz
    "tiny",         # exact 0, -0.0, +-1e-12, values exactly at both test thresholds, +-0.3
    "dc_pos",       # constant 0.25
    "dc_neg",       # constant -0.5
    "alternating",  # +1, -1, +1, ...
    "small",        # uniform in [-0.1, 0.1]: straddles the 0.05 threshold
)


def valid_config(T: int, N: int, center: bool, pad_mode) -> bool:
    """DESIGN §2's validity rules: reflect needs T > N//2, no padding needs T >= N."""
    if center and pad_mode == "reflect":
        return T > N // 2
    if not center and pad_mode is None:
        return T >= N
    return True


def make_signal(kind: str, length: int, dtype=np.float64, seed: int = 0, shape=()) -> np.ndarray:
    """A deterministic test signal of shape ``(*shape, length)`` as a numpy array of ``dtype``."""
    rng = np.random.default_rng([seed, length, SIGNAL_KINDS.index(kind)])
    full = tuple(shape) + (length,)
    if kind == "normal":
        y = rng.standard_normal(full)
    elif kind == "chirp":
        from scipy.signal import chirp

        t = np.arange(length) / 22050.0
        dur = max(t[-1], 1.0 / 22050.0)
        base = chirp(t, f0=50.0, t1=dur, f1=8000.0, method="logarithmic")
        phase = rng.uniform(0, 1, size=tuple(shape) + (1,))
        y = base * (0.5 + phase)
    elif kind == "tiny":
        # -0.05 and 0.05 sit exactly on the larger threshold, +-1e-10 on the default one.
        vals = np.array([0.0, -0.0, 1e-12, -1e-12, 1e-10, -1e-10, 0.05, -0.05, 0.3, -0.3])
        y = rng.choice(vals, size=full)
        # Runs of exact zeros and of -0.0 (a sign bit with zero magnitude).
        if length >= 40:
            y[..., 10:20] = 0.0
            y[..., 25:35] = -0.0
    elif kind == "dc_pos":
        y = np.full(full, 0.25)
    elif kind == "dc_neg":
        y = np.full(full, -0.5)
    elif kind == "alternating":
        y = np.broadcast_to(np.where(np.arange(length) % 2 == 0, 1.0, -1.0), full).copy()
    elif kind == "small":
        y = rng.uniform(-0.1, 0.1, size=full)
    else:
        raise ValueError(kind)
    return np.ascontiguousarray(y.astype(dtype))


# Lengths used by the table tests: longer than the largest frame (odd), a short odd length, a
# length below most frame lengths, and a single sample.
LENGTHS = (4097, 333, 100, 1)


# Worst measured errors, by key ("librosa/rms/float32", ...): (error, description of the case).
# conftest prints them in the terminal summary and writes them as JSON to $AUDIOFX_PARITY_REPORT.
WORST_ERRORS: dict = {}


def record_error(key: str, err: float, case: str = "") -> None:
    """Keep the largest ``err`` seen per ``key`` for the parity report."""
    err = float(err)
    if key not in WORST_ERRORS or err > WORST_ERRORS[key][0]:
        WORST_ERRORS[key] = (err, case)


def checked_rel_err(a, ref) -> float:
    """max|a - ref| / max|ref| for real or complex arrays/tensors, after asserting equal shapes
    and finite values (absolute error when ref is all zero)."""
    a = np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a)
    ref = np.asarray(ref)
    assert a.shape == ref.shape, (a.shape, ref.shape)
    assert np.isfinite(a).all(), "non-finite values"
    a = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
    ref = ref.astype(np.complex128 if np.iscomplexobj(ref) else np.float64)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(a - ref))) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def check(key: str, got, ref, tol: float, case: str) -> None:
    """Assert ``checked_rel_err(got, ref) <= tol`` and record the error for the parity report."""
    err = checked_rel_err(got, ref)
    record_error(key, err, case)
    assert err <= tol, f"{key} {case}: error {err:.3e} > {tol:.0e}"
