"""The implementations the report compares, per op: audiofx, librosa, plain torch and the floors.

* ``audiofx``: the public function (``audiofx.frame_features``, ``audiofx.spectral_features``…),
  optionally with per-row ``lengths`` (:func:`audiofx_ops`);
* ``librosa``: the librosa call on the multichannel array, or a Python loop over the clips when
  that is faster (:func:`pick_librosa` times both once and keeps the faster);
* ``torch``: plain torch, ``F.pad`` + ``unfold`` + reductions for the frame ops,
  ``torch.stft(...).abs()`` + reductions for the spectral ones;
* floors: ``dot`` (one ``torch.dot(x, x)`` over all samples: one read of the signal), ``clone``
  (``x.clone()``: one read and one write) and, for the spectral ops, ``rfft`` (one bare batched
  ``torch.fft.rfft`` of the same frames, materialised beforehand and not timed).

Every op is framed with ``frame_length`` N and ``hop_length`` H (= ``n_fft`` and hop for the
spectral ops), centred, as DESIGN §6; the defaults are its N = 2048, H = 512.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .workloads import FRAME_LENGTH, HOP_LENGTH, SR, ZCR_THRESHOLD

#: Ops in table order; the fused paths first.
OPS = ("frame_features", "centroid+bandwidth", "amplitude_envelope", "rms", "zero_crossing_rate",
       "frame", "stft")
SPECTRAL_OPS = ("stft", "centroid+bandwidth")
FLOORS = ("dot", "clone", "rfft")


# ---- plain torch ----------------------------------------------------------------------------

def torch_frame_features(x: torch.Tensor, N: int = FRAME_LENGTH, H: int = HOP_LENGTH,
                         threshold: float = ZCR_THRESHOLD):
    """The plain torch way: pad + unfold (a strided view of the frames), then reductions over
    them. Zero crossings as librosa: |x| <= threshold counts as 0, class = sign bit, edge
    padding. Returns (ae, rms, zcr), each ``(..., n_frames)``."""
    return (torch_amplitude_envelope(x, N, H), torch_rms(x, N, H),
            torch_zero_crossing_rate(x, N, H, threshold))


def _torch_frames(x, N, H):
    p = N // 2
    return F.pad(x, (p, p)).unfold(-1, N, H)  # (..., n_frames, N) view, constant padding


def torch_amplitude_envelope(x, N=FRAME_LENGTH, H=HOP_LENGTH):
    return _torch_frames(x, N, H).amax(dim=-1)


def torch_rms(x, N=FRAME_LENGTH, H=HOP_LENGTH):
    return _torch_frames(x, N, H).pow(2).mean(dim=-1).sqrt()


def torch_zero_crossing_rate(x, N=FRAME_LENGTH, H=HOP_LENGTH, threshold=ZCR_THRESHOLD):
    p = N // 2
    y = torch.where(x.abs() <= threshold, x.new_zeros(()), x)
    edge = torch.cat([y[..., :1].expand(*y.shape[:-1], p), y,
                      y[..., -1:].expand(*y.shape[:-1], p)], dim=-1)
    s = torch.signbit(edge).unfold(-1, N, H)
    return (s[..., 1:] != s[..., :-1]).sum(dim=-1).to(x.dtype) / N


def torch_stft(x, n_fft=FRAME_LENGTH, hop=HOP_LENGTH):
    w = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    return torch.stft(x, n_fft, hop, window=w, center=True, pad_mode="constant",
                      return_complex=True)


def torch_centroid_bandwidth(x, sr=SR, n_fft=FRAME_LENGTH, hop=HOP_LENGTH):
    """Centroid and bandwidth (p=2) with ``torch.stft(...).abs()`` and torch reductions."""
    S = torch_stft(x, n_fft, hop).abs()
    freq = torch.fft.rfftfreq(n_fft, 1.0 / sr, dtype=x.dtype, device=x.device)[:, None]
    total = S.sum(-2, keepdim=True)
    Sn = S / torch.where(total < torch.finfo(x.dtype).tiny, torch.ones_like(total), total)
    c = (freq * Sn).sum(-2, keepdim=True)
    b = (Sn * (freq - c).square()).sum(-2).sqrt()
    return c[..., 0, :], b


def torch_ops(N: int = FRAME_LENGTH, H: int = HOP_LENGTH) -> Dict[str, Callable]:
    """op -> f(x), the plain torch implementation of each op of :data:`OPS`."""
    return {
        "frame_features": lambda x: torch_frame_features(x, N, H),
        "amplitude_envelope": lambda x: torch_amplitude_envelope(x, N, H),
        "rms": lambda x: torch_rms(x, N, H),
        "zero_crossing_rate": lambda x: torch_zero_crossing_rate(x, N, H),
        "frame": lambda x: x.unfold(-1, N, H).contiguous(),
        "stft": lambda x: torch_stft(x, N, H),
        "centroid+bandwidth": lambda x: torch_centroid_bandwidth(x, SR, N, H),
    }


# ---- floors ---------------------------------------------------------------------------------

def dot_floor(x: torch.Tensor):
    """One read of the signal: ``torch.dot(x, x)`` over all samples (memory-bandwidth floor)."""
    v = x.reshape(-1)
    return torch.dot(v, v)


def stft_frames(x: torch.Tensor, n_fft: int = FRAME_LENGTH, hop: int = HOP_LENGTH):
    """The centred, zero-padded, Hann-windowed frames of ``x`` as a contiguous
    ``(frames, n_fft)`` tensor: the input of the bare-FFT floor."""
    p = n_fft // 2
    w = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    return (F.pad(x.reshape(-1, x.shape[-1]), (p, p)).unfold(-1, n_fft, hop) * w).reshape(-1, n_fft)


# ---- librosa --------------------------------------------------------------------------------

def librosa_module():
    """The librosa module, or None when it is not installed."""
    try:
        import librosa
    except ImportError:
        return None
    return librosa


def librosa_ops(N: int = FRAME_LENGTH, H: int = HOP_LENGTH) -> Dict[str, Callable]:
    """op -> f(y) for librosa on one array (any leading dims; librosa's multichannel call);
    empty without librosa. ``frame_features`` is librosa's rms + zcr + the max of its frames."""
    librosa = librosa_module()
    if librosa is None:
        return {}

    def ae(y):
        pad = [(0, 0)] * (y.ndim - 1) + [(N // 2, N // 2)]
        return librosa.util.frame(np.pad(y, pad), frame_length=N, hop_length=H).max(axis=-2)

    def rms(y):
        return librosa.feature.rms(y=y, frame_length=N, hop_length=H)[..., 0, :]

    def zcr(y):
        return librosa.feature.zero_crossing_rate(y, frame_length=N, hop_length=H)[..., 0, :]

    def frame(y):
        return np.ascontiguousarray(np.moveaxis(
            librosa.util.frame(y, frame_length=N, hop_length=H), -2, -1))

    def cb(y):
        c = librosa.feature.spectral_centroid(y=y, sr=SR, n_fft=N, hop_length=H)[..., 0, :]
        b = librosa.feature.spectral_bandwidth(y=y, sr=SR, n_fft=N, hop_length=H)[..., 0, :]
        return c, b

    return {
        "frame_features": lambda y: (ae(y), rms(y), zcr(y)),
        "amplitude_envelope": ae,
        "rms": rms,
        "zero_crossing_rate": zcr,
        "frame": frame,
        "stft": lambda y: librosa.stft(y, n_fft=N, hop_length=H),
        "centroid+bandwidth": cb,
    }


# ---- audiofx --------------------------------------------------------------------------------

def audiofx_ops(N: int = FRAME_LENGTH, H: int = HOP_LENGTH,
                lengths: Optional[torch.Tensor] = None) -> Dict[str, Callable]:
    """op -> f(x) calling the public audiofx function; with ``lengths`` (valid samples per row)
    each call passes them and returns what the function then returns, ``(result,
    frame_lengths)``."""
    import audiofx

    kw = {} if lengths is None else {"lengths": lengths}

    def frame_features(x):
        out = audiofx.frame_features(x, N, H, **kw)
        return tuple(out) if lengths is None else out

    def cb(x):
        out = audiofx.spectral_features(x, sr=SR, n_fft=N, hop_length=H,
                                        features=("centroid", "bandwidth"), **kw)
        if lengths is None:
            return out["centroid"], out["bandwidth"]
        return (out[0]["centroid"], out[0]["bandwidth"]), out[1]

    return {
        "frame_features": frame_features,
        "amplitude_envelope": lambda x: audiofx.amplitude_envelope(x, N, H, **kw),
        "rms": lambda x: audiofx.rms(x, N, H, **kw),
        "zero_crossing_rate": lambda x: audiofx.zero_crossing_rate(x, N, H, **kw),
        "frame": lambda x: audiofx.frame(x, N, H, center=False, pad_mode=None, **kw),
        "stft": lambda x: audiofx.stft(x, n_fft=N, hop_length=H, **kw),
        "centroid+bandwidth": cb,
    }


# ---- one op on one workload -----------------------------------------------------------------

def stack_clips(per_row: list, lead: Tuple[int, ...]):
    """The per-clip results of a loop, stacked into the multichannel call's layout."""
    if isinstance(per_row[0], tuple):
        return tuple(stack_clips([r[i] for r in per_row], lead) for i in range(len(per_row[0])))
    a = np.stack(per_row)
    return a.reshape(*lead, *a.shape[1:])


def implementations(op: str, x: torch.Tensor, y: np.ndarray, with_librosa: bool = True,
                    frame_length: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH,
                    ) -> Dict[str, Callable[[], object]]:
    """name -> zero-argument callable for one op on one workload (x and y share memory).

    librosa appears twice here, ``librosa`` (multichannel call) and ``librosa (loop)`` (a Python
    loop over the clips) for batched input; :func:`pick_librosa` keeps the faster."""
    N, H = frame_length, hop_length
    impls: Dict[str, Callable[[], object]] = {}
    impls["audiofx"] = (lambda f: lambda: f(x))(audiofx_ops(N, H)[op])
    lib = librosa_ops(N, H).get(op) if with_librosa else None
    if lib is not None:
        impls["librosa"] = lambda: lib(y)
        if y.ndim > 1:
            rows = y.reshape(-1, y.shape[-1])
            impls["librosa (loop)"] = lambda: stack_clips([lib(r) for r in rows], y.shape[:-1])
    impls["torch"] = (lambda f: lambda: f(x))(torch_ops(N, H)[op])
    impls["dot"] = lambda: dot_floor(x)
    impls["clone"] = lambda: x.clone()
    if op in SPECTRAL_OPS:
        frames = stft_frames(x, N, H)
        impls["rfft"] = lambda: torch.fft.rfft(frames)
    return impls


def pick_librosa(impls: Dict[str, Callable]) -> Tuple[Dict[str, Callable], Optional[str]]:
    """Keeps the faster of librosa's multichannel call and the loop over clips (one timed call
    each after a warm-up) under the name ``librosa``; returns the implementations and the
    choice (``"multichannel"``, ``"loop over clips"``, or None when there was none to make)."""
    if "librosa (loop)" not in impls:
        return impls, None
    t = {}
    impls["librosa"]()  # warm-up of what both share (imports, caches)
    for k in ("librosa", "librosa (loop)"):
        t0 = time.perf_counter()
        impls[k]()
        t[k] = time.perf_counter() - t0
    keep = min(t, key=t.get)
    out = {k: v for k, v in impls.items() if k not in ("librosa", "librosa (loop)")}
    out["librosa"] = impls[keep]
    return out, "loop over clips" if keep == "librosa (loop)" else "multichannel"
