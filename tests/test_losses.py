"""audiofx.losses.MultiResolutionSTFTLoss against a float64 reference written here in plain torch
(``torch.stft``, the Parallel WaveGAN definition: ``torch.norm(..., "fro")`` ratios and
``l1_loss`` of the log magnitudes over the whole batch), values and gradients; gradcheck;
leading dims and ``reduction="none"``; ``lengths=`` (each clip alone); bad arguments."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import audiofx
from audiofx.losses import DEFAULT_RESOLUTIONS, MultiResolutionSTFTLoss

SMALL = ((64, 16, 48), (32, 8, 32), (16, 5, 12))
EPS = 1e-7


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pair(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(shape, generator=g, dtype=dtype)
    x = 0.8 * y + 0.3 * torch.randn(shape, generator=g, dtype=dtype)
    return x, y


def _ref_mag(s, n_fft, hop, win, pad_mode, eps):
    w = torch.hann_window(win, periodic=True, dtype=s.dtype)
    S = torch.stft(s.reshape(-1, s.shape[-1]), n_fft, hop, win, w, center=True,
                   pad_mode=pad_mode, return_complex=True)
    return torch.sqrt(torch.clamp(S.real ** 2 + S.imag ** 2, min=eps))  # (rows, bins, frames)


def reference(x, y, resolutions, eps=EPS, pad_mode="reflect"):
    """The Parallel WaveGAN loss over the whole batch: (loss, sc, mag)."""
    sc, mag = [], []
    for n_fft, hop, win in resolutions:
        X = _ref_mag(x, n_fft, hop, win, pad_mode, eps)
        Y = _ref_mag(y, n_fft, hop, win, pad_mode, eps)
        sc.append(torch.norm(Y - X, p="fro") / torch.norm(Y, p="fro"))
        mag.append(torch.nn.functional.l1_loss(torch.log(Y), torch.log(X)))
    sc, mag = sum(sc) / len(sc), sum(mag) / len(mag)
    return sc + mag, sc, mag


def reference_sums(x, y, resolutions, eps=EPS, pad_mode="reflect"):
    """Per resolution, for one clip: (sum of squared differences, sum of |Y|^2, sum of log
    differences, number of (bin, frame) pairs)."""
    out = []
    for n_fft, hop, win in resolutions:
        X = _ref_mag(x, n_fft, hop, win, pad_mode, eps)
        Y = _ref_mag(y, n_fft, hop, win, pad_mode, eps)
        out.append(((Y - X).square().sum(), Y.square().sum(),
                    (torch.log(Y) - torch.log(X)).abs().sum(), Y.numel()))
    return out


def combine(per_clip):
    """The loss of clips taken together (norms and mean over all of them) from their sums."""
    sc = mag = 0.0
    n_res = len(per_clip[0])
    for r in range(n_res):
        num = sum(c[r][0] for c in per_clip)
        den = sum(c[r][1] for c in per_clip)
        l1 = sum(c[r][2] for c in per_clip)
        count = sum(c[r][3] for c in per_clip)
        sc = sc + torch.sqrt(num) / torch.sqrt(den)
        mag = mag + l1 / count
    return (sc + mag) / n_res


@pytest.mark.parametrize("resolutions", [SMALL, DEFAULT_RESOLUTIONS], ids=["small", "default"])
def test_values_and_gradients_match_the_torch_stft_reference(resolutions):
    T = 3000 if resolutions is DEFAULT_RESOLUTIONS else 400
    x, y = _pair((3, T), seed=1)
    loss_fn = MultiResolutionSTFTLoss(resolutions)
    xa, ya = x.clone().requires_grad_(), y.clone().requires_grad_()
    xr, yr = x.clone().requires_grad_(), y.clone().requires_grad_()
    got = loss_fn(xa, ya, return_parts=True)
    want = reference(xr, yr, resolutions)
    for g, w in zip(got, want):
        assert g.shape == () and g.dtype == torch.float64
        torch.testing.assert_close(g, w, rtol=1e-10, atol=0)
    ga = torch.autograd.grad(got[0], (xa, ya))
    gr = torch.autograd.grad(want[0], (xr, yr))
    for a, r in zip(ga, gr):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10 * float(r.abs().max()))


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_other_options_match_the_reference(pad_mode):
    x, y = _pair((2, 300), seed=2)
    eps = 1e-5
    x[0, 100:160] = 0.0  # silent frames: the eps floor is reached
    y[0, 100:160] = 0.0
    loss_fn = MultiResolutionSTFTLoss(SMALL, eps=eps, pad_mode=pad_mode, sc_weight=0.5,
                                      mag_weight=2.0)
    _, sc, mag = reference(x, y, SMALL, eps=eps, pad_mode=pad_mode)
    got, gsc, gmag = loss_fn(x, y, return_parts=True)
    torch.testing.assert_close(gsc, sc, rtol=1e-10, atol=0)
    torch.testing.assert_close(gmag, mag, rtol=1e-10, atol=0)
    torch.testing.assert_close(got, 0.5 * sc + 2.0 * mag, rtol=1e-12, atol=0)


def test_it_runs_on_audiofx_stft_not_torch_stft(monkeypatch):
    def no(*a, **k):
        raise AssertionError("torch.stft called")

    monkeypatch.setattr(torch, "stft", no)
    x, y = _pair((2, 300))
    x.requires_grad_()
    MultiResolutionSTFTLoss(SMALL)(x, y).backward()
    assert torch.isfinite(x.grad).all()


def test_gradcheck_tiny():
    x, y = _pair((2, 40), seed=3)
    res = ((16, 4, 12), (8, 3, 8))
    loss_fn = MultiResolutionSTFTLoss(res, pad_mode="constant")
    x.requires_grad_()
    y.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: loss_fn(a, b, return_parts=True), (x, y))
    per_item = MultiResolutionSTFTLoss(res, reduction="none")
    assert torch.autograd.gradcheck(per_item, (x, y))
    L = torch.tensor([40, 23])
    assert torch.autograd.gradcheck(lambda a, b: loss_fn(a, b, lengths=L), (x, y))


def test_leading_dims_and_reduction_none():
    x, y = _pair((2, 3, 300), seed=4)
    loss_fn = MultiResolutionSTFTLoss(SMALL)
    per_item = MultiResolutionSTFTLoss(SMALL, reduction="none")
    torch.testing.assert_close(loss_fn(x, y), reference(x.reshape(6, -1), y.reshape(6, -1),
                                                        SMALL)[0], rtol=1e-10, atol=0)
    got, sc, mag = per_item(x, y, return_parts=True)
    assert got.shape == sc.shape == mag.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            want = reference(x[i, j], y[i, j], SMALL)
            for g, w in zip((got[i, j], sc[i, j], mag[i, j]), want):
                torch.testing.assert_close(g, w, rtol=1e-10, atol=0)
    # One clip without a batch dim.
    torch.testing.assert_close(loss_fn(x[1, 2], y[1, 2]), got[1, 2], rtol=1e-12, atol=0)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_lengths_count_each_clips_own_frames_only(reduction):
    """With lengths, each clip is framed alone (reflect padding at its own end) and only its
    frames count: the loss equals the loss of the clips cut to their lengths, taken together
    (norms and mean over all their frames) or per item. Needs the kernels' per-row lengths."""
    lengths = [300, 211, 97]
    x, y = _pair((3, 300), seed=5)
    for b, n in enumerate(lengths):  # whatever the padding holds must not matter
        x[b, n:] = 1e3
        y[b, n:] = -7.0
    loss_fn = MultiResolutionSTFTLoss(SMALL, reduction=reduction)
    xa = x.clone().requires_grad_()
    got = loss_fn(xa, y, lengths=torch.tensor(lengths))
    clips = [(x[b, :n].clone().requires_grad_(), y[b, :n]) for b, n in enumerate(lengths)]
    if reduction == "mean":
        want = combine([reference_sums(cx, cy, SMALL) for cx, cy in clips])
        torch.testing.assert_close(got, want, rtol=1e-10, atol=0)
        got.backward()
        want.backward()
    else:
        want = torch.stack([reference(cx, cy, SMALL)[0] for cx, cy in clips])
        torch.testing.assert_close(got, want, rtol=1e-10, atol=0)
        got.sum().backward()
        want.sum().backward()
    for b, n in enumerate(lengths):
        torch.testing.assert_close(xa.grad[b, :n], clips[b][0].grad, rtol=1e-9, atol=1e-12)
        assert (xa.grad[b, n:] == 0).all()


def test_float32_close_to_the_float64_reference():
    x, y = _pair((2, 3000), seed=6, dtype=torch.float32)
    got = MultiResolutionSTFTLoss()(x, y)
    assert got.dtype == torch.float32
    want = reference(x.double(), y.double(), DEFAULT_RESOLUTIONS)[0]
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)


def test_module_behaviour():
    loss_fn = MultiResolutionSTFTLoss()
    assert audiofx.losses.MultiResolutionSTFTLoss is MultiResolutionSTFTLoss
    assert loss_fn.resolutions == DEFAULT_RESOLUTIONS
    assert loss_fn.state_dict() == {}  # windows are non-persistent buffers
    assert "resolutions" in repr(loss_fn)
    x, y = _pair((2, 3000), dtype=torch.float32)
    same = loss_fn(y, y, return_parts=True)
    assert all(float(v) == 0.0 for v in same)
    assert float(loss_fn(x, y)) > 0


def test_compiles_fullgraph_dynamic():
    torch._dynamo.reset()
    loss_fn = MultiResolutionSTFTLoss(SMALL)
    compiled = torch.compile(loss_fn, fullgraph=True, dynamic=True, backend="aot_eager")
    for T in (300, 417):
        x, y = _pair((2, T), seed=T)
        torch.testing.assert_close(compiled(x, y), loss_fn(x, y), rtol=1e-12, atol=0)


def test_bad_arguments():
    M = MultiResolutionSTFTLoss
    with pytest.raises(ValueError, match="resolutions"):
        M(())
    with pytest.raises(TypeError, match="resolutions"):
        M("1024")
    with pytest.raises(ValueError, match=r"resolutions\[0\]"):
        M([(1024, 120)])
    with pytest.raises(ValueError, match="hop_length"):
        M([(1024, 0, 600)])
    with pytest.raises(TypeError, match="n_fft"):
        M([(1024.0, 120, 600)])
    with pytest.raises(ValueError, match="win_length"):
        M([(512, 120, 600)])
    with pytest.raises(TypeError, match="window"):
        M(window=torch.ones(600))
    with pytest.raises(ValueError, match="eps"):
        M(eps=0.0)
    with pytest.raises(TypeError, match="eps"):
        M(eps="small")
    with pytest.raises(ValueError, match="reduction"):
        M(reduction="sum")
    with pytest.raises(ValueError, match="sc_weight"):
        M(sc_weight=-1.0)
    with pytest.raises(TypeError, match="mag_weight"):
        M(mag_weight=None)
    with pytest.raises(TypeError, match="center"):
        M(center=1)
    with pytest.raises(ValueError, match="pad_mode"):
        M(pad_mode="mirror")
    loss_fn = M(SMALL)
    x, y = _pair((2, 300))
    with pytest.raises(TypeError, match="x"):
        loss_fn(x.numpy(), y)
    with pytest.raises(TypeError, match="y"):
        loss_fn(x, y.to(torch.int64))
    with pytest.raises(ValueError, match="same shape"):
        loss_fn(x, y[:, :200])
    with pytest.raises(ValueError, match="dtype"):
        loss_fn(x, y.float())
    with pytest.raises(TypeError, match="lengths"):
        loss_fn(x, y, lengths=torch.tensor([300.0, 200.0]))
    with pytest.raises(ValueError, match="lengths"):
        loss_fn(x, y, lengths=torch.tensor([300]))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    x, y = _pair((2, 3000), seed=7)
    loss_fn = MultiResolutionSTFTLoss()
    xc = x.clone().requires_grad_()
    xg = x.cuda().requires_grad_()
    want = loss_fn(xc, y, lengths=torch.tensor([3000, 2000]))
    got = loss_fn.cuda()(xg, y.cuda(), lengths=torch.tensor([3000, 2000]).cuda())
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=0)
    want.backward()
    got.backward()
    torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-8, atol=1e-12)
