"""Every frame-level op over device x dtype x memory layout (issue 4, part 4).

Devices: the CPU always, CUDA with the ``cuda`` mark (skipped without a GPU). Dtypes: float32 and
float64 everywhere, float16 and bfloat16 on CUDA. Layouts: contiguous, a strided slice
(``x[..., ::2]``), a transposed time-major buffer, and a broadcast (stride-0) batch.

Expected values: the float64 numpy references of ``tests/reference.py`` (frame ops) and a numpy
STFT with librosa's centroid/bandwidth of its magnitude (spectral ops), computed from the exact
input samples (for float16/bfloat16: the rounded samples, so input rounding is not counted).
float32/float64 meet fixed tolerances (exact where the op only copies/compares/counts). float16
and bfloat16 follow the rule "error vs the float64 reference at most twice the error of the plain
torch implementation in the same dtype" (pad + unfold + reductions; pad + unfold + window +
``torch.fft.rfft`` for the STFT), plus half an ulp of the dtype for the rounding of the output
itself. Every output must be contiguous, on the input's device, of the input's dtype (complex for
the STFT: complex32 for float16; complex64 for bfloat16, which has no complex type in torch).

``tests/test_frame_ops.py`` covers every pad mode and frame geometry on the CPU and
``tests/test_cuda.py`` the CUDA-vs-CPU parity of the frame ops; this matrix adds the spectral ops,
the broadcast layout, and the low-precision rule against an independent reference.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.signal
import torch

import audiofx as afx
from reference import (
    check,
    checked_rel_err,
    record_error,
    ref_amplitude_envelope,
    ref_frames,
    ref_rms,
    ref_zero_crossing_rate,
)

librosa = pytest.importorskip("librosa")

SR = 22050
N, H = 512, 128  # frame ops (and n_fft/hop of the spectral ops): a power of 2 for cuFFT in half
T = 3001
LOW = (torch.float16, torch.bfloat16)
NP = {torch.float32: np.float32, torch.float64: np.float64}
COMPLEX = {torch.float64: torch.complex128, torch.float32: torch.complex64,
           torch.float16: torch.complex32, torch.bfloat16: torch.complex64}

# Tolerances for float32/float64 against the float64 references (relative to max|ref|).
TOL = {
    "rms": {torch.float64: 1e-12, torch.float32: 2e-6},
    "stft": {torch.float64: 1e-12, torch.float32: 3e-6},
    "features": {torch.float64: 1e-9, torch.float32: 3e-4},
}

DEVICE_DTYPES = [
    pytest.param("cpu", torch.float32, id="cpu-float32"),
    pytest.param("cpu", torch.float64, id="cpu-float64"),
] + [
    pytest.param("cuda", dt, id=f"cuda-{str(dt).split('.')[-1]}", marks=pytest.mark.cuda)
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
]


def base_signal(shape) -> torch.Tensor:
    """float64 chirp plus noise, amplitude < 1 (no overflow of float16 squares), no values near
    the zero-crossing threshold."""
    g = torch.Generator().manual_seed(sum(shape))
    t = torch.arange(shape[-1], dtype=torch.float64) / SR
    sweep = torch.from_numpy(scipy.signal.chirp(t.numpy(), f0=100.0, t1=float(t[-1]),
                                                f1=6000.0, method="logarithmic"))
    return 0.5 * sweep + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)


def make_input(layout: str, device: str, dtype) -> torch.Tensor:
    """A ``(3, T)`` (broadcast: ``(2, 3, T)``) input of ``dtype`` on ``device`` in ``layout``."""
    if layout == "contiguous":
        x = base_signal((3, T)).to(device=device, dtype=dtype)
    elif layout == "strided":
        x = base_signal((3, 2 * T)).to(device=device, dtype=dtype)[..., ::2]
    elif layout == "transposed":
        # A time-major (T, 3) buffer read as (3, T): rows strided by 3, time stride 3.
        x = base_signal((3, T)).t().contiguous().to(device=device, dtype=dtype).t()
    elif layout == "broadcast":
        # One clip seen as a (2, 3) batch: stride 0 in both leading dims.
        x = base_signal((T,)).to(device=device, dtype=dtype).expand(2, 3, T)
    else:
        raise ValueError(layout)
    assert layout == "contiguous" or not x.is_contiguous()
    return x


LAYOUTS = ["contiguous", "strided", "transposed", "broadcast"]


def np64(t: torch.Tensor) -> np.ndarray:
    """Exact float64/complex128 numpy copy of a tensor of any dtype (complex32 included)."""
    t = t.detach()
    t = t.to(torch.complex128) if t.is_complex() else t.to(torch.float64)
    return t.cpu().numpy()


# ---------------------------------------------------------------------------------------------
# References (float64 numpy / librosa) and plain torch implementations (in the input's dtype)


def np_window(n_fft: int) -> np.ndarray:
    return scipy.signal.get_window("hann", n_fft, fftbins=True)


def ref_stft(x64: np.ndarray) -> np.ndarray:
    """``(..., bins, frames)`` complex128: numpy frames (centred, zeros) * hann, rfft."""
    fr = ref_frames(x64, N, H, True, "constant") * np_window(N)
    return np.swapaxes(np.fft.rfft(fr, axis=-1), -1, -2)


def ref_spectral(x64: np.ndarray, p: float = 2):
    S = np.abs(ref_stft(x64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = librosa.feature.spectral_centroid(S=S, sr=SR, n_fft=N)[..., 0, :]
        b = librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=N, p=p)[..., 0, :]
    return c, b


def torch_frames(x: torch.Tensor, center: bool, mode: str) -> torch.Tensor:
    """Plain torch framing in x's dtype: F.pad (numpy mode names mapped) or the end-wrap index,
    then unfold: ``(..., n_frames, N)``."""
    if center:
        torch_mode = {"constant": "constant", "edge": "replicate", "reflect": "reflect",
                      "wrap": "circular"}[mode]
        lead = x.shape[:-1]
        flat = x.reshape(-1, 1, x.shape[-1])
        padded = torch.nn.functional.pad(flat, (N // 2, N // 2), mode=torch_mode)
        padded = padded.reshape(*lead, -1)
    else:
        nf = 1 + math.ceil(max(x.shape[-1] - N, 0) / H)
        padded = x[..., torch.arange((nf - 1) * H + N, device=x.device) % x.shape[-1]]
    return padded.unfold(-1, N, H)


def torch_zcr(x, center, mode):
    fr = torch_frames(x, center, mode)
    cls = torch.signbit(torch.where(fr.abs() <= 1e-10, torch.zeros_like(fr), fr))
    return (cls[..., 1:] != cls[..., :-1]).sum(-1).to(x.dtype) / N


def torch_stft(x: torch.Tensor) -> torch.Tensor:
    """pad + unfold + window + rfft, all in x's dtype (bfloat16's FFT returns complex64)."""
    w = torch.hann_window(N, periodic=True, dtype=torch.float64, device=x.device).to(x.dtype)
    return torch.fft.rfft(torch_frames(x, True, "constant") * w, dim=-1).transpose(-1, -2)


def torch_spectral(x: torch.Tensor):
    """Centroid and bandwidth (p=2) in x's dtype from the plain STFT; frequencies as fractions of
    sr so that float16 does not overflow, scaled to Hz at the end."""
    spec = torch_stft(x)
    re_im = torch.view_as_real(spec)
    S = torch.hypot(re_im[..., 0], re_im[..., 1]).to(x.dtype)
    f = (torch.arange(N // 2 + 1, device=x.device, dtype=torch.float64) / N).to(x.dtype)
    Sn = S / S.sum(-2, keepdim=True)
    c = (f[:, None] * Sn).sum(-2)
    b = (Sn * (f[:, None] - c[..., None, :]).square()).sum(-2).sqrt()
    return c * SR, b * SR


# ---------------------------------------------------------------------------------------------
# The ops: (audiofx call, float64 reference, plain torch in x's dtype, kind)
#
# kind "exact": float32/float64 must equal the reference exactly (copies, comparisons, counts).


def _ops():
    zkw = dict(threshold=1e-10)
    return {
        "frame": (lambda x: [afx.frame(x, N, H)],
                  lambda y: [ref_frames(y, N, H, False, "wrap")],
                  lambda x: [torch_frames(x, False, "wrap")], "exact"),
        "amplitude_envelope": (
            lambda x: [afx.amplitude_envelope(x, N, H, pad_mode="reflect")],
            lambda y: [ref_amplitude_envelope(y, N, H, True, "reflect")],
            lambda x: [torch_frames(x, True, "reflect").amax(-1)], "exact"),
        "rms": (lambda x: [afx.rms(x, N, H, pad_mode="edge")],
                lambda y: [ref_rms(y, N, H, True, "edge")],
                lambda x: [torch_frames(x, True, "edge").square().mean(-1).sqrt()], "rms"),
        "zero_crossing_rate": (
            lambda x: [afx.zero_crossing_rate(x, N, H, **zkw)],
            lambda y: [ref_zero_crossing_rate(y, N, H, True, "edge", **zkw)],
            lambda x: [torch_zcr(x, True, "edge")], "exact"),
        "frame_features": (
            lambda x: list(afx.frame_features(x, N, H, pad_mode="wrap")),
            lambda y: [ref_amplitude_envelope(y, N, H, True, "wrap"),
                       ref_rms(y, N, H, True, "wrap"),
                       ref_zero_crossing_rate(y, N, H, True, "edge")],
            lambda x: [torch_frames(x, True, "wrap").amax(-1),
                       torch_frames(x, True, "wrap").square().mean(-1).sqrt(),
                       torch_zcr(x, True, "edge")], ("exact", "rms", "exact")),
        "stft": (lambda x: [afx.stft(x, N, H)], lambda y: [ref_stft(y)],
                 lambda x: [torch_stft(x)], "stft"),
        "spectral_centroid": (lambda x: [afx.spectral_centroid(x, sr=SR, n_fft=N, hop_length=H)],
                              lambda y: [ref_spectral(y)[0]],
                              lambda x: [torch_spectral(x)[0]], "features"),
        "spectral_bandwidth": (
            lambda x: [afx.spectral_bandwidth(x, sr=SR, n_fft=N, hop_length=H)],
            lambda y: [ref_spectral(y)[1]],
            lambda x: [torch_spectral(x)[1]], "features"),
        "spectral_features": (
            lambda x: list(afx.spectral_features(x, sr=SR, n_fft=N, hop_length=H).values()),
            lambda y: list(ref_spectral(y)),
            lambda x: list(torch_spectral(x)), "features"),
    }


OPS = _ops()


def expected_dtype(op: str, dtype):
    return COMPLEX[dtype] if op == "stft" else dtype


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
@pytest.mark.parametrize("op", list(OPS))
def test_matrix(op, device, dtype, layout):
    fn, ref_fn, torch_fn, kinds = OPS[op]
    x = make_input(layout, device, dtype)
    y = np64(x)  # the exact input samples (after rounding to dtype)
    got = fn(x)
    refs = ref_fn(y)
    if isinstance(kinds, str):
        kinds = (kinds,) * len(got)
    assert len(got) == len(refs) == len(kinds)
    plain = torch_fn(x) if dtype in LOW else [None] * len(got)
    for i, (g, r, kind, pt) in enumerate(zip(got, refs, kinds, plain)):
        what = f"{op}[{i}] {device} {dtype} {layout}"
        assert g.device == x.device, what
        assert g.dtype == expected_dtype(op, dtype), what
        assert g.is_contiguous(), what
        assert tuple(g.shape) == r.shape, what
        key = f"matrix/{op}/{device}/{str(dtype).split('.')[-1]}"
        if dtype in LOW:
            # The low-precision rule, against the same float64 reference.
            err = checked_rel_err(np64(g), r)
            torch_err = checked_rel_err(np64(pt), r)
            record_error(key, err, f"{what} (plain torch {torch_err:.3e})")
            bound = 2 * torch_err + torch.finfo(dtype).eps / 2
            assert err <= bound, f"{what}: error {err:.3e} > 2 x plain torch {torch_err:.3e}"
        elif kind == "exact":
            if op == "zero_crossing_rate" or (op == "frame_features" and i == 2):
                r = r.astype(NP[dtype])  # count / N rounded once to the dtype
            np.testing.assert_array_equal(np64(g), r, err_msg=what)
            record_error(key, 0.0, what)
        else:
            tol = TOL[kind][dtype]
            if device == "cuda" and kind == "features" and dtype == torch.float32:
                # CUDA windows and transforms float32 in float32 (CPU: in float64).
                tol = max(tol, 2 * checked_rel_err(np64(torch_fn(x)[i]), r))
            check(key, g, r, tol, what)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_matrix_with_lengths(device, dtype, layout):
    """The variable-length path on every device, dtype and layout: each row's valid frames equal
    the clip computed alone (same device and dtype), the rest are zero."""
    x = make_input(layout, device, dtype)
    lead = x.shape[:-1]
    lengths = torch.tensor([T, 1, N // 2, N - 1, N, 1777][: math.prod(lead)]).reshape(lead)
    (ae, r, z), fl = afx.frame_features(x, N, H, lengths=lengths)
    sf, sfl = afx.spectral_features(x, sr=SR, n_fft=N, hop_length=H, lengths=lengths)
    assert torch.equal(fl, sfl) and fl.device == x.device
    for idx in np.ndindex(*lead):
        L, n = int(lengths[idx]), int(fl[idx])
        clip = x[idx][:L]
        a_ae, a_r, a_z = afx.frame_features(clip, N, H)
        a_sf = afx.spectral_features(clip, sr=SR, n_fft=N, hop_length=H)
        assert torch.equal(ae[idx][:n], a_ae) and torch.equal(z[idx][:n], a_z), (idx, L)
        rt = 1e-12 if dtype == torch.float64 else (1e-5 if dtype == torch.float32 else 1e-2)
        torch.testing.assert_close(r[idx][:n], a_r, rtol=rt, atol=0)
        for name in sf:
            torch.testing.assert_close(sf[name][idx][:n], a_sf[name], rtol=rt, atol=rt * SR)
        for t in (ae, r, z, sf["centroid"], sf["bandwidth"]):
            assert (t[idx][n:] == 0).all(), (idx, L)
