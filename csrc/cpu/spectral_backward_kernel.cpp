// CPU kernel of spectral_features_backward (csrc/spectral_backward_ops.h), chunked as the forward
// (spectral_kernel.cpp): each worker takes chunks of frames, windows them, transforms them
// (float64, pocketfft/MKL through at::fft_rfft), turns the spectrum into its gradient in place,
// inverse-transforms it (at::fft_irfft) and overlap-adds the windowed frame gradients into dL/dx
// (chunk_overlap_add.h: no two workers write one sample). So the spectrogram is never whole and
// peak memory is dL/dx plus a chunk per worker.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_irfft.h>
#include <ATen/ops/fft_rfft.h>
#include <ATen/ops/zeros.h>
#include <c10/util/complex.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "../spectral_backward_ops.h"
#include "chunk_overlap_add.h"
#include "spectral_cpu.h"

namespace audiofx {
namespace {

#ifdef AUDIOFX_SPECTRAL_X86
// 8 bins a step: |z| = q / sqrt(q) from the 14-bit reciprocal square root refined twice by
// Newton's method (to ~1 ulp), which gives 1/|z| for the gradient's X / |X| without a divide; the
// packed sqrt and divide it replaces were a third of the spectrum gradient's time.
__attribute__((target("avx512f,avx2,fma"))) inline int64_t magnitudes_inverse_avx512(
    const double* __restrict__ z, int64_t n, double* __restrict__ mag,
    double* __restrict__ inv) {
  const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
  const __m512d half = _mm512_set1_pd(0.5), three_halves = _mm512_set1_pd(1.5);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m512d a = _mm512_loadu_pd(z + 2 * k);
    const __m512d b = _mm512_loadu_pd(z + 2 * k + 8);
    const __m512d re = _mm512_permutex2var_pd(a, even, b);
    const __m512d im = _mm512_permutex2var_pd(a, odd, b);
    const __m512d q = _mm512_fmadd_pd(re, re, _mm512_mul_pd(im, im));
    // Normal q only: 0 (and subnormals, where rsqrt14 is not refined this way) take the sqrt.
    const __mmask8 normal = _mm512_cmp_pd_mask(q, _mm512_set1_pd(2.2250738585072014e-308),
                                               _CMP_GE_OQ);
    __m512d y = _mm512_rsqrt14_pd(q);
    const __m512d hq = _mm512_mul_pd(half, q);
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(hq, _mm512_mul_pd(y, y), three_halves));
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(hq, _mm512_mul_pd(y, y), three_halves));
    __m512d m = _mm512_mul_pd(q, y);
    if (normal != 0xFF) {
      const __m512d m_exact = _mm512_sqrt_pd(q);
      m = _mm512_mask_blend_pd(normal, m_exact, m);
      const __mmask8 held = _mm512_cmp_pd_mask(m_exact, _mm512_setzero_pd(), _CMP_GT_OQ);
      y = _mm512_mask_blend_pd(normal, _mm512_maskz_div_pd(held, _mm512_set1_pd(1.0), m_exact),
                               y);
    }
    _mm512_storeu_pd(mag + k, m);
    _mm512_storeu_pd(inv + k, y);
  }
  return k;
}

// z[2k], z[2k+1] *= c[k]: each coefficient duplicated into its (re, im) pair.
__attribute__((target("avx512f,avx2,fma"))) inline int64_t scale_pairs_avx512(
    double* __restrict__ z, const double* __restrict__ c, int64_t n) {
  const __m512i lo = _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3);
  const __m512i hi = _mm512_setr_epi64(4, 4, 5, 5, 6, 6, 7, 7);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m512d v = _mm512_loadu_pd(c + k);
    _mm512_storeu_pd(z + 2 * k,
                     _mm512_mul_pd(_mm512_loadu_pd(z + 2 * k), _mm512_permutexvar_pd(lo, v)));
    _mm512_storeu_pd(z + 2 * k + 8, _mm512_mul_pd(_mm512_loadu_pd(z + 2 * k + 8),
                                                  _mm512_permutexvar_pd(hi, v)));
  }
  return k;
}
#endif

template <int kIsa>
AUDIOFX_SPECTRAL_INLINE void magnitudes_inverse(const double* __restrict__ z, int64_t n,
                                                double* __restrict__ mag,
                                                double* __restrict__ inv) {
  int64_t k = 0;
#ifdef AUDIOFX_SPECTRAL_X86
  if constexpr (kIsa == 2) k = magnitudes_inverse_avx512(z, n, mag, inv);
#endif
  if (k == 0) {
    cpu::magnitudes<kIsa>(z, n, mag);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) inv[i] = mag[i] > 0.0 ? 1.0 / mag[i] : 0.0;
    return;
  }
  for (; k < n; ++k) {
    mag[k] = bin_magnitude<true, double, double>(z + 2 * k);
    inv[k] = mag[k] > 0.0 ? 1.0 / mag[k] : 0.0;
  }
}

template <int kIsa>
AUDIOFX_SPECTRAL_INLINE void scale_pairs(double* __restrict__ z, const double* __restrict__ c,
                                         int64_t n) {
  int64_t k = 0;
#ifdef AUDIOFX_SPECTRAL_X86
  if constexpr (kIsa == 2) k = scale_pairs_avx512(z, c, n);
#endif
  for (; k < n; ++k) {
    z[2 * k] *= c[k];
    z[2 * k + 1] *= c[k];
  }
}

// One frame: its spectrum z (n_bins interleaved (re, im)) becomes dL/dX times the rfft adjoint
// weights (csrc/spectral_backward.h). scratch: 3 * n_bins.
template <PowerKind K, int kIsa>
AUDIOFX_SPECTRAL_INLINE void frame_spectrum_grad(double* __restrict__ z, int64_t n_bins,
                                                 int64_t n_fft, const double* __restrict__ f,
                                                 double g_c, double g_b,
                                                 const StatsParams<double>& sp,
                                                 double* __restrict__ scratch) {
  if (g_c == 0.0 && g_b == 0.0) {
    std::fill(z, z + 2 * n_bins, 0.0);
    return;
  }
  double* __restrict__ mag = scratch;
  double* __restrict__ inv = scratch + n_bins;
  double* __restrict__ dev = scratch + 2 * n_bins;
  magnitudes_inverse<kIsa>(z, n_bins, mag, inv);
  // Each sum in two halves: two independent chains of vector adds, not one latency-bound chain.
  const int64_t h = n_bins / 2;
  double s0 = 0.0, fs0 = 0.0, s1 = 0.0, fs1 = 0.0;
#pragma omp simd reduction(+ : s0, fs0, s1, fs1)
  for (int64_t k = 0; k < h; ++k) {
    s0 += mag[k];
    fs0 += f[k] * mag[k];
    s1 += mag[h + k];
    fs1 += f[h + k] * mag[h + k];
  }
  for (int64_t k = 2 * h; k < n_bins; ++k) {
    s0 += mag[k];
    fs0 += f[k] * mag[k];
  }
  const double s = s0 + s1;
  const double c = centroid_from(s, fs0 + fs1, sp.tiny);
  double D0 = 0.0, E0 = 0.0, D1 = 0.0, E1 = 0.0;
#pragma omp simd reduction(+ : D0, E0, D1, E1)
  for (int64_t k = 0; k < h; ++k) {
    double dp, sl;
    abs_pow_and_slope(f[k] - c, sp.p, K, dp, sl);
    dev[k] = dp;
    D0 += mag[k] * dp;
    E0 += mag[k] * sl;
    abs_pow_and_slope(f[h + k] - c, sp.p, K, dp, sl);
    dev[h + k] = dp;
    D1 += mag[h + k] * dp;
    E1 += mag[h + k] * sl;
  }
  for (int64_t k = 2 * h; k < n_bins; ++k) {
    double dp, sl;
    abs_pow_and_slope(f[k] - c, sp.p, K, dp, sl);
    dev[k] = dp;
    D0 += mag[k] * dp;
    E0 += mag[k] * sl;
  }
  const double D = D0 + D1, E = E0 + E1;
  const SpectrumGrad<double> gr = spectrum_grad(s, c, D, E, g_c, g_b, sp);
  // Every bin at the weight 1/2, then DC and Nyquist doubled (exact); inv is 0 where |X| = 0.
  const double a = 0.5 * gr.a, beta = 0.5 * gr.beta, shift = 0.5 * gr.shift;
#pragma omp simd
  for (int64_t k = 0; k < n_bins; ++k) {
    dev[k] = (a * dev[k] + beta * (f[k] - c) + shift) * inv[k];
  }
  dev[0] *= 2.0;
  if (n_fft % 2 == 0) dev[n_bins - 1] *= 2.0;
  scale_pairs<kIsa>(z, dev, n_bins);
}

template <PowerKind K, int kIsa>
AUDIOFX_SPECTRAL_INLINE void spectrum_grad_impl(double* z, int64_t count, int64_t n_bins,
                                                int64_t n_fft, const double* f, const double* gc,
                                                const double* gb, const StatsParams<double>& sp,
                                                double* scratch) {
  for (int64_t i = 0; i < count; ++i) {
    frame_spectrum_grad<K, kIsa>(z + 2 * i * n_bins, n_bins, n_fft, f,
                                 gc != nullptr ? gc[i] : 0.0, gb != nullptr ? gb[i] : 0.0, sp,
                                 scratch);
  }
}

template <PowerKind K>
void spectrum_grad_default(double* z, int64_t count, int64_t n_bins, int64_t n_fft,
                           const double* f, const double* gc, const double* gb,
                           const StatsParams<double>& sp, double* scratch) {
  spectrum_grad_impl<K, 0>(z, count, n_bins, n_fft, f, gc, gb, sp, scratch);
}

#ifdef AUDIOFX_SPECTRAL_X86
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC bug 105593: see spectral_cpu.h
template <PowerKind K>
__attribute__((target("avx2,fma"))) void spectrum_grad_avx2(
    double* z, int64_t count, int64_t n_bins, int64_t n_fft, const double* f, const double* gc,
    const double* gb, const StatsParams<double>& sp, double* scratch) {
  spectrum_grad_impl<K, 1>(z, count, n_bins, n_fft, f, gc, gb, sp, scratch);
}

template <PowerKind K>
__attribute__((target("avx512f,avx2,fma"))) void spectrum_grad_avx512(
    double* z, int64_t count, int64_t n_bins, int64_t n_fft, const double* f, const double* gc,
    const double* gb, const StatsParams<double>& sp, double* scratch) {
  spectrum_grad_impl<K, 2>(z, count, n_bins, n_fft, f, gc, gb, sp, scratch);
}
#pragma GCC diagnostic pop
#endif

template <PowerKind K>
auto spectrum_grad_for_cpu() {
#ifdef AUDIOFX_SPECTRAL_X86
  if (cpu::cpu_has_avx512f()) return &spectrum_grad_avx512<K>;
  if (cpu::cpu_has_avx2_fma()) return &spectrum_grad_avx2<K>;
#endif
  return &spectrum_grad_default<K>;
}

// Frames per chunk: about 1.5 MiB of frames, spectrum and frame gradients per worker, a smaller
// share of the cache than the forward's (three buffers, not two). Measured on the DESIGN §6
// batch (32 rows, 1 thread, 2 MiB L2): 16 frames 43.8 ms, 32: 43.9, 64: 47.6, 128: 51.1.
int64_t backward_chunk_frames(int64_t n_fft, int64_t total) {
  const int64_t bytes_per_frame = int64_t{8} * (2 * n_fft + 2 * n_bins_for(n_fft));
  const int64_t by_cache = std::clamp<int64_t>((int64_t{3} << 19) / bytes_per_frame, 8, 4096);
  const int64_t by_balance = ceil_div(total, 4 * static_cast<int64_t>(at::get_num_threads()));
  return std::max<int64_t>(1, std::min(by_cache, by_balance));
}

std::tuple<at::Tensor, at::Tensor> spectral_features_backward_cpu(
    const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
    const std::optional<at::Tensor>& freq, double bin_hz, const BandwidthArgs& bw,
    const StatsGrads& grads, bool window_grad, int64_t chunk_frames) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const at::Tensor fc = freq.has_value() ? freq->contiguous() : at::Tensor();
  const auto as_double = [](const std::optional<at::Tensor>& g) {
    return g.has_value() ? g->to(at::kDouble).contiguous() : at::Tensor();
  };
  const at::Tensor gc = as_double(grads.centroid);
  const at::Tensor gb = as_double(grads.bandwidth);
  const int64_t N = spec.frame_length;
  const int64_t n_bins = n_bins_for(N);
  const int64_t rows = xc.numel() / spec.length;
  at::Tensor gx = at::empty(x.sizes(), xc.options());
  at::Tensor gw = at::zeros({window_grad ? N : 0}, wc.options());
  const cpu::OwnFrames own(spec, rows);
  const int64_t total = own.total();
  if (total == 0 || (!gc.defined() && !gb.defined())) {
    gx.zero_();
    return {gx, gw};
  }
  const int64_t F =
      std::min(total, chunk_frames > 0 ? chunk_frames : backward_chunk_frames(N, total));
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_spectral_features_backward_cpu", [&] {
    const auto sp = make_stats_params<double>(bw, std::numeric_limits<scalar_t>::min());
    const std::vector<double> f = cpu::frequency_table<double>(
        fc.defined() ? fc.const_data_ptr<double>() : nullptr, n_bins, bin_hz);
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    const double* w = wc.const_data_ptr<double>();
    const double* gc_p = gc.defined() ? gc.const_data_ptr<double>() : nullptr;
    const double* gb_p = gb.defined() ? gb.const_data_ptr<double>() : nullptr;
    cpu::ChunkedOverlapAdd<scalar_t> ola(spec, own, rows, F, window_grad,
                                         gx.data_ptr<scalar_t>());
    struct Buffers {
      at::Tensor frames;
      std::vector<double> scratch, acc;
    };
    cpu::with_power_kind(sp.kind, [&](auto kind) {
      constexpr PowerKind K = decltype(kind)::value;
      const auto spectrum_grad_fn = spectrum_grad_for_cpu<K>();
      const auto window_frames = cpu::window_frames_for_cpu<double, scalar_t>();
      const auto add_run = cpu::add_run_for_cpu<scalar_t, double, double>();
      const int64_t nf = spec.n_frames;
      cpu::for_each_chunk(
          total, F,
          [&] {
            return Buffers{at::empty({F, N}, xc.options().dtype(at::kDouble)),
                           std::vector<double>(static_cast<size_t>(3 * n_bins)),
                           std::vector<double>(static_cast<size_t>(ola.acc_size()))};
          },
          [&](Buffers& b, int64_t chunk, int64_t v0, int64_t v1) {
            double* buf = b.frames.data_ptr<double>();
            own.for_each_run(v0, v1, [&](int64_t g, int64_t n, int64_t i) {
              window_frames(src, w, spec, g, n, buf + i * N);
            });
            at::Tensor spectrum = at::fft_rfft(b.frames.narrow(0, 0, v1 - v0), N, -1);
            TORCH_INTERNAL_ASSERT(spectrum.is_contiguous());
            double* z = reinterpret_cast<double*>(spectrum.data_ptr<c10::complex<double>>());
            own.for_each_run(v0, v1, [&](int64_t g, int64_t n, int64_t i) {
              spectrum_grad_fn(z + 2 * i * n_bins, n, n_bins, N, f.data(),
                               gc_p != nullptr ? gc_p + g : nullptr,
                               gb_p != nullptr ? gb_p + g : nullptr, sp, b.scratch.data());
            });
            // Unnormalised: the rfft adjoint (the weights are in the spectrum already).
            const at::Tensor grad_frames = at::fft_irfft(spectrum, N, -1, "forward");
            TORCH_INTERNAL_ASSERT(grad_frames.is_contiguous());
            const double* G = grad_frames.const_data_ptr<double>();
            own.for_each_run(v0, v1, [&](int64_t g, int64_t n, int64_t i) {
              add_run(ola, chunk, G + i * N, n, g / nf, g % nf, w, b.acc.data());
              if (window_grad) ola.add_window_run(chunk, G + i * N, n, src, g / nf, g % nf);
            });
          });
    });
    ola.finish(window_grad ? gw.data_ptr<double>() : nullptr);
  });
  return {gx, gw};
}

}  // namespace
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CPU, m) {
  m.impl("spectral_features_backward",
         &audiofx::spectral_features_backward_op<audiofx::spectral_features_backward_cpu>);
}
