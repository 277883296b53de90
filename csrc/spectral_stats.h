// Math of the spectral statistics (centroid, bandwidth) and of the windowed frames, shared by the
// CPU and CUDA kernels so that the CPU tests exercise the exact code the GPU runs.
//
// Per frame (a column S[:, t] of a magnitude spectrogram, f_k the bin frequencies):
//   sum = sum_k S_k,  fsum = sum_k f_k S_k,  c = fsum / z(sum)
//   bandwidth = (sum_k S_k |f_k - c|^p / (norm ? z(sum) : 1))^(1/p)
// where z(sum) = sum, except that a column whose sum is below the dtype's tiny is left
// unnormalised (z = 1): librosa's util.normalize(S, norm=1, axis=-2, threshold=tiny), so a silent
// frame gives 0, not NaN.
//
// The bandwidth needs c before |f_k - c|^p, so a frame takes two sweeps over its column: the first
// gives (sum, fsum), the second the deviations. Kernels arrange for the second sweep to read the
// column from cache (L1/L2), so S is still read once from memory. The raw-moment shortcut for p = 2
// (sum f^2 S - c^2 sum S) cancels catastrophically for narrow-band frames at high frequency in
// float accumulation, and there is none for p != 2.
#pragma once

#include <cmath>
#include <cstdint>

#include "framing.h"

namespace audiofx {

// How |d|^p and its inverse are taken: the common powers without pow() (which does not
// vectorise and costs ~15x a multiply on CPU).
enum class PowerKind : int32_t { General = 0, One = 1, Two = 2, Three = 3 };

inline PowerKind power_kind(double p) {
  if (p == 1.0) return PowerKind::One;
  if (p == 2.0) return PowerKind::Two;
  if (p == 3.0) return PowerKind::Three;
  return PowerKind::General;
}

template <typename acc_t>
struct StatsParams {
  acc_t tiny;   // sums below this leave the column unnormalised (the input dtype's tiny)
  acc_t p;      // bandwidth order, > 0
  acc_t inv_p;  // 1 / p
  PowerKind kind;
  bool norm;    // normalise the column before the bandwidth sum (librosa's norm=True)
};

template <typename acc_t>
AUDIOFX_HD acc_t column_normaliser(acc_t sum, acc_t tiny) {
  return sum < tiny ? acc_t(1) : sum;
}

template <typename acc_t>
AUDIOFX_HD acc_t centroid_from(acc_t sum, acc_t fsum, acc_t tiny) {
  return fsum / column_normaliser(sum, tiny);
}

// |d|^p; `kind` is a compile-time constant wherever the CPU kernels inline this into a loop.
template <typename acc_t>
AUDIOFX_HD acc_t abs_pow(acc_t d, acc_t p, PowerKind kind) {
  const acc_t a = d < acc_t(0) ? -d : d;
  switch (kind) {
    case PowerKind::One:
      return a;
    case PowerKind::Two:
      return d * d;
    case PowerKind::Three:
      return a * a * a;
    default:
      return pow(a, p);
  }
}

template <typename acc_t>
AUDIOFX_HD acc_t bandwidth_from(acc_t dev_sum, acc_t sum, const StatsParams<acc_t>& sp) {
  const acc_t v = sp.norm ? dev_sum / column_normaliser(sum, sp.tiny) : dev_sum;
  switch (sp.kind) {
    case PowerKind::One:
      return v;
    case PowerKind::Two:
      return sqrt(v);
    default:
      return pow(v, sp.inv_p);
  }
}

// Frequency of bin k: freq[k] when a table is given, else k * bin_hz (numpy's rfftfreq formula,
// with bin_hz = 1 / (n_fft * (1 / sr)) computed on the host exactly as numpy does).
template <typename acc_t>
AUDIOFX_HD acc_t bin_frequency(const double* freq, int64_t k, acc_t bin_hz) {
  return freq != nullptr ? static_cast<acc_t>(freq[k]) : static_cast<acc_t>(k) * bin_hz;
}

// Magnitude of bin value `v` (real) or of the pair (re, im) at v[0], v[1] (complex), in acc_t.
template <bool kComplex, typename value_t, typename acc_t>
AUDIOFX_HD acc_t bin_magnitude(const value_t* v) {
  if (kComplex) {
    const acc_t re = static_cast<acc_t>(v[0]);
    const acc_t im = static_cast<acc_t>(v[1]);
    return sqrt(re * re + im * im);
  }
  return static_cast<acc_t>(v[0]);
}

// Windowed sample n of frame t of one row (DESIGN §2 framing through the index map):
// padded[t*H + n] * window[n], computed in `compute_t`.
template <typename compute_t, typename scalar_t, typename window_t>
AUDIOFX_HD compute_t windowed_sample(const scalar_t* row, const FrameSpec& spec, int64_t t,
                                     int64_t n, const window_t* window) {
  const scalar_t v = padded_sample(row, 1, t * spec.hop_length + n, spec.pad_left, spec.length,
                                   spec.mode);
  return static_cast<compute_t>(v) * static_cast<compute_t>(window[n]);
}

}  // namespace audiofx
