"""Autograd of every audiofx op: the ``setup_context`` and ``backward`` functions that
:mod:`audiofx._ops` registers with ``torch.library.register_autograd``, and the gradient maths
they use.

Every frame op's gradient is an overlap-add through the padding map (``overlap_add``, the adjoint
of ``frame``): frame -> the frame gradients; stft_frames -> the frame gradients times the window
(``windowed_overlap_add``, the multiply inside the gather); spectral_features -> its own backward
op (``spectral_features_backward``, chunked as the forward);
rms -> g_t * x / (N * rms_t) per sample (0 where rms_t = 0); the amplitude envelope -> g_t at each
frame's first argmax sample (``frame_argmax``), times sign(x) with absolute=True. The backward
formulas are written in differentiable ops (overlap_add's own gradient is frame), so second
derivatives exist for all of them (and are zero for the amplitude envelope, whose gradient is
piecewise constant in x). The zero-crossing rate is piecewise constant: its gradient is zero. Every
backward passes the forward's per-row ``lengths`` on to the backward ops, so nothing flows to the
samples past a row's length.
"""
from __future__ import annotations

import torch

from . import _C  # noqa: F401  (loading the library registers torch.ops.audiofx.*)
from ._spectrum import compute_dtype, frame_spectrum

ops = torch.ops.audiofx


def _frame_setup(ctx, inputs, output, lengths_at):
    """Keeps the framing of a frame op's call: ``ctx.frame_args`` (N, H, center, mode) and
    ``ctx.lengths`` (``inputs[lengths_at]``, the per-row lengths or None) for the backward ops."""
    x, N, H, center, mode = inputs[:5]
    ctx.frame_args = (N, H, center, mode)
    ctx.length = x.shape[-1]
    ctx.lengths = inputs[lengths_at] if len(inputs) > lengths_at else None


def _overlap_add(g, ctx, lengths=None):
    """The adjoint of the call's framing; ``lengths`` overrides ``ctx.lengths`` (a chunk of rows)."""
    return ops.overlap_add(g, ctx.length, *ctx.frame_args,
                           ctx.lengths if lengths is None else lengths)


# frame: the adjoint is the overlap-add; overlap_add's is frame (both linear).
def frame_setup_context(ctx, inputs, output):
    _frame_setup(ctx, inputs, output, 5)


def frame_backward(ctx, grad):
    return _overlap_add(grad, ctx), None, None, None, None, None




def overlap_add_setup_context(ctx, inputs, output):
    ctx.frame_args = tuple(inputs[2:6])
    ctx.lengths = inputs[6] if len(inputs) > 6 else None


def overlap_add_backward(ctx, grad):
    return ops.frame(grad, *ctx.frame_args, ctx.lengths), None, None, None, None, None, None




# rms: d rms_t / d padded_p = padded_p / (N * rms_t), summed over the frames (and the padding
# copies) holding each sample; 0 where rms_t = 0 (the one-sided derivative of a norm at 0).
def _fused_frame_grad():
    """Whether the frame reductions' backward runs as one frame_features_backward kernel: always,
    but when a double backward is being recorded (create_graph=True), which needs the
    differentiable torch formulas below."""
    return not torch.is_grad_enabled()


def _frame_features_grad(x, rms, g_rms, g_env, ctx, absolute):
    """d/dx of rms (g_rms, with the forward's rms) and of the amplitude envelope (g_env) in one
    pass over x (csrc/frame_reduce_backward_ops.h); the same values as _rms_grad / _peak_grad."""
    return ops.frame_features_backward(x, rms if g_rms is not None else None, g_rms, g_env,
                                       *ctx.frame_args, absolute, ctx.lengths)


def _rms_grad(x, out, g, ctx):
    N = ctx.frame_args[0]
    silent = out == 0
    w = torch.where(silent, 0, g / (N * torch.where(silent, 1, out)))
    oa = _overlap_add(w.unsqueeze(-1).expand(*w.shape, N), ctx)
    if ctx.lengths is not None:
        # Samples past a row's length get no weight; the batch padding may hold NaN/inf, which
        # must not turn 0 * padding into NaN.
        return torch.where(oa == 0, 0, x * oa)
    return x * oa


def rms_setup_context(ctx, inputs, output):
    _frame_setup(ctx, inputs, output, 5)
    ctx.save_for_backward(inputs[0], output)


def rms_backward(ctx, grad):
    x, out = ctx.saved_tensors
    if _fused_frame_grad():
        return _frame_features_grad(x, out, grad, None, ctx, False), None, None, None, None, None
    return _rms_grad(x, out, grad, ctx), None, None, None, None, None




# amplitude envelope: the gradient goes to the frame's first argmax sample (a constant-padding
# zero that is the max sends it nowhere); with absolute=True times sign(x) there (0 at x = 0).
def _peak_grad(x, g, ctx, absolute, into=None):
    """The envelope's gradient, added in place into ``into`` (a fresh tensor of x's shape that
    no backward node saved) or into zeros."""
    idx = ops.frame_argmax(x.detach(), *ctx.frame_args, absolute, ctx.lengths)
    held = idx >= 0
    src = torch.where(held, idx, 0)
    val = torch.where(held, g, 0)
    if absolute:
        val = val * torch.sign(torch.gather(x, -1, src))
    out = torch.zeros_like(x) if into is None else into
    return out.scatter_add_(-1, src, val.to(out.dtype))


def amplitude_envelope_setup_context(ctx, inputs, output):
    _frame_setup(ctx, inputs, output, 6)
    ctx.absolute = inputs[5]
    ctx.save_for_backward(inputs[0])


def amplitude_envelope_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    if _fused_frame_grad():
        return (_frame_features_grad(x, None, None, grad, ctx, ctx.absolute),) + (None,) * 6
    return (_peak_grad(x, grad, ctx, ctx.absolute),) + (None,) * 6




# zero-crossing rate: piecewise constant in x, so its gradient is zero (not undefined: a loss
# that mixes it with other features still backpropagates).
def zero_crossing_rate_setup_context(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])


def zero_crossing_rate_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    return (torch.zeros_like(x),) + (None,) * 7




# frame_features: the amplitude-envelope and rms contributions summed (zcr's is zero).
def frame_features_setup_context(ctx, inputs, output):
    _frame_setup(ctx, inputs, output, 9)
    ctx.absolute = inputs[6]
    ctx.save_for_backward(inputs[0], output[1])


def frame_features_backward(ctx, g_ae, g_rms, g_zcr):
    x, r = ctx.saved_tensors
    if _fused_frame_grad():
        return (_frame_features_grad(x, r, g_rms, g_ae, ctx, ctx.absolute),) + (None,) * 9
    # x * overlap_add(...) is a fresh product that its mul node does not save: the envelope's
    # gradient is scattered into it in place (no zero-filled signal, no extra pass).
    grad = None if g_rms is None else _rms_grad(x, r, g_rms, ctx)
    if g_ae is not None:
        grad = _peak_grad(x, g_ae, ctx, ctx.absolute, into=grad)
    elif grad is None:
        grad = torch.zeros_like(x)
    return (grad,) + (None,) * 9




# stft_frames(x, window): d/dx is the overlap-add of grad * window (windowed_overlap_add, the
# multiply inside the gather); d/dwindow sums grad times the unwindowed frames. The STFT is
# rfft(stft_frames(...)), so torch's rfft backward adds the DC/Nyquist weighting.
def stft_frames_setup_context(ctx, inputs, output):
    x, window, n_fft, H, center, mode = inputs[:6]
    ctx.frame_args = (n_fft, H, center, mode)
    ctx.length = x.shape[-1]
    ctx.lengths = inputs[6] if len(inputs) > 6 else None
    ctx.save_for_backward(x, window)


def _frame_param_grad(grad_frames, x, ctx, lengths=None):
    """d/dwindow of frames * window: sum over rows and frames of grad * unwindowed frames."""
    g = grad_frames * ops.frame(x, *ctx.frame_args, ctx.lengths if lengths is None else lengths)
    return g.reshape(-1, g.shape[-1]).sum(0)


def stft_frames_backward(ctx, grad):
    x, window = ctx.saved_tensors
    gx = None
    if ctx.needs_input_grad[0]:
        gx = ops.windowed_overlap_add(grad, window, ctx.length, *ctx.frame_args, ctx.lengths)
    gw = _frame_param_grad(grad, x, ctx) if ctx.needs_input_grad[1] else None
    return gx, gw, None, None, None, None, None




# stft(x, window) = rfft(stft_frames(x, window)) in librosa's layout: its backward op gathers the
# gradient's columns chunk by chunk, inverse-transforms them (the rfft adjoint: irfft with the
# weights of _rfft_adjoint_weights, not torch's rfft backward, a complex transform of a zero-padded
# copy) and overlap-adds them through the window. With create_graph=True the same maths in
# differentiable ops (irfft, windowed_overlap_add, frame).
def stft_setup_context(ctx, inputs, output):
    x, window, n_fft, H, center, mode = inputs[:6]
    ctx.frame_args = (n_fft, H, center, mode)
    ctx.length = x.shape[-1]
    ctx.lengths = inputs[7] if len(inputs) > 7 else None
    ctx.save_for_backward(x, window)


def stft_backward(ctx, grad):
    x, window = ctx.saved_tensors
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    if torch.is_grad_enabled():  # create_graph=True: a differentiable backward
        n_fft = ctx.frame_args[0]
        wk = _rfft_adjoint_weights(n_fft, n_fft // 2 + 1, x.dtype, x.device)
        grad_frames = torch.fft.irfft(grad.transpose(-1, -2) * wk, n=n_fft, dim=-1)
        gx = gw = None
        if need_x:
            gx = ops.windowed_overlap_add(grad_frames, window, ctx.length, *ctx.frame_args,
                                          ctx.lengths)
        if need_w:
            gw = _frame_param_grad(grad_frames, x, ctx)
    else:
        gx, gw = ops.stft_backward(grad, x, window, *ctx.frame_args, need_w, 0, ctx.lengths)
    return (gx if need_x else None, gw if need_w else None) + (None,) * 6




# windowed_overlap_add(frames, window) is linear in each: d/dframes = stft_frames(grad, window)
# (the padded gradient under each frame, windowed), d/dwindow = sum of frames * frame(grad). So
# the STFT's double backward runs through kernels too.
def windowed_overlap_add_setup_context(ctx, inputs, output):
    frames, window = inputs[:2]
    ctx.frame_args = tuple(inputs[3:7])
    ctx.lengths = inputs[7] if len(inputs) > 7 else None
    ctx.save_for_backward(frames, window)


def windowed_overlap_add_backward(ctx, grad):
    frames, window = ctx.saved_tensors
    g_frames = g_window = None
    if ctx.needs_input_grad[0]:
        g_frames = ops.stft_frames(grad, window, *ctx.frame_args, ctx.lengths)
    if ctx.needs_input_grad[1]:
        g = frames * ops.frame(grad, *ctx.frame_args, ctx.lengths)
        g_window = g.reshape(-1, g.shape[-1]).sum(0)
    return (g_frames, g_window) + (None,) * 6




def _spectral_stats_grad(S, freq, bin_hz, centroid, p, norm, g_c, g_b, bins_dim=-2):
    """Gradients of (centroid, bandwidth) of S (..., K, T) (bins_dim=-2; (..., T, K) with
    bins_dim=-1, the layout of rfft(frames), so that every pass is contiguous) w.r.t. S and a
    given centroid, in differentiable torch ops (so they have second derivatives), in S's dtype.

    Per frame, with Z = sum_k S_k, z = Z (1 for a silent frame, Z < tiny: the normaliser is a
    constant there), d_k = f_k - c, D = sum_k S_k |d_k|^p, v = D / z (norm) or D, b = v^(1/p):
      dc/dS_k = d_k / z (f_k when silent, where z = 1 and c = sum_k f_k S_k);
      dD/dS_k = |d_k|^p - E dc/dS_k with E = p sum_j S_j |d_j|^(p-1) sign(d_j) (= -dD/dc), using
                the subgradient 0 of |d|^p at d = 0 (which matters for p <= 1);
      dv/dS_k = dD/dS_k / zn - [norm, not silent] D / z^2 (zn = z with norm, else 1);
      db/dv = b / (p v), 0 where v = 0 (b = 0 there: the one-sided derivative is infinite).
    With a given centroid, dc/dS = 0 and db/dc = -(b / (p v)) E / zn. So
      dL/dS_k = a |d_k|^p + beta (d_k + [silent] c) + gamma
    with per-frame a = gv / zn, beta = (gc - gv E / zn) / z, gamma = -[norm, not silent] gv D / z^2
    (gv = dL/dv): two multiply-adds per bin.
    """
    K = S.shape[bins_dim]
    tiny = torch.finfo(S.dtype).tiny
    if freq is None:
        f = torch.arange(K, dtype=torch.float64, device=S.device) * bin_hz
    else:
        f = freq
    f = f.to(S.dtype)
    if bins_dim == -2:
        f = f.unsqueeze(-1)  # (K, 1), broadcast over frames
    Z = S.sum(bins_dim, keepdim=True)
    silent = Z < tiny
    z = torch.where(silent, 1, Z)
    c_own = (f * S).sum(bins_dim, keepdim=True) / z
    given = centroid is not None
    c = centroid.to(S.dtype).unsqueeze(bins_dim) if given else c_own
    d = f - c
    if p == 2.0:
        dev_p = d * d
        slope = 2 * d
    elif p == 1.0:
        dev_p = d.abs()
        slope = torch.sign(d)
    else:
        ad = d.abs()
        nz = ad != 0
        ad_safe = torch.where(nz, ad, 1)
        dev_p = torch.where(nz, ad_safe ** p, 0)
        slope = torch.where(nz, p * ad_safe ** (p - 1) * torch.sign(d), 0)
    E = (S * slope).sum(bins_dim, keepdim=True)
    D = (S * dev_p).sum(bins_dim, keepdim=True)
    zn = z if norm else torch.ones_like(z)
    v = D / zn
    pos = v > 0
    v_safe = torch.where(pos, v, 1)
    b = torch.where(pos, v_safe ** (1.0 / p), 0)
    gb = torch.zeros_like(v) if g_b is None else g_b.to(S.dtype).unsqueeze(bins_dim)
    gc = torch.zeros_like(v) if g_c is None else g_c.to(S.dtype).unsqueeze(bins_dim)
    gv = torch.where(pos, gb * b / (p * v_safe), 0)
    a = gv / zn
    gamma = torch.where(silent, 0, -gv * D / (z * z)) if norm else torch.zeros_like(v)
    grad_c = None
    if given:
        grad_c = (-gv * E / zn).squeeze(bins_dim)
        # The returned centroid is still the frame's own: its gradient, with d of that centroid.
        beta = gc / z
        grad_S = a * dev_p + (beta * (f - c_own + torch.where(silent, c_own, 0)) + gamma)
    else:
        beta = (gc - gv * E / zn) / z
        grad_S = a * dev_p + (beta * d + (gamma + beta * torch.where(silent, c, 0)))
    return grad_S, grad_c


def spectral_stats_setup_context(ctx, inputs, output):
    S, freq, bin_hz, centroid, p, norm = inputs
    ctx.args = (bin_hz, p, norm)
    ctx.has_freq, ctx.has_centroid = freq is not None, centroid is not None
    ctx.save_for_backward(S, freq, centroid)


def spectral_stats_backward(ctx, g_c, g_b):
    S, freq, centroid = ctx.saved_tensors
    bin_hz, p, norm = ctx.args
    grad_S, grad_c = _spectral_stats_grad(S, freq if ctx.has_freq else None, bin_hz,
                                          centroid if ctx.has_centroid else None, p, norm,
                                          g_c, g_b)
    if grad_c is not None:
        grad_c = grad_c.to(centroid.dtype)
    return grad_S, None, None, grad_c, None, None




# spectral_features never materialises S, and neither does its backward op
# (spectral_features_backward: per chunk of frames, the spectrum recomputed, its gradient formed,
# inverse-transformed and overlap-added). With create_graph=True the backward runs the same maths
# in differentiable torch ops on the materialised spectrum instead, in the forward's compute dtype:
# S = |rfft(stft_frames(x))|, the spectral_stats gradient, then the chain back by hand
# (d|X|/dX = X/|X|, 0 at X = 0; the rfft adjoint; overlap_add), so second derivatives exist.
def spectral_features_setup_context(ctx, inputs, output):
    x, window, n_fft, H, center, mode, freq, bin_hz, p, norm = inputs[:10]
    ctx.frame_args = (n_fft, H, center, mode)
    ctx.length = x.shape[-1]
    ctx.chunk_frames = inputs[10] if len(inputs) > 10 else 0
    ctx.lengths = inputs[11] if len(inputs) > 11 else None
    ctx.args = (bin_hz, p, norm)
    ctx.has_freq = freq is not None
    ctx.save_for_backward(x, window, freq)


def _rfft_adjoint_weights(n, K, dtype, device):
    """x -> torch.fft.rfft(x, n) (unnormalised) has the adjoint, on dL/dX (..., K = n//2 + 1) in
    torch's convention (dL/dRe + i dL/dIm), dL/dx_m = Re sum_k g_k e^{2 pi i k m / n} over the
    one-sided bins = n * irfft(g * wk) with wk = 1/2 on the bins that irfft counts twice (all but
    DC and, for even n, Nyquist) and 1 on those."""
    wk = torch.full((K,), 0.5 * n, dtype=dtype, device=device)
    wk[0] = n
    if n % 2 == 0:
        wk[-1] = n
    return wk


def _spectral_features_vjp(x, window, freq, g_c, g_b, ctx, need_x, need_w):
    """(dL/dx, dL/dwindow) of spectral_features in differentiable torch ops (the double
    backward's path; spectral_features_backward computes the same in chunks)."""
    bin_hz, p, norm = ctx.args
    n_fft = ctx.frame_args[0]
    compute = compute_dtype(x)
    xc, wc = x.to(compute), window.to(compute)
    X = frame_spectrum(xc, wc, *ctx.frame_args, ctx.lengths)  # (..., n_frames, K)
    mag = X.abs()
    grad_S, _ = _spectral_stats_grad(mag, freq, bin_hz, None, p, norm, g_c, g_b, bins_dim=-1)
    # d|X|/dX = X / |X| (0 at X = 0) and the rfft adjoint's weights, as one real factor per bin
    # (a real view of X, so that nothing is promoted to complex).
    held = mag > 0
    K = X.shape[-1]
    coef = torch.where(held, grad_S / torch.where(held, mag, 1), 0)
    coef = coef * _rfft_adjoint_weights(n_fft, K, coef.dtype, coef.device)
    grad_X = torch.view_as_complex(torch.view_as_real(X) * coef.unsqueeze(-1))
    grad_frames = torch.fft.irfft(grad_X, n=n_fft, dim=-1)
    gx = None
    if need_x:
        gx = ops.windowed_overlap_add(grad_frames, wc, ctx.length, *ctx.frame_args,
                                      ctx.lengths).to(x.dtype)
    gw = _frame_param_grad(grad_frames, xc, ctx).to(window.dtype) if need_w else None
    return gx, gw


def spectral_features_backward(ctx, g_c, g_b):
    x, window, freq = ctx.saved_tensors
    freq = freq if ctx.has_freq else None
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    if torch.is_grad_enabled():  # create_graph=True: a differentiable backward
        gx, gw = _spectral_features_vjp(x, window, freq, g_c, g_b, ctx, need_x, need_w)
        return (gx, gw) + (None,) * 10
    bin_hz, p, norm = ctx.args
    gx, gw = ops.spectral_features_backward(x, window, *ctx.frame_args, freq, bin_hz, p, norm,
                                            g_c, g_b, need_w, ctx.chunk_frames, ctx.lengths)
    return (gx if need_x else None, gw if need_w else None) + (None,) * 10
