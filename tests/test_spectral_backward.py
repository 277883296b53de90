"""The spectral backward ops (issue 13): ``spectral_features_backward`` (spectral_features'
gradient, chunked as the forward), ``stft_backward`` (the STFT's: the inverse real FFT of the
gradient, chunk by chunk, then the windowed overlap-add) and ``windowed_overlap_add`` (that
overlap-add alone, stft_frames' gradient), called through ``torch.ops.audiofx`` and through
autograd.

Both against the torch formulas they replace (``audiofx._autograd``'s differentiable path, which
the double backward still takes) within 1e-10 in float64, every pad mode, with and without
``lengths`` (each row then equals its clip alone, and nothing reaches the NaN/inf batch padding),
every ``p``, either output gradient absent, chunks from one frame to automatic; gradcheck /
gradgradcheck; opcheck; and CPU-vs-CUDA parity (marked ``cuda``: skipped without a GPU).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import audiofx as afx
from audiofx import _autograd, _ops

from reference import PAD_CONFIGS, ref_num_frames

OPS = torch.ops.audiofx
CASES = [(c, "none" if m is None else m) for c, m in PAD_CONFIGS]
CASE_IDS = [f"{'c' if c else 'nc'}-{m}" for c, m in CASES]
BIN_HZ = 100.0


class _Ctx:
    """What spectral_features' setup_context keeps, for calling the torch formulas directly."""

    def __init__(self, T, N, H, center, mode, p, norm, lengths=None):
        self.frame_args = (N, H, center, mode)
        self.length = T
        self.lengths = lengths
        self.args = (BIN_HZ, p, norm)


def _window(N):
    return torch.hann_window(N, dtype=torch.float64) + 0.25


def _signal(rows, T, dtype, seed, silence=True):
    x = torch.randn(rows, T, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    if silence:  # silent frames (the unnormalised branch); not for p <= 1, see below
        x[-1, T // 4: T // 4 + 12] = 0
    return x.to(dtype)


def _grads(shape, dtype, seed, which):
    g = torch.Generator().manual_seed(seed + 1)
    gc = torch.randn(shape, dtype=torch.float64, generator=g).to(dtype)
    gb = torch.randn(shape, dtype=torch.float64, generator=g).to(dtype)
    return (gc if "c" in which else None), (gb if "b" in which else None)


def _today(x, w, N, H, center, mode, p, norm, gc, gb, lengths=None):
    ctx = _Ctx(x.shape[-1], N, H, center, mode, p, norm, lengths)
    return _autograd._spectral_features_vjp(x, w, None, gc, gb, ctx, True, lengths is None)


def _close(got, want, tol, scale=None):
    scale = want.abs().max().item() if scale is None else scale
    err = (got.double() - want.double()).abs().max().item() / max(scale, 1e-300)
    assert err <= tol, err


# p <= 1: a flat spectrum (a frame holding one sample) puts the centroid on a bin, the kink of
# |f - c|^p, where rounding decides the subgradient; those signals have no silent stretch.
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", [(8, 3), (16, 16), (6, 9), (64, 16)], ids=str)
def test_matches_the_torch_formulas(N, H, center, mode):
    T = 70
    for (p, norm, dtype, which, chunk), seed in zip(
            itertools.product([2.0, 1.0, 0.5, 3.0], [True, False],
                              [torch.float64, torch.float32], ["cb", "c", "b"], [0, 1, 5]),
            itertools.count()):
        x = _signal(3, T, dtype, seed, silence=p >= 2)
        w = _window(N)
        nf = ref_num_frames(T, N, H, center, None if mode == "none" else mode)
        gc, gb = _grads((3, nf), dtype, seed, which)
        got = OPS.spectral_features_backward(x, w, N, H, center, mode, None, BIN_HZ, p, norm,
                                             gc, gb, True, chunk)
        want = _today(x, w, N, H, center, mode, p, norm, gc, gb)
        assert got[0].dtype == dtype and got[0].shape == x.shape and got[1].shape == (N,)
        tol = 1e-10 if dtype == torch.float64 else 2e-6
        _close(got[0], want[0], tol)
        _close(got[1], want[1], tol)


def test_no_window_gradient_and_no_output_gradient():
    x, w = _signal(2, 50, torch.float64, 0), _window(8)
    gx, gw = OPS.spectral_features_backward(x, w, 8, 3, True, "constant", None, BIN_HZ, 2.0, True,
                                            None, None, False, 0)
    assert gw.shape == (0,) and bool((gx == 0).all()) and gx.shape == x.shape


@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_lengths_rows_are_their_clips(center, mode, dtype):
    """With lengths, row b's gradient is its clip's alone (zero past it, the NaN/inf padding never
    read), and the window's gradient sums the clips'."""
    N, H, T = 8, 3, 41
    lo = N // 2 + 1 if mode == "reflect" else (N if mode == "none" else 1)
    lengths = [T, lo, N - 1 if mode != "none" else N, 17, T - 2, 1 if lo == 1 else lo + 3]
    x = _signal(len(lengths), T, torch.float64, 7, silence=False)
    for b, L in enumerate(lengths):
        x[b, L:] = [float("nan"), float("inf")][b % 2]
    x = x.to(dtype)
    w = _window(N)
    L = torch.tensor(lengths)
    nf = ref_num_frames(T, N, H, center, None if mode == "none" else mode)
    for p, chunk in [(2.0, 0), (3.0, 2), (1.5, 1)]:
        gc, gb = _grads((len(lengths), nf), dtype, 3, "cb")
        gx, gw = OPS.spectral_features_backward(x, w, N, H, center, mode, None, BIN_HZ, p, True,
                                                gc, gb, True, chunk, L)
        assert bool(torch.isfinite(gx).all())
        want_w = torch.zeros(N, dtype=torch.float64)
        # One scale for every row: a clip of one sample has a flat spectrum, whose centroid and
        # normalised bandwidth do not depend on it (a gradient of rounding noise).
        scale = gx.abs().max().item()
        for b, Lb in enumerate(lengths):
            nb = ref_num_frames(Lb, N, H, center, None if mode == "none" else mode)
            clip = x[b:b + 1, :Lb]
            wx, ww = _today(clip, w, N, H, center, mode, p, True, gc[b:b + 1, :nb],
                            gb[b:b + 1, :nb])
            tol = 1e-10 if dtype == torch.float64 else 2e-6
            _close(gx[b, :Lb], wx[0], tol, scale)
            assert bool((gx[b, Lb:] == 0).all())
            want_w += ww
        _close(gw, want_w, 1e-10 if dtype == torch.float64 else 2e-6)


def test_autograd_takes_the_op_and_gradcheck_passes():
    """spectral_features' backward calls the op (chunks of 2 frames here) and matches finite
    differences in x and in the window; the double backward takes the torch formulas."""
    x = _signal(2, 37, torch.float64, 3, silence=False).requires_grad_()
    w = _window(8).requires_grad_()

    def f(x, w):
        return tuple(OPS.spectral_features(x, w, 8, 3, True, "reflect", None, BIN_HZ, 2.5, True,
                                           2))

    assert gradcheck(f, (x, w))
    assert gradgradcheck(f, (x, w), fast_mode=True)


def test_large_batch_matches_the_torch_formulas():
    """Many chunks per row and rows per chunk (automatic chunk size), float32 as the benchmark."""
    x = _signal(5, 20000, torch.float32, 11)
    w = afx.get_window("hann", 512, dtype=torch.float64)
    nf = ref_num_frames(20000, 512, 128, True, "constant")
    gc, gb = _grads((5, nf), torch.float32, 5, "cb")
    got = OPS.spectral_features_backward(x, w, 512, 128, True, "constant", None, 43.0, 2.0, True,
                                         gc, gb, False, 0)
    ctx = _Ctx(20000, 512, 128, True, "constant", 2.0, True)
    ctx.args = (43.0, 2.0, True)
    want = _autograd._spectral_features_vjp(x, w, None, gc, gb, ctx, True, False)
    _close(got[0], want[0], 2e-6)


ISA_CHILD = """
import sys
import numpy as np, torch
from audiofx import _ops
ops = torch.ops.audiofx
d = dict(np.load(sys.argv[1]))
out = {"isa": np.array(_ops.cpu_isa())}
for p in (2.0, 1.5):
    for name in ("x64", "x32"):
        x = torch.from_numpy(d[name])
        g = torch.from_numpy(d["g"]).to(x.dtype)
        gx, gw = ops.spectral_features_backward(x, torch.from_numpy(d["w"]), 64, 16, True,
                                                "reflect", None, 100.0, p, True, g, -g, True, 3)
        out[f"{name}-{p}-x"], out[f"{name}-{p}-w"] = gx.numpy(), gw.numpy()
np.savez(sys.argv[2], **out)
"""


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_every_cpu_instruction_set(isa, tmp_path):
    """The ISA-specific loops (magnitudes and 1/|X| from rsqrt, the coefficient scaling, the
    overlap-add) against the torch formulas, each instruction set in its own process
    (AUDIOFX_CPU_ISA is read once); bins not a multiple of 8, silent frames, and magnitudes whose
    square is subnormal (the exact-sqrt fallback)."""
    import os
    import subprocess
    import sys

    x = _signal(3, 300, torch.float64, 9).numpy()
    x[1, 100:160] = 1e-160
    w = _window(64)
    nf = ref_num_frames(300, 64, 16, True, "reflect")
    g = np.random.default_rng(2).standard_normal((3, nf))
    np.savez(tmp_path / "in.npz", x64=x, x32=x.astype(np.float32), w=w.numpy(), g=g)
    env = dict(os.environ, AUDIOFX_CPU_ISA=isa)
    subprocess.run([sys.executable, "-c", ISA_CHILD, str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, env=env)
    got = np.load(tmp_path / "out.npz")
    assert str(got["isa"]) in {"baseline", "avx2", "avx512"}
    for p in (2.0, 1.5):
        for name, dtype, tol in (("x64", torch.float64, 1e-10), ("x32", torch.float32, 2e-6)):
            xt = torch.from_numpy(x).to(dtype)
            gt = torch.from_numpy(g).to(dtype)
            want = _autograd._spectral_features_vjp(
                xt, w, None, gt, -gt, _Ctx(300, 64, 16, True, "reflect", p, True), True, True)
            _close(torch.from_numpy(got[f"{name}-{p}-x"]), want[0], tol)
            _close(torch.from_numpy(got[f"{name}-{p}-w"]), want[1], tol)


# ---------------------------------------------------------------------------------------------
# stft_backward


@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", [(8, 3), (16, 16), (6, 9), (64, 16), (1, 1)], ids=str)
def test_stft_backward_matches_torch_autograd(N, H, center, mode):
    """stft_backward against torch's own gradient of rfft(stft_frames(x, w)) in librosa's
    layout, in x and in the window; with lengths (NaN past each clip) nothing reaches the
    padding."""
    T = 70
    g = torch.Generator().manual_seed(N * 7 + H)
    for dtype, use_lengths, chunk in itertools.product(
            [torch.float64, torch.float32], [False, True], [0, 1, 5]):
        x = torch.randn(3, T, dtype=torch.float64, generator=g).to(dtype)
        w = (torch.rand(N, dtype=torch.float64, generator=g) + 0.5).to(dtype)
        L = None
        if use_lengths:
            lo = N // 2 + 1 if mode == "reflect" else (N if mode == "none" else 1)
            L = torch.tensor([T, max(lo, 23), max(lo, 7)])
            x[1, L[1]:] = float("nan")
            x[2, L[2]:] = float("inf")
        spec = OPS.stft(x, w, N, H, center, mode, chunk, L)
        G = torch.randn(spec.shape, dtype=spec.dtype, generator=g)
        gx, gw = OPS.stft_backward(G, x, w, N, H, center, mode, True, chunk, L)
        xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
        ref = torch.fft.rfft(OPS.stft_frames(xg, wg, N, H, center, mode, L), dim=-1)
        want_x, want_w = torch.autograd.grad((ref.transpose(-1, -2) * G.conj()).real.sum(),
                                             (xg, wg))
        tol = 1e-10 if dtype == torch.float64 else 1e-5
        if use_lengths:
            assert bool((gx[1, L[1]:] == 0).all()) and bool((gx[2, L[2]:] == 0).all())
            assert bool(torch.isfinite(gw).all())
            want_x = torch.where(torch.isfinite(x), want_x, 0)
        else:
            _close(gw, want_w, tol)
        _close(gx, want_x, tol)


def test_stft_gradcheck_with_lengths_and_window():
    x = torch.randn(3, 30, dtype=torch.float64).requires_grad_()
    w = (torch.rand(8, dtype=torch.float64) + 0.5).requires_grad_()
    L = torch.tensor([30, 11, 4])
    f = lambda x, w: torch.view_as_real(OPS.stft(x, w, 8, 3, True, "reflect", 2, L))  # noqa
    assert gradcheck(f, (x, w))
    f = lambda x, w: torch.view_as_real(OPS.stft(x, w, 8, 3, False, "wrap", 2))  # noqa: E731
    assert gradcheck(f, (x, w))
    assert gradgradcheck(f, (x, w))


# ---------------------------------------------------------------------------------------------
# windowed_overlap_add


@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", [(8, 3), (7, 2), (5, 8), (1, 1), (16, 5)], ids=str)
def test_windowed_overlap_add_is_overlap_add_of_the_product(N, H, center, mode):
    T = 41
    nf = ref_num_frames(T, N, H, center, None if mode == "none" else mode)
    g = torch.Generator().manual_seed(N * 31 + H)
    for dtype in (torch.float64, torch.float32):
        F = torch.randn(2, 3, nf, N, dtype=dtype, generator=g)
        w = torch.rand(N, dtype=dtype, generator=g) + 0.5
        got = OPS.windowed_overlap_add(F, w, T, N, H, center, mode)
        want = OPS.overlap_add(F * w, T, N, H, center, mode)
        tol = 1e-12 if dtype == torch.float64 else 1e-6
        _close(got, want, tol)
        Ft = F.transpose(-1, -2).contiguous().transpose(-1, -2)  # strided frames
        _close(OPS.windowed_overlap_add(Ft, w, T, N, H, center, mode), want, tol)
        lo = N // 2 + 1 if mode == "reflect" else (N if mode == "none" else 1)
        L = torch.tensor([[T, lo, max(lo, 20)], [max(lo, 9), T - 1, lo]])
        got = OPS.windowed_overlap_add(F, w, T, N, H, center, mode, L)
        _close(got, OPS.overlap_add(F * w, T, N, H, center, mode, L), tol)


@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
def test_windowed_overlap_add_gradcheck(center, mode):
    N, H, T = 8, 3, 23
    nf = ref_num_frames(T, N, H, center, None if mode == "none" else mode)
    F = torch.randn(2, nf, N, dtype=torch.float64).requires_grad_()
    w = (torch.rand(N, dtype=torch.float64) + 0.5).requires_grad_()
    f = lambda F, w: OPS.windowed_overlap_add(F, w, T, N, H, center, mode)  # noqa: E731
    assert gradcheck(f, (F, w))
    assert gradgradcheck(f, (F, w))


def test_stft_gradient_goes_through_windowed_overlap_add():
    """The STFT's x gradient equals today's overlap_add(grad * window) formula."""
    x = torch.randn(2, 300, dtype=torch.float64, requires_grad=True)
    w = _window(64)
    X = afx.stft(x, 64, 20, window=w, pad_mode="reflect")
    G = torch.randn_like(X)
    (got,) = torch.autograd.grad((X * G.conj()).real.sum(), x)
    frames_grad = torch.fft.irfft(G.transpose(-1, -2) * _autograd._rfft_adjoint_weights(
        64, 33, torch.float64, "cpu"), n=64)
    want = OPS.overlap_add(frames_grad * w, 300, 64, 20, True, "reflect")
    _close(got, want, 1e-10)


# ---------------------------------------------------------------------------------------------
# opcheck


def _opcheck_samples():
    g = torch.Generator().manual_seed(0)
    out = []
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 3, 90, dtype=dtype, generator=g)
        w = torch.hann_window(16, dtype=torch.float64) + 0.1
        nf = ref_num_frames(90, 16, 5, True, "edge")
        gc = torch.randn(2, 3, nf, dtype=dtype, generator=g)
        L = torch.tensor([[90, 9, 40], [17, 1, 88]])
        freq = torch.linspace(0, 4000, 9, dtype=torch.float64)
        out.append(("spectral_features_backward",
                    (x, w, 16, 5, True, "edge", None, 62.5, 2.0, True, gc, gc * 0.5, True, 0)))
        out.append(("spectral_features_backward",
                    (x[..., ::2], w, 16, 5, True, "edge", freq, 0.0, 1.5, False, None,
                     torch.randn(2, 3, ref_num_frames(45, 16, 5, True, "edge"), dtype=dtype,
                                 generator=g), False, 3)))
        out.append(("spectral_features_backward",
                    (x, w, 16, 5, True, "edge", None, 62.5, 3.0, True, gc, None, True, 2, L)))
        F = torch.randn(2, 3, nf, 16, dtype=dtype, generator=g).requires_grad_()
        wd = (torch.rand(16, dtype=dtype, generator=g) + 0.5).requires_grad_()
        out.append(("windowed_overlap_add", (F, wd, 90, 16, 5, True, "edge")))
        out.append(("windowed_overlap_add", (F, wd, 90, 16, 5, True, "edge", L)))
        nf = ref_num_frames(90, 16, 7, False, "wrap")
        F = torch.randn(6, nf, 16, dtype=dtype, generator=g).requires_grad_()
        out.append(("windowed_overlap_add", (F, wd, 90, 16, 7, False, "wrap",
                                             L.reshape(6))))
    return out


def _stft_opcheck_samples():
    g = torch.Generator().manual_seed(1)
    out = []
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 3, 90, dtype=dtype, generator=g)
        w = torch.rand(16, dtype=dtype, generator=g) + 0.5
        L = torch.tensor([[90, 9, 40], [17, 1, 88]])
        out.append(("stft", (x.clone().requires_grad_(), w.clone().requires_grad_(), 16, 5, True,
                             "edge", 0)))
        out.append(("stft", (x[..., ::2].clone().requires_grad_(), w, 16, 7, False, "wrap", 3,
                             L)))
        nf = ref_num_frames(90, 16, 5, True, "reflect")
        G = torch.randn(2, 3, 9, nf, dtype=dtype.to_complex(), generator=g)
        out.append(("stft_backward", (G, x, w, 16, 5, True, "reflect", True, 0)))
        out.append(("stft_backward", (G.conj(), x, w, 16, 5, True, "reflect", False, 2, L)))
    return out


@pytest.mark.parametrize("case", _opcheck_samples() + _stft_opcheck_samples(),
                         ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(OPS, name), args)


def test_registered():
    assert set(_ops.SPECTRAL_BACKWARD_OP_NAMES) == {"spectral_features_backward", "stft_backward",
                                                     "windowed_overlap_add"}
    cuda_build = _ops.built_with_cuda()
    for name in _ops.SPECTRAL_BACKWARD_OP_NAMES:
        assert _ops.has_kernel(name, "CPU"), name
        if cuda_build:
            assert _ops.has_kernel(name, "CUDA"), name


# ---------------------------------------------------------------------------------------------
# CPU vs CUDA (skipped without a GPU)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
def test_cuda_matches_cpu(center, mode, dtype):
    N, H, T = 64, 20, 700
    lo = N // 2 + 1 if mode == "reflect" else (N if mode == "none" else 1)
    lengths = [T, lo, 333, T - 7]
    x = _signal(len(lengths), T, dtype, 4)
    w = _window(N)
    nf = ref_num_frames(T, N, H, center, None if mode == "none" else mode)
    gc, gb = _grads((len(lengths), nf), dtype, 4, "cb")
    tol = 1e-10 if dtype == torch.float64 else 1e-3
    for L in (None, torch.tensor(lengths)):
        for p, chunk in [(2.0, 0), (0.7, 5)]:
            args = (N, H, center, mode, None, BIN_HZ, p, True)
            cpu = OPS.spectral_features_backward(x, w, *args, gc, gb, True, chunk, L)
            cuda = OPS.spectral_features_backward(
                x.cuda(), w.cuda(), *args, gc.cuda(), gb.cuda(), True, chunk,
                None if L is None else L.cuda())
            _close(cuda[0].cpu(), cpu[0], tol)
            _close(cuda[1].cpu(), cpu[1], tol)
        spec = OPS.stft(x, w.to(dtype), N, H, center, mode, 0, L)
        got = OPS.stft(x.cuda(), w.to(dtype).cuda(), N, H, center, mode, 0,
                       None if L is None else L.cuda())
        _close(got.cpu(), spec, 1e-12 if dtype == torch.float64 else 1e-5)
        G = torch.randn_like(spec)
        cpu = OPS.stft_backward(G, x, w.to(dtype), N, H, center, mode, True, 0, L)
        cuda = OPS.stft_backward(G.cuda(), x.cuda(), w.to(dtype).cuda(), N, H, center, mode, True,
                                 7, None if L is None else L.cuda())
        _close(cuda[0].cpu(), cpu[0], 1e-10 if dtype == torch.float64 else 1e-5)
        _close(cuda[1].cpu(), cpu[1], 1e-10 if dtype == torch.float64 else 1e-5)
        F = torch.randn(len(lengths), nf, N, dtype=dtype)
        wd = w.to(dtype)
        want = OPS.windowed_overlap_add(F, wd, T, N, H, center, mode, L)
        got = OPS.windowed_overlap_add(F.cuda(), wd.cuda(), T, N, H, center, mode,
                                       None if L is None else L.cuda())
        _close(got.cpu(), want, 1e-12 if dtype == torch.float64 else 1e-6)


@pytest.mark.cuda
def test_cuda_autograd_matches_cpu():
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 5000))).float()
    grads = []
    for dev in ("cpu", "cuda"):
        xd = x.to(dev).requires_grad_()
        out = afx.spectral_features(xd, n_fft=512, hop_length=128)
        S = afx.stft(xd, 256, 64).abs()
        loss = out["centroid"].sum() / 1e3 + out["bandwidth"].mean() + S.mean()
        grads.append(torch.autograd.grad(loss, xd)[0].cpu())
    _close(grads[1], grads[0], 1e-3)
