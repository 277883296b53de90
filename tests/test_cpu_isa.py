"""The CPU kernels on every instruction set they have a path for.

The float32 frame kernel and the spectral statistics take the best path the CPU has (AVX-512,
AVX2, or the compiler-vectorised baseline loops); ``AUDIOFX_CPU_ISA`` picks a lower one, read
once per process. So each instruction set is run in its own subprocess on the same signals, and
every result is checked against a float64 numpy reference: the amplitude envelope and the
zero-crossing rate exactly, the RMS to within float32 rounding of the float64 value (tests/
reference.py), the spectral centroid and bandwidth (windowing, magnitudes, sums) to 1e-12
relative in float64 and to float32 rounding. The kernels read hop-aligned blocks of H
samples and their heads of N % H samples (csrc/frame_stats.h); the geometries give those segments
each path's main loop alone, a masked last step of every kind (under and over half a vector),
heads of H > N, and the < 16-sample fallback; the signals hold NaN, inf, -0.0, values on the
thresholds and runs of zeros. On a CPU without AVX-512 (or
AVX2) the request falls back to the best path there is, which the test checks as well.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from reference import (
    PAD_CONFIGS,
    make_signal,
    ref_amplitude_envelope,
    ref_rms,
    ref_zero_crossing_rate,
    valid_config,
)

ISAS = ("baseline", "avx2", "avx512")

# (N, H) as (block H, head N % H): (512, 0) main loops only; (32, 16) a head of one 16-sample
# step; (64, 32); (56, 0) = 32 + 16 + 8; (160, 80); (48, 24); (441, 284) and its rest of 157 =
# 4 * 32 + 16 + 13; (300, 212); (17, 16) a one-sample rest; (300, 256) heads only (H > N); and
# (3, 1) under 16 samples, which every instruction set leaves to the portable loops. The last
# 1..15 samples of a segment are a masked step on AVX2 and AVX-512.
FRAME_HOP = [(2048, 512), (48, 32), (96, 64), (112, 56), (400, 160), (72, 48), (2048, 441),
             (512, 300), (33, 17), (256, 300), (7, 3)]
THRESHOLDS = (1e-10, 0.05)
LENGTH = 4097


def _signals() -> np.ndarray:
    """(6, LENGTH) float32: noise, threshold-straddling values, +-1, and noise with NaN, inf."""
    rows = [make_signal(k, LENGTH, np.float32, seed=3) for k in ("normal", "tiny", "small",
                                                                 "alternating")]
    special = make_signal("normal", LENGTH, np.float32, seed=4)
    special[[5, 700, 2222]] = np.nan  # positive NaN: no sign bit, so its crossing class is 0
    special[[1000, 3001]] = np.inf
    special[[1500, 4096]] = -np.inf
    zeros = make_signal("small", LENGTH, np.float32, seed=5)
    zeros[200:1300] = 0.0
    zeros[2000:2600] = -0.0
    return np.stack(rows + [special, zeros])


def _cases():
    for N, H in FRAME_HOP:
        for center, mode in PAD_CONFIGS:
            if not valid_config(LENGTH, N, center, mode):
                continue
            for absolute in (False, True):
                for zero_pos in (True, False):
                    for thr in THRESHOLDS:
                        yield dict(N=N, H=H, center=center, mode=mode, absolute=absolute,
                                   zero_pos=zero_pos, threshold=thr)


CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    import audiofx
    from audiofx import _ops
    x = torch.from_numpy(np.load(sys.argv[1]))
    cases = json.loads(open(sys.argv[2]).read())
    out = {}
    for i, c in enumerate(cases):
        f = audiofx.frame_features(x, c["N"], c["H"], c["center"], c["mode"],
                                   absolute=c["absolute"], threshold=c["threshold"],
                                   zero_pos=c["zero_pos"])
        for name, v in zip(("ae", "rms", "zcr"), f):
            out[f"{i}/{name}"] = v.numpy()
        out[f"{i}/rms_op"] = audiofx.rms(x, c["N"], c["H"], c["center"], c["mode"]).numpy()
    finite = x[:3]
    for dt in (torch.float32, torch.float64):
        for n_fft, hop in ((2048, 512), (300, 100)):
            sf = audiofx.spectral_features(finite.to(dt), n_fft=n_fft, hop_length=hop)
            for name, v in sf.items():
                out[f"spec/{dt}/{n_fft}/{name}"] = v.numpy()
    np.savez(sys.argv[3], **out)
    print(_ops.cpu_isa())
""")


def _run(isa, sig_path, cases_path, out_path):
    env = dict(os.environ)
    if isa is None:
        env.pop("AUDIOFX_CPU_ISA", None)
    else:
        env["AUDIOFX_CPU_ISA"] = isa
    proc = subprocess.run([sys.executable, "-c", CHILD, sig_path, cases_path, out_path],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def isa_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("isa")
    x = _signals()
    cases = list(_cases())
    np.save(d / "x.npy", x)
    (d / "cases.json").write_text(json.dumps(cases))
    best = _run(None, str(d / "x.npy"), str(d / "cases.json"), str(d / "best.npz"))
    runs = {}
    for isa in ISAS:
        got = _run(isa, str(d / "x.npy"), str(d / "cases.json"), str(d / f"{isa}.npz"))
        runs[isa] = (got, dict(np.load(d / f"{isa}.npz")))
    return x, cases, best, runs


def test_requested_isa_is_used_when_the_cpu_has_it(isa_runs):
    _, _, best, runs = isa_runs
    assert best in ISAS
    for isa in ISAS:
        want = ISAS[min(ISAS.index(isa), ISAS.index(best))]
        assert runs[isa][0] == want, (isa, runs[isa][0], best)


def _exact(got, ref, what):
    ref = np.asarray(ref, dtype=np.float64)
    got = got.astype(np.float64)
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    assert same.all(), f"{what}: first mismatch at {np.argwhere(~same)[0]}: " \
                       f"{got[~same][0]!r} vs {ref[~same][0]!r}"


@pytest.mark.parametrize("isa", ISAS)
def test_every_isa_matches_the_float64_reference(isa_runs, isa):
    x, cases, _, runs = isa_runs
    _, out = runs[isa]
    x64 = x.astype(np.float64)
    finite_rows = np.isfinite(x).all(axis=-1)
    for i, c in enumerate(cases):
        N, H, center, mode = c["N"], c["H"], c["center"], c["mode"]
        what = f"{isa} case {c}"
        _exact(out[f"{i}/ae"], ref_amplitude_envelope(x64, N, H, center, mode, c["absolute"]),
               what + " amplitude envelope")
        ref = ref_rms(x64, N, H, center, mode)
        for key in ("rms", "rms_op"):
            got = out[f"{i}/{key}"].astype(np.float64)
            # The double sum rounded once to float32, so within half an ulp (2**-24 relative)
            # up to the sum's own double rounding; inf and NaN where the reference has them.
            np.testing.assert_allclose(got, ref, rtol=2 ** -23, atol=0, equal_nan=True,
                                       err_msg=f"{what} {key}")
        zmode = "edge" if center else mode
        with np.errstate(invalid="ignore"):  # the sign of NaN cast to int8 (masked below)
            zref = ref_zero_crossing_rate(x64, N, H, center, zmode, c["threshold"],
                                          c["zero_pos"], dtype=np.float32)
        z = out[f"{i}/zcr"]
        if c["zero_pos"]:
            _exact(z, zref, what + " zero-crossing rate")
        else:  # numpy's sign of NaN is NaN, which has no crossing class: finite rows only
            _exact(z[finite_rows], zref[finite_rows], what + " zero-crossing rate")


def test_isas_agree_with_each_other(isa_runs):
    """Same envelope and crossing rate bit for bit on every path; the RMS may differ only in the
    order the double sums were added (a few double ulps, invisible after rounding to float32
    but for ties)."""
    _, cases, _, runs = isa_runs
    base = runs["baseline"][1]
    for isa in ISAS[1:]:
        out = runs[isa][1]
        for i in range(len(cases)):
            _exact(out[f"{i}/ae"], base[f"{i}/ae"], f"{isa} vs baseline case {i} ae")
            _exact(out[f"{i}/zcr"], base[f"{i}/zcr"], f"{isa} vs baseline case {i} zcr")
            np.testing.assert_allclose(out[f"{i}/rms"], base[f"{i}/rms"], rtol=2 ** -22,
                                       atol=0, equal_nan=True)


def _ref_spectral(x64, n_fft, hop, sr=22050.0):
    """Centroid and bandwidth (p = 2, norm) of |rfft(hann * frame)| in float64 numpy."""
    from reference import ref_frames

    n = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann
    S = np.abs(np.fft.rfft(ref_frames(x64, n_fft, hop, True, "constant") * window, axis=-1))
    f = np.arange(n_fft // 2 + 1) * (sr / n_fft)
    total = S.sum(axis=-1)
    norm = np.where(total > np.finfo(np.float64).tiny, total, 1.0)
    centroid = (S * f).sum(axis=-1) / norm
    Sn = S / norm[..., None]
    bandwidth = np.sqrt((Sn * (f - centroid[..., None]) ** 2).sum(axis=-1))
    return centroid, bandwidth


@pytest.mark.parametrize("isa", ISAS)
def test_spectral_statistics_on_every_isa_match_numpy(isa_runs, isa):
    x, _, _, runs = isa_runs
    out = runs[isa][1]
    x64 = x[:3].astype(np.float64)
    for n_fft, hop in ((2048, 512), (300, 100)):
        c_ref, b_ref = _ref_spectral(x64, n_fft, hop)
        for dt, tol in (("torch.float64", 1e-12), ("torch.float32", 2 ** -23)):
            for name, ref in (("centroid", c_ref), ("bandwidth", b_ref)):
                got = out[f"spec/{dt}/{n_fft}/{name}"].astype(np.float64)
                err = np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300))
                assert err <= tol, f"{isa} {dt} n_fft={n_fft} {name}: rel err {err:.2e}"
