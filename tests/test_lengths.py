"""Variable-length batches (issue 4, part 3): ``lengths`` on every frame-level function.

A right-padded batch whose padding holds garbage (huge values, inf, NaN) must give, on each row's
valid frames, the features of that row's clip computed alone, and exact zeros on the other frames.
Expected values come from the float64 numpy references of ``tests/reference.py`` (frame ops) and
from a numpy STFT + librosa (spectral ops), each applied to the clip alone; the clip-alone audiofx
call is checked too (exactly where the op is exact).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
import torch

import audiofx as afx
from reference import (
    PAD_CONFIGS,
    check,
    ref_amplitude_envelope,
    ref_frames,
    ref_num_frames,
    ref_rms,
    ref_zero_crossing_rate,
    valid_config,
)

librosa = pytest.importorskip("librosa")

DTYPES = [torch.float64, torch.float32]
NP = {torch.float64: np.float64, torch.float32: np.float32}
SR = 22050
T = 40
# (frame_length, hop_length): even N, odd N, a hop longer than the frame.
GEOMETRY = [(8, 3), (7, 2), (5, 8)]
# Tolerances vs the float64 references; rms/spectral vs the clip alone: float rounding only.
RMS_TOL = {torch.float64: 1e-14, torch.float32: 1e-6}
STFT_TOL = {torch.float64: 1e-12, torch.float32: 3e-6}
FEATURE_TOL = {torch.float64: 1e-9, torch.float32: 3e-5}


def _id(v):
    return "None" if v is None else str(v)


def row_lengths(N: int, T: int, center: bool, mode, seed: int = 0) -> list:
    """The edge cases 1, N//2, N//2 + 1, N-1, N, N+1, T plus random lengths, kept where the mode
    allows them (reflect needs > N//2, no padding needs >= N)."""
    rng = np.random.default_rng([seed, N, T])
    cands = [1, N // 2, N // 2 + 1, N - 1, N, N + 1, T] + rng.integers(1, T + 1, 3).tolist()
    out = [L for L in cands if 1 <= L <= T and valid_config(L, N, center, mode)]
    return list(dict.fromkeys(out))


def padded_batch(lengths, T: int, dtype, seed: int = 0) -> torch.Tensor:
    """``(B, T)``: row b holds N(0, 1) samples in ``[:lengths[b]]`` and garbage after (values far
    outside the signal's range, +-inf and NaN), so any read past a row's length shows."""
    rng = np.random.default_rng([seed, T, len(lengths)])
    x = rng.standard_normal((len(lengths), T))
    garbage = np.array([1e6, -1e6, np.inf, -3e5, np.nan, 7e5])
    for b, L in enumerate(lengths):
        x[b, L:] = garbage[(np.arange(T - L) + b) % garbage.size]
    return torch.from_numpy(x.astype(NP[dtype]))


def pad_kwargs(center, mode):
    return dict(center=center, pad_mode=mode)


# ---------------------------------------------------------------------------------------------
# Frame ops


FRAME_OPS = ["frame", "amplitude_envelope", "amplitude_envelope_abs", "rms", "zero_crossing_rate",
             "frame_features"]


def call_frame_op(op: str, x, N, H, center, mode, **kw):
    """The audiofx call and its float64 numpy reference for one op name."""
    pk = pad_kwargs(center, mode)
    if op == "frame":
        return afx.frame(x, N, H, **pk, **kw)
    if op == "amplitude_envelope":
        return afx.amplitude_envelope(x, N, H, **pk, **kw)
    if op == "amplitude_envelope_abs":
        return afx.amplitude_envelope(x, N, H, **pk, absolute=True, **kw)
    if op == "rms":
        return afx.rms(x, N, H, **pk, **kw)
    if op == "zero_crossing_rate":
        return afx.zero_crossing_rate(x, N, H, **pk, **kw)
    # zcr_pad_mode left at its default: "edge" when centred, so two pad modes at once.
    return afx.frame_features(x, N, H, **pk, **kw)


def reference_frame_op(op: str, clip: np.ndarray, N, H, center, mode, np_dtype):
    if op == "frame":
        return ref_frames(clip, N, H, center, mode)
    if op == "amplitude_envelope":
        return ref_amplitude_envelope(clip, N, H, center, mode)
    if op == "amplitude_envelope_abs":
        return ref_amplitude_envelope(clip, N, H, center, mode, absolute=True)
    if op == "rms":
        return ref_rms(clip, N, H, center, mode)
    if op == "zero_crossing_rate":
        return ref_zero_crossing_rate(clip, N, H, center, mode, dtype=np_dtype)
    zmode = "edge" if center else mode
    return (ref_amplitude_envelope(clip, N, H, center, mode), ref_rms(clip, N, H, center, mode),
            ref_zero_crossing_rate(clip, N, H, center, zmode, dtype=np_dtype))


def as_parts(out):
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", PAD_CONFIGS, ids=_id)
@pytest.mark.parametrize("N,H", GEOMETRY, ids=lambda v: str(v))
@pytest.mark.parametrize("op", FRAME_OPS)
def test_frame_op_padded_batch_equals_each_clip(op, N, H, center, mode, dtype):
    lengths = row_lengths(N, T, center, mode)
    x = padded_batch(lengths, T, dtype)
    got, fl = call_frame_op(op, x, N, H, center, mode, lengths=torch.tensor(lengths))

    assert fl.dtype == torch.int64 and fl.shape == (len(lengths),)
    assert fl.tolist() == [ref_num_frames(L, N, H, center, mode) for L in lengths]
    full_nf = ref_num_frames(T, N, H, center, mode)
    parts = as_parts(got)
    for part in parts:
        assert part.dtype == dtype and part.is_contiguous()
        assert part.shape[:2] == (len(lengths), full_nf)
    exact = op != "rms"
    for b, L in enumerate(lengths):
        nf = fl[b].item()
        clip = x[b, :L]
        alone = as_parts(call_frame_op(op, clip, N, H, center, mode))
        ref = reference_frame_op(op, clip.numpy(), N, H, center, mode, NP[dtype])
        ref = list(ref) if isinstance(ref, tuple) else [ref]
        for i, (part, a, r) in enumerate(zip(parts, alone, ref)):
            valid = part[b, :nf]
            case = f"{op}[{i}] N={N} H={H} center={center} {mode} L={L}"
            if exact and not (op == "frame_features" and i == 1):
                assert torch.equal(valid, a), case
                np.testing.assert_array_equal(valid.double().numpy(), r, err_msg=case)
            else:
                torch.testing.assert_close(valid, a, rtol=RMS_TOL[dtype], atol=0, msg=case)
                check(f"lengths/rms/{dtype}", valid, r, RMS_TOL[dtype], case)
            # Frames past the clip's own count: exact zeros (not the garbage, not NaN).
            assert (part[b, nf:] == 0).all(), case


@pytest.mark.parametrize("center,mode", PAD_CONFIGS, ids=_id)
def test_frame_every_length_every_small_geometry(center, mode):
    """The materialised frames of a padded batch holding every length 1..T, for many small
    (N, H) (hops below, equal to and above N): each row's valid frames are exactly the numpy
    reference frames of its clip, whatever the row's length modulo the hop."""
    T30 = 30
    for N in (1, 2, 3, 4, 5, 7, 8):
        for H in (1, 2, 3, 5, 8, 11):
            lengths = [L for L in range(1, T30 + 1) if valid_config(L, N, center, mode)]
            x = padded_batch(lengths, T30, torch.float64, seed=N * 100 + H)
            got, fl = afx.frame(x, N, H, center, mode, lengths=torch.tensor(lengths))
            for b, L in enumerate(lengths):
                ref = ref_frames(x[b, :L].numpy(), N, H, center, mode)
                assert fl[b].item() == ref.shape[0]
                case = f"N={N} H={H} L={L}"
                np.testing.assert_array_equal(got[b, : ref.shape[0]].numpy(), ref, err_msg=case)
                assert (got[b, ref.shape[0]:] == 0).all(), case


# ---------------------------------------------------------------------------------------------
# Spectral ops

# (n_fft, win_length, hop_length): a full window, and a shorter window with a hop not dividing.
SPECTRAL_GEOMETRY = [(16, None, 4), (15, 12, 5)]
SPECTRAL_OPS = ["stft", "spectral_centroid", "spectral_bandwidth", "spectral_features"]
TS = 80


def np_window(n_fft: int, win_length) -> np.ndarray:
    win_length = win_length or n_fft
    w = scipy.signal.get_window("hann", win_length, fftbins=True)
    lpad = (n_fft - win_length) // 2
    return np.pad(w, (lpad, n_fft - win_length - lpad))


def np_stft(clip: np.ndarray, n_fft, win, hop, center, mode) -> np.ndarray:
    """``(bins, frames)`` complex128: the reference frames of the clip alone, windowed, rfft."""
    fr = ref_frames(clip, n_fft, hop, center, mode) * np_window(n_fft, win)
    return np.fft.rfft(fr, axis=-1).T


def librosa_stats(S: np.ndarray, n_fft: int, p: float = 2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = librosa.feature.spectral_centroid(S=S, sr=SR, n_fft=n_fft)[0]
        b = librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=n_fft, p=p)[0]
    return c, b


def call_spectral_op(op, x, n_fft, win, hop, center, mode, **kw):
    common = dict(n_fft=n_fft, hop_length=hop, win_length=win, center=center, pad_mode=mode)
    if op == "stft":
        return afx.stft(x, **common, **kw)
    if op == "spectral_centroid":
        return afx.spectral_centroid(x, sr=SR, **common, **kw)
    if op == "spectral_bandwidth":
        return afx.spectral_bandwidth(x, sr=SR, p=3, **common, **kw)
    out = afx.spectral_features(x, sr=SR, p=3, **common, **kw)
    if isinstance(out, tuple):
        return (out[0]["centroid"], out[0]["bandwidth"]), out[1]
    return out["centroid"], out["bandwidth"]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("center,mode", PAD_CONFIGS, ids=_id)
@pytest.mark.parametrize("n_fft,win,hop", SPECTRAL_GEOMETRY, ids=lambda v: str(v))
@pytest.mark.parametrize("op", SPECTRAL_OPS)
def test_spectral_op_padded_batch_equals_each_clip(op, n_fft, win, hop, center, mode, dtype):
    lengths = row_lengths(n_fft, TS, center, mode, seed=1)
    x = padded_batch(lengths, TS, dtype, seed=1)
    got, fl = call_spectral_op(op, x, n_fft, win, hop, center, mode,
                               lengths=torch.tensor(lengths, dtype=torch.int32))
    assert fl.dtype == torch.int64
    assert fl.tolist() == [ref_num_frames(L, n_fft, hop, center, mode) for L in lengths]
    parts = as_parts(got)
    full_nf = ref_num_frames(TS, n_fft, hop, center, mode)
    for part in parts:
        assert part.shape[0] == len(lengths) and part.shape[-1] == full_nf
        assert part.dtype == (x.dtype if op != "stft" else
                              {torch.float64: torch.complex128,
                               torch.float32: torch.complex64}[dtype])
        assert part.is_contiguous()
    tol = STFT_TOL[dtype] if op == "stft" else FEATURE_TOL[dtype]
    for b, L in enumerate(lengths):
        nf = fl[b].item()
        clip = x[b, :L]
        alone = as_parts(call_spectral_op(op, clip, n_fft, win, hop, center, mode))
        S = np_stft(clip.numpy(), n_fft, win, hop, center, mode)
        if op == "stft":
            ref = [S]
        else:
            c, bw = librosa_stats(np.abs(S), n_fft, p=2 if op == "spectral_centroid" else 3)
            ref = {"spectral_centroid": [c], "spectral_bandwidth": [bw],
                   "spectral_features": [c, bw]}[op]
        for i, (part, a, r) in enumerate(zip(parts, alone, ref)):
            valid = part[b, ..., :nf]
            case = f"{op}[{i}] n_fft={n_fft} win={win} hop={hop} center={center} {mode} L={L}"
            torch.testing.assert_close(valid, a, rtol=tol, atol=tol * a.abs().max().item(),
                                       msg=case)
            check(f"lengths/{op}/{dtype}", valid, r, tol, case)
            assert (part[b, ..., nf:] == 0).all(), case


def test_bandwidth_with_given_centroid_and_lengths():
    lengths = [80, 9, 1, 33]
    x = padded_batch(lengths, TS, torch.float64, seed=2)
    L = torch.tensor(lengths)
    kw = dict(n_fft=16, hop_length=4, sr=SR)
    c, fl = afx.spectral_centroid(x, **kw, lengths=L)
    b_given, fl2 = afx.spectral_bandwidth(x, **kw, centroid=c, lengths=L)
    b_own, _ = afx.spectral_bandwidth(x, **kw, lengths=L)
    assert torch.equal(fl, fl2)
    for row, n in enumerate(fl.tolist()):
        S = np.abs(np_stft(x[row, :lengths[row]].numpy(), 16, None, 4, True, "constant"))
        _, ref = librosa_stats(S, 16)
        check("lengths/spectral_bandwidth(centroid=)/torch.float64", b_given[row, :n], ref,
              FEATURE_TOL[torch.float64], f"L={lengths[row]}")
        assert (b_given[row, n:] == 0).all()
    torch.testing.assert_close(b_given, b_own, rtol=1e-12, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Shapes, counts and the mask


def test_multi_dim_leading_shape():
    """(2, 3, T) with lengths (2, 3): each of the six rows is its clip alone."""
    lengths = torch.tensor([[40, 1, 17], [8, 23, 4]])
    x = padded_batch(lengths.flatten().tolist(), T, torch.float64, seed=3).reshape(2, 3, T)
    feats, fl = afx.frame_features(x, 8, 3, lengths=lengths)
    spec, sfl = afx.stft(x, n_fft=8, hop_length=3, lengths=lengths)
    sf, _ = afx.spectral_features(x, n_fft=8, hop_length=3, lengths=lengths)
    assert fl.shape == (2, 3) and spec.shape == (2, 3, 5, ref_num_frames(T, 8, 3))
    assert torch.equal(fl, sfl)
    for i in range(2):
        for j in range(3):
            L = lengths[i, j].item()
            n = fl[i, j].item()
            assert n == ref_num_frames(L, 8, 3)
            clip = x[i, j, :L].numpy()
            np.testing.assert_array_equal(feats.amplitude_envelope[i, j, :n],
                                          ref_amplitude_envelope(clip, 8, 3))
            np.testing.assert_allclose(feats.rms[i, j, :n], ref_rms(clip, 8, 3), rtol=1e-14)
            np.testing.assert_array_equal(feats.zero_crossing_rate[i, j, :n],
                                          ref_zero_crossing_rate(clip, 8, 3))
            S = np_stft(clip, 8, None, 3, True, "constant")
            check("lengths/stft/torch.float64", spec[i, j, :, :n], S, 1e-12, f"({i},{j})")
            c, b = librosa_stats(np.abs(S), 8)
            check("lengths/spectral_features/torch.float64", sf["centroid"][i, j, :n], c, 1e-9,
                  f"({i},{j})")
            check("lengths/spectral_features/torch.float64", sf["bandwidth"][i, j, :n], b, 1e-9,
                  f"({i},{j})")
            for t in (feats.amplitude_envelope, feats.rms, feats.zero_crossing_rate,
                      sf["centroid"], sf["bandwidth"]):
                assert (t[i, j, n:] == 0).all()
            assert (spec[i, j, :, n:] == 0).all()


def test_one_dim_signal_with_scalar_length():
    x = padded_batch([13], T, torch.float64)[0]
    got, fl = afx.rms(x, 8, 3, lengths=torch.tensor(13))
    assert fl.shape == () and fl.item() == ref_num_frames(13, 8, 3)
    np.testing.assert_allclose(got[: fl.item()], ref_rms(x[:13].numpy(), 8, 3), rtol=1e-14)
    assert (got[fl.item():] == 0).all()


def test_full_lengths_equal_the_plain_call():
    x = torch.randn(3, T, dtype=torch.float64)
    L = torch.full((3,), T)
    for center, mode in PAD_CONFIGS:
        got, fl = afx.frame_features(x, 8, 3, center=center, pad_mode=mode, lengths=L)
        plain = afx.frame_features(x, 8, 3, center=center, pad_mode=mode)
        assert fl.tolist() == [ref_num_frames(T, 8, 3, center, mode)] * 3
        for g, p in zip(got, plain):
            torch.testing.assert_close(g, p, rtol=1e-14, atol=0)


@pytest.mark.parametrize("center,mode", PAD_CONFIGS + [(False, "constant")], ids=_id)
@pytest.mark.parametrize("N,H", GEOMETRY + [(2048, 512)], ids=lambda v: str(v))
def test_frame_lengths_match_reference_count(N, H, center, mode):
    Ls = [L for L in list(range(1, 3 * N + 2)) + [22050 * 4, 10**7]
          if valid_config(L, N, center, None if (not center and mode != "wrap") else mode)]
    ref_mode = mode if (center or mode == "wrap") else None
    expected = [ref_num_frames(L, N, H, center, ref_mode) for L in Ls]
    for dtype in (torch.int64, torch.int32):
        got = afx.frame_lengths(torch.tensor(Ls, dtype=dtype), N, H, center, mode)
        assert got.dtype == torch.int64
        assert got.tolist() == expected
    # Agrees with the scalar num_frames too (the same DESIGN §2 table).
    assert expected == [afx.num_frames(L, N, H, center, mode) for L in Ls]


def test_frame_mask_values_and_shape():
    # center=True, N=4, H=2: 1 + (L + 4 - 4) // 2 = 1 + L // 2 frames -> [1, 3, 6].
    L = torch.tensor([1, 5, 10])
    m = afx.frame_mask(L, 4, 2)
    expected = np.zeros((3, 6), dtype=bool)
    for b, n in enumerate([1, 3, 6]):
        expected[b, :n] = True
    assert m.dtype == torch.bool and m.shape == (3, 6)
    np.testing.assert_array_equal(m.numpy(), expected)
    # Padded to a feature tensor's frame count, and a 2-D lengths tensor.
    m9 = afx.frame_mask(L.reshape(3, 1), 4, 2, n_frames=9)
    assert m9.shape == (3, 1, 9)
    np.testing.assert_array_equal(m9[:, 0, :6].numpy(), expected)
    assert not m9[..., 6:].any()
    # End-wrap N=4, H=2: 1 + ceil(max(L - 4, 0) / 2) -> [1, 2, 4].
    np.testing.assert_array_equal(afx.frame_mask(L, 4, 2, False, "wrap").sum(-1).numpy(),
                                  [1, 2, 4])
    # The mask of a padded batch's features marks exactly the frames the function did not zero.
    x = padded_batch([40, 3, 17], T, torch.float64)
    r, fl = afx.rms(x, 8, 3, lengths=torch.tensor([40, 3, 17]))
    mask = afx.frame_mask(torch.tensor([40, 3, 17]), 8, 3, n_frames=r.shape[-1])
    assert torch.equal(mask.sum(-1), fl)
    assert (r[~mask] == 0).all() and (r[mask] > 0).all()


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint8])
def test_integer_length_dtypes(dtype):
    lengths = [40, 3, 17]
    x = padded_batch(lengths, T, torch.float64)
    ref, ref_fl = afx.zero_crossing_rate(x, 8, 3, lengths=torch.tensor(lengths))
    got, fl = afx.zero_crossing_rate(x, 8, 3, lengths=torch.tensor(lengths, dtype=dtype))
    assert torch.equal(got, ref) and torch.equal(fl, ref_fl) and fl.dtype == torch.int64


# ---------------------------------------------------------------------------------------------
# Errors: raised before any kernel runs, naming lengths


def test_bad_lengths_raise():
    x = torch.randn(3, T)
    ok = torch.tensor([40, 3, 17])
    with pytest.raises(TypeError, match="lengths"):
        afx.rms(x, 8, 3, lengths=[40, 3, 17])
    for bad in (ok.float(), ok > 5):
        with pytest.raises(TypeError, match="lengths.*integer"):
            afx.rms(x, 8, 3, lengths=bad)
    with pytest.raises(ValueError, match=r"lengths must have shape x.shape\[:-1\] = \(3,\)"):
        afx.rms(x, 8, 3, lengths=ok[:2])
    with pytest.raises(ValueError, match=r"lengths must have shape"):
        afx.rms(x, 8, 3, lengths=ok.reshape(3, 1))
    for bad in ([0, 3, 17], [41, 3, 17], [-2, 3, 17]):
        with pytest.raises(ValueError, match=r"lengths must lie in \[1, T = 40"):
            afx.frame_features(x, 8, 3, lengths=torch.tensor(bad))
    with pytest.raises(ValueError, match="reflect.*lengths.*> frame_length // 2 = 4"):
        afx.rms(x, 8, 3, pad_mode="reflect", lengths=torch.tensor([40, 4, 17]))
    # frame_features checks both of its pad modes.
    with pytest.raises(ValueError, match="reflect"):
        afx.frame_features(x, 8, 3, zcr_pad_mode="reflect", lengths=torch.tensor([40, 4, 17]))
    with pytest.raises(ValueError, match="lengths value must be >= frame_length = 8"):
        afx.amplitude_envelope(x, 8, 3, center=False, pad_mode=None,
                               lengths=torch.tensor([40, 7, 17]))
    with pytest.raises(ValueError, match="lengths value must be >= frame_length = 16"):
        afx.stft(x, 16, 4, center=False, pad_mode=None, lengths=torch.tensor([40, 15, 17]))
    S = afx.stft(x, 16, 4).abs()
    for fn in (afx.spectral_centroid, afx.spectral_bandwidth):
        with pytest.raises(ValueError, match="lengths applies to a signal x only"):
            fn(S=S, lengths=ok)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1"):
        afx.frame_lengths(torch.tensor([0, 3]), 8, 3)
    with pytest.raises(TypeError, match="lengths"):
        afx.frame_lengths([3, 4], 8, 3)
    with pytest.raises(TypeError, match="lengths.*integer"):
        afx.frame_mask(torch.tensor([3.0]), 8, 3)
    with pytest.raises(ValueError, match="n_frames"):
        afx.frame_mask(ok, 8, 3, n_frames=0)


# ---------------------------------------------------------------------------------------------
# torch.compile and devices


def test_compile_fullgraph_with_lengths_does_not_specialise_on_values():
    from torch._dynamo.testing import CompileCounterWithBackend

    def features(x, lengths):
        (ae, r, z), fl = afx.frame_features(x, 8, 3, lengths=lengths)
        sf, _ = afx.spectral_features(x, n_fft=16, hop_length=4, lengths=lengths)
        spec, _ = afx.stft(x, n_fft=16, hop_length=4, pad_mode="reflect", lengths=lengths)
        mask = afx.frame_mask(lengths, 8, 3, n_frames=ae.shape[-1])
        return ae + r + z, fl, sf["bandwidth"], spec.abs(), mask

    torch._dynamo.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(features, fullgraph=True, backend=counter)
    for lengths in ([40, 9, 17], [12, 40, 33]):
        L = torch.tensor(lengths)
        x = padded_batch(lengths, T, torch.float32, seed=4)
        for g, e in zip(compiled(x, L), features(x, L)):
            torch.testing.assert_close(g, e, rtol=0, atol=0)
    assert counter.frame_count == 1


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_lengths_on_cpu_match_cpu_results(dtype):
    lengths = [40, 1, 4, 7, 8, 23]
    x = padded_batch(lengths, T, dtype, seed=5)
    L = torch.tensor(lengths)  # stays on the CPU: moved to x's device
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    got, fl = afx.frame_features(x.cuda(), 8, 3, lengths=L)
    ref, rfl = afx.frame_features(x, 8, 3, lengths=L)
    assert fl.device.type == "cuda" and torch.equal(fl.cpu(), rfl)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g.cpu(), r, rtol=tol, atol=tol)
    sf, _ = afx.spectral_features(x.cuda(), n_fft=16, hop_length=4, lengths=L.cuda())
    sref, _ = afx.spectral_features(x, n_fft=16, hop_length=4, lengths=L)
    for name in sf:
        torch.testing.assert_close(sf[name].cpu(), sref[name], rtol=1e-4, atol=1e-4 * SR)


def test_rms_and_envelope_gradients_ignore_nan_padding():
    """The batch padding may hold NaN/inf: no gradient may reach it, and the valid samples get
    the gradient of the clip alone (the float64 backward of each clip computed alone)."""
    lengths = [40, 9, 17]
    x = padded_batch(lengths, T, torch.float64, seed=6).requires_grad_(True)
    L = torch.tensor(lengths)
    (ae, r, _), fl = afx.frame_features(x, 8, 3, lengths=L)
    (ae.sum() + (r * r.new_tensor(range(r.shape[-1]))).sum()).backward()
    assert torch.isfinite(x.grad).all()
    for b, n in enumerate(lengths):
        clip = x.detach()[b, :n].clone().requires_grad_(True)
        cae, cr, _ = afx.frame_features(clip, 8, 3)
        (cae.sum() + (cr * cr.new_tensor(range(cr.shape[-1]))).sum()).backward()
        torch.testing.assert_close(x.grad[b, :n], clip.grad, rtol=1e-12, atol=1e-12)
        assert (x.grad[b, n:] == 0).all()


def test_cpu_lengths_are_range_checked_before_any_kernel():
    x = torch.randn(2, T)
    for bad in ([0, 5], [5, T + 1]):
        with pytest.raises(ValueError, match="lengths must lie in"):
            afx.rms(x, 8, 3, lengths=torch.tensor(bad))


@pytest.mark.cuda
def test_cuda_lengths_without_device_sync():
    """lengths on either device: no host-device synchronisation (the range checks run only on CPU
    lengths), eagerly and compiled with fullgraph."""
    lengths = [40, 9, 17]
    x = padded_batch(lengths, T, torch.float32, seed=7).nan_to_num(0.0).cuda()

    def run(x, L):
        (ae, r, z), fl = afx.frame_features(x, 8, 3, lengths=L)
        sf, _ = afx.spectral_features(x, n_fft=16, hop_length=4, lengths=L)
        spec, _ = afx.stft(x, n_fft=16, hop_length=4, lengths=L)
        frames, _ = afx.frame(x, 8, 3, lengths=L)
        return ae + r + z, fl, sf["centroid"], spec.abs(), frames

    compiled = torch.compile(run, fullgraph=True, dynamic=True)
    for L in (torch.tensor(lengths), torch.tensor(lengths).cuda()):
        run(x, L), compiled(x, L)  # warm-up: compilation may synchronise
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            eager, comp = run(x, L), compiled(x, L)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        for e, c in zip(eager, comp):
            torch.testing.assert_close(e, c, rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
def test_cuda_lengths_out_of_range_are_clamped():
    """Lengths on the GPU are not range-checked (that would cost a device sync): the kernels clamp
    them into [1, T], so the result equals the call with the clamped lengths."""
    x = torch.randn(3, T, dtype=torch.float64)
    L = torch.tensor([0, T + 7, 12])
    got, fl = afx.rms(x.cuda(), 8, 3, lengths=L.cuda())
    ref, rfl = afx.rms(x, 8, 3, lengths=L.clamp(1, T))
    torch.testing.assert_close(got.cpu(), ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(fl.cpu(), rfl)
