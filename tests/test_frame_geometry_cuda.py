"""CUDA frame reductions and `frame` against the CPU kernels (tests/test_frame_geometry.py checks
those against numpy): coprime and H > N geometries, per-row lengths, inputs large enough that
every grid-stride loop and the chunking of the reductions run more than once, and the bound on
their scratch memory (max(8 MiB, the outputs), never per input sample).
"""
from __future__ import annotations

import pytest
import torch

from audiofx import _ops
from reference import PAD_CONFIGS, valid_config

ops = torch.ops.audiofx
HAS_GPU = torch.cuda.is_available()
HAS_CUDA_KERNELS = any(_ops.has_kernel(name, "CUDA") for name in _ops.OP_NAMES)

needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA device")
needs_kernels = pytest.mark.skipif(
    not HAS_CUDA_KERNELS, reason="this build has no CUDA kernels (built with AUDIOFX_CUDA=0?)"
)


def cuda_test(fn):
    return pytest.mark.cuda(needs_gpu(needs_kernels(fn)))


RMS_TOL = {torch.float32: dict(rtol=1e-5, atol=1e-7), torch.float64: dict(rtol=1e-12, atol=0)}
MiB = 1 << 20


def _mode(mode):
    return "none" if mode is None else mode


def signal(shape, seed=0, dtype=torch.float32):
    """Noise on a sine, with exact zeros, threshold values, -0.0 and a NaN/inf row (CPU)."""
    g = torch.Generator().manual_seed(seed)
    T = shape[-1]
    t = torch.arange(T, dtype=torch.float64)
    x = 0.5 * torch.sin(t / 15.0) + 0.3 * torch.randn(shape, generator=g, dtype=torch.float64)
    x[..., ::11] = 0.0
    x[..., 5::13] = 1e-11
    x[..., 3::19] = -0.0
    if shape[0] > 2:
        x[1, T // 2] = float("nan")
        x[2, T // 3] = float("inf")
    return x.to(dtype)


def garbage_after(x, lengths):
    """x with every row's samples past its length replaced by NaN / huge values."""
    x = x.clone()
    for b, L in enumerate(lengths):
        x[b, L:] = float("nan") if b % 2 else 1e30
    return x


def features(x, N, H, center, mode, lengths=None, absolute=False, thr=1e-10, zero_pos=True):
    zmode = "edge" if center else _mode(mode)
    return ops.frame_features(x, N, H, center, _mode(mode), zmode, absolute, thr, zero_pos,
                              lengths)


def assert_same(got, want, what):
    got = got.cpu()
    assert got.shape == want.shape, f"{what}: {tuple(got.shape)} != {tuple(want.shape)}"
    same = (got == want) | (got.isnan() & want.isnan())
    assert bool(same.all()), f"{what}: {int((~same).sum())} of {same.numel()} values differ"


def assert_features(got, want, dtype, what):
    assert_same(got[0], want[0], what + " amplitude envelope")
    torch.testing.assert_close(got[1].cpu(), want[1], **RMS_TOL[dtype], equal_nan=True,
                               msg=lambda m: f"{what} rms: {m}")
    assert_same(got[2], want[2], what + " zero-crossing rate")


def lengths_for(B, T, N, mode, seed=0):
    g = torch.Generator().manual_seed(seed)
    L = torch.randint(1, T + 1, (B,), generator=g)
    L[0], L[-1] = T, 1
    if mode == "reflect":
        L = L.clamp(min=N // 2 + 1)
    return L


GEOMETRIES = [(2048, 441), (1103, 441), (551, 220), (256, 300), (100, 300), (33, 17), (7, 3),
              (5, 8), (1, 1)]


@cuda_test
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("N,H", GEOMETRIES, ids=str)
def test_geometries_match_the_cpu(N, H, dtype):
    x = signal((4, 9001), seed=N + H, dtype=dtype)
    for center, mode in PAD_CONFIGS:
        if not valid_config(x.shape[-1], N, center, mode):
            continue
        what = f"N={N} H={H} center={center} {mode}"
        for absolute, zero_pos, thr in ((False, True, 1e-10), (True, False, 1e-3)):
            assert_features(features(x.cuda(), N, H, center, mode, None, absolute, thr, zero_pos),
                            features(x, N, H, center, mode, None, absolute, thr, zero_pos),
                            dtype, what)
        torch.testing.assert_close(ops.rms(x.cuda(), N, H, center, _mode(mode), None).cpu(),
                                   ops.rms(x, N, H, center, _mode(mode), None), **RMS_TOL[dtype],
                                   equal_nan=True)
        assert_same(ops.frame(x.cuda(), N, H, center, _mode(mode), None),
                    ops.frame(x, N, H, center, _mode(mode), None), what + " frame")


@cuda_test
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("N,H", [(2048, 441), (400, 160), (256, 300), (7, 3)], ids=str)
def test_lengths_match_the_cpu(N, H, dtype):
    T = 5000
    for center, mode in PAD_CONFIGS:
        if not valid_config(T, N, center, mode):
            continue
        L = lengths_for(6, T, N, mode, seed=N)
        x = garbage_after(signal((6, T), seed=3, dtype=dtype), L.tolist())
        what = f"N={N} H={H} center={center} {mode} lengths={L.tolist()}"
        got = features(x.cuda(), N, H, center, mode, L.cuda())
        want = features(x, N, H, center, mode, L)
        assert_features(got, want, dtype, what)
        assert_same(ops.frame(x.cuda(), N, H, center, _mode(mode), L.cuda()),
                    ops.frame(x, N, H, center, _mode(mode), L), what + " frame")


@cuda_test
def test_clips_shorter_than_a_frame_without_padding_are_all_zero():
    x = signal((3, 4096), seed=5)
    L = torch.tensor([4096, 100, 2047])
    got = features(x.cuda(), 2048, 441, False, None, L.cuda())
    for part in got:
        assert bool((part[1:].cpu() == 0).all())
    assert bool((ops.frame(x.cuda(), 2048, 441, False, "none", L.cuda())[1:] == 0).all())


def _peak_extra_bytes(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out = fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before, out


@cuda_test
def test_large_input_runs_every_grid_stride_loop_and_chunk_more_than_once():
    """64 x 2**19 float32 samples, N = 100, H = 31 (coprime): 1.08M frames. The kernels launch at
    most one wave of resident blocks (on an H100/H200: 132 SMs x 2048 threads = 270K threads, 8
    logical warps per block for the block stats), and the reductions' scratch holds at most
    max(8 MiB, the outputs = 13 MB) of block pairs (32 B each): three chunks of up to 23 rows,
    389K frames each for 270K combine threads. `frame` with N = 8, H = 4 has 1M (row, frame) items for
    65535 x 8 per pass of its y loop, and a frame of 2**24 + 3 samples more than 65535 x 256 for
    its x loop."""
    N, H = 100, 31
    x = signal((64, 1 << 19), seed=9)
    xg = x.cuda()
    L = lengths_for(64, x.shape[-1], N, "constant", seed=1)
    for lengths in (None, L):
        got = features(xg, N, H, True, "constant", None if lengths is None else lengths.cuda())
        want = features(x, N, H, True, "constant", lengths)
        assert got[0].numel() > 1_000_000
        assert_features(got, want, torch.float32, f"large input, lengths={lengths is not None}")
    small = signal((64, 1 << 16), seed=10)
    for lengths in (None, lengths_for(64, small.shape[-1], 8, "wrap", seed=2)):
        got = ops.frame(small.cuda(), 8, 4, False, "wrap",
                        None if lengths is None else lengths.cuda())
        assert got.shape[0] * got.shape[1] > 65535 * 8
        assert_same(got, ops.frame(small, 8, 4, False, "wrap", lengths), "frame, many items")
    long = signal((1, (1 << 24) + 5), seed=11)
    n_long = (1 << 24) + 3
    got = ops.frame(long.cuda(), n_long, 1, False, "none", None)
    assert got.shape == (1, 3, n_long)
    assert_same(got, ops.frame(long, n_long, 1, False, "none", None), "frame, one long frame")


@cuda_test
@pytest.mark.parametrize("shape,N,H", [((256, 88200), 2048, 441), ((64, 1 << 19), 100, 31),
                                       ((4, 1 << 22), 1103, 441)], ids=str)
def test_scratch_memory_is_of_the_order_of_the_output(shape, N, H):
    """gcd(N, H) = 1: the block scheme of old kept ~16 bytes per input sample; now one call's
    extra memory is its outputs plus at most max(8 MiB, the outputs)."""
    x = signal(shape, seed=12).cuda()
    L = lengths_for(shape[0], shape[-1], N, "constant").cuda()
    for lengths in (None, L):
        extra, out = _peak_extra_bytes(lambda: features(x, N, H, True, "constant", lengths))
        out_bytes = sum(t.numel() * t.element_size() for t in out)
        assert extra <= 2 * out_bytes + 8 * MiB + MiB // 2, (extra, out_bytes)
        assert extra < x.numel() * x.element_size() // 4
