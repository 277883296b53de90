"""Every frame op against the numpy float64 reference of DESIGN §2/§3 (tests/reference.py).

Tolerances: rms float64 <= 1e-10 relative, float32 <= 2e-5 relative; frames and the amplitude
envelope exactly (they copy / compare input values); the zero-crossing rate exactly (count / N in
float64, rounded once to the output dtype).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import audiofx as afx
from reference import (
    FRAME_HOP,
    LENGTHS,
    PAD_CONFIGS,
    SIGNAL_KINDS,
    make_signal,
    ref_amplitude_envelope,
    ref_frames,
    ref_num_frames,
    ref_rms,
    ref_zero_crossing_rate,
    rel_err,
    valid_config,
)

DTYPES = [torch.float64, torch.float32]
NP_DTYPE = {torch.float64: np.float64, torch.float32: np.float32}
RMS_TOL = {torch.float64: 1e-10, torch.float32: 2e-5}
THRESHOLDS = [1e-10, 0.05]

CASES = [
    pytest.param(N, H, center, mode, id=f"N{N}-H{H}-{'c' if center else 'nc'}-{mode}")
    for N, H in FRAME_HOP
    for center, mode in PAD_CONFIGS
]


def _id(val):
    return str(val).replace("torch.", "")


def signal_batches(N, center, mode, dtype, kinds=SIGNAL_KINDS):
    """(T, (K, T) tensor of every kind stacked) for each test length valid for the config."""
    out = []
    for T in LENGTHS:
        if valid_config(T, N, center, mode):
            x = np.stack([make_signal(k, T, NP_DTYPE[dtype]) for k in kinds])
            out.append((T, torch.from_numpy(x)))
    assert out, "no valid length for this configuration"
    return out


def assert_exact(got: torch.Tensor, expected: np.ndarray, what: str):
    """Bitwise-equal values (NaN == NaN), as float64, with a message naming the first mismatch."""
    g = got.double().numpy()
    assert g.shape == expected.shape, f"{what}: shape {g.shape} != {expected.shape}"
    same = (g == expected) | (np.isnan(g) & np.isnan(expected))
    if not same.all():
        idx = tuple(int(i) for i in np.argwhere(~same)[0])
        pytest.fail(f"{what}: {int((~same).sum())} mismatches; first at {idx}: "
                    f"got {g[idx]!r}, expected {expected[idx]!r}")


def assert_output(out: torch.Tensor, x: torch.Tensor, shape):
    assert out.dtype == x.dtype
    assert out.device == x.device
    assert tuple(out.shape) == tuple(shape)
    assert out.is_contiguous()


# ---------------------------------------------------------------------------------------------
# Frame counts


@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_num_frames_matches_design_formula(N, H, center, mode):
    for T in list(range(1, 40)) + [N - 1, N, N + 1, 2 * N + H, 4097]:
        if T < 1 or not valid_config(T, N, center, mode):
            continue
        expected = ref_num_frames(T, N, H, center, mode)
        assert afx.num_frames(T, N, H, center, mode) == expected, T


@pytest.mark.parametrize("T,N,H,expected", [
    (10, 4, 3, 3),      # end-wrap: frames at 0, 3, 6 cover all samples
    (11, 4, 3, 4),      # sample 10 needs a fourth frame
    (3, 7, 2, 1),       # T < N: one frame
    (20, 5, 8, 3),      # H > N: ceil(15 / 8) = 2 more frames
])
def test_num_frames_end_wrap_hand_values(T, N, H, expected):
    assert afx.num_frames(T, N, H, center=False, pad_mode="wrap") == expected


@pytest.mark.parametrize("T,N,H,expected", [(4097, 2048, 512, 9), (333, 400, 160, 3),
                                            (1, 7, 3, 1), (10, 5, 8, 2), (5, 1, 1, 5)])
def test_num_frames_centered_hand_values(T, N, H, expected):
    # 1 + (T + 2*(N//2) - N) // H, evaluated by hand.
    for mode in ("constant", "edge", "wrap"):
        assert afx.num_frames(T, N, H, center=True, pad_mode=mode) == expected


# ---------------------------------------------------------------------------------------------
# The table: every op x (N, H) x padding x dtype, all signal kinds at once as a batch


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_frame_matches_reference(N, H, center, mode, dtype):
    for T, x in signal_batches(N, center, mode, dtype):
        out = afx.frame(x, N, H, center=center, pad_mode=mode)
        nf = ref_num_frames(T, N, H, center, mode)
        assert_output(out, x, (x.shape[0], nf, N))
        assert nf == afx.num_frames(T, N, H, center, mode)
        assert_exact(out, ref_frames(x, N, H, center, mode), f"frame T={T}")


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_amplitude_envelope_matches_reference(N, H, center, mode, dtype, absolute):
    for T, x in signal_batches(N, center, mode, dtype):
        out = afx.amplitude_envelope(x, N, H, center=center, pad_mode=mode, absolute=absolute)
        assert_output(out, x, (x.shape[0], ref_num_frames(T, N, H, center, mode)))
        ref = ref_amplitude_envelope(x, N, H, center, mode, absolute)
        assert_exact(out, ref, f"amplitude_envelope T={T}")


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_rms_matches_reference(N, H, center, mode, dtype, record_error):
    for T, x in signal_batches(N, center, mode, dtype):
        out = afx.rms(x, N, H, center=center, pad_mode=mode)
        assert_output(out, x, (x.shape[0], ref_num_frames(T, N, H, center, mode)))
        ref = ref_rms(x, N, H, center, mode)
        for k, kind in enumerate(SIGNAL_KINDS):
            err = rel_err(out[k], ref[k])
            case = f"N={N} H={H} center={center} {mode} T={T} {kind}"
            record_error(f"reference/rms/{_id(dtype)}", err, case)
            assert err <= RMS_TOL[dtype], f"rms rel err {err:.3e} ({case})"


@pytest.mark.parametrize("zero_pos", [True, False])
@pytest.mark.parametrize("threshold", THRESHOLDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_zero_crossing_rate_matches_reference(N, H, center, mode, dtype, threshold, zero_pos):
    for T, x in signal_batches(N, center, mode, dtype):
        nf = ref_num_frames(T, N, H, center, mode)
        if center:
            # Default: edge padding (librosa's), whatever the other features use.
            out = afx.zero_crossing_rate(x, N, H, center=True, threshold=threshold,
                                         zero_pos=zero_pos)
            assert_output(out, x, (x.shape[0], nf))
            ref = ref_zero_crossing_rate(x, N, H, True, "edge", threshold, zero_pos,
                                         NP_DTYPE[dtype])
            assert_exact(out, ref.astype(np.float64), f"zcr default edge T={T}")
        out = afx.zero_crossing_rate(x, N, H, center=center, threshold=threshold,
                                     zero_pos=zero_pos, pad_mode=mode)
        assert_output(out, x, (x.shape[0], nf))
        ref = ref_zero_crossing_rate(x, N, H, center, mode, threshold, zero_pos, NP_DTYPE[dtype])
        assert_exact(out, ref.astype(np.float64), f"zcr pad_mode={mode} T={T}")


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("N,H,center,mode", CASES)
def test_frame_features_matches_reference_and_single_ops(N, H, center, mode, dtype):
    zcr_modes = [None] + (["constant", "wrap"] if center else [mode])
    for T, x in signal_batches(N, center, mode, dtype):
        nf = ref_num_frames(T, N, H, center, mode)
        for absolute in (False, True):
            for zmode in zcr_modes:
                if not valid_config(T, N, center, zmode if zmode is not None else mode):
                    continue
                kw = dict(center=center, pad_mode=mode, zcr_pad_mode=zmode, absolute=absolute,
                          threshold=0.05, zero_pos=False)
                ff = afx.frame_features(x, N, H, **kw)
                assert isinstance(ff, afx.FrameFeatures)
                ae, r, z = ff
                assert ff.amplitude_envelope is ae and ff.rms is r and ff.zero_crossing_rate is z
                for out in (ae, r, z):
                    assert_output(out, x, (x.shape[0], nf))
                eff_z = zmode if zmode is not None else ("edge" if center else mode)
                what = f"frame_features T={T} absolute={absolute} zcr_pad_mode={zmode}"
                # Against the reference...
                assert_exact(ae, ref_amplitude_envelope(x, N, H, center, mode, absolute), what)
                assert rel_err(r, ref_rms(x, N, H, center, mode)) <= RMS_TOL[dtype], what
                zref = ref_zero_crossing_rate(x, N, H, center, eff_z, 0.05, False,
                                              NP_DTYPE[dtype])
                assert_exact(z, zref.astype(np.float64), what)
                # ... and the same values as the three single ops.
                assert torch.equal(ae, afx.amplitude_envelope(x, N, H, center, mode, absolute))
                assert torch.equal(r, afx.rms(x, N, H, center, mode))
                assert torch.equal(z, afx.zero_crossing_rate(
                    x, N, H, center, threshold=0.05, zero_pos=False, pad_mode=eff_z))


def test_frame_features_defaults_match_librosa_conventions():
    # Defaults: N=2048, H=512, centred, constant padding; the zcr part edge-padded, thr 1e-10.
    x = torch.from_numpy(make_signal("chirp", 5000))
    ae, r, z = afx.frame_features(x)
    assert_exact(ae, ref_amplitude_envelope(x, 2048, 512, True, "constant"), "ae")
    assert rel_err(r, ref_rms(x, 2048, 512, True, "constant")) <= 1e-10
    assert_exact(z, ref_zero_crossing_rate(x, 2048, 512, True, "edge", 1e-10, True), "zcr")


def test_single_op_defaults():
    x = torch.from_numpy(make_signal("normal", 5000))
    assert_exact(afx.amplitude_envelope(x), ref_amplitude_envelope(x, 2048, 512, True,
                                                                   "constant"), "ae")
    assert rel_err(afx.rms(x), ref_rms(x, 2048, 512, True, "constant")) <= 1e-10
    assert_exact(afx.zero_crossing_rate(x),
                 ref_zero_crossing_rate(x, 2048, 512, True, "edge", 1e-10, True), "zcr")
    # frame's default is the end-wrap convention.
    assert_exact(afx.frame(x, 2048, 512), ref_frames(x, 2048, 512, False, "wrap"), "frame")


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_uncentred_librosa_pad_modes_are_ignored(mode):
    # Documented in audiofx.functional: without centring, librosa's pad modes mean no padding.
    x = torch.from_numpy(make_signal("normal", 1001))
    N, H = 256, 100
    assert_exact(afx.frame(x, N, H, center=False, pad_mode=mode),
                 ref_frames(x, N, H, False, None), "frame")
    assert rel_err(afx.rms(x, N, H, center=False, pad_mode=mode),
                   ref_rms(x, N, H, False, None)) <= 1e-10
    assert afx.num_frames(1001, N, H, center=False, pad_mode=mode) == 1 + (1001 - N) // H


@pytest.mark.parametrize("N,H,center,mode", [
    (2048, 512, True, "constant"), (400, 160, True, "reflect"), (7, 3, False, "wrap"),
    (1, 1, True, "wrap"), (5, 8, False, None), (1000, 999, True, "edge"),
    (300, 70000, False, "wrap"),
])
def test_long_signals_cross_work_chunks(N, H, center, mode):
    """~150k samples per row: the kernels split rows into chunks of frames (~64k samples) that
    run in parallel; frames on either side of a chunk boundary must be unaffected."""
    T = 150_001
    x = torch.from_numpy(np.stack([make_signal("normal", T, seed=21),
                                   make_signal("tiny", T, seed=22)]))
    ae, r, z = afx.frame_features(x, N, H, center, mode, absolute=True, threshold=0.05)
    assert_exact(ae, ref_amplitude_envelope(x, N, H, center, mode, True), "ae")
    assert rel_err(r, ref_rms(x, N, H, center, mode)) <= 1e-10
    zmode = "edge" if center else mode
    assert_exact(z, ref_zero_crossing_rate(x, N, H, center, zmode, 0.05, True), "zcr")
    assert_exact(afx.frame(x, N, H, center, mode), ref_frames(x, N, H, center, mode), "frame")


@pytest.mark.parametrize("scale", [1e25, 1e-25])
def test_rms_float32_accumulates_in_double_on_cpu(scale):
    """DESIGN §3: reductions accumulate in at::acc_type (double on CPU for float32), so squares
    that overflow / underflow float32 still give the right RMS."""
    x = torch.from_numpy((make_signal("normal", 3001, seed=4) * scale).astype(np.float32))
    assert torch.isfinite(x).all() and (x != 0).all()
    for center, mode in [(True, "constant"), (False, "wrap")]:
        out = afx.rms(x, 400, 160, center, mode)
        assert torch.isfinite(out).all()
        ref = ref_rms(x, 400, 160, center, mode)
        assert rel_err(out, ref) <= 2e-5
        assert rel_err(afx.frame_features(x, 400, 160, center, mode).rms, ref) <= 2e-5


# ---------------------------------------------------------------------------------------------
# Batches, strides, layouts

ALL_OPS = {
    "frame": lambda x, N, H, c, m: afx.frame(x, N, H, center=c, pad_mode=m),
    "amplitude_envelope": lambda x, N, H, c, m: afx.amplitude_envelope(x, N, H, c, m),
    "amplitude_envelope_abs": lambda x, N, H, c, m: afx.amplitude_envelope(x, N, H, c, m, True),
    "rms": lambda x, N, H, c, m: afx.rms(x, N, H, c, m),
    "zero_crossing_rate": lambda x, N, H, c, m: afx.zero_crossing_rate(
        x, N, H, c, threshold=0.05, zero_pos=True, pad_mode="edge" if c else m),
    "frame_features": lambda x, N, H, c, m: torch.stack(afx.frame_features(x, N, H, c, m)),
}

LAYOUT_CASES = [(400, 160, True, "reflect"), (7, 3, False, "wrap"), (5, 8, True, "constant"),
                (256, 256, False, None), (512, 300, True, "wrap"), (1, 1, True, "edge")]


@pytest.mark.parametrize("op", list(ALL_OPS))
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("N,H,center,mode", LAYOUT_CASES)
def test_batched_equals_row_by_row(op, N, H, center, mode, dtype):
    fn = ALL_OPS[op]
    x = torch.from_numpy(make_signal("normal", 1003, NP_DTYPE[dtype], seed=3, shape=(2, 3)))
    x[1, 2] = torch.from_numpy(make_signal("tiny", 1003, NP_DTYPE[dtype]))
    out = fn(x, N, H, center, mode)
    if op == "frame_features":
        assert out.shape[:3] == (3, 2, 3)
    else:
        assert out.shape[:2] == (2, 3)
    for b in range(2):
        for c in range(3):
            row = fn(x[b, c], N, H, center, mode)
            got = out[:, b, c] if op == "frame_features" else out[b, c]
            assert torch.equal(got, row), (b, c)


@pytest.mark.parametrize("op", list(ALL_OPS))
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("N,H,center,mode", LAYOUT_CASES)
def test_non_contiguous_input_equals_contiguous_copy(op, N, H, center, mode, dtype):
    fn = ALL_OPS[op]
    big = torch.from_numpy(make_signal("chirp", 2006, NP_DTYPE[dtype], seed=5, shape=(2, 3)))
    views = {
        "step2": big[..., ::2],                       # (2, 3, 1003), last-dim stride 2
        "transposed": big[0].t().contiguous().t(),     # (3, 2006) with strides (1, 3)
        "permuted": big.permute(1, 0, 2),              # leading dims out of order
        "offset": big[1, 1:, 3:],                      # storage offset
    }
    for name, v in views.items():
        assert name == "permuted" or not v.is_contiguous()
        out = fn(v, N, H, center, mode)
        ref = fn(v.contiguous(), N, H, center, mode)
        assert out.is_contiguous()
        assert torch.equal(out, ref), name
    # And against the reference for one of them, so the copy itself is not trusted blindly.
    v = views["step2"]
    if op == "rms":
        assert rel_err(fn(v, N, H, center, mode), ref_rms(v, N, H, center, mode)) <= \
            {torch.float64: 1e-10, torch.float32: 2e-5}[dtype]
    if op == "frame":
        assert_exact(fn(v, N, H, center, mode), ref_frames(v, N, H, center, mode), "frame")


def test_transposed_time_major_batch():
    # A (T, B) buffer read through .t(): rows are strided by B.
    tb = torch.from_numpy(make_signal("normal", 4, seed=9, shape=(777,)))  # (777, 4)
    x = tb.t()
    assert x.shape == (4, 777) and x.stride() == (1, 4)
    for op, fn in ALL_OPS.items():
        assert torch.equal(fn(x, 64, 16, True, "reflect"), fn(x.contiguous(), 64, 16, True,
                                                             "reflect")), op
    assert_exact(afx.amplitude_envelope(x, 64, 16), ref_amplitude_envelope(x, 64, 16), "ae")


def test_one_dim_and_three_dim_shapes():
    x = torch.from_numpy(make_signal("normal", 1000))
    assert afx.rms(x, 100, 50).shape == (afx.num_frames(1000, 100, 50),)
    assert afx.frame(x, 100, 50).shape == (afx.num_frames(1000, 100, 50, False, "wrap"), 100)
    x3 = x.reshape(1, 1, 1000).expand(2, 2, 1000)  # stride-0 leading dims
    ref = afx.rms(x, 100, 50)
    out = afx.rms(x3, 100, 50)
    assert out.shape == (2, 2, ref.shape[0])
    assert torch.equal(out, ref.expand(2, 2, -1))


# ---------------------------------------------------------------------------------------------
# Hand-derived cases


def test_frame_end_wrap_hand_values():
    out = afx.frame(torch.arange(10.0), 4, 3)
    assert torch.equal(out, torch.tensor([[0.0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]))
    out = afx.frame(torch.arange(5.0), 4, 3)
    assert torch.equal(out, torch.tensor([[0.0, 1, 2, 3], [3, 4, 0, 1]]))
    out = afx.frame(torch.arange(20.0, dtype=torch.float64), 5, 8)  # H > N
    assert torch.equal(out, torch.tensor([[0.0, 1, 2, 3, 4], [8, 9, 10, 11, 12],
                                          [16, 17, 18, 19, 0]], dtype=torch.float64))


def test_frame_shorter_than_frame_repeats_signal():
    out = afx.frame(torch.tensor([1.0, 2.0, 3.0]), 8, 2)
    assert torch.equal(out, torch.tensor([[1.0, 2, 3, 1, 2, 3, 1, 2]]))
    out = afx.frame(torch.tensor([[5.0], [-1.0]]), 3, 1)
    assert torch.equal(out, torch.tensor([[[5.0, 5, 5]], [[-1.0, -1, -1]]]))


def test_frame_no_padding_and_centred_hand_values():
    out = afx.frame(torch.arange(20.0), 5, 8, center=False, pad_mode=None)
    assert torch.equal(out, torch.tensor([[0.0, 1, 2, 3, 4], [8, 9, 10, 11, 12]]))
    x = torch.arange(1.0, 6.0)  # [1, 2, 3, 4, 5], N=4 -> 2 samples of padding per side
    expected = {
        "constant": [[0.0, 0, 1, 2], [1, 2, 3, 4], [3, 4, 5, 0]],
        "edge": [[1.0, 1, 1, 2], [1, 2, 3, 4], [3, 4, 5, 5]],
        "reflect": [[3.0, 2, 1, 2], [1, 2, 3, 4], [3, 4, 5, 4]],
        "wrap": [[4.0, 5, 1, 2], [1, 2, 3, 4], [3, 4, 5, 1]],
    }
    for mode, frames in expected.items():
        assert torch.equal(afx.frame(x, 4, 2, center=True, pad_mode=mode),
                           torch.tensor(frames)), mode


def test_amplitude_envelope_negative_signal_with_zero_padding():
    x = -torch.arange(1.0, 11.0)  # -1 .. -10; padded: [0, 0, -1, ..., -10, 0, 0]
    ae = afx.amplitude_envelope(x, 4, 2, center=True, pad_mode="constant")
    assert torch.equal(ae, torch.tensor([0.0, -1, -3, -5, -7, 0]))
    ae = afx.amplitude_envelope(x, 4, 2, center=True, pad_mode="constant", absolute=True)
    assert torch.equal(ae, torch.tensor([2.0, 4, 6, 8, 10, 10]))
    # Edge padding repeats -1 / -10, so no frame sees a zero.
    ae = afx.amplitude_envelope(x, 4, 2, center=True, pad_mode="edge")
    assert torch.equal(ae, torch.tensor([-1.0, -1, -3, -5, -7, -9]))


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("dc", [0.25, -0.5])
@pytest.mark.parametrize("N,H", [(2048, 512), (400, 160), (7, 3), (1, 1), (5, 8)])
def test_dc_signal(dc, N, H, dtype):
    T = 4097
    x = torch.full((T,), dc, dtype=dtype)
    for center, mode in [(True, "constant"), (True, "reflect"), (False, "wrap"), (False, None)]:
        z = afx.zero_crossing_rate(x, N, H, center, pad_mode="edge" if center else mode)
        assert torch.equal(z, torch.zeros_like(z)), (center, mode)
        r = afx.rms(x, N, H, center, mode)
        pad = N // 2 if center else 0
        inside = [t for t in range(r.shape[0]) if t * H - pad >= 0 and t * H - pad + N <= T]
        assert len(inside) > 0
        torch.testing.assert_close(r[inside], torch.full((len(inside),), abs(dc), dtype=dtype),
                                   rtol=1e-12, atol=0)
        # Every frame of a wrapped / edge-padded DC signal is the DC value.
        if mode in ("wrap", "reflect", "edge", None):
            assert torch.equal(afx.amplitude_envelope(x, N, H, center, mode),
                               torch.full_like(r, dc))


@pytest.mark.parametrize("zero_pos", [True, False])
@pytest.mark.parametrize("N,H", [(2048, 512), (400, 160), (7, 3), (1, 1), (5, 8), (2, 1)])
def test_alternating_signal_crosses_at_every_sample(N, H, zero_pos):
    T = 4097
    x = torch.ones(T, dtype=torch.float64)
    x[1::2] = -1.0
    z = afx.zero_crossing_rate(x, N, H, center=False, zero_pos=zero_pos, pad_mode=None)
    assert torch.equal(z, torch.full_like(z, (N - 1) / N))
    # Centred: the frames that do not reach into the padding.
    z = afx.zero_crossing_rate(x, N, H, center=True, zero_pos=zero_pos)
    pad = N // 2
    inside = [t for t in range(z.shape[0]) if t * H - pad >= 0 and t * H - pad + N <= T]
    assert torch.equal(z[inside], torch.full((len(inside),), (N - 1) / N, dtype=torch.float64))


def test_zero_crossing_rate_hand_values():
    x = torch.tensor([1.0, -1.0, 0.0, -0.0, 1e-12, -2.0, 3.0, 0.0])
    # threshold 1e-10: classes (zero_pos, signbit after zeroing): [+, -, +, +, +, -, +, +]
    #   crossings at i = 1, 2, 5, 6 -> 4 / 8.
    z = afx.zero_crossing_rate(x, 8, 8, center=False, pad_mode=None)
    assert z.tolist() == [4 / 8]
    # zero_pos=False: sign classes [1, -1, 0, 0, 0, -1, 1, 0] -> i = 1, 2, 5, 6, 7 -> 5 / 8.
    z = afx.zero_crossing_rate(x, 8, 8, center=False, zero_pos=False, pad_mode=None)
    assert z.tolist() == [5 / 8]
    # threshold 0 keeps 1e-12 positive; -0.0 is still "zero" (|x| <= 0): same counts here.
    z = afx.zero_crossing_rate(x, 8, 8, center=False, threshold=0.0, pad_mode=None)
    assert z.tolist() == [4 / 8]
    # A larger threshold silences +-1 as well: classes [0,0,0,0,0,-1,1,0] (sign) -> 3 / 8.
    z = afx.zero_crossing_rate(x, 8, 8, center=False, threshold=1.0, zero_pos=False,
                               pad_mode=None)
    assert z.tolist() == [3 / 8]
    # Frames of 4 with hop 2 (no padding): [1,-1,0,-0], [0,-0,1e-12,-2], [1e-12,-2,3,0].
    z = afx.zero_crossing_rate(x, 4, 2, center=False, pad_mode=None)
    assert z.tolist() == [2 / 4, 1 / 4, 2 / 4]


def test_frame_length_one_hand_values():
    x = torch.tensor([-3.0, 0.5, -0.0, 2.0])
    assert torch.equal(afx.amplitude_envelope(x, 1, 1), x)
    assert torch.equal(afx.amplitude_envelope(x, 1, 1, absolute=True), x.abs())
    assert torch.equal(afx.rms(x, 1, 1), x.abs())
    assert torch.equal(afx.zero_crossing_rate(x, 1, 1), torch.zeros(4))
    # End-wrap with H > N: 1 + ceil((4 - 1) / 2) = 3 frames, the last one wrapped to x[0].
    assert torch.equal(afx.frame(x, 1, 2), torch.tensor([[-3.0], [-0.0], [-3.0]]))


def test_rms_hand_values():
    x = torch.tensor([3.0, 4.0, 0.0, 0.0], dtype=torch.float64)
    # N=2, H=2, no padding: sqrt((9+16)/2), sqrt(0)
    assert afx.rms(x, 2, 2, center=False, pad_mode=None).tolist() == [np.sqrt(12.5), 0.0]
    # N=4 centred, constant: frames [0,0,3,4], [3,4,0,0], [0,0,0,0] -> sqrt(25/4), sqrt(25/4), 0
    assert afx.rms(x, 4, 2).tolist() == [2.5, 2.5, 0.0]


def test_amplitude_envelope_propagates_nan():
    x = torch.from_numpy(make_signal("normal", 1000))
    x[500] = float("nan")
    for absolute in (False, True):
        out = afx.amplitude_envelope(x, 64, 32, absolute=absolute)
        assert_exact(out, ref_amplitude_envelope(x, 64, 32, True, "constant", absolute), "nan")
        assert torch.isnan(out).sum() == 2  # frames 15 and 16 hold sample 500 (padded 532)
