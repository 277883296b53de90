"""Autograd of every op (DESIGN §3): gradcheck / gradgradcheck in float64 on small inputs for every
op and pad mode (batched and non-contiguous inputs included), the rms / amplitude-envelope /
STFT gradients against hand-written numpy references, the zero-crossing rate's zero gradient,
the spectral statistics' quotient-rule gradients (silent frames, p <= 1, a given centroid), and
float32 gradients against float64 ones."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import audiofx as afx
from reference import PAD_CONFIGS, make_signal, ref_frames, ref_num_frames, ref_rms

OPS = torch.ops.audiofx
PAD_IDS = [f"center={c}-{m}" for c, m in PAD_CONFIGS]
N, H = 8, 3  # H does not divide N: frames overlap unevenly


def _x(shape, dtype=torch.float64, seed=0, layout="contiguous", requires_grad=True):
    *lead, T = shape
    if layout == "strided":  # every other sample of a longer signal
        base = make_signal("normal", 2 * T, np.float64, seed=seed, shape=lead)
        x = torch.from_numpy(base).to(dtype)[..., ::2]
    elif layout == "transposed":  # (rows, T) stored time-major
        x = torch.from_numpy(make_signal("normal", T, np.float64, seed=seed, shape=lead)).to(
            dtype).transpose(-1, -2).contiguous().transpose(-1, -2)
    else:
        x = torch.from_numpy(make_signal("normal", T, np.float64, seed=seed, shape=lead)).to(dtype)
    assert (layout == "contiguous") == x.is_contiguous()
    return x.requires_grad_(requires_grad)


def _window(n=N, dtype=torch.float64):
    # Hann plus an offset, so that no frame sample is multiplied by an exact 0.
    return afx.get_window("hann", n, dtype=dtype) + 0.25


# Each maps x to a tuple of real tensors; every public differentiable function is here.
FUNCS = {
    "frame": lambda x, c, m: (afx.frame(x, N, H, center=c, pad_mode=m),),
    "rms": lambda x, c, m: (afx.rms(x, N, H, center=c, pad_mode=m),),
    "amplitude_envelope": lambda x, c, m: (
        afx.amplitude_envelope(x, N, H, center=c, pad_mode=m),),
    "amplitude_envelope_absolute": lambda x, c, m: (
        afx.amplitude_envelope(x, N, H, center=c, pad_mode=m, absolute=True),),
    "frame_features": lambda x, c, m: tuple(
        afx.frame_features(x, N, H, center=c, pad_mode=m, zcr_pad_mode=m, absolute=True))[:2],
    "stft": lambda x, c, m: (torch.view_as_real(
        afx.stft(x, N, H, window=_window(), center=c, pad_mode=m)),),
    "spectral_centroid_bandwidth": lambda x, c, m: tuple(afx.spectral_features(
        x, sr=800, n_fft=N, hop_length=H, window=_window(), center=c, pad_mode=m).values()),
    "spectral_bandwidth_p1": lambda x, c, m: (afx.spectral_bandwidth(
        x, sr=800, n_fft=N, hop_length=H, window=_window(), center=c, pad_mode=m, p=1,
        norm=False),),
}


@pytest.mark.parametrize("center,pad_mode", PAD_CONFIGS, ids=PAD_IDS)
@pytest.mark.parametrize("name", list(FUNCS))
def test_gradcheck_and_gradgradcheck(name, center, pad_mode):
    """First and second derivatives against finite differences, float64, every pad mode; the
    layout rotates through contiguous, strided and transposed batches."""
    layout = ["contiguous", "strided", "transposed"][
        (list(FUNCS).index(name) + PAD_CONFIGS.index((center, pad_mode))) % 3]
    x = _x((2, 23), seed=len(name), layout=layout)
    f = lambda x: FUNCS[name](x, center, pad_mode)  # noqa: E731
    assert gradcheck(f, (x,))
    # Second derivatives: exact for the linear ops, and defined everywhere but on a measure-zero
    # set for the rest (the amplitude envelope's is zero). fast_mode checks random projections
    # of the Hessian-vector products, which keeps the test quick.
    assert gradgradcheck(f, (x,), fast_mode=True)


@pytest.mark.parametrize("center,pad_mode", [(True, "reflect"), (False, "wrap"), (False, None)],
                         ids=["center-reflect", "endwrap", "none"])
def test_gradcheck_larger_frames_batched(center, pad_mode):
    """N = 16, H = 5 on a (2, 3, 41) batch: rms and amplitude envelope together."""
    x = _x((2, 3, 41), seed=3)
    f = lambda x: tuple(afx.frame_features(x, 16, 5, center=center, pad_mode=pad_mode))[:2]  # noqa
    assert gradcheck(f, (x,))


def test_gradcheck_signal_shorter_than_a_frame():
    """T < N: end-wrap repeats x inside one frame, centred wrap wraps several times."""
    x = _x((2, 5), seed=4)
    for c, m in [(False, "wrap"), (True, "wrap"), (True, "edge"), (True, "constant")]:
        assert gradcheck(lambda x: (afx.rms(x, N, H, center=c, pad_mode=m),
                                    afx.frame(x, N, H, center=c, pad_mode=m)), (x,))


def test_gradcheck_through_gather_without_padding():
    """The variable-length path (per-row gathered signals framed with center=False, no padding)
    is differentiable through torch.gather and the ops."""
    x = _x((2, 30), seed=5)
    idx = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
                        [3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8]])  # a reflected row start

    def f(x):
        g = torch.gather(x, -1, idx)
        return (afx.rms(g, N, H, center=False, pad_mode=None),
                afx.amplitude_envelope(g, N, H, center=False, pad_mode=None),
                afx.frame(g, N, H, center=False, pad_mode=None))

    assert gradcheck(f, (x,))


@pytest.mark.parametrize("center,pad_mode", [(True, "constant"), (True, "reflect"),
                                             (True, "wrap"), (False, "wrap"), (False, None)],
                         ids=["constant", "reflect", "wrap", "endwrap", "none"])
def test_gradcheck_variable_lengths(center, pad_mode):
    """With ``lengths`` each row is its clip alone: finite differences agree, and the samples
    past a row's length get exactly zero gradient (they are never read)."""
    x = _x((3, 40), seed=6)
    lengths = torch.tensor([40, 25, 12])

    def f(x):
        ae, r, _ = afx.frame_features(x, N, H, center=center, pad_mode=pad_mode,
                                      lengths=lengths)[0]
        spec = afx.spectral_features(x, sr=800, n_fft=N, hop_length=H, window=_window(),
                                     center=center, pad_mode=pad_mode, lengths=lengths)[0]
        return ae, r, spec["centroid"], spec["bandwidth"]

    assert gradcheck(f, (x,))
    (grad,) = torch.autograd.grad(sum(o.sum() for o in f(x)), x)
    assert bool((grad[1, 25:] == 0).all()) and bool((grad[2, 12:] == 0).all())
    assert bool((grad[2, :12] != 0).any())


# ---------------------------------------------------------------------------------------------
# Hand-written numpy references


def _source_map(T, n, h, center, pad_mode):
    """For each padded position, the index of the sample it copies (-1: a padding zero)."""
    idx = np.arange(T)
    if center:
        if pad_mode == "constant":
            return np.pad(idx, n // 2, mode="constant", constant_values=-1)
        return np.pad(idx, n // 2, mode=pad_mode)
    if pad_mode == "wrap":
        nf = ref_num_frames(T, n, h, False, "wrap")
        return np.arange((nf - 1) * h + n) % T
    return idx


def _fold(frame_grads, T, n, h, center, pad_mode):
    """sum of frame_grads[t, k] onto source sample src(t*h + k), float64 numpy."""
    src = _source_map(T, n, h, center, pad_mode)
    out = np.zeros(T)
    for t in range(frame_grads.shape[0]):
        for k in range(n):
            j = src[t * h + k]
            if j >= 0:
                out[j] += frame_grads[t, k]
    return out


@pytest.mark.parametrize("center,pad_mode", PAD_CONFIGS, ids=PAD_IDS)
def test_rms_gradient_matches_numpy(center, pad_mode):
    n, h, T = 16, 5, 61
    x = _x((T,), seed=11)
    g = torch.from_numpy(np.random.default_rng(1).normal(size=ref_num_frames(
        T, n, h, center, pad_mode)))
    (grad,) = torch.autograd.grad((afx.rms(x, n, h, center=center, pad_mode=pad_mode) * g).sum(),
                                  x)
    xn = x.detach().numpy()
    fr = ref_frames(xn, n, h, center, pad_mode)  # (nf, n)
    r = ref_rms(xn, n, h, center, pad_mode)
    want = _fold(g.numpy()[:, None] * fr / (n * r[:, None]), T, n, h, center, pad_mode)
    np.testing.assert_allclose(grad.numpy(), want, rtol=1e-12, atol=1e-14)


def test_rms_gradient_is_zero_on_silent_frames():
    x = torch.zeros(40, dtype=torch.float64)
    x[30:] = 0.5
    x.requires_grad_()
    r = afx.rms(x, 8, 4, center=False, pad_mode=None)
    (grad,) = torch.autograd.grad(r.sum(), x)
    assert bool((r[:5] == 0).all()) and bool(torch.isfinite(grad).all())
    assert bool((grad[:23] == 0).all())  # only frames 6.. hold non-zero samples
    # frame 7 (samples 28..35) and 8 (32..39): d/dx_i = x_i / (N rms_t) summed over them
    r7, r8 = math.sqrt(6 * 0.25 / 8), math.sqrt(0.25)
    assert grad[33].item() == pytest.approx(0.5 / (8 * r7) + 0.5 / (8 * r8), rel=1e-14)


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("center,pad_mode", PAD_CONFIGS, ids=PAD_IDS)
def test_amplitude_envelope_gradient_matches_numpy(center, pad_mode, absolute):
    n, h, T = 16, 5, 61
    xn = make_signal("normal", T, np.float64, seed=12) - 0.8  # mostly negative: padding zeros win
    xn[20:24] = xn.max() + 1.0  # a tie: four equal maxima, the first in a frame takes its gradient
    x = torch.from_numpy(xn).requires_grad_()
    nf = ref_num_frames(T, n, h, center, pad_mode)
    g = np.random.default_rng(2).normal(size=nf)
    out = afx.amplitude_envelope(x, n, h, center=center, pad_mode=pad_mode, absolute=absolute)
    (grad,) = torch.autograd.grad((out * torch.from_numpy(g)).sum(), x)
    fr = ref_frames(xn, n, h, center, pad_mode)
    vals = np.abs(fr) if absolute else fr
    src = _source_map(T, n, h, center, pad_mode)
    want = np.zeros(T)
    for t in range(nf):
        k = int(np.argmax(vals[t]))  # numpy: the first maximum
        j = src[t * h + k]
        if j >= 0:
            want[j] += g[t] * (np.sign(xn[j]) if absolute else 1.0)
    np.testing.assert_array_equal(grad.numpy(), want)


def test_amplitude_envelope_gradient_constant_padding_zero_sends_nothing():
    x = torch.full((10,), -1.0, dtype=torch.float64, requires_grad=True)
    out = afx.amplitude_envelope(x, 8, 4, center=True, pad_mode="constant")
    assert out.tolist() == [0.0, -1.0, 0.0]
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # frame 1 starts at x[0]


def test_stft_is_the_adjoint_of_its_gradient():
    """<stft(x), G> = <x, stft^T G> (real inner product on the complex values), with stft^T G
    written out in numpy: w[n] Re(sum_k conj(G_tk) e^{-2 pi i k n / N}) folded back onto the
    samples; and torch's gradient equals it."""
    n, h, T = 16, 5, 50
    w = _window(n)
    for center, pad_mode in PAD_CONFIGS:
        x = _x((T,), seed=13)
        X = afx.stft(x, n, h, window=w, center=center, pad_mode=pad_mode)  # (K, nf)
        rng = np.random.default_rng(3)
        G = rng.normal(size=X.shape) + 1j * rng.normal(size=X.shape)
        Gt = torch.from_numpy(G)
        inner = (Gt.conj() * X).real.sum()
        (grad,) = torch.autograd.grad(inner, x)
        k = np.arange(n // 2 + 1)[:, None]
        A = np.exp(-2j * np.pi * k * np.arange(n)[None, :] / n)  # (K, n)
        frame_grads = w.numpy()[None, :] * np.real(G.T.conj() @ A)  # (nf, n)
        want = _fold(frame_grads, T, n, h, center, pad_mode)
        np.testing.assert_allclose(grad.numpy(), want, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(inner.item(), float(x.detach().numpy() @ want), rtol=1e-11)


def test_stft_window_gradient():
    """A learnable window: d/dw of <stft, G> by finite differences."""
    x = _x((2, 30), seed=14, requires_grad=False)
    w = _window(N).requires_grad_()
    assert gradcheck(lambda w: torch.view_as_real(afx.stft(x, N, H, window=w)), (w,))


# ---------------------------------------------------------------------------------------------
# Zero-crossing rate


@pytest.mark.parametrize("center,pad_mode", PAD_CONFIGS, ids=PAD_IDS)
def test_zero_crossing_rate_gradient_is_exactly_zero(center, pad_mode):
    x = _x((2, 40), seed=15)
    z = afx.zero_crossing_rate(x, N, H, center=center, pad_mode=pad_mode)
    assert z.requires_grad and z.sum().item() > 0
    (grad,) = torch.autograd.grad(z.sum(), x)
    assert grad.shape == x.shape and bool((grad == 0).all())
    # In frame_features the zcr output adds nothing to the other two's gradient.
    ae, r, zz = afx.frame_features(x, N, H, center=center, pad_mode=pad_mode)
    (g1,) = torch.autograd.grad((ae + r + 5 * zz).sum(), x)
    ae, r, _ = afx.frame_features(x, N, H, center=center, pad_mode=pad_mode)
    (g2,) = torch.autograd.grad((ae + r).sum(), x)
    assert torch.equal(g1, g2)


def test_frame_features_gradient_is_the_sum_of_its_parts():
    x = _x((3, 50), seed=16)
    ae, r, _ = afx.frame_features(x, 16, 5, absolute=True)
    (g,) = torch.autograd.grad((2 * ae + 3 * r).sum(), x)
    (ga,) = torch.autograd.grad(afx.amplitude_envelope(x, 16, 5, absolute=True).sum(), x)
    (gr,) = torch.autograd.grad(afx.rms(x, 16, 5).sum(), x)
    torch.testing.assert_close(g, 2 * ga + 3 * gr, rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Spectral statistics of a given S


def _S(shape=(2, 6, 5), seed=17):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(0.1, 1.0, size=shape)).requires_grad_()


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("norm", [True, False])
def test_spectral_stats_gradcheck(p, norm):
    S = _S()
    freq = torch.tensor([0.0, 10.0, 25.0, 30.0, 55.0, 70.0], dtype=torch.float64)

    def f(S):
        return (afx.spectral_centroid(S=S, sr=1000),
                afx.spectral_bandwidth(S=S, sr=1000, p=p, norm=norm),
                afx.spectral_bandwidth(S=S, freq=freq, p=p, norm=norm))

    assert gradcheck(f, (S,))
    assert gradgradcheck(f, (S,))


@pytest.mark.parametrize("p", [0.5, 2.0])
def test_spectral_bandwidth_gradcheck_given_centroid(p):
    S = _S(seed=18)
    c = torch.from_numpy(np.random.default_rng(4).uniform(50, 300, size=(2, 5))).requires_grad_()
    assert gradcheck(lambda S, c: afx.spectral_bandwidth(S=S, sr=1000, centroid=c, p=p), (S, c))
    assert gradgradcheck(lambda S, c: afx.spectral_bandwidth(S=S, sr=1000, centroid=c, p=p),
                         (S, c))


def test_spectral_stats_gradient_matches_hand_derivation():
    """One frame, f = (0, 1, 2), S = (1, 2, 3): c = 8/6, dc/dS_k = (f_k - c) / 6; bandwidth p=2
    v = sum S_k (f_k - c)^2 / 6 = 5/9, db/dS_k = ((f_k - c)^2 - v) / (6 * 2 sqrt(v)) (the
    E term vanishes at the frame's own centroid)."""
    S = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64, requires_grad=True)
    (gc,) = torch.autograd.grad(afx.spectral_centroid(S=S, sr=4).sum(), S)
    (gb,) = torch.autograd.grad(afx.spectral_bandwidth(S=S, sr=4).sum(), S)
    f = np.array([0.0, 1.0, 2.0])
    c = 8.0 / 6.0
    v = float(np.sum(np.array([1, 2, 3]) * (f - c) ** 2) / 6)
    assert v == pytest.approx(5.0 / 9.0, rel=1e-14)
    np.testing.assert_allclose(gc[:, 0].numpy(), (f - c) / 6, rtol=1e-14)
    np.testing.assert_allclose(gb[:, 0].numpy(), ((f - c) ** 2 - v) / (12 * math.sqrt(v)),
                               rtol=1e-13)


def test_spectral_stats_gradient_on_silent_frames_and_at_the_centroid():
    """A silent frame (sum < tiny) is unnormalised: c = sum f_k S_k, so dc/dS_k = f_k and the
    bandwidth (0 there) gets gradient 0; a frame symmetric about a bin (f_k == c) with p = 0.5
    uses the subgradient 0 of |f - c|^p: finite everywhere."""
    S = torch.zeros(5, 2, dtype=torch.float64)
    S[:, 1] = torch.tensor([0.0, 1.0, 2.0, 1.0, 0.0], dtype=torch.float64)  # c = bin 2 exactly
    S.requires_grad_()
    c = afx.spectral_centroid(S=S, sr=8)  # bins at 0, 1, 2, 3, 4 Hz
    assert c.tolist() == [0.0, 2.0]
    (gc,) = torch.autograd.grad(c[0], S)
    np.testing.assert_array_equal(gc[:, 0].numpy(), [0.0, 1.0, 2.0, 3.0, 4.0])
    for p in (0.5, 1.0, 2.0):
        b = afx.spectral_bandwidth(S=S, sr=8, p=p)
        (gb,) = torch.autograd.grad(b.sum(), S)
        assert bool(torch.isfinite(gb).all()), p
        assert bool((gb[:, 0] == 0).all()), p
    # p = 1: b = sum S'_k |f_k - c| = 2/4 = 0.5; d b / d S_k (norm) = (|f_k - c| - b) / sum S
    # for k away from the centroid, and (0 - b) / 4 at it (E = 0 by symmetry).
    (gb,) = torch.autograd.grad(afx.spectral_bandwidth(S=S, sr=8, p=1)[1], S)
    np.testing.assert_allclose(gb[:, 1].numpy(), (np.abs(np.arange(5) - 2.0) - 0.5) / 4,
                               rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("shape", [(2, 200), (3, 20000)], ids=["one-pass", "row-chunks"])
def test_spectral_features_gradient_matches_the_materialised_path(shape):
    """spectral_features (fused, S never whole) backpropagates like stft -> abs ->
    spectral_stats, which runs through torch's own rfft and abs backward; the larger input
    takes the eager backward's row chunks."""
    x = _x(shape, seed=19)
    w = afx.get_window("hann", 64, dtype=torch.float64)
    got = afx.spectral_features(x, sr=8000, n_fft=64, hop_length=16, window=w)
    S = afx.stft(x, 64, 16, window=w).abs()
    want = (afx.spectral_centroid(S=S, sr=8000), afx.spectral_bandwidth(S=S, sr=8000))
    g = torch.from_numpy(np.random.default_rng(5).normal(size=(2,) + tuple(want[0].shape)))
    assert want[0].numel() > 2 * 1024 or shape[-1] < 1000
    (ga,) = torch.autograd.grad((got["centroid"] * g[0] + got["bandwidth"] * g[1]).sum(), x)
    (gb,) = torch.autograd.grad((want[0] * g[0] + want[1] * g[1]).sum(), x)
    torch.testing.assert_close(ga, gb, rtol=1e-9, atol=1e-9 * gb.abs().max().item())


# ---------------------------------------------------------------------------------------------
# float32 gradients against float64 ones


FLOAT32_FUNCS = {
    "frame": lambda x: afx.frame(x, 64, 20, center=True, pad_mode="reflect"),
    "rms": lambda x: afx.rms(x, 64, 20, center=False, pad_mode="wrap"),
    "amplitude_envelope": lambda x: afx.amplitude_envelope(x, 64, 20, absolute=True),
    "frame_features": lambda x: sum(afx.frame_features(x, 64, 20, pad_mode="edge")),
    "stft": lambda x: afx.stft(x, 64, 20, pad_mode="wrap").abs(),
    "spectral_features": lambda x: sum(afx.spectral_features(x, n_fft=64, hop_length=20).values())
    / 1000.0,
}


@pytest.mark.parametrize("name", list(FLOAT32_FUNCS))
def test_float32_gradients_match_float64(name):
    x64 = _x((3, 500), seed=20)
    x32 = x64.detach().float().requires_grad_()
    outs = [FLOAT32_FUNCS[name](x) for x in (x64, x32)]
    g = torch.from_numpy(np.random.default_rng(6).normal(size=tuple(outs[0].shape)))
    (g64,) = torch.autograd.grad((outs[0] * g).sum(), x64)
    (g32,) = torch.autograd.grad((outs[1] * g.float()).sum(), x32)
    assert g32.dtype == torch.float32 and g32.shape == x32.shape
    scale = g64.abs().max().item()
    assert scale > 0
    err = (g32.double() - g64).abs().max().item() / scale
    assert err < 2e-5, err
