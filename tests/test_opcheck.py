"""torch.library.opcheck on every op, and torch.compile(fullgraph=True) against eager
(DESIGN §3: every op has a fake kernel so that compile and export work, and passes opcheck).

The sample inputs require grad, so opcheck's default test_utils (schema, autograd registration,
fake tensor, aot dispatch dynamic) also run every op's backward (registered in audiofx/_ops.py)
through AOT autograd with dynamic shapes; the backward ops (overlap_add, frame_argmax) and the
spectral ops are opchecked the same way, and the fake kernels' symbolic frame counts are checked
against DESIGN's table for many lengths.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import audiofx as afx
from reference import make_signal, ref_num_frames, ref_rms, rel_err

OPS = torch.ops.audiofx


def _x(shape, dtype, seed=0, kind="normal"):
    *lead, T = shape
    return torch.from_numpy(make_signal(kind, T, np.float64, seed=seed, shape=lead)).to(dtype)


def sample_inputs():
    """(x, frame_length, hop_length, center, pad_mode) samples: shapes incl. batched and
    non-contiguous, both dtypes, every pad mode incl. the uncentred 'wrap' / 'none'."""
    samples = []
    configs = [
        (400, 160, True, "constant"),
        (400, 160, True, "edge"),
        (64, 48, True, "reflect"),
        (7, 3, True, "wrap"),
        (256, 100, False, "wrap"),
        (5, 8, False, "none"),
        (1, 1, True, "constant"),
    ]
    layouts = ["1d", "batched", "strided", "column_major"]
    for j, dtype in enumerate((torch.float32, torch.float64)):
        for i, (N, H, center, mode) in enumerate(configs):
            # Every config in both dtypes; the layout rotates so that each dtype sees each layout.
            layout = layouts[(i + 2 * j) % len(layouts)]
            if layout == "1d":
                x = _x((1001,), dtype, seed=i)
            elif layout == "batched":
                x = _x((2, 3, 777), dtype, seed=i)
            elif layout == "strided":
                x = _x((3, 1400), dtype, seed=i, kind="chirp")[:, ::2]
            else:
                x = _x((3, 1400), dtype, seed=i).t().contiguous().t()
            samples.append((x.requires_grad_(), N, H, center, mode))
        # T < N with end-wrap: one frame of x repeated.
        samples.append((_x((2, 50), dtype, seed=99).requires_grad_(), 128, 32, False, "wrap"))
    return samples


SAMPLES = sample_inputs()


def _sample_id(s):
    x, N, H, center, mode = s
    strides = "_".join(map(str, x.stride()))
    return f"{str(x.dtype)[6:]}-{'x'.join(map(str, x.shape))}-s{strides}-N{N}-H{H}-" \
           f"{'c' if center else 'nc'}-{mode}"


def _op_args(op_name, s):
    x, N, H, center, mode = s
    if op_name in ("frame", "rms"):
        return (x, N, H, center, mode)
    if op_name == "amplitude_envelope":
        return (x, N, H, center, mode, True)
    if op_name == "zero_crossing_rate":
        return (x, N, H, center, "edge" if center else mode, 0.05, False)
    return (x, N, H, center, mode, "edge" if center else mode, False, 1e-10, True)


OP_NAMES = ["frame", "amplitude_envelope", "rms", "zero_crossing_rate", "frame_features"]


BACKWARD_OP_NAMES = ["overlap_add", "frame_argmax"]


def test_every_op_has_a_cpu_kernel_and_is_checked_here():
    from audiofx import _ops

    assert set(_ops.OP_NAMES) == set(OP_NAMES)
    assert set(_ops.BACKWARD_OP_NAMES) == set(BACKWARD_OP_NAMES)
    for name in OP_NAMES + BACKWARD_OP_NAMES + list(_ops.SPECTRAL_OP_NAMES):
        assert _ops.has_kernel(name, "CPU"), name
        assert hasattr(OPS, name)


def test_samples_cover_the_cases():
    assert any(not s[0].is_contiguous() for s in SAMPLES)
    assert any(s[0].dim() == 3 for s in SAMPLES)
    assert {s[0].dtype for s in SAMPLES} == {torch.float32, torch.float64}
    assert {(s[3], s[4]) for s in SAMPLES} >= {
        (True, "constant"), (True, "edge"), (True, "reflect"), (True, "wrap"), (False, "wrap"),
        (False, "none")}
    assert all(s[0].requires_grad for s in SAMPLES)


@pytest.mark.parametrize("op_name", OP_NAMES)
@pytest.mark.parametrize("sample", SAMPLES, ids=_sample_id)
def test_opcheck(op_name, sample):
    args = _op_args(op_name, sample)
    torch.library.opcheck(getattr(OPS, op_name), args)


@pytest.mark.parametrize("sample", SAMPLES, ids=_sample_id)
def test_opcheck_backward_ops(sample):
    """overlap_add (differentiable: its backward is frame) and frame_argmax (integer output,
    no gradient) on every sample's geometry."""
    x, N, H, center, mode = sample
    nf = ref_num_frames(x.shape[-1], N, H, center, None if mode == "none" else mode)
    g = torch.randn(*x.shape[:-1], nf, N, dtype=x.dtype, generator=torch.Generator().manual_seed(N))
    torch.library.opcheck(OPS.overlap_add, (g.requires_grad_(), x.shape[-1], N, H, center, mode))
    torch.library.opcheck(OPS.frame_argmax, (x.detach(), N, H, center, mode, True))


def _spectral_samples():
    g = torch.Generator().manual_seed(0)
    out = []
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 700, dtype=dtype, generator=g)
        w = torch.hann_window(128, dtype=dtype) + 0.1
        out.append(("stft_frames", (x.requires_grad_(), w.requires_grad_(), 128, 48, True,
                                    "reflect")))
        out.append(("stft_frames", (x[:, ::2], w.detach(), 128, 48, False, "wrap")))
        w64 = torch.hann_window(128, dtype=torch.float64)
        freq = torch.linspace(0, 4000, 65, dtype=torch.float64)
        out.append(("spectral_features", (x, w64, 128, 48, True, "edge", None, 62.5, 2.0, True,
                                          0)))
        out.append(("spectral_features", (x, w64.requires_grad_(), 128, 48, False, "none", freq,
                                          0.0, 1.5, False, 0)))
        S = torch.rand(2, 33, 9, dtype=dtype, generator=g).requires_grad_()
        c = (torch.rand(2, 9, dtype=torch.float64, generator=g) * 1000).requires_grad_()
        out.append(("spectral_stats", (S, None, 31.25, None, 2.0, True)))
        out.append(("spectral_stats", (S.mT.contiguous().mT, None, 31.25, c, 0.5, False)))
    return out


@pytest.mark.parametrize("case", _spectral_samples(),
                         ids=lambda c: c[0] if isinstance(c, tuple) else str(c))
def test_opcheck_spectral_ops_with_gradients(case):
    name, args = case
    torch.library.opcheck(getattr(OPS, name), args)


@pytest.mark.parametrize("center,mode", [(True, "constant"), (True, "reflect"), (False, "wrap"),
                                         (False, "none")])
def test_fake_kernels_give_symbolic_frame_counts(center, mode):
    """Traced with a symbolic length T, every fake kernel's frame count is one expression in T
    that equals DESIGN's count for every length (not a value specialised to the traced T)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import (DimDynamic, ShapeEnv,
                                                       StatelessSymbolicContext)

    N, H = 64, 24
    x = _x((2, 500), torch.float64)
    ctx = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.STATIC, DimDynamic.DYNAMIC])
    with FakeTensorMode(shape_env=ShapeEnv()) as m:
        fx = m.from_tensor(x, symbolic_context=ctx)
        T = fx.shape[-1]
        w = m.from_tensor(torch.ones(N, dtype=torch.float64))
        outs = {
            "frame": OPS.frame(fx, N, H, center, mode).shape[-2],
            "rms": OPS.rms(fx, N, H, center, mode).shape[-1],
            "frame_features": OPS.frame_features(fx, N, H, center, mode, mode, False, 0.0,
                                                 True)[2].shape[-1],
            "frame_argmax": OPS.frame_argmax(fx, N, H, center, mode, False).shape[-1],
            "stft_frames": OPS.stft_frames(fx, w, N, H, center, mode).shape[-2],
            "spectral_features": OPS.spectral_features(fx, w, N, H, center, mode, None, 1.0, 2.0,
                                                       True)[0].shape[-1],
        }
        frames = OPS.frame(fx, N, H, center, mode)
        back = OPS.overlap_add(frames, T, N, H, center, mode)
        assert back.shape[-1] is T or back.shape[-1] == T
    t_sym = T.node.expr
    for name, nf in outs.items():
        assert isinstance(nf, torch.SymInt), name
        expr = nf.node.expr
        for length in (64, 65, 88, 500, 1001, 88200):
            want = ref_num_frames(length, N, H, center, None if mode == "none" else mode)
            assert int(expr.subs(t_sym, length)) == want, (name, length)


@pytest.mark.parametrize("op_name", OP_NAMES)
def test_fake_kernel_shapes_match_design(op_name):
    """The fake (meta) kernels give DESIGN's frame counts, without running a kernel."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    for s in SAMPLES:
        x, N, H, center, mode = s
        nf = ref_num_frames(x.shape[-1], N, H, center, None if mode == "none" else mode)
        with FakeTensorMode() as m:
            fx = m.from_tensor(x)
            out = getattr(OPS, op_name)(*_op_args(op_name, (fx, N, H, center, mode)))
        outs = out if isinstance(out, tuple) else (out,)
        tail = (nf, N) if op_name == "frame" else (nf,)
        for o in outs:
            assert tuple(o.shape) == tuple(x.shape[:-1]) + tail
            assert o.dtype == x.dtype


# ---------------------------------------------------------------------------------------------
# torch.compile


def _features_and_frames(x):
    ae, r, z = afx.frame_features(x, 256, 64, center=True, pad_mode="reflect", absolute=True,
                                  threshold=0.05)
    fr = afx.frame(x, 128, 96)  # end-wrap
    return ae * 2 + 1, r.square(), z, fr.sum(-1)


def _eager_reference(x):
    ae, r, z = afx.frame_features(x, 256, 64, center=True, pad_mode="reflect", absolute=True,
                                  threshold=0.05)
    return ae * 2 + 1, r.square(), z, afx.frame(x, 128, 96).sum(-1)


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compile_fullgraph_matches_eager(backend, dtype):
    torch._dynamo.reset()
    x = _x((2, 3001), dtype, seed=7)
    compiled = torch.compile(_features_and_frames, fullgraph=True, backend=backend)
    got = compiled(x)
    expected = _eager_reference(x)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        torch.testing.assert_close(g, e, rtol=0, atol=0)
    # And the eager values themselves are right (so the comparison is not vacuous).
    assert rel_err(expected[1].sqrt(), ref_rms(x, 256, 64, True, "reflect")) <= \
        (1e-10 if dtype == torch.float64 else 2e-5)


def test_compile_dynamic_two_lengths():
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounter()
    compiled = torch.compile(_features_and_frames, fullgraph=True, dynamic=True,
                             backend=counter)
    for T in (3001, 4500):
        x = _x((2, T), torch.float64, seed=T)
        got = compiled(x)
        expected = _eager_reference(x)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            torch.testing.assert_close(g, e, rtol=0, atol=0)
        assert got[0].shape[-1] == ref_num_frames(T, 256, 64, True, "reflect")
        assert got[3].shape[-1] == ref_num_frames(T, 128, 96, False, "wrap")
    # One graph serves both lengths.
    assert counter.frame_count == 1


def test_compile_dynamic_aot_eager_two_lengths():
    torch._dynamo.reset()
    compiled = torch.compile(_features_and_frames, fullgraph=True, dynamic=True,
                             backend="aot_eager")
    for T in (2001, 2777):
        x = _x((3, T), torch.float32, seed=T)
        for g, e in zip(compiled(x), _eager_reference(x)):
            torch.testing.assert_close(g, e, rtol=0, atol=0)


def test_export():
    class M(torch.nn.Module):
        def forward(self, x):
            return afx.rms(x, 400, 160) + afx.zero_crossing_rate(x, 400, 160)

    x = _x((2, 1601), torch.float32, seed=3)
    ep = torch.export.export(M(), (x,))
    torch.testing.assert_close(ep.module()(x), M()(x), rtol=0, atol=0)


def _lengths_for(x, N, center, mode, seed):
    """Per-row lengths for a sample: random in the range the pad mode allows (reflect > N//2,
    no padding >= N), one row at the full length."""
    T = x.shape[-1]
    lo = N // 2 + 1 if mode == "reflect" else (N if mode == "none" else 1)
    g = torch.Generator().manual_seed(seed)
    L = torch.randint(min(lo, T), T + 1, x.shape[:-1], generator=g)
    L.view(-1)[0] = T
    return L


@pytest.mark.parametrize("op_name", OP_NAMES)
@pytest.mark.parametrize("sample", SAMPLES[::3], ids=_sample_id)
def test_opcheck_with_lengths(op_name, sample):
    """The same ops with a lengths tensor (the kernels frame each row with its own length):
    schema, fake kernel, autograd registration and dynamic AOT dispatch."""
    x, N, H, center, mode = sample
    args = _op_args(op_name, sample) + (_lengths_for(x, N, center, mode, N),)
    torch.library.opcheck(getattr(OPS, op_name), args)


@pytest.mark.parametrize("sample", SAMPLES[::3], ids=_sample_id)
def test_opcheck_backward_ops_with_lengths(sample):
    x, N, H, center, mode = sample
    L = _lengths_for(x, N, center, mode, H)
    nf = ref_num_frames(x.shape[-1], N, H, center, None if mode == "none" else mode)
    g = torch.randn(*x.shape[:-1], nf, N, dtype=x.dtype, generator=torch.Generator().manual_seed(N))
    torch.library.opcheck(OPS.overlap_add, (g.requires_grad_(), x.shape[-1], N, H, center, mode, L))
    torch.library.opcheck(OPS.frame_argmax, (x.detach(), N, H, center, mode, True, L))
