"""frame_features_backward (csrc/frame_reduce_backward_ops.h): the one-pass gradient of rms, the
amplitude envelope and frame_features equals the differentiable torch formulas it replaces
(audiofx/_autograd.py _rms_grad / _peak_grad, on overlap_add and frame_argmax) for every pad mode
and geometry, with and without lengths; a ragged row's gradient is its clip's alone; gradcheck,
gradgradcheck (the torch formulas under create_graph) and opcheck; CUDA parity (marked)."""
from types import SimpleNamespace

import pytest
import torch

import audiofx as afx
from audiofx import _autograd, _ops

OPS = torch.ops.audiofx

MODES = [(True, "constant"), (True, "edge"), (True, "reflect"), (True, "wrap"),
         (False, "wrap"), (False, "none")]
# (N, H, T): coprime, H > N, N = 1, T < N, N a multiple of H.
GEOMETRIES = [(8, 3, 41), (7, 2, 30), (5, 8, 43), (1, 1, 9), (1, 3, 10), (16, 4, 70),
              (12, 5, 9), (11, 11, 40)]


def _valid(N, T, center, mode, L=None):
    T = T if L is None else int(L.min())
    if mode == "reflect" and T <= N // 2:
        return False
    return center or mode != "none" or T >= N


def _ctx(T, N, H, center, mode, lengths):
    return SimpleNamespace(frame_args=(N, H, center, mode), length=T, lengths=lengths)


def _inputs(rows, T, N, H, center, mode, dtype, seed=0, lengths=None):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, T, generator=gen, dtype=torch.float64).to(dtype)
    x[:, ::7] = x[:, 3:4]  # ties of the maximum
    if lengths is not None:
        for r, L in enumerate(lengths.tolist()):
            x[r, L:] = float("nan")  # the batch padding must not leak
    nf = _ops.n_frames(T, N, H, center, mode)
    rms = torch.rand(rows, nf, generator=gen, dtype=torch.float64).to(dtype) + 0.1
    rms[:, ::4] = 0  # silent frames get no weight
    g_rms = torch.randn(rows, nf, generator=gen, dtype=torch.float64).to(dtype)
    g_env = torch.randn(rows, nf, generator=gen, dtype=torch.float64).to(dtype)
    return x, rms, g_rms, g_env


def _today(x, rms, g_rms, g_env, ctx, absolute):
    """The torch formulas the kernel replaces (today's backward)."""
    grad = None if g_rms is None else _autograd._rms_grad(x, rms, g_rms, ctx)
    if g_env is not None:
        grad = _autograd._peak_grad(x, g_env, ctx, absolute, into=grad)
    return torch.zeros_like(x) if grad is None else grad


def _lengths_for(rows, T, N):
    return torch.tensor([T, max(1, T - 3), max(1, T // 2 + 1), max(1, N // 2 + 2)][:rows],
                        dtype=torch.int64).clamp(1, T)


@pytest.mark.parametrize("center,mode", MODES)
@pytest.mark.parametrize("N,H,T", GEOMETRIES)
@pytest.mark.parametrize("ragged", [False, True])
def test_equals_todays_formulas_float64(center, mode, N, H, T, ragged):
    lengths = _lengths_for(4, T, N) if ragged else None
    if not _valid(N, T, center, mode, lengths):
        pytest.skip("geometry invalid for this mode")
    x, rms, g_rms, g_env = _inputs(4, T, N, H, center, mode, torch.float64, lengths=lengths)
    ctx = _ctx(T, N, H, center, mode, lengths)
    with torch.no_grad():
        for absolute in (False, True):
            for gr, ge in ((g_rms, None), (None, g_env), (g_rms, g_env), (None, None)):
                want = _today(x, rms, gr, ge, ctx, absolute)
                got = OPS.frame_features_backward(x, rms if gr is not None else None, gr, ge,
                                                  N, H, center, mode, absolute, lengths)
                assert not got.isnan().any()
                torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("center,mode", MODES)
@pytest.mark.parametrize("N,H,T", [(8, 3, 41), (5, 8, 43), (16, 4, 70), (12, 5, 9)])
def test_ragged_row_is_its_clip_alone(center, mode, N, H, T):
    lengths = _lengths_for(4, T, N)
    if not _valid(N, T, center, mode, lengths):
        pytest.skip("geometry invalid for this mode")
    x, rms, g_rms, g_env = _inputs(4, T, N, H, center, mode, torch.float64, seed=1,
                                   lengths=lengths)
    got = OPS.frame_features_backward(x, rms, g_rms, g_env, N, H, center, mode, True, lengths)
    for r, L in enumerate(lengths.tolist()):
        nf = _ops.n_frames(L, N, H, center, mode)
        alone = OPS.frame_features_backward(x[r:r + 1, :L], rms[r:r + 1, :nf],
                                            g_rms[r:r + 1, :nf], g_env[r:r + 1, :nf], N, H,
                                            center, mode, True)
        torch.testing.assert_close(got[r, :L], alone[0], rtol=1e-12, atol=1e-12)
        assert (got[r, L:] == 0).all()


@pytest.mark.parametrize("center,mode", [(True, "constant"), (True, "reflect"), (False, "wrap")])
@pytest.mark.parametrize("N,H,T", [(2048, 512, 9000), (2048, 441, 9000), (300, 441, 5000)])
def test_float32_and_large_frames(center, mode, N, H, T):
    lengths = torch.tensor([T, T - 1000, 3001], dtype=torch.int64)
    for L in (None, lengths):
        x, rms, g_rms, g_env = _inputs(3, T, N, H, center, mode, torch.float32, seed=2,
                                       lengths=L)
        ctx = _ctx(T, N, H, center, mode, L)
        with torch.no_grad():
            want = _today(x, rms, g_rms, g_env, ctx, False)
        got = OPS.frame_features_backward(x, rms, g_rms, g_env, N, H, center, mode, False, L)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_nan_in_a_frame_takes_the_envelope_gradient():
    x = torch.randn(2, 200, dtype=torch.float64)
    x[0, 50] = float("nan")
    x[1, 3] = float("nan")
    nf = _ops.n_frames(200, 16, 5, True, "constant")
    g = torch.randn(2, nf, dtype=torch.float64)
    ctx = _ctx(200, 16, 5, True, "constant", None)
    for absolute in (False, True):
        want = _today(x, None, None, g, ctx, absolute)
        got = OPS.frame_features_backward(x, None, None, g, 16, 5, True, "constant", absolute)
        torch.testing.assert_close(got, want, equal_nan=True)


def test_autograd_uses_the_kernel_and_matches():
    x = torch.randn(3, 500, dtype=torch.float64, requires_grad=True)
    L = torch.tensor([500, 321, 77])
    ae, r, z = afx.frame_features(x, 32, 7)
    w = torch.randn(3, ae.shape[-1], 3, dtype=torch.float64)
    (gx,) = torch.autograd.grad((ae * w[..., 0] + r * w[..., 1]).sum(), x)
    ctx = _ctx(500, 32, 7, True, "constant", None)
    with torch.no_grad():
        want = _today(x, r, w[..., 1].contiguous(), w[..., 0].contiguous(), ctx, False)
    torch.testing.assert_close(gx, want, rtol=1e-10, atol=1e-10)
    (rl, _) = afx.rms(x, 32, 7, lengths=L)
    (gx,) = torch.autograd.grad(rl.sum(), x)
    assert (gx[1, 321:] == 0).all() and (gx[2, 77:] == 0).all()


@pytest.mark.parametrize("center,mode", MODES)
def test_gradcheck_and_gradgradcheck(center, mode):
    x = torch.randn(2, 23, dtype=torch.float64, requires_grad=True)
    # (With lengths the forward kernels are being fixed elsewhere; the backward's lengths are
    # checked against today's formulas and against each clip alone above.)
    fns = [lambda x: afx.rms(x, 6, 4, center, mode),
           lambda x: afx.amplitude_envelope(x, 6, 4, center, mode, absolute=True),
           lambda x: sum(afx.frame_features(x, 6, 4, center, mode)[:2])]
    for fn in fns:
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("center,mode", [(True, "constant"), (True, "reflect"), (False, "wrap")])
def test_opcheck(center, mode, ragged):
    T, N, H = 40, 8, 3
    L = torch.tensor([40, 29]) if ragged else None
    x, rms, g_rms, g_env = _inputs(2, T, N, H, center, mode, torch.float64)
    torch.library.opcheck(OPS.frame_features_backward,
                          (x, rms, g_rms, g_env, N, H, center, mode, True, L))
    torch.library.opcheck(OPS.frame_features_backward,
                          (x, rms, g_rms, None, N, H, center, mode, False, L))


def test_op_is_listed():
    assert "frame_features_backward" in _ops.FRAME_FEATURES_BACKWARD_OP_NAMES
    assert _ops.has_kernel("frame_features_backward", "CPU")


@pytest.mark.cuda
@pytest.mark.parametrize("center,mode", MODES)
@pytest.mark.parametrize("N,H,T", [(8, 3, 41), (5, 8, 43), (2048, 512, 9000), (12, 5, 9)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_parity(center, mode, N, H, T, dtype):
    lengths = _lengths_for(4, T, N)
    if not _valid(N, T, center, mode, lengths):
        pytest.skip("geometry invalid for this mode")
    for L in (None, lengths):
        x, rms, g_rms, g_env = _inputs(4, T, N, H, center, mode, dtype, seed=3, lengths=L)
        for absolute in (False, True):
            for gr, ge in ((g_rms, None), (None, g_env), (g_rms, g_env)):
                args = (rms if gr is not None else None, gr, ge, N, H, center, mode, absolute)
                want = OPS.frame_features_backward(x, *args, L)
                dev = [None if a is None else a.cuda() for a in args[:3]]
                got = OPS.frame_features_backward(x.cuda(), *dev, *args[3:],
                                                  None if L is None else L.cuda())
                tol = 1e-10 if dtype == torch.float64 else 1e-5
                torch.testing.assert_close(got.cpu(), want, rtol=tol, atol=tol)
