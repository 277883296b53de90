"""Loads the op library and registers what the C++ side does not provide: the fake (meta)
kernels and the autograd formulas.

One place each: the op schemas live in ``csrc/ops.cpp``, the device kernels in ``csrc/cpu`` /
``csrc/cuda``, the fake kernels here (so that the ops work under ``torch.compile`` /
``torch.export``), and the gradients in :mod:`audiofx._autograd`, registered here.
"""
from __future__ import annotations

import torch

from . import _C  # noqa: F401  (loading the library registers torch.ops.audiofx.*)
from . import _autograd

ops = torch.ops.audiofx

#: pad_mode values the ops accept, by ``center``.
CENTER_PAD_MODES = ("constant", "edge", "reflect", "wrap")
NOCENTER_PAD_MODES = ("wrap", "none", "constant", "edge", "reflect")


def n_frames(length, frame_length: int, hop_length: int, center: bool, pad_mode: str):
    """Frame count of DESIGN §2 for a signal of ``length`` samples (int or SymInt).

    center=True: ``1 + (T + 2*(N//2) - N) // H``; end-wrap (center=False, "wrap"):
    ``1 + ceil(max(T - N, 0) / H)``; no padding: ``1 + (T - N) // H``.
    """
    N, H = frame_length, hop_length
    if center:
        return 1 + (length + 2 * (N // 2) - N) // H
    if pad_mode == "wrap":
        excess = torch.sym_max(length - N, 0)
        return 1 + (excess + H - 1) // H
    return 1 + (length - N) // H


def _check_fake(x: torch.Tensor, frame_length: int, hop_length: int) -> None:
    torch._check(x.dim() >= 1, lambda: "audiofx: x must have a time dimension")
    torch._check(frame_length >= 1, lambda: "audiofx: frame_length must be >= 1")
    torch._check(hop_length >= 1, lambda: "audiofx: hop_length must be >= 1")


def _check_fake_lengths(x: torch.Tensor, lengths) -> None:
    if lengths is not None:
        torch._check(lengths.dtype == torch.int64, lambda: "audiofx: lengths must be int64")
        torch._check(lengths.numel() == x.numel() // x.shape[-1],
                     lambda: "audiofx: lengths must hold one value per row")


def _fake_frames(x, frame_length, hop_length, center, pad_mode, lengths=None):
    _check_fake(x, frame_length, hop_length)
    _check_fake_lengths(x, lengths)
    nf = n_frames(x.shape[-1], frame_length, hop_length, center, pad_mode)
    return x.new_empty((*x.shape[:-1], nf))


@torch.library.register_fake("audiofx::frame")
def _frame_fake(x, frame_length, hop_length, center, pad_mode, lengths=None):
    _check_fake(x, frame_length, hop_length)
    _check_fake_lengths(x, lengths)
    nf = n_frames(x.shape[-1], frame_length, hop_length, center, pad_mode)
    return x.new_empty((*x.shape[:-1], nf, frame_length))


@torch.library.register_fake("audiofx::amplitude_envelope")
def _amplitude_envelope_fake(x, frame_length, hop_length, center, pad_mode, absolute,
                             lengths=None):
    return _fake_frames(x, frame_length, hop_length, center, pad_mode, lengths)


@torch.library.register_fake("audiofx::rms")
def _rms_fake(x, frame_length, hop_length, center, pad_mode, lengths=None):
    return _fake_frames(x, frame_length, hop_length, center, pad_mode, lengths)


@torch.library.register_fake("audiofx::zero_crossing_rate")
def _zero_crossing_rate_fake(x, frame_length, hop_length, center, pad_mode, threshold, zero_pos,
                             lengths=None):
    return _fake_frames(x, frame_length, hop_length, center, pad_mode, lengths)


@torch.library.register_fake("audiofx::frame_features")
def _frame_features_fake(
    x, frame_length, hop_length, center, pad_mode, zcr_pad_mode, absolute, threshold, zero_pos,
    lengths=None
):
    out = _fake_frames(x, frame_length, hop_length, center, pad_mode, lengths)
    return out, torch.empty_like(out), torch.empty_like(out)


OP_NAMES = ("frame", "amplitude_envelope", "rms", "zero_crossing_rate", "frame_features")


def has_kernel(op_name: str, dispatch_key: str) -> bool:
    """Whether ``torch.ops.audiofx.<op_name>`` has a kernel registered for ``dispatch_key``
    (e.g. ``"CPU"``, ``"CUDA"``), asked of the dispatcher."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"audiofx::{op_name}", dispatch_key)


def cpu_isa() -> str:
    """Instruction set the CPU kernels run (the float32 frame features, the spectral
    statistics): ``"avx512"``, ``"avx2"`` or ``"baseline"``; the best the CPU has, or the lower
    one the environment variable ``AUDIOFX_CPU_ISA`` names (read once per process)."""
    return _C.cpu_isa()


def built_with_cuda() -> bool:
    """True when this build compiled the CUDA kernels (independent of a GPU being present)."""
    return has_kernel("rms", "CUDA")


# Spectral ops (issue 3): the fused pad-frame-window step of the STFT, centroid/bandwidth of a
# magnitude spectrogram, and both straight from the signal in chunks.
@torch.library.register_fake("audiofx::stft_frames")
def _stft_frames_fake(x, window, n_fft, hop_length, center, pad_mode, lengths=None):
    _check_fake(x, n_fft, hop_length)
    _check_fake_lengths(x, lengths)
    torch._check(window.dim() == 1 and window.shape[0] == n_fft,
                 lambda: "audiofx: window must be 1-D of length n_fft")
    torch._check(window.dtype == x.dtype, lambda: "audiofx: window must have x's dtype")
    nf = n_frames(x.shape[-1], n_fft, hop_length, center, pad_mode)
    return x.new_empty((*x.shape[:-1], nf, n_fft))


@torch.library.register_fake("audiofx::stft")
def _stft_fake(x, window, n_fft, hop_length, center, pad_mode, chunk_frames=0, lengths=None):
    frames = _stft_frames_fake(x, window, n_fft, hop_length, center, pad_mode, lengths)
    return x.new_empty((*x.shape[:-1], n_fft // 2 + 1, frames.shape[-2]),
                       dtype=x.dtype.to_complex())


@torch.library.register_fake("audiofx::spectral_stats")
def _spectral_stats_fake(S, freq, bin_hz, centroid, p, norm):
    torch._check(S.dim() >= 2, lambda: "audiofx: S must have shape (..., n_bins, n_frames)")
    torch._check(S.shape[-2] >= 1, lambda: "audiofx: S needs at least one bin")
    if freq is not None:
        torch._check(freq.dim() == 1 and freq.shape[0] == S.shape[-2],
                     lambda: "audiofx: freq must be 1-D with one frequency per bin")
    shape = (*S.shape[:-2], S.shape[-1])
    if centroid is not None:
        torch._check(tuple(centroid.shape) == shape,
                     lambda: "audiofx: centroid must have S's shape without the bins dim")
    return S.new_empty(shape), S.new_empty(shape)


@torch.library.register_fake("audiofx::spectral_features")
def _spectral_features_fake(x, window, n_fft, hop_length, center, pad_mode, freq, bin_hz, p,
                            norm, chunk_frames=0, lengths=None):
    _check_fake(x, n_fft, hop_length)
    _check_fake_lengths(x, lengths)
    torch._check(window.dim() == 1 and window.shape[0] == n_fft,
                 lambda: "audiofx: window must be 1-D of length n_fft")
    if freq is not None:
        torch._check(freq.dim() == 1 and freq.shape[0] == n_fft // 2 + 1,
                     lambda: "audiofx: freq must be 1-D with n_fft // 2 + 1 frequencies")
    out = _fake_frames(x, n_fft, hop_length, center, pad_mode)
    return out, torch.empty_like(out)


#: The spectral ops (opchecked in tests/test_spectral.py; OP_NAMES lists the frame ops).
SPECTRAL_OP_NAMES = ("stft_frames", "stft", "spectral_stats", "spectral_features")


# ---------------------------------------------------------------------------------------------
# Backward ops (csrc/frame_backward_ops.h): what the gradients of the ops are made of.

#: The backward ops (opchecked in tests/test_opcheck.py, CUDA kernels in csrc/cuda).
BACKWARD_OP_NAMES = ("overlap_add", "frame_argmax")


@torch.library.register_fake("audiofx::overlap_add")
def _overlap_add_fake(frames, length, frame_length, hop_length, center, pad_mode, lengths=None):
    torch._check(frames.dim() >= 2, lambda: "audiofx: frames must be (..., n_frames, N)")
    torch._check(frame_length >= 1, lambda: "audiofx: frame_length must be >= 1")
    torch._check(hop_length >= 1, lambda: "audiofx: hop_length must be >= 1")
    torch._check(frames.shape[-1] == frame_length,
                 lambda: "audiofx: frames' last dim must be frame_length")
    torch._check(frames.shape[-2] == n_frames(length, frame_length, hop_length, center, pad_mode),
                 lambda: "audiofx: frames' n_frames does not match length")
    return frames.new_empty((*frames.shape[:-2], length))


@torch.library.register_fake("audiofx::frame_argmax")
def _frame_argmax_fake(x, frame_length, hop_length, center, pad_mode, absolute, lengths=None):
    return _fake_frames(x, frame_length, hop_length, center, pad_mode, lengths).to(torch.int64)


# The gradient of rms / amplitude_envelope / frame_features w.r.t. x in one pass over x
# (csrc/frame_reduce_backward_ops.h), used by their backward in audiofx/_autograd.py.
FRAME_FEATURES_BACKWARD_OP_NAMES = ("frame_features_backward",)


@torch.library.register_fake("audiofx::frame_features_backward")
def _frame_features_backward_fake(x, rms, grad_rms, grad_envelope, frame_length, hop_length,
                                  center, pad_mode, absolute, lengths=None):
    _check_fake(x, frame_length, hop_length)
    _check_fake_lengths(x, lengths)
    torch._check(grad_rms is None or rms is not None,
                 lambda: "audiofx: grad_rms needs the forward's rms")
    return torch.empty_like(x, memory_format=torch.contiguous_format)


# ---------------------------------------------------------------------------------------------
# Backward ops of the spectral ops (csrc/spectral_backward_ops.h).

#: The spectral backward ops (opchecked in tests/test_spectral_backward.py, CUDA kernels in
#: csrc/cuda).
SPECTRAL_BACKWARD_OP_NAMES = ("spectral_features_backward", "stft_backward", "windowed_overlap_add")


@torch.library.register_fake("audiofx::spectral_features_backward")
def _spectral_features_backward_fake(x, window, n_fft, hop_length, center, pad_mode, freq, bin_hz,
                                     p, norm, grad_centroid, grad_bandwidth, window_grad,
                                     chunk_frames=0, lengths=None):
    out, _ = _spectral_features_fake(x, window, n_fft, hop_length, center, pad_mode, freq,
                                     bin_hz, p, norm, chunk_frames, lengths)
    for g in (grad_centroid, grad_bandwidth):
        if g is not None:
            torch._check(g.shape == out.shape and g.dtype == x.dtype,
                         lambda: "audiofx: output gradients must match spectral_features' output")
    return x.new_empty(x.shape), window.new_empty((n_fft if window_grad else 0,))


@torch.library.register_fake("audiofx::stft_backward")
def _stft_backward_fake(grad, x, window, n_fft, hop_length, center, pad_mode, window_grad,
                        chunk_frames=0, lengths=None):
    out = _stft_fake(x, window, n_fft, hop_length, center, pad_mode, chunk_frames, lengths)
    torch._check(grad.shape == out.shape and grad.dtype == out.dtype,
                 lambda: "audiofx: grad must have stft's shape and dtype")
    return x.new_empty(x.shape), window.new_empty((n_fft if window_grad else 0,))


@torch.library.register_fake("audiofx::windowed_overlap_add")
def _windowed_overlap_add_fake(frames, window, length, frame_length, hop_length, center,
                               pad_mode, lengths=None):
    torch._check(window.dim() == 1 and window.shape[0] == frame_length,
                 lambda: "audiofx: window must be 1-D of length frame_length")
    torch._check(window.dtype == frames.dtype, lambda: "audiofx: window must have frames' dtype")
    return _overlap_add_fake(frames, length, frame_length, hop_length, center, pad_mode, lengths)


# ---------------------------------------------------------------------------------------------
# Autograd: every op's setup_context and backward live in audiofx/_autograd.py.

#: Ops with a gradient: every op but frame_argmax (an integer output) and
#: spectral_features_backward / stft_backward (the double backward of spectral_features and stft
#: is their torch formula, taken when the backward runs with create_graph=True).
DIFFERENTIABLE_OP_NAMES = OP_NAMES + SPECTRAL_OP_NAMES + ("overlap_add", "windowed_overlap_add")

for _name in DIFFERENTIABLE_OP_NAMES:
    torch.library.register_autograd(f"audiofx::{_name}", getattr(_autograd, f"{_name}_backward"),
                                    setup_context=getattr(_autograd, f"{_name}_setup_context"))
