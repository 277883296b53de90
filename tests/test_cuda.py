"""CUDA kernels: registration, and parity with the CPU kernels on every op.

The CPU kernels are checked against numpy/librosa elsewhere; here they are the reference. float16
and bfloat16 (CUDA only) are compared with the float32 CPU result on the same (rounded) samples.
"""
from __future__ import annotations

import math
import os

import pytest
import torch

import audiofx as afx
from audiofx import _ops
from reference import PAD_CONFIGS

HAS_GPU = torch.cuda.is_available()
HAS_CUDA_KERNELS = any(_ops.has_kernel(name, "CUDA") for name in _ops.OP_NAMES)

needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA device")
# A CUDA build is enforced by test_cuda_build_expected (CI); a deliberate CPU-only build
# (AUDIOFX_CUDA=0) on a GPU machine has nothing to compare.
needs_kernels = pytest.mark.skipif(
    not HAS_CUDA_KERNELS, reason="this build has no CUDA kernels (built with AUDIOFX_CUDA=0?)"
)


def cuda_test(fn):
    return pytest.mark.cuda(needs_gpu(needs_kernels(fn)))


# ---------------------------------------------------------------------------------------------
# Registration (no GPU needed)


def test_every_op_has_a_cuda_kernel():
    """A CUDA build registers a CUDA kernel for every op; CI (AUDIOFX_EXPECT_CUDA=1, torch with
    CUDA) requires the CUDA build, so a silently skipped nvcc fails here."""
    registered = {name: _ops.has_kernel(name, "CUDA")
                  for name in _ops.OP_NAMES + _ops.SPECTRAL_OP_NAMES + _ops.BACKWARD_OP_NAMES
                  + _ops.SPECTRAL_BACKWARD_OP_NAMES}
    expected = os.environ.get("AUDIOFX_EXPECT_CUDA") == "1" and torch.version.cuda is not None
    if expected or any(registered.values()):
        missing = [name for name, ok in registered.items() if not ok]
        assert not missing, (
            f"no CUDA kernel registered for {missing} (torch CUDA {torch.version.cuda}, "
            f"AUDIOFX_EXPECT_CUDA={os.environ.get('AUDIOFX_EXPECT_CUDA')}): setup.py did not "
            f"build csrc/cuda (nvcc or the CUDA headers not found?)"
        )
    assert _ops.built_with_cuda() == registered["rms"]


# ---------------------------------------------------------------------------------------------
# Parity

PAD_CASES = PAD_CONFIGS
PAD_IDS = [f"center={c}-{m}" for c, m in PAD_CASES]
SIZES = [(2048, 512), (512, 300), (400, 160), (256, 256)]
SIZE_IDS = [f"N{n}-H{h}" for n, h in SIZES]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DTYPE_IDS = ["float32", "float64", "float16", "bfloat16"]
LOW_PRECISION = (torch.float16, torch.bfloat16)
# rms of float16/bfloat16 against float32: float accumulation, then one rounding to the dtype.
RMS_TOL = {
    torch.float64: dict(rtol=1e-12, atol=1e-15),
    torch.float32: dict(rtol=1e-5, atol=1e-7),
    torch.float16: dict(rtol=2e-3, atol=1e-5),
    torch.bfloat16: dict(rtol=1e-2, atol=1e-4),
}

# Each returns a tuple of (kind, tensor); kind picks the comparison.
OPS = {
    "frame": lambda x, N, H, c, m: (("exact", afx.frame(x, N, H, center=c, pad_mode=m)),),
    "amplitude_envelope": lambda x, N, H, c, m: (
        ("exact", afx.amplitude_envelope(x, N, H, center=c, pad_mode=m)),
    ),
    "amplitude_envelope_absolute": lambda x, N, H, c, m: (
        ("exact", afx.amplitude_envelope(x, N, H, center=c, pad_mode=m, absolute=True)),
    ),
    "rms": lambda x, N, H, c, m: (("rms", afx.rms(x, N, H, center=c, pad_mode=m)),),
    "zero_crossing_rate": lambda x, N, H, c, m: (
        ("exact", afx.zero_crossing_rate(x, N, H, center=c, pad_mode=m)),
    ),
    "zero_crossing_rate_signed": lambda x, N, H, c, m: (
        ("exact", afx.zero_crossing_rate(x, N, H, center=c, pad_mode=m, zero_pos=False,
                                         threshold=1e-3)),
    ),
    # zcr pads with "edge" when centred: a second pad mode in the same pass.
    "frame_features": lambda x, N, H, c, m: tuple(
        zip(("exact", "rms", "exact"), afx.frame_features(x, N, H, center=c, pad_mode=m))
    ),
    "frame_features_same_mode": lambda x, N, H, c, m: tuple(
        zip(("exact", "rms", "exact"),
            afx.frame_features(x, N, H, center=c, pad_mode=m, zcr_pad_mode=m, absolute=True,
                               zero_pos=False))
    ),
}


def parity_signal(shape, seed=0):
    """A sine plus noise, with exact zeros and values at the zcr threshold, float64 on the CPU."""
    g = torch.Generator().manual_seed(seed)
    T = shape[-1]
    t = torch.arange(T, dtype=torch.float64)
    x = 0.5 * torch.sin(2 * math.pi * t / 97.0) + 0.3 * torch.randn(shape, generator=g,
                                                                     dtype=torch.float64)
    x[..., ::11] = 0.0
    x[..., 5::13] = 1e-11
    x[..., 7::17] = -1e-11
    x[..., 3::19] = -0.0
    return x


def reference_dtype(dtype):
    return torch.float32 if dtype in LOW_PRECISION else dtype


def assert_matches(kind, got, want, dtype, what):
    """`got` from CUDA in `dtype`, `want` from the CPU in reference_dtype(dtype)."""
    assert got.is_cuda and got.dtype == dtype and got.is_contiguous(), what
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    got = got.cpu()
    if kind == "exact":
        # Max, frames and crossing counts are exact; low precision rounds the float32 result once
        # (as the CUDA kernel rounds its float/double value once).
        want = want.to(dtype)
        same = (got == want) | (got.isnan() & want.isnan())
        assert bool(same.all()), f"{what}: {int((~same).sum())} of {same.numel()} values differ"
    else:
        torch.testing.assert_close(got.to(want.dtype), want, **RMS_TOL[dtype], equal_nan=True,
                                   msg=lambda m: f"{what}: {m}")


def check_parity(op_name, x_gpu, N, H, center, pad_mode):
    dtype = x_gpu.dtype
    x_cpu = x_gpu.cpu().to(reference_dtype(dtype))
    got = OPS[op_name](x_gpu, N, H, center, pad_mode)
    want = OPS[op_name](x_cpu, N, H, center, pad_mode)
    assert len(got) == len(want)
    for i, ((kind, g), (_, w)) in enumerate(zip(got, want)):
        assert_matches(kind, g, w, dtype, f"{op_name}[{i}]")


@cuda_test
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("N,H", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("center,pad_mode", PAD_CASES, ids=PAD_IDS)
@pytest.mark.parametrize("op_name", list(OPS))
def test_parity_batched(op_name, center, pad_mode, N, H, dtype):
    T = 3 * N + H + 37
    x = parity_signal((2, 3, T), seed=N + H).to(dtype).cuda()
    check_parity(op_name, x, N, H, center, pad_mode)


# Signals shorter than a frame: one or two frames, mostly padding (end-wrap repeats x).
@cuda_test
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["float32", "float16"])
@pytest.mark.parametrize("T", [257, 300, 511])
@pytest.mark.parametrize("center,pad_mode", PAD_CASES[:5], ids=PAD_IDS[:5])
@pytest.mark.parametrize("op_name", list(OPS))
def test_parity_short_signal(op_name, center, pad_mode, T, dtype):
    x = parity_signal((3, T), seed=T).to(dtype).cuda()
    check_parity(op_name, x, 512, 128, center, pad_mode)


def _strided(x):
    return torch.stack([x, -x], dim=-1)[..., 0]  # last-dim stride 2


def _transposed(x):
    return x.transpose(0, 1).contiguous().transpose(0, 1)  # (rows, T) with stride (1, rows)


@cuda_test
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16],
                         ids=["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("layout", [_strided, _transposed], ids=["strided", "transposed"])
@pytest.mark.parametrize("center,pad_mode", [(True, "reflect"), (False, "wrap")],
                         ids=["center=True-reflect", "center=False-wrap"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_parity_non_contiguous(op_name, center, pad_mode, layout, dtype):
    x = layout(parity_signal((4, 3000), seed=7).to(dtype).cuda())
    assert not x.is_contiguous()
    check_parity(op_name, x, 400, 160, center, pad_mode)


@cuda_test
@pytest.mark.parametrize("op_name", list(OPS))
def test_parity_one_dimensional(op_name):
    x = parity_signal((22050,), seed=1).to(torch.float32).cuda()
    check_parity(op_name, x, 2048, 512, True, "constant")


# gcd(N, H) = 1 (one sample per block) and blocks longer than a warp's stride.
@cuda_test
@pytest.mark.parametrize("N,H", [(2048, 441), (7, 3), (1, 1), (4096, 4096), (3, 5)],
                         ids=["N2048-H441", "N7-H3", "N1-H1", "N4096-H4096", "N3-H5"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_parity_block_sizes(op_name, N, H):
    x = parity_signal((2, 9001), seed=N * H).to(torch.float32).cuda()
    check_parity(op_name, x, N, H, True, "wrap")
    check_parity(op_name, x, N, H, False, "wrap")


@cuda_test
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["float32", "float16"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_parity_nan_and_inf(op_name, dtype):
    x = parity_signal((3, 5000), seed=3)
    x[0, 1234] = float("nan")
    x[1, 100] = float("inf")
    x[2, 4000] = float("-inf")
    check_parity(op_name, x.to(dtype).cuda(), 512, 128, True, "constant")


def _check_frame_features(x_gpu):
    ae, r, z = afx.frame_features(x_gpu)
    frames = afx.frame(x_gpu, 512, 256)
    return ae, r, z, frames


def _assert_frame_features(got, x_cpu):
    want = afx.frame_features(x_cpu)
    assert_matches("exact", got[0], want[0], torch.float32, "ae")
    assert_matches("rms", got[1], want[1], torch.float32, "rms")
    assert_matches("exact", got[2], want[2], torch.float32, "zcr")
    assert_matches("exact", got[3], afx.frame(x_cpu, 512, 256), torch.float32, "frame")


@cuda_test
def test_runs_on_a_side_stream():
    x = parity_signal((2, 4096), seed=5).to(torch.float32).cuda()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        got = _check_frame_features(x)
    stream.synchronize()
    _assert_frame_features(got, x.cpu())


@cuda_test
@pytest.mark.skipif(HAS_GPU and torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_runs_on_the_inputs_device():
    x = parity_signal((2, 4096), seed=6).to(torch.float32).to("cuda:1")
    with torch.cuda.device(0):
        got = _check_frame_features(x)
    assert all(t.device == x.device for t in got)
    _assert_frame_features(got, x.cpu())


# ---------------------------------------------------------------------------------------------
# Gradient parity: the backward ops (overlap_add, frame_argmax) and the autograd formulas of
# audiofx/_ops.py on CUDA against the CPU (checked against numpy and finite differences in
# tests/test_autograd.py).

GRAD_FUNCS = {
    "frame": lambda x, c, m: afx.frame(x, 400, 160, center=c, pad_mode=m),
    "rms": lambda x, c, m: afx.rms(x, 400, 160, center=c, pad_mode=m),
    "amplitude_envelope": lambda x, c, m: afx.amplitude_envelope(x, 400, 160, center=c,
                                                                 pad_mode=m),
    "amplitude_envelope_absolute": lambda x, c, m: afx.amplitude_envelope(
        x, 400, 160, center=c, pad_mode=m, absolute=True),
    "frame_features": lambda x, c, m: sum(afx.frame_features(x, 400, 160, center=c, pad_mode=m,
                                                             zcr_pad_mode=m)),
    "stft": lambda x, c, m: afx.stft(x, 512, 128, center=c, pad_mode=m).abs(),
    "spectral_features": lambda x, c, m: sum(afx.spectral_features(
        x, n_fft=512, hop_length=128, center=c, pad_mode=m).values()) / 1000.0,
}
# max|cuda - cpu| / max|cpu|: float64 and float32 sum in a different order; float32 spectral
# gradients are computed in float32 on CUDA and in float64 on the CPU; float16 rounds the
# accumulated (float) gradient once, the reference is float32 on the same rounded samples.
GRAD_TOL = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 2e-3}
GRAD_TOL_SPECTRAL = {torch.float64: 1e-9, torch.float32: 2e-3}


def _grad(f, x, g):
    x = x.clone().requires_grad_()
    out = f(x)
    (gx,) = torch.autograd.grad((out * g.to(out.device, out.dtype)).sum(), x)
    return out, gx


@cuda_test
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16],
                         ids=["float32", "float64", "float16"])
@pytest.mark.parametrize("center,pad_mode", PAD_CASES, ids=PAD_IDS)
@pytest.mark.parametrize("name", list(GRAD_FUNCS))
def test_gradient_parity(name, center, pad_mode, dtype):
    spectral = name in ("stft", "spectral_features")
    if spectral and dtype == torch.float16:
        pytest.skip("float16 spectral gradients: cuFFT half needs power-of-2 sizes and the "
                    "float16 magnitudes are not a meaningful reference")
    x = parity_signal((2, 3, 3001), seed=17).to(dtype)
    f = lambda x: GRAD_FUNCS[name](x, center, pad_mode)  # noqa: E731
    x_ref = x.to(reference_dtype(dtype))
    out_ref = f(x_ref)
    g = torch.randn(out_ref.shape, generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    _, want = _grad(f, x_ref, g)
    _, got = _grad(f, x.cuda(), g)
    assert got.is_cuda and got.dtype == dtype and got.shape == x.shape
    scale = want.abs().max().item()
    assert scale > 0
    err = (got.cpu().double() - want.double()).abs().max().item() / scale
    tol = (GRAD_TOL_SPECTRAL if spectral else GRAD_TOL)[dtype]
    assert err <= tol, f"{name}: {err:.3e} > {tol:.0e}"


@cuda_test
@pytest.mark.parametrize("absolute", [False, True])
def test_frame_argmax_parity(absolute):
    """The sample each frame's gradient goes to, ties and NaN included, equals the CPU's."""
    x = parity_signal((3, 5000), seed=8).round(decimals=1)  # many ties
    x[1, 777] = float("nan")
    for center, pad_mode in [(True, "constant"), (True, "reflect"), (False, "wrap")]:
        want = torch.ops.audiofx.frame_argmax(x, 512, 128, center, pad_mode, absolute)
        got = torch.ops.audiofx.frame_argmax(x.cuda(), 512, 128, center, pad_mode, absolute)
        assert torch.equal(got.cpu(), want)
