"""The frame reductions on every frame/hop geometry, and per-row lengths inside the kernels.

The CPU kernels split a row into hop-aligned blocks and combine q = N // H whole blocks and the
head (first N % H samples) of the next one per frame (csrc/frame_stats.h). The geometries below
cover coprime pairs (no common block size), H > N (heads only, the gaps between frames never
read), N % H = 0 (no heads), N = 1, H = 1, and rows shorter than a frame; the float32 intrinsics
see whole blocks and heads of every remainder modulo their step (a masked last step) and the
portable loops take segments under 16 samples. Every pad mode, float32 and float64, on the
torch.ops directly (the Python layer adds its own checks), against the float64 numpy references
of tests/reference.py: the amplitude envelope and the crossing rate exactly, the RMS to float
rounding (its double sum may add in another order). `AUDIOFX_CPU_ISA` runs the same cases on each
instruction set in a subprocess, as tests/test_cpu_isa.py does.

With `lengths`, row b is the clip x[b, :lengths[b]] alone: its own centre padding and end-wrap,
its own frame count, exact zeros after it, and nothing from the batch padding (NaN, inf, huge
values) reaching any output.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import audiofx  # noqa: F401  (loads the ops)
from reference import (
    PAD_CONFIGS,
    make_signal,
    ref_amplitude_envelope,
    ref_frames,
    ref_num_frames,
    ref_rms,
    ref_zero_crossing_rate,
    valid_config,
)

ops = torch.ops.audiofx
NP = {torch.float32: np.float32, torch.float64: np.float64}
RMS_RTOL = {torch.float32: 2 ** -23, torch.float64: 1e-13}

# (N, H): coprime (the 10 ms hops), H > N (heads only; 256/300 at the 16-sample
# intrinsics limit, 100/300 = 3 steps + 4 masked), N % H = 0, a 16-sample head and a 1-sample
# tail (33, 17), a 3-sample head (20, 17), and tiny sizes for the portable loops.
GEOMETRIES = [(2048, 441), (1103, 441), (551, 220), (512, 300), (400, 160), (256, 300),
              (100, 300), (2048, 512), (33, 17), (20, 17), (7, 3), (5, 8), (1, 1), (1, 3),
              (16, 16), (64, 1)]
LENGTHS_T = (4097, 333, 1)


def _id(v):
    return "None" if v is None else str(v)


def op_mode(center, mode):
    return "none" if mode is None else mode


def signals(T: int, dtype) -> np.ndarray:
    """(6, T): noise, threshold-straddling values, +-1, a negative constant (a padding zero or a
    masked lane must not raise its peak), noise with NaN/inf, loud then silent."""
    rows = [make_signal(k, T, np.float64, seed=7)
            for k in ("normal", "tiny", "alternating", "dc_neg")]
    special = make_signal("normal", T, np.float64, seed=8)
    special[[p for p in (3, 700, 2222) if p < T]] = np.nan
    special[[p for p in (1000, 3001) if p < T]] = np.inf
    special[[p for p in (1500,) if p < T]] = -np.inf
    # A silent stretch after a loud one: its frames must be exactly 0 (no prefix-sum residue).
    loud = 1e3 * make_signal("normal", T, np.float64, seed=9)
    loud[T // 3:] = 0.0
    return np.stack(rows + [special, loud]).astype(NP[dtype])


def zcr_mode_for(center, mode):
    return "edge" if center else mode


def expected(clip64, N, H, center, mode, absolute, threshold, zero_pos, np_dtype):
    """(ae, rms, zcr) of one clip (or a batch of equal-length rows): the float64 references."""
    with np.errstate(invalid="ignore"):  # the sign of NaN cast to int8, masked by the caller
        zcr = ref_zero_crossing_rate(clip64, N, H, center, zcr_mode_for(center, mode), threshold,
                                     zero_pos, dtype=np_dtype)
    return (ref_amplitude_envelope(clip64, N, H, center, mode, absolute),
            ref_rms(clip64, N, H, center, mode), zcr)


def assert_exact(got, ref, what):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    assert same.all(), (f"{what}: first mismatch at {np.argwhere(~same)[0]}: "
                        f"{got[~same][0]!r} vs {ref[~same][0]!r}")


def assert_rms(got, ref, dtype, what):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), ref, rtol=RMS_RTOL[dtype],
                               atol=0, equal_nan=True, err_msg=what)


def check_features(out, ref, x64, dtype, zero_pos, what):
    """out: (ae, rms, zcr) numpy of shape (rows, frames); the crossing rate of a row holding NaN
    is compared only with zero_pos (numpy's sign of NaN has no class)."""
    ae, rms, zcr = out
    assert_exact(ae, ref[0], what + " amplitude envelope")
    assert_rms(rms, ref[1], dtype, what + " rms")
    rows = np.ones(x64.shape[0], bool) if zero_pos else ~np.isnan(x64).any(axis=-1)
    assert_exact(zcr[rows], ref[2][rows], what + " zero-crossing rate")


PARAMS = [(False, True, 1e-10), (True, False, 0.05)]  # (absolute, zero_pos, threshold)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("N,H", GEOMETRIES, ids=str)
def test_every_geometry_matches_the_reference(N, H, dtype):
    for T in LENGTHS_T:
        x = signals(T, dtype)
        xt = torch.from_numpy(x)
        x64 = x.astype(np.float64)
        for center, mode in PAD_CONFIGS:
            if not valid_config(T, N, center, mode):
                continue
            m, zm = op_mode(center, mode), op_mode(center, zcr_mode_for(center, mode))
            for absolute, zero_pos, thr in PARAMS:
                what = f"N={N} H={H} T={T} center={center} {mode} {dtype} abs={absolute} " \
                       f"zero_pos={zero_pos} thr={thr}"
                ref = expected(x64, N, H, center, mode, absolute, thr, zero_pos, NP[dtype])
                got = ops.frame_features(xt, N, H, center, m, zm, absolute, thr, zero_pos, None)
                check_features([g.numpy() for g in got], ref, x64, dtype, zero_pos, what)
                # The single-feature ops (their own paths where fewer features are asked for).
                assert_exact(ops.amplitude_envelope(xt, N, H, center, m, absolute, None),
                             ref[0], what + " amplitude_envelope op")
                assert_rms(ops.rms(xt, N, H, center, m, None), ref[1], dtype, what + " rms op")
            with np.errstate(invalid="ignore"):
                zref = ref_zero_crossing_rate(x64, N, H, center, mode, 1e-10, True, NP[dtype])
            assert_exact(ops.zero_crossing_rate(xt, N, H, center, m, 1e-10, True, None), zref,
                         f"N={N} H={H} T={T} center={center} {mode} zero_crossing_rate op")
            assert_exact(ops.frame(xt, N, H, center, m, None), ref_frames(x64, N, H, center,
                                                                          mode),
                         f"N={N} H={H} T={T} center={center} {mode} frame op")


# ---------------------------------------------------------------------------------------------
# Per-row lengths

LENGTH_GEOMETRIES = [(2048, 441), (551, 220), (400, 160), (256, 300), (64, 16), (20, 17),
                     (7, 3), (5, 8), (1, 1)]
TL = 1500


def clip_lengths(N, H, T, seed=0):
    rng = np.random.default_rng([seed, N, H])
    cands = [1, 2, N // 2, N // 2 + 1, N - 1, N, N + 1, H, H + 1, N + H, T - 1, T]
    cands += rng.integers(1, T + 1, 4).tolist()
    return list(dict.fromkeys(L for L in cands if 1 <= L <= T))


def garbage_batch(lengths, T, dtype, seed=0):
    """(B, T): noise with exact zeros and threshold values in [:L], garbage (NaN, +-inf, huge)
    after it."""
    rng = np.random.default_rng([seed, T, len(lengths)])
    x = rng.standard_normal((len(lengths), T))
    x[:, ::13] = 0.0
    x[:, 5::17] = 0.05
    garbage = np.array([np.nan, 1e30, -np.inf, -1e30, np.inf, 3e5])
    for b, L in enumerate(lengths):
        x[b, L:] = garbage[(np.arange(T - L) + b) % garbage.size]
    return x.astype(NP[dtype])


def clip_frames(L, N, H, center, mode):
    """The clip's own frame count; 0 where no padding leaves it no frame (the kernels' rule)."""
    return 0 if (not center and mode is None and L < N) else ref_num_frames(L, N, H, center, mode)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("N,H", LENGTH_GEOMETRIES, ids=str)
def test_lengths_frame_each_row_as_its_own_clip(N, H, dtype):
    for center, mode in PAD_CONFIGS:
        if not valid_config(TL, N, center, mode):
            continue
        # reflect needs a clip longer than N // 2; no padding keeps short clips (0 frames).
        lengths = [L for L in clip_lengths(N, H, TL) if mode != "reflect" or L > N // 2]
        x = garbage_batch(lengths, TL, dtype, seed=N)
        xt = torch.from_numpy(x)
        Lt = torch.tensor(lengths, dtype=torch.int64)
        m, zm = op_mode(center, mode), op_mode(center, zcr_mode_for(center, mode))
        nf = ops.frame_features(xt, N, H, center, m, zm, False, 0.05, False, None)[0].shape[-1]
        for absolute, zero_pos, thr in PARAMS:
            got = [g.numpy() for g in
                   ops.frame_features(xt, N, H, center, m, zm, absolute, thr, zero_pos, Lt)]
            single = (ops.amplitude_envelope(xt, N, H, center, m, absolute, Lt).numpy(),
                      ops.rms(xt, N, H, center, m, Lt).numpy())
            for b, L in enumerate(lengths):
                what = f"N={N} H={H} center={center} {mode} {dtype} L={L} abs={absolute}"
                n_b = clip_frames(L, N, H, center, mode)
                for part in got + list(single):
                    assert part.shape == (len(lengths), nf)
                    assert (part[b, n_b:] == 0).all(), f"{what}: frames past {n_b} not zero"
                if n_b == 0:
                    continue
                clip = x[b:b + 1, :L].astype(np.float64)
                ref = expected(clip, N, H, center, mode, absolute, thr, zero_pos, NP[dtype])
                check_features([g[b:b + 1, :n_b] for g in got], ref, clip, dtype, zero_pos, what)
                assert_exact(single[0][b:b + 1, :n_b], ref[0], what + " amplitude_envelope op")
                assert_rms(single[1][b:b + 1, :n_b], ref[1], dtype, what + " rms op")
        frames = ops.frame(xt, N, H, center, m, Lt).numpy()
        assert frames.shape == (len(lengths), nf, N)
        for b, L in enumerate(lengths):
            n_b = clip_frames(L, N, H, center, mode)
            assert (frames[b, n_b:] == 0).all()
            if n_b:
                assert_exact(frames[b, :n_b], ref_frames(x[b, :L], N, H, center, mode),
                             f"frame N={N} H={H} center={center} {mode} L={L}")


@pytest.mark.parametrize("N,H", [(2048, 441), (7, 3), (256, 300)], ids=str)
def test_full_lengths_equal_the_plain_call_bit_for_bit(N, H):
    x = torch.from_numpy(signals(3001, torch.float32))
    full = torch.full((x.shape[0],), x.shape[-1], dtype=torch.int64)
    for center, mode in PAD_CONFIGS:
        m = op_mode(center, mode)
        zm = op_mode(center, zcr_mode_for(center, mode))
        plain = ops.frame_features(x, N, H, center, m, zm, False, 1e-10, True, None)
        with_l = ops.frame_features(x, N, H, center, m, zm, False, 1e-10, True, full)
        for p, q in zip(plain, with_l):
            assert torch.equal(p.nan_to_num(7.0), q.nan_to_num(7.0))
        assert torch.equal(ops.frame(x, N, H, center, m, None).nan_to_num(7.0),
                           ops.frame(x, N, H, center, m, full).nan_to_num(7.0))


def test_lengths_with_leading_dims_and_many_chunks():
    """(2, 3, T) rows with lengths (2, 3), long enough for several work items per row."""
    T, N, H = 70001, 1103, 441
    lengths = [[70001, 1, 40000], [1103, 1104, 65537]]
    flat = [L for row in lengths for L in row]
    x = garbage_batch(flat, T, torch.float32, seed=1).reshape(2, 3, T)
    got = ops.frame_features(torch.from_numpy(x), N, H, True, "constant", "edge", False, 1e-10,
                             True, torch.tensor(lengths))
    for i in range(2):
        for j in range(3):
            L = lengths[i][j]
            n_b = ref_num_frames(L, N, H, True, "constant")
            clip = x[i, j, :L][None].astype(np.float64)
            ref = expected(clip, N, H, True, "constant", False, 1e-10, True, np.float32)
            check_features([g[i, j, :n_b][None].numpy() for g in got], ref, clip, torch.float32,
                           True, f"row ({i}, {j}) L={L}")
            assert all((g[i, j, n_b:] == 0).all() for g in got)


# ---------------------------------------------------------------------------------------------
# Every instruction set (a subprocess each: AUDIOFX_CPU_ISA is read once per process)

ISAS = ("baseline", "avx2", "avx512")
ISA_GEOMETRIES = [(2048, 441), (1103, 441), (551, 220), (400, 160), (256, 300), (100, 300),
                  (33, 17), (20, 17), (48, 32), (7, 3), (5, 8), (1, 1)]
ISA_T = 2501

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    import audiofx
    from audiofx import _ops
    x = torch.from_numpy(np.load(sys.argv[1]))
    L = torch.from_numpy(np.load(sys.argv[2]))
    cases = json.loads(open(sys.argv[3]).read())
    out = {}
    for i, c in enumerate(cases):
        xx = x.to(torch.float64) if c["dtype"] == "float64" else x
        lengths = L if c["lengths"] else None
        f = torch.ops.audiofx.frame_features(xx, c["N"], c["H"], c["center"], c["mode"],
                                             c["zmode"], c["absolute"], c["threshold"],
                                             c["zero_pos"], lengths)
        for name, v in zip(("ae", "rms", "zcr"), f):
            out[f"{i}/{name}"] = v.numpy()
    np.savez(sys.argv[4], **out)
    print(_ops.cpu_isa())
""")


def _isa_cases():
    for N, H in ISA_GEOMETRIES:
        for center, mode in PAD_CONFIGS:
            if not valid_config(ISA_T, N, center, mode):
                continue
            for k, (absolute, zero_pos, thr) in enumerate(PARAMS):
                for dtype in ("float32", "float64"):
                    for lengths in (False, True):
                        if dtype == "float64" and k == 1:
                            continue
                        yield dict(N=N, H=H, center=center, mode=op_mode(center, mode),
                                   ref_mode=mode,
                                   zmode=op_mode(center, zcr_mode_for(center, mode)),
                                   absolute=absolute, zero_pos=zero_pos, threshold=thr,
                                   dtype=dtype, lengths=lengths)


def _isa_lengths(N, center, mode):
    base = [ISA_T, 1, 77, 1024, 1025, 2047, 2048, 2049]
    return [L if valid_config(L, N, center, mode) else ISA_T for L in base]


@pytest.fixture(scope="module")
def isa_outputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("isa_geometry")
    lengths = [ISA_T, 1, 77, 1024, 1025, 2047, 2048, 2049]
    x = garbage_batch(lengths, ISA_T, torch.float32, seed=11)
    np.save(d / "x.npy", x)
    np.save(d / "L.npy", np.array(lengths, dtype=np.int64))
    cases = list(_isa_cases())
    (d / "cases.json").write_text(json.dumps(cases))
    runs = {}
    for isa in ISAS:
        env = dict(os.environ, AUDIOFX_CPU_ISA=isa)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(d / "x.npy"), str(d / "L.npy"),
                               str(d / "cases.json"), str(d / f"{isa}.npz")],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[isa] = (proc.stdout.strip().splitlines()[-1], dict(np.load(d / f"{isa}.npz")))
    return x, lengths, cases, runs


@pytest.mark.parametrize("isa", ISAS)
def test_every_isa_on_every_geometry_and_lengths(isa_outputs, isa):
    x, lengths, cases, runs = isa_outputs
    _, out = runs[isa]
    for i, c in enumerate(cases):
        N, H, center, mode = c["N"], c["H"], c["center"], c["ref_mode"]
        dtype = torch.float64 if c["dtype"] == "float64" else torch.float32
        got = [out[f"{i}/{k}"] for k in ("ae", "rms", "zcr")]
        what = f"{runs[isa][0]} (asked {isa}) case {c}"
        for b, L in enumerate(lengths if c["lengths"] else [ISA_T] * len(lengths)):
            n_b = clip_frames(L, N, H, center, mode)
            if c["lengths"] and not valid_config(L, N, center, mode):
                continue  # out of the op's domain (reflect on a short clip): clamped, not checked
            assert all((g[b, n_b:] == 0).all() for g in got) or not c["lengths"], what
            if n_b == 0:
                continue
            clip = x[b:b + 1, :L].astype(np.float64)
            ref = expected(clip, N, H, center, mode, c["absolute"], c["threshold"],
                           c["zero_pos"], NP[dtype])
            check_features([g[b:b + 1, :n_b] for g in got], ref, clip, dtype, c["zero_pos"],
                           f"{what} row {b} L={L}")


def test_isas_agree_bit_for_bit_on_envelope_and_crossings(isa_outputs):
    _, _, cases, runs = isa_outputs
    base = runs["baseline"][1]
    for isa in ISAS[1:]:
        out = runs[isa][1]
        for i in range(len(cases)):
            for k in ("ae", "zcr"):
                assert_exact(out[f"{i}/{k}"], base[f"{i}/{k}"], f"{isa} vs baseline {cases[i]}")
