// Math of the spectral backward ops (spectral_features_backward, windowed_overlap_add), shared by
// the CPU and CUDA kernels (csrc/spectral_stats.h has the forward's).
//
// Per frame, with S_k = |X_k| the magnitudes of X = rfft(windowed frame), Z = sum_k S_k,
// z = Z (1 for a silent frame, Z < tiny: the normaliser is a constant there), c = sum_k f_k S_k / z,
// d_k = f_k - c, D = sum_k S_k |d_k|^p, E = sum_k S_k p |d_k|^(p-1) sign(d_k) (= -dD/dc; the
// subgradient 0 of |d|^p at d = 0), zn = z with norm else 1, v = D / zn, b = v^(1/p):
//   dL/dS_k = a |d_k|^p + beta d_k + shift
// with a = gv / zn, gv = g_b b / (p v) (0 where v = 0: b = 0 there, its one-sided derivative is
// infinite), beta = (g_c - gv E / zn) / z, shift = -[norm, not silent] gv D / z^2 + [silent] beta c.
// Then dL/dX_k = X_k dL/dS_k / S_k (0 where S_k = 0), and the frame's gradient is the rfft
// adjoint: the unnormalised inverse real FFT of dL/dX_k times rfft_adjoint_weight(k).
#pragma once

#include <cstdint>

#include "frame_backward.h"
#include "spectral_stats.h"

namespace audiofx {

// |d|^p and its derivative p |d|^(p-1) sign(d) (0 at d = 0), with one pow() for a general p
// (a second one in the CUDA loops made ptxas spill around pow's slow path).
template <typename acc_t>
AUDIOFX_HD void abs_pow_and_slope(acc_t d, acc_t p, PowerKind kind, acc_t& dp, acc_t& slope) {
  const acc_t a = d < acc_t(0) ? -d : d;
  acc_t s;
  switch (kind) {
    case PowerKind::One:
      dp = a;
      s = a > acc_t(0) ? acc_t(1) : acc_t(0);
      break;
    case PowerKind::Two:
      dp = d * d;
      slope = acc_t(2) * d;
      return;
    case PowerKind::Three:
      dp = a * a * a;
      slope = acc_t(3) * d * a;
      return;
    default:
      dp = a > acc_t(0) ? pow(a, p) : acc_t(0);
      s = a > acc_t(0) ? p * dp / a : acc_t(0);
      break;
  }
  slope = d < acc_t(0) ? -s : s;
}

// v^(1/p) for v >= 0.
template <typename acc_t>
AUDIOFX_HD acc_t root_p(acc_t v, const StatsParams<acc_t>& sp) {
  switch (sp.kind) {
    case PowerKind::One:
      return v;
    case PowerKind::Two:
      return sqrt(v);
    default:
      return pow(v, sp.inv_p);
  }
}

// dL/dS_k = a |d_k|^p + beta d_k + shift for one frame (header comment).
template <typename acc_t>
struct SpectrumGrad {
  acc_t a, beta, shift;
};

// From the frame's sums: Z = `sum`, the centroid `c`, D = `dev`, E = `slope`, and the output
// gradients g_c, g_b of its centroid and bandwidth.
template <typename acc_t>
AUDIOFX_HD SpectrumGrad<acc_t> spectrum_grad(acc_t sum, acc_t c, acc_t dev, acc_t slope,
                                             acc_t g_c, acc_t g_b, const StatsParams<acc_t>& sp) {
  const bool silent = sum < sp.tiny;
  const acc_t z = silent ? acc_t(1) : sum;
  const acc_t zn = sp.norm ? z : acc_t(1);
  const acc_t v = dev / zn;
  const acc_t gv = v > acc_t(0) ? g_b * root_p(v, sp) / (sp.p * v) : acc_t(0);
  SpectrumGrad<acc_t> out;
  out.a = gv / zn;
  out.beta = (g_c - gv * slope / zn) / z;
  out.shift = (sp.norm && !silent) ? -gv * dev / (z * z) : acc_t(0);
  if (silent) out.shift += out.beta * c;
  return out;
}

// Weight of one-sided bin k of an n-point real FFT in its adjoint, as an unnormalised inverse
// real FFT computes it: that inverse counts every bin but DC and (n even) Nyquist twice.
template <typename acc_t>
AUDIOFX_HD acc_t rfft_adjoint_weight(int64_t k, int64_t n) {
  return (k == 0 || 2 * k == n) ? acc_t(1) : acc_t(0.5);
}

// sum_t G[t, p - t*H] * window[p - t*H] over the frames holding padded position p of one row
// (the windowed overlap-add's gather; G is (n_frames, N) with strides (t_stride, n_stride)).
template <typename acc_t, typename scalar_t, typename window_t>
AUDIOFX_HD acc_t windowed_overlap_sum(const scalar_t* g, int64_t t_stride, int64_t n_stride,
                                      const window_t* window, int64_t p, const FrameSpec& s) {
  int64_t t_lo, t_hi;
  frames_holding(p, s, t_lo, t_hi);
  acc_t acc = acc_t(0);
  for (int64_t t = t_lo; t <= t_hi; ++t) {
    const int64_t n = p - t * s.hop_length;
    acc += static_cast<acc_t>(g[t * t_stride + n * n_stride]) * static_cast<acc_t>(window[n]);
  }
  return acc;
}

}  // namespace audiofx
