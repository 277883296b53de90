"""Loads the op library and registers what the C++ side does not provide: fake (meta) kernels.

The op schemas live in ``csrc/ops.cpp`` and the device kernels in ``csrc/cpu`` / ``csrc/cuda``;
this module only makes them usable under ``torch.compile`` / ``torch.export`` (fake tensors).
"""
from __future__ import annotations

import torch

from . import _C  # noqa: F401  (loading the library registers torch.ops.audiofx.*)

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


def _fake_frames(x, frame_length, hop_length, center, pad_mode):
    _check_fake(x, frame_length, hop_length)
    nf = n_frames(x.shape[-1], frame_length, hop_length, center, pad_mode)
    return x.new_empty((*x.shape[:-1], nf))


@torch.library.register_fake("audiofx::frame")
def _frame_fake(x, frame_length, hop_length, center, pad_mode):
    _check_fake(x, frame_length, hop_length)
    nf = n_frames(x.shape[-1], frame_length, hop_length, center, pad_mode)
    return x.new_empty((*x.shape[:-1], nf, frame_length))


@torch.library.register_fake("audiofx::amplitude_envelope")
def _amplitude_envelope_fake(x, frame_length, hop_length, center, pad_mode, absolute):
    return _fake_frames(x, frame_length, hop_length, center, pad_mode)


@torch.library.register_fake("audiofx::rms")
def _rms_fake(x, frame_length, hop_length, center, pad_mode):
    return _fake_frames(x, frame_length, hop_length, center, pad_mode)


@torch.library.register_fake("audiofx::zero_crossing_rate")
def _zero_crossing_rate_fake(x, frame_length, hop_length, center, pad_mode, threshold, zero_pos):
    return _fake_frames(x, frame_length, hop_length, center, pad_mode)


@torch.library.register_fake("audiofx::frame_features")
def _frame_features_fake(
    x, frame_length, hop_length, center, pad_mode, zcr_pad_mode, absolute, threshold, zero_pos
):
    out = _fake_frames(x, frame_length, hop_length, center, pad_mode)
    return out, torch.empty_like(out), torch.empty_like(out)


OP_NAMES = ("frame", "amplitude_envelope", "rms", "zero_crossing_rate", "frame_features")


def has_kernel(op_name: str, dispatch_key: str) -> bool:
    """Whether ``torch.ops.audiofx.<op_name>`` has a kernel registered for ``dispatch_key``
    (e.g. ``"CPU"``, ``"CUDA"``), asked of the dispatcher."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"audiofx::{op_name}", dispatch_key)


def built_with_cuda() -> bool:
    """True when this build compiled the CUDA kernels (independent of a GPU being present)."""
    return has_kernel("rms", "CUDA")
