"""Per-row lengths inside the kernels of stft_frames, spectral_features, overlap_add and
frame_argmax (issue 12 item 2, DESIGN §7), called through ``torch.ops.audiofx`` directly.

Row b of a batch is framed as the clip ``x[b, :lengths[b]]`` alone; its frames past the clip's
own count are zeros (stft_frames), silent (spectral_features: centroid = bandwidth = 0) or hold no
sample (frame_argmax: -1); overlap_add is the exact adjoint of that framing. The batch padding
holds NaN and inf, which must not reach any result. Each op with lengths is checked against the
same op on each clip alone (zero-padded up to the full frame count) and, independently, against
float64 numpy references built from ``tests/reference.py``'s framing.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import audiofx  # noqa: F401  (loads the op library)

from reference import PAD_CONFIGS, ref_frames, ref_num_frames

OPS = torch.ops.audiofx

# (center, op pad_mode): the op spells no padding "none", the references None.
CASES = [(c, "none" if m is None else m) for c, m in PAD_CONFIGS]
CASE_IDS = [f"{'c' if c else 'nc'}-{m}" for c, m in CASES]
# (N, H): even N, odd N, a hop longer than the frame, N = H = 1, and a larger odd N.
GEOMETRY = [(8, 3), (7, 2), (5, 8), (1, 1), (16, 5)]
DTYPES = [torch.float32, torch.float64]
T = 41


def ref_mode(mode):
    return None if mode == "none" else mode


def own_frames(L: int, N: int, H: int, center: bool, mode: str) -> int:
    """The clip's own frame count: DESIGN §2 with T = L; 0 for a clip shorter than N without
    padding (the op-level kernels accept it and give the row no frames)."""
    if not center and mode == "none" and L < N:
        return 0
    return ref_num_frames(L, N, H, center, ref_mode(mode))


def clip_lengths(N: int, T: int, center: bool, mode: str, seed: int = 0) -> list:
    """1, 2, values up to N//2, N-1, N, N+1, T-1, T and random ones; reflect needs > N//2."""
    rng = np.random.default_rng([seed, N, T])
    cands = [1, 2, N // 2, N // 2 + 1, N - 1, N, N + 1, T - 1, T] + \
        rng.integers(1, T + 1, 4).tolist()
    ok = [L for L in cands
          if 1 <= L <= T and not (center and mode == "reflect" and L <= N // 2)]
    return list(dict.fromkeys(ok))


def nan_padded(lengths, T: int, dtype, seed: int = 0) -> torch.Tensor:
    """(B, T) N(0, 1) clips, the batch padding after each filled with NaN, +inf and -inf."""
    rng = np.random.default_rng([seed, T, len(lengths)])
    x = rng.standard_normal((len(lengths), T))
    junk = np.array([np.nan, np.inf, np.nan, -np.inf])
    for b, L in enumerate(lengths):
        x[b, L:] = junk[(np.arange(T - L) + b) % junk.size]
    return torch.from_numpy(x).to(dtype)


def as_lengths(lengths) -> torch.Tensor:
    return torch.tensor(lengths, dtype=torch.int64)


def clip_frames_ref(clip: np.ndarray, N, H, center, mode) -> np.ndarray:
    """(own count, N) float64 reference frames of one clip (empty without frames)."""
    if own_frames(clip.shape[-1], N, H, center, mode) == 0:
        return np.zeros((0, N))
    return ref_frames(clip, N, H, center, ref_mode(mode))


def pad_frames(a: np.ndarray, nf: int) -> np.ndarray:
    """(own count, N) frames zero-padded to (nf, N)."""
    out = np.zeros((nf, a.shape[-1]))
    out[: a.shape[0]] = a
    return out


def _frame_kernel_honours_lengths() -> bool:
    """frame's kernel is another work item (frame_reduce_kernel.cpp): the gradients that go
    through it (d/dwindow, overlap_add's backward, frame itself) are checked once it frames each
    row as its clip."""
    x = torch.zeros(1, 8, dtype=torch.float64)
    x[0, 4:] = 1.0
    return bool((OPS.frame(x, 4, 4, False, "none", as_lengths([4])) == 0).all())


needs_frame_lengths = pytest.mark.skipif(
    not _frame_kernel_honours_lengths(),
    reason="the frame kernel (frame_reduce_kernel.cpp, another work item) ignores lengths")


# ---------------------------------------------------------------------------------------------
# stft_frames


def _window(N, dtype):
    return (torch.hann_window(N, dtype=torch.float64) + 0.25).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", GEOMETRY, ids=str)
def test_stft_frames_each_row_is_its_clip(N, H, center, mode, dtype):
    lengths = clip_lengths(N, T, center, mode)
    x = nan_padded(lengths, T, dtype)
    w = _window(N, dtype)
    got = OPS.stft_frames(x, w, N, H, center, mode, as_lengths(lengths))
    nf = ref_num_frames(T, N, H, center, ref_mode(mode))
    assert got.shape == (len(lengths), nf, N) and got.dtype == dtype and got.is_contiguous()
    assert not got.isnan().any() and got.isfinite().all()
    for b, L in enumerate(lengths):
        n = own_frames(L, N, H, center, mode)
        case = f"L={L}"
        if n > 0:
            alone = OPS.stft_frames(x[b, :L], w, N, H, center, mode)
            assert torch.equal(got[b, :n], alone), case
        assert (got[b, n:] == 0).all(), case
        want = clip_frames_ref(x[b, :L].numpy(), N, H, center, mode) * w.double().numpy()
        tol = 1e-15 if dtype == torch.float64 else 1e-6
        np.testing.assert_allclose(got[b, :n].double().numpy(), want, rtol=tol, atol=tol,
                                   err_msg=case)


# ---------------------------------------------------------------------------------------------
# spectral_features


def stats_ref(frames: np.ndarray, w: np.ndarray, bin_hz: float, p: float, norm: bool, tiny):
    """DESIGN §3's centroid and bandwidth of |rfft(frames * w)|, in float64."""
    S = np.abs(np.fft.rfft(frames * w, axis=-1))  # (nf, K)
    f = np.arange(S.shape[-1]) * bin_hz
    s = S.sum(-1)
    z = np.where(s < tiny, 1.0, s)
    c = (S * f).sum(-1) / z
    d = (S * np.abs(f[None, :] - c[:, None]) ** p).sum(-1)
    return c, (d / z if norm else d) ** (1.0 / p)


def spectral_args(N, H, center, mode, p=2.0, norm=True, chunk=0):
    w = torch.hann_window(N, dtype=torch.float64) + 0.1
    return w, (N, H, center, mode, None, 22050.0 / N, p, norm, chunk)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", [(8, 3), (7, 2), (5, 8), (16, 5)], ids=str)
def test_spectral_features_each_row_is_its_clip(N, H, center, mode, dtype):
    lengths = clip_lengths(N, T, center, mode, seed=2)
    x = nan_padded(lengths, T, dtype, seed=2)
    w, args = spectral_args(N, H, center, mode, p=3.0 if N % 2 else 2.0)
    nf = ref_num_frames(T, N, H, center, ref_mode(mode))
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    # Chunks that split rows, hold several rows, and (with the rows without frames) none.
    for chunk in (0, 1, 3, 1000):
        a = list(args)
        a[-1] = chunk
        cen, band = OPS.spectral_features(x, w, *a, as_lengths(lengths))
        for out in (cen, band):
            assert out.shape == (len(lengths), nf) and out.dtype == dtype
            assert out.isfinite().all()
        for b, L in enumerate(lengths):
            n = own_frames(L, N, H, center, mode)
            case = f"chunk={chunk} L={L}"
            if n > 0:
                ac, ab = OPS.spectral_features(x[b, :L], w, *args)
                torch.testing.assert_close(cen[b, :n], ac, rtol=tol, atol=tol * 22050, msg=case)
                torch.testing.assert_close(band[b, :n], ab, rtol=tol, atol=tol * 22050,
                                           msg=case)
            assert (cen[b, n:] == 0).all() and (band[b, n:] == 0).all(), case
            rc, rb = stats_ref(clip_frames_ref(x[b, :L].numpy(), N, H, center, mode),
                               w.numpy(), args[5], args[6], args[7], torch.finfo(dtype).tiny)
            np.testing.assert_allclose(cen[b, :n].double().numpy(), rc, rtol=tol,
                                       atol=tol * 22050, err_msg=case)
            np.testing.assert_allclose(band[b, :n].double().numpy(), rb, rtol=tol,
                                       atol=tol * 22050, err_msg=case)


# ---------------------------------------------------------------------------------------------
# overlap_add: the adjoint of the framing with lengths


def index_frames(L, N, H, center, mode) -> np.ndarray:
    """(own count, N): the sample each frame position copies, -1 for a zero of the padding."""
    src = clip_frames_ref(np.arange(1.0, L + 1.0), N, H, center, mode)
    return src.astype(np.int64) - 1


def overlap_add_ref(F: np.ndarray, L, T, N, H, center, mode) -> np.ndarray:
    out = np.zeros(T)
    idx = index_frames(L, N, H, center, mode)
    held = idx >= 0
    np.add.at(out, idx[held], F[: idx.shape[0]][held])
    return out


def _frame_grads(rows, nf, N, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, nf, N, dtype=torch.float64, generator=g).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", GEOMETRY, ids=str)
def test_overlap_add_each_row_is_its_clip(N, H, center, mode, dtype):
    lengths = clip_lengths(N, T, center, mode, seed=4)
    nf = ref_num_frames(T, N, H, center, ref_mode(mode))
    F = _frame_grads(len(lengths), nf, N, dtype, seed=N * H)
    counts = [own_frames(L, N, H, center, mode) for L in lengths]
    for b, n in enumerate(counts):
        F[b, n:] = float("nan")
    got = OPS.overlap_add(F, T, N, H, center, mode, as_lengths(lengths))
    assert got.shape == (len(lengths), T) and got.dtype == dtype
    assert got.isfinite().all()
    for b, (L, n) in enumerate(zip(lengths, counts)):
        case = f"L={L}"
        if n > 0:
            alone = OPS.overlap_add(F[b, :n], L, N, H, center, mode)
            assert torch.equal(got[b, :L], alone), case
        assert (got[b, L:] == 0).all(), case
        want = overlap_add_ref(F[b].double().numpy(), L, T, N, H, center, mode)
        tol = 1e-13 if dtype == torch.float64 else 2e-6
        np.testing.assert_allclose(got[b].double().numpy(), want, rtol=tol, atol=tol * N,
                                   err_msg=case)


@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", GEOMETRY, ids=str)
def test_overlap_add_is_the_adjoint_of_framing(N, H, center, mode):
    """<frame(x, lengths), F> == <x, overlap_add(F, lengths)> in float64, with frame(x, lengths)
    the per-clip numpy frames and stft_frames with a window of ones (the same framing)."""
    lengths = clip_lengths(N, T, center, mode, seed=5)
    nf = ref_num_frames(T, N, H, center, ref_mode(mode))
    g = torch.Generator().manual_seed(7)
    x = torch.randn(len(lengths), T, dtype=torch.float64, generator=g)
    F = torch.randn(len(lengths), nf, N, dtype=torch.float64, generator=g)
    L = as_lengths(lengths)
    fr = np.stack([pad_frames(clip_frames_ref(x[b, :Lb].numpy(), N, H, center, mode), nf)
                   for b, Lb in enumerate(lengths)])
    fr_kernel = OPS.stft_frames(x, torch.ones(N, dtype=torch.float64), N, H, center, mode, L)
    np.testing.assert_array_equal(fr_kernel.numpy(), fr)
    lhs = float((fr * F.numpy()).sum())
    rhs = float((x * OPS.overlap_add(F, T, N, H, center, mode, L)).sum())
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + F.abs().sum().item())


@needs_frame_lengths
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
def test_overlap_add_is_the_adjoint_of_frame_op(center, mode):
    N, H = 7, 2
    lengths = clip_lengths(N, T, center, mode, seed=6)
    nf = ref_num_frames(T, N, H, center, ref_mode(mode))
    g = torch.Generator().manual_seed(8)
    x = torch.randn(len(lengths), T, dtype=torch.float64, generator=g)
    F = torch.randn(len(lengths), nf, N, dtype=torch.float64, generator=g)
    L = as_lengths(lengths)
    lhs = (OPS.frame(x, N, H, center, mode, L) * F).sum().item()
    rhs = (x * OPS.overlap_add(F, T, N, H, center, mode, L)).sum().item()
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + F.abs().sum().item())


# ---------------------------------------------------------------------------------------------
# frame_argmax


def argmax_ref(clip: np.ndarray, N, H, center, mode, absolute: bool) -> np.ndarray:
    fr = clip_frames_ref(clip, N, H, center, mode)
    idx = index_frames(clip.shape[-1], N, H, center, mode)
    v = np.abs(fr) if absolute else fr
    return idx[np.arange(fr.shape[0]), np.argmax(v, axis=-1)] if fr.shape[0] else idx[:, 0]


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", GEOMETRY, ids=str)
def test_frame_argmax_each_row_is_its_clip(N, H, center, mode, dtype, absolute):
    lengths = clip_lengths(N, T, center, mode, seed=9)
    x = nan_padded(lengths, T, dtype, seed=9)
    got = OPS.frame_argmax(x, N, H, center, mode, absolute, as_lengths(lengths))
    nf = ref_num_frames(T, N, H, center, ref_mode(mode))
    assert got.shape == (len(lengths), nf) and got.dtype == torch.int64
    for b, L in enumerate(lengths):
        n = own_frames(L, N, H, center, mode)
        case = f"L={L}"
        if n > 0:
            alone = OPS.frame_argmax(x[b, :L], N, H, center, mode, absolute)
            assert torch.equal(got[b, :n], alone), case
        assert (got[b, n:] == -1).all(), case
        assert (got[b] < L).all(), case
        want = argmax_ref(x[b, :L].double().numpy(), N, H, center, mode, absolute)
        np.testing.assert_array_equal(got[b, :n].numpy(), want, err_msg=case)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
def test_leading_dims_each_row_is_its_clip(center, mode, dtype):
    """x (2, 3, T) with lengths (2, 3): every op, each of the six rows against its clip alone."""
    N, H = 8, 3
    lengths = torch.tensor([[T, 1, 17], [8, 5, 30]])
    if mode == "reflect":
        lengths[0, 1] = N // 2 + 1
    x = nan_padded(lengths.flatten().tolist(), T, dtype, seed=1).reshape(2, 3, T)
    nf = ref_num_frames(T, N, H, center, ref_mode(mode))
    w = _window(N, dtype)
    w64, args = spectral_args(N, H, center, mode, chunk=4)
    F = _frame_grads(6, nf, N, dtype, seed=1).reshape(2, 3, nf, N)
    fr = OPS.stft_frames(x, w, N, H, center, mode, lengths)
    cen, band = OPS.spectral_features(x, w64, *args, lengths)
    ola = OPS.overlap_add(F, T, N, H, center, mode, lengths)
    arg = OPS.frame_argmax(x, N, H, center, mode, True, lengths)
    assert fr.shape == (2, 3, nf, N) and ola.shape == (2, 3, T)
    assert cen.shape == band.shape == arg.shape == (2, 3, nf)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    for i in range(2):
        for j in range(3):
            L = int(lengths[i, j])
            n = own_frames(L, N, H, center, mode)
            clip = x[i, j, :L]
            if n > 0:
                assert torch.equal(fr[i, j, :n], OPS.stft_frames(clip, w, N, H, center, mode))
                ac, ab = OPS.spectral_features(clip, w64, *args)
                torch.testing.assert_close(cen[i, j, :n], ac, rtol=tol, atol=tol * 22050)
                torch.testing.assert_close(band[i, j, :n], ab, rtol=tol, atol=tol * 22050)
                assert torch.equal(ola[i, j, :L],
                                   OPS.overlap_add(F[i, j, :n], L, N, H, center, mode))
                assert torch.equal(arg[i, j, :n],
                                   OPS.frame_argmax(clip, N, H, center, mode, True))
            assert (fr[i, j, n:] == 0).all() and (ola[i, j, L:] == 0).all()
            assert (cen[i, j, n:] == 0).all() and (band[i, j, n:] == 0).all()
            assert (arg[i, j, n:] == -1).all()


def test_full_lengths_equal_the_plain_call():
    y = _randn(2, 3, T)
    full = torch.full((2, 3), T)
    w = _window(8, torch.float64)
    w64, args = spectral_args(8, 3, True, "reflect")
    F = _randn(2, 3, ref_num_frames(T, 8, 3, True, "reflect"), 8, seed=1)
    assert torch.equal(OPS.stft_frames(y, w, 8, 3, True, "reflect", full),
                       OPS.stft_frames(y, w, 8, 3, True, "reflect"))
    for a, b in zip(OPS.spectral_features(y, w64, *args, full),
                    OPS.spectral_features(y, w64, *args)):
        assert torch.equal(a, b)
    assert torch.equal(OPS.overlap_add(F, T, 8, 3, True, "reflect", full),
                       OPS.overlap_add(F, T, 8, 3, True, "reflect"))
    assert torch.equal(OPS.frame_argmax(y, 8, 3, True, "reflect", False, full),
                       OPS.frame_argmax(y, 8, 3, True, "reflect", False))


@pytest.mark.parametrize("center,mode", [(True, "reflect"), (False, "wrap"), (False, "none")],
                         ids=str)
def test_long_rows_each_row_is_its_clip(center, mode):
    """Rows longer than the CPU kernels' work items (overlap_add's 4096-sample chunks,
    spectral_features' automatic chunks), lengths ending inside, at and just past them."""
    N, H, Tl = 300, 128, 12000
    lengths = [Tl, 4096, 4097, 8191, 299, 1000, 5003]
    if mode == "reflect":
        lengths[4] = 151
    x = nan_padded(lengths, Tl, torch.float32, seed=13)
    L = as_lengths(lengths)
    nf = ref_num_frames(Tl, N, H, center, ref_mode(mode))
    F = _frame_grads(len(lengths), nf, N, torch.float64, seed=13)
    w32 = _window(N, torch.float32)
    w64, args = spectral_args(N, H, center, mode)
    ola = OPS.overlap_add(F, Tl, N, H, center, mode, L)
    fr = OPS.stft_frames(x, w32, N, H, center, mode, L)
    cen, band = OPS.spectral_features(x, w64, *args, L)
    arg = OPS.frame_argmax(x, N, H, center, mode, False, L)
    for b, Lb in enumerate(lengths):
        n = own_frames(Lb, N, H, center, mode)
        if n > 0:
            assert torch.equal(ola[b, :Lb], OPS.overlap_add(F[b, :n], Lb, N, H, center, mode))
            assert torch.equal(fr[b, :n], OPS.stft_frames(x[b, :Lb], w32, N, H, center, mode))
            ac, ab = OPS.spectral_features(x[b, :Lb], w64, *args)
            torch.testing.assert_close(cen[b, :n], ac, rtol=2e-6, atol=1e-3)
            torch.testing.assert_close(band[b, :n], ab, rtol=2e-6, atol=1e-3)
            assert torch.equal(arg[b, :n],
                               OPS.frame_argmax(x[b, :Lb], N, H, center, mode, False))
        assert (ola[b, Lb:] == 0).all() and (fr[b, n:] == 0).all()
        assert (cen[b, n:] == 0).all() and (band[b, n:] == 0).all() and (arg[b, n:] == -1).all()


# ---------------------------------------------------------------------------------------------
# Gradients (float64, small inputs)

GRAD_LENGTHS = [23, 1, 9, 4]
GRAD_T = 23


def _randn(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
def test_gradcheck_stft_frames_x(center, mode):
    N, H = 6, 4
    lengths = [L for L in GRAD_LENGTHS if not (mode == "reflect" and L <= N // 2)]
    x = _randn(len(lengths), GRAD_T).requires_grad_()
    w = _window(N, torch.float64)
    L = as_lengths(lengths)
    assert torch.autograd.gradcheck(
        lambda x: OPS.stft_frames(x, w, N, H, center, mode, L), (x,))


@needs_frame_lengths
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
def test_gradcheck_frame_stft_frames_window_and_overlap_add(center, mode):
    N, H = 6, 4
    lengths = [L for L in GRAD_LENGTHS if not (mode == "reflect" and L <= N // 2)]
    L = as_lengths(lengths)
    x = _randn(len(lengths), GRAD_T).requires_grad_()
    w = _window(N, torch.float64).requires_grad_()
    nf = ref_num_frames(GRAD_T, N, H, center, ref_mode(mode))
    F = _randn(len(lengths), nf, N, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: OPS.frame(x, N, H, center, mode, L), (x,))
    assert torch.autograd.gradcheck(
        lambda x, w: OPS.stft_frames(x, w, N, H, center, mode, L), (x, w))
    assert torch.autograd.gradcheck(
        lambda F: OPS.overlap_add(F, GRAD_T, N, H, center, mode, L), (F,))
    # overlap_add's own backward is frame: the second derivative of stft_frames.
    assert torch.autograd.gradgradcheck(
        lambda x: OPS.stft_frames(x, w.detach(), N, H, center, mode, L), (x,))


@pytest.mark.parametrize("center,mode", [(True, "constant"), (True, "reflect"), (False, "wrap"),
                                         (False, "none")], ids=str)
def test_gradcheck_spectral_features_x(center, mode):
    N, H = 8, 3
    lengths = [23, 9, 5] if mode != "none" else [23, 9, 5, 12]
    x = _randn(len(lengths), GRAD_T).requires_grad_()
    w, args = spectral_args(N, H, center, mode, p=2.0)
    L = as_lengths(lengths)
    assert torch.autograd.gradcheck(lambda x: OPS.spectral_features(x, w, *args, L), (x,))


@needs_frame_lengths
def test_gradcheck_spectral_features_window():
    N, H = 8, 3
    x = _randn(3, GRAD_T)
    w, args = spectral_args(N, H, True, "edge", p=1.5)
    L = as_lengths([23, 9, 5])
    assert torch.autograd.gradcheck(
        lambda w: OPS.spectral_features(x, w, *args, L), (w.requires_grad_(),))


# ---------------------------------------------------------------------------------------------
# opcheck with lengths samples


def _opcheck_samples():
    g = torch.Generator().manual_seed(0)
    out = []
    for dtype in DTYPES:
        lengths = [50, 1, 33, 12]
        L = as_lengths(lengths)
        x = torch.randn(4, 50, dtype=dtype, generator=g)
        w = (torch.hann_window(16, dtype=dtype) + 0.1)
        w64 = torch.hann_window(16, dtype=torch.float64)
        out.append(("stft_frames", (x.clone().requires_grad_(), w.clone().requires_grad_(), 16,
                                    5, True, "constant", L)))
        out.append(("stft_frames", (x.reshape(2, 2, 50), w, 16, 7, False, "wrap",
                                    L.reshape(2, 2))))
        out.append(("spectral_features", (x.clone().requires_grad_(), w64, 16, 5, True, "edge",
                                          None, 1378.125, 2.0, True, 3, L)))
        out.append(("spectral_features", (x, w64.clone().requires_grad_(), 16, 5, False, "none",
                                          None, 1378.125, 1.0, False, 0, L)))
        nf = ref_num_frames(50, 16, 5, True, "reflect")
        F = torch.randn(4, nf, 16, dtype=dtype, generator=g).requires_grad_()
        out.append(("overlap_add", (F, 50, 16, 5, True, "reflect", as_lengths([50, 9, 33, 12]))))
        nf = ref_num_frames(50, 16, 7, False, "wrap")
        F = torch.randn(4, nf, 16, dtype=dtype, generator=g).requires_grad_()
        out.append(("overlap_add", (F, 50, 16, 7, False, "wrap", L)))
        out.append(("frame_argmax", (x, 16, 5, True, "wrap", True, L)))
        out.append(("frame_argmax", (x, 16, 5, False, "none", False, L)))
    return out


@pytest.mark.parametrize("case", _opcheck_samples(), ids=lambda c: c[0])
def test_opcheck_with_lengths(case):
    name, args = case
    torch.library.opcheck(getattr(OPS, name), args)


# ---------------------------------------------------------------------------------------------
# CUDA with lengths against the CPU with lengths (skipped without a GPU)

CUDA_GEOMETRY = [(16, 5), (551, 220), (7, 3)]  # (551, 220): coprime


def _cuda_case(N, H, center, mode, dtype, rows=6, seed=11):
    Tc = 3 * N + 2 * H + 17
    rng = np.random.default_rng([seed, N, H])
    lengths = [Tc, 1, N // 2 + 1, N, Tc - H] + rng.integers(1, Tc + 1, rows).tolist()
    lengths = [L for L in lengths if not (mode == "reflect" and L <= N // 2)]
    return nan_padded(lengths, Tc, dtype, seed=seed), as_lengths(lengths), Tc


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("N,H", CUDA_GEOMETRY, ids=str)
def test_cuda_matches_cpu_with_lengths(N, H, center, mode, dtype):
    x, L, Tc = _cuda_case(N, H, center, mode, dtype)
    xg, Lg = x.cuda(), L.cuda()
    w = _window(N, dtype)
    got = OPS.stft_frames(xg, w.cuda(), N, H, center, mode, Lg).cpu()
    assert torch.equal(got, OPS.stft_frames(x, w, N, H, center, mode, L))
    for absolute in (False, True):
        got = OPS.frame_argmax(xg, N, H, center, mode, absolute, Lg).cpu()
        assert torch.equal(got, OPS.frame_argmax(x, N, H, center, mode, absolute, L))
    nf = ref_num_frames(Tc, N, H, center, ref_mode(mode))
    F = _frame_grads(L.numel(), nf, N, dtype, seed=N)
    got = OPS.overlap_add(F.cuda(), Tc, N, H, center, mode, Lg).cpu()
    want = OPS.overlap_add(F, Tc, N, H, center, mode, L)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got, want, rtol=tol, atol=tol * N)
    w64, args = spectral_args(N, H, center, mode)
    gc, gb = OPS.spectral_features(xg, w64.cuda(), *args, Lg)
    wc, wb = OPS.spectral_features(x, w64, *args, L)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(gc.cpu(), wc, rtol=tol, atol=tol * 22050)
    torch.testing.assert_close(gb.cpu(), wb, rtol=tol, atol=tol * 22050)


@pytest.mark.cuda
def test_cuda_with_lengths_large_coprime_batch():
    """More frames than the stft_frames grid (so its grid-stride loop iterates), gcd(N, H) = 1."""
    N, H, Tc = 551, 220, 88200
    rng = np.random.default_rng(12)
    lengths = rng.integers(Tc // 2, Tc + 1, 24).tolist()
    x = nan_padded(lengths, Tc, torch.float32, seed=12)
    L = as_lengths(lengths)
    w = _window(N, torch.float32)
    got = OPS.stft_frames(x.cuda(), w.cuda(), N, H, True, "constant", L.cuda()).cpu()
    assert torch.equal(got, OPS.stft_frames(x, w, N, H, True, "constant", L))
    w64, args = spectral_args(N, H, True, "constant")
    gc, gb = OPS.spectral_features(x.cuda(), w64.cuda(), *args, L.cuda())
    wc, wb = OPS.spectral_features(x, w64, *args, L)
    torch.testing.assert_close(gc.cpu(), wc, rtol=1e-4, atol=1e-4 * 22050)
    torch.testing.assert_close(gb.cpu(), wb, rtol=1e-4, atol=1e-4 * 22050)
