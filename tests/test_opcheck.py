"""torch.library.opcheck on every op, and torch.compile(fullgraph=True) against eager
(DESIGN §3: every op has a fake kernel so that compile and export work, and passes opcheck).

Autograd is not registered yet, so the sample inputs do not require grad; opcheck runs its
default test_utils (schema, autograd registration, fake tensor, aot dispatch dynamic).
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
            samples.append((x, N, H, center, mode))
        # T < N with end-wrap: one frame of x repeated.
        samples.append((_x((2, 50), dtype, seed=99), 128, 32, False, "wrap"))
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


def test_every_op_has_a_cpu_kernel_and_is_checked_here():
    from audiofx import _ops

    assert set(_ops.OP_NAMES) == set(OP_NAMES)
    for name in OP_NAMES:
        assert _ops.has_kernel(name, "CPU"), name
        assert hasattr(OPS, name)


def test_samples_cover_the_cases():
    assert any(not s[0].is_contiguous() for s in SAMPLES)
    assert any(s[0].dim() == 3 for s in SAMPLES)
    assert {s[0].dtype for s in SAMPLES} == {torch.float32, torch.float64}
    assert {(s[3], s[4]) for s in SAMPLES} >= {
        (True, "constant"), (True, "edge"), (True, "reflect"), (True, "wrap"), (False, "wrap"),
        (False, "none")}
    assert not any(s[0].requires_grad for s in SAMPLES)


@pytest.mark.parametrize("op_name", OP_NAMES)
@pytest.mark.parametrize("sample", SAMPLES, ids=_sample_id)
def test_opcheck(op_name, sample):
    args = _op_args(op_name, sample)
    torch.library.opcheck(getattr(OPS, op_name), args)


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
