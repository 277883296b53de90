// CPU building blocks of the spectral kernels (stft_kernel.cpp, spectral_kernel.cpp): windowed
// frames of a frame range, and the two-sweep per-frame statistics of csrc/spectral_stats.h over a
// column with contiguous bins or over a tile of frames with strided bins. Serial: the callers
// parallelise over frames. Also the chunking the forward and backward kernels share.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../spectral_stats.h"

#if defined(__GNUC__)
#define AUDIOFX_SPECTRAL_INLINE inline __attribute__((always_inline))
#else
#define AUDIOFX_SPECTRAL_INLINE inline
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AUDIOFX_SPECTRAL_X86 1
#endif

namespace audiofx {

// The instruction set of the CPU kernels (frame_reduce_kernel.cpp): 0 baseline, 1 AVX2,
// 2 AVX-512; the best the CPU has, or lower as AUDIOFX_CPU_ISA says.
int cpu_isa_level();

namespace cpu {

// Frames [g0, g0 + count) of the contiguous (rows, T) signal `x`, numbered across rows
// (g = row * n_frames + t), windowed into `dst` (count, N) in out_t (x's dtype for stft_frames,
// double for the statistics). Interior frames are a vectorised multiply; frames that touch the
// padding go through the index map. With per-row lengths each row is framed as its clip alone
// and its frames past the clip's count are zeros.
template <typename out_t, typename scalar_t>
AUDIOFX_SPECTRAL_INLINE void window_frames_impl(const scalar_t* x, const out_t* window,
                                                const FrameSpec& spec, int64_t g0, int64_t count,
                                                out_t* dst) {
  const int64_t N = spec.frame_length;
  const int64_t nf = spec.n_frames;
  for (int64_t i = 0; i < count;) {
    const int64_t r = (g0 + i) / nf;
    const int64_t t0 = (g0 + i) % nf;
    const int64_t run = std::min(count - i, nf - t0);  // this row's frames in the range
    const FrameSpec own = row_spec(spec, r);
    const int64_t T = own.length;
    const scalar_t* row = x + r * spec.length;
    const int64_t frames = std::clamp<int64_t>(own.n_frames - t0, 0, run);
    for (int64_t k = 0; k < frames; ++k) {
      const int64_t t = t0 + k;
      const int64_t j0 = t * spec.hop_length - spec.pad_left;
      out_t* __restrict__ o = dst + (i + k) * N;
      if (j0 >= 0 && j0 + N <= T) {
        const scalar_t* __restrict__ s = row + j0;
#pragma omp simd
        for (int64_t n = 0; n < N; ++n) o[n] = static_cast<out_t>(s[n]) * window[n];
      } else {
        for (int64_t n = 0; n < N; ++n) o[n] = windowed_sample<out_t>(row, own, t, n, window);
      }
    }
    std::fill(dst + (i + frames) * N, dst + (i + run) * N, out_t(0));
    i += run;
  }
}

template <typename out_t, typename scalar_t>
void window_frames(const scalar_t* x, const out_t* window, const FrameSpec& spec, int64_t g0,
                   int64_t count, out_t* dst) {
  window_frames_impl(x, window, spec, g0, count, dst);
}

#ifdef AUDIOFX_SPECTRAL_X86
// The same loop compiled for AVX-512 / AVX2 (the build targets baseline x86-64, whose 2-wide
// conversion and multiply made the windowing ~8% of spectral_features; benchmarks/NOTES.md §7).
template <typename out_t, typename scalar_t>
__attribute__((target("avx512f,avx2,fma"))) void window_frames_avx512(
    const scalar_t* x, const out_t* window, const FrameSpec& spec, int64_t g0, int64_t count,
    out_t* dst) {
  window_frames_impl(x, window, spec, g0, count, dst);
}

template <typename out_t, typename scalar_t>
__attribute__((target("avx2,fma"))) void window_frames_avx2(const scalar_t* x,
                                                            const out_t* window,
                                                            const FrameSpec& spec, int64_t g0,
                                                            int64_t count, out_t* dst) {
  window_frames_impl(x, window, spec, g0, count, dst);
}
#endif

// Bin frequencies in acc_t: freq (float64) when given, else k * bin_hz.
template <typename acc_t>
std::vector<acc_t> frequency_table(const double* freq, int64_t n_bins, double bin_hz) {
  std::vector<acc_t> f(static_cast<size_t>(n_bins));
  for (int64_t k = 0; k < n_bins; ++k) {
    f[k] = bin_frequency<acc_t>(freq, k, static_cast<acc_t>(bin_hz));
  }
  return f;
}

// One frame whose n bins are contiguous: the first sweep sums, the second (from L1) the
// deviations. `given` (nullable) is a precomputed centroid for the bandwidth.
template <PowerKind K, typename value_t, typename acc_t>
AUDIOFX_SPECTRAL_INLINE void column_stats(const value_t* __restrict__ v, int64_t n,
                                          const acc_t* __restrict__ f, const double* given,
                                          const StatsParams<acc_t>& sp, acc_t& centroid,
                                          acc_t& bandwidth) {
  acc_t s = acc_t(0);
  acc_t fs = acc_t(0);
#pragma omp simd reduction(+ : s, fs)
  for (int64_t k = 0; k < n; ++k) {
    const acc_t a = static_cast<acc_t>(v[k]);
    s += a;
    fs += f[k] * a;
  }
  const acc_t c = centroid_from(s, fs, sp.tiny);
  const acc_t cb = given != nullptr ? static_cast<acc_t>(*given) : c;
  acc_t d = acc_t(0);
#pragma omp simd reduction(+ : d)
  for (int64_t k = 0; k < n; ++k) {
    d += static_cast<acc_t>(v[k]) * abs_pow(f[k] - cb, sp.p, K);
  }
  centroid = c;
  bandwidth = bandwidth_from(d, s, sp);
}

constexpr int64_t kStatsTile = 64;

// Up to kStatsTile frames whose bins are `bin_stride` apart and whose frames are `frame_stride`
// apart (1 for a contiguous (n_bins, n_frames) spectrogram: the inner loop runs along a row of S
// and vectorises). The tile's columns stay in L2 between the two sweeps.
template <PowerKind K, bool kUnitFrameStride, typename scalar_t, typename acc_t>
AUDIOFX_SPECTRAL_INLINE void tile_stats(const scalar_t* base, int64_t bin_stride,
                                        int64_t frame_stride, int64_t n_bins, int64_t nt,
                                        const acc_t* __restrict__ f, const double* given,
                                        const StatsParams<acc_t>& sp, scalar_t* centroid,
                                        scalar_t* bandwidth) {
  const int64_t fstride = kUnitFrameStride ? 1 : frame_stride;
  acc_t s[kStatsTile], fs[kStatsTile], cb[kStatsTile], d[kStatsTile];
  for (int64_t j = 0; j < nt; ++j) s[j] = fs[j] = d[j] = acc_t(0);
  for (int64_t k = 0; k < n_bins; ++k) {
    const scalar_t* __restrict__ src = base + k * bin_stride;
    const acc_t fk = f[k];
#pragma omp simd
    for (int64_t j = 0; j < nt; ++j) {
      const acc_t a = static_cast<acc_t>(src[j * fstride]);
      s[j] += a;
      fs[j] += fk * a;
    }
  }
  for (int64_t j = 0; j < nt; ++j) {
    const acc_t c = centroid_from(s[j], fs[j], sp.tiny);
    centroid[j] = static_cast<scalar_t>(c);
    cb[j] = given != nullptr ? static_cast<acc_t>(given[j]) : c;
  }
  for (int64_t k = 0; k < n_bins; ++k) {
    const scalar_t* __restrict__ src = base + k * bin_stride;
    const acc_t fk = f[k];
#pragma omp simd
    for (int64_t j = 0; j < nt; ++j) {
      d[j] += static_cast<acc_t>(src[j * fstride]) * abs_pow(fk - cb[j], sp.p, K);
    }
  }
  for (int64_t j = 0; j < nt; ++j) {
    bandwidth[j] = static_cast<scalar_t>(bandwidth_from(d[j], s[j], sp));
  }
}

// |z_k| of n interleaved (re, im) doubles. With errno-setting sqrt (the default -fmath-errno)
// the compiler will not vectorise a sqrt loop, so the x86 paths use the packed instructions.
#ifdef AUDIOFX_SPECTRAL_X86
__attribute__((target("avx2,fma"))) inline int64_t magnitudes_avx2(const double* __restrict__ z,
                                                                   int64_t n,
                                                                   double* __restrict__ mag) {
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    const __m256d a = _mm256_loadu_pd(z + 2 * k);      // r0 i0 r1 i1
    const __m256d b = _mm256_loadu_pd(z + 2 * k + 4);  // r2 i2 r3 i3
    const __m256d re = _mm256_unpacklo_pd(a, b);       // r0 r2 r1 r3
    const __m256d im = _mm256_unpackhi_pd(a, b);       // i0 i2 i1 i3
    const __m256d m = _mm256_sqrt_pd(_mm256_add_pd(_mm256_mul_pd(re, re), _mm256_mul_pd(im, im)));
    _mm256_storeu_pd(mag + k, _mm256_permute4x64_pd(m, 0xD8));  // m0 m1 m2 m3
  }
  return k;
}
#endif

#ifdef AUDIOFX_SPECTRAL_X86
// GCC 12's AVX-512 intrinsics pass an undefined vector as the unused merge source, which
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13); off
// until the end of the AVX-512 statistics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// 8 bins a step: the (re, im) pairs split with two-source permutes (so the magnitudes come
// out in order), then the packed sqrt, whose 512-bit form has twice the 256-bit one's throughput
// on Zen 4 (0.25 vs 0.50 ns per value, measured); correctly rounded like the scalar sqrt.
__attribute__((target("avx512f,avx2,fma"))) inline int64_t magnitudes_avx512(
    const double* __restrict__ z, int64_t n, double* __restrict__ mag) {
  const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m512d a = _mm512_loadu_pd(z + 2 * k);
    const __m512d b = _mm512_loadu_pd(z + 2 * k + 8);
    const __m512d re = _mm512_permutex2var_pd(a, even, b);
    const __m512d im = _mm512_permutex2var_pd(a, odd, b);
    _mm512_storeu_pd(mag + k, _mm512_sqrt_pd(_mm512_add_pd(_mm512_mul_pd(re, re),
                                                           _mm512_mul_pd(im, im))));
  }
  return k;
}
#endif

// kIsa: 0 baseline (SSE2), 1 AVX2, 2 AVX-512 (the caller's target must include it).
template <int kIsa>
AUDIOFX_SPECTRAL_INLINE void magnitudes(const double* __restrict__ z, int64_t n,
                                        double* __restrict__ mag) {
  int64_t k = 0;
#ifdef AUDIOFX_SPECTRAL_X86
  if constexpr (kIsa == 2) {
    k = magnitudes_avx512(z, n, mag);
  } else if constexpr (kIsa == 1) {
    k = magnitudes_avx2(z, n, mag);
  } else {
    for (; k + 2 <= n; k += 2) {
      const __m128d a = _mm_loadu_pd(z + 2 * k);
      const __m128d b = _mm_loadu_pd(z + 2 * k + 2);
      const __m128d re = _mm_unpacklo_pd(a, b);
      const __m128d im = _mm_unpackhi_pd(a, b);
      _mm_storeu_pd(mag + k, _mm_sqrt_pd(_mm_add_pd(_mm_mul_pd(re, re), _mm_mul_pd(im, im))));
    }
  }
#endif
  for (; k < n; ++k) mag[k] = bin_magnitude<true, double, double>(z + 2 * k);
}

// Statistics of `count` frames of a (count, n_bins) complex double spectrum (frames contiguous,
// as torch.fft.rfft writes them), into centroid/bandwidth[0, count). `mag` is n_bins of scratch.
template <PowerKind K, int kIsa, typename out_t>
AUDIOFX_SPECTRAL_INLINE void spectrum_stats_impl(const double* spectrum, int64_t count,
                                                 int64_t n_bins, const double* f,
                                                 const StatsParams<double>& sp, double* mag,
                                                 out_t* centroid, out_t* bandwidth) {
  for (int64_t i = 0; i < count; ++i) {
    magnitudes<kIsa>(spectrum + 2 * i * n_bins, n_bins, mag);
    double c, b;
    column_stats<K>(mag, n_bins, f, nullptr, sp, c, b);
    centroid[i] = static_cast<out_t>(c);
    bandwidth[i] = static_cast<out_t>(b);
  }
}

template <PowerKind K, typename out_t>
void spectrum_stats_default(const double* spectrum, int64_t count, int64_t n_bins,
                            const double* f, const StatsParams<double>& sp, double* mag,
                            out_t* centroid, out_t* bandwidth) {
  spectrum_stats_impl<K, 0>(spectrum, count, n_bins, f, sp, mag, centroid, bandwidth);
}

#ifdef AUDIOFX_SPECTRAL_X86
// The same loops compiled for AVX2+FMA (column_stats' reductions vectorise 4-wide), chosen at run
// time: the build targets baseline x86-64.
template <PowerKind K, typename out_t>
__attribute__((target("avx2,fma"))) void spectrum_stats_avx2(
    const double* spectrum, int64_t count, int64_t n_bins, const double* f,
    const StatsParams<double>& sp, double* mag, out_t* centroid, out_t* bandwidth) {
  spectrum_stats_impl<K, 1>(spectrum, count, n_bins, f, sp, mag, centroid, bandwidth);
}

// And for AVX-512: the sweeps' reductions 8-wide, the magnitudes' sqrt 512-bit.
template <PowerKind K, typename out_t>
__attribute__((target("avx512f,avx2,fma"))) void spectrum_stats_avx512(
    const double* spectrum, int64_t count, int64_t n_bins, const double* f,
    const StatsParams<double>& sp, double* mag, out_t* centroid, out_t* bandwidth) {
  spectrum_stats_impl<K, 2>(spectrum, count, n_bins, f, sp, mag, centroid, bandwidth);
}
#pragma GCC diagnostic pop

inline bool cpu_has_avx2_fma() { return cpu_isa_level() >= 1; }

inline bool cpu_has_avx512f() { return cpu_isa_level() >= 2; }
#endif

// spectrum_stats_{avx512,avx2,default} for this CPU.
template <PowerKind K, typename out_t>
auto spectrum_stats_for_cpu() {
#ifdef AUDIOFX_SPECTRAL_X86
  if (cpu_has_avx512f()) return &spectrum_stats_avx512<K, out_t>;
  if (cpu_has_avx2_fma()) return &spectrum_stats_avx2<K, out_t>;
#endif
  return &spectrum_stats_default<K, out_t>;
}

// window_frames_{avx512,avx2,} for this CPU.
template <typename out_t, typename scalar_t>
auto window_frames_for_cpu() {
#ifdef AUDIOFX_SPECTRAL_X86
  if (cpu_has_avx512f()) return &window_frames_avx512<out_t, scalar_t>;
  if (cpu_has_avx2_fma()) return &window_frames_avx2<out_t, scalar_t>;
#endif
  return &window_frames<out_t, scalar_t>;
}

// Frames per chunk: about 4 MiB of windowed frames and spectrum per thread. Measured on the DESIGN
// §6 batch (2 threads, 512 KiB L2 per core, 32 MiB L3): 8 frames 176 ms, 32: 145, 64-128: 136,
// 256: 163, 512: 227; below ~32 frames the per-call cost of the FFT dominates, above ~256 the
// chunks fall out of L3. At least ~4 chunks per thread for balance on short inputs.
inline int64_t auto_chunk_frames(int64_t n_fft, size_t real_size, int64_t total) {
  const int64_t bytes_per_frame =
      static_cast<int64_t>(real_size) * (n_fft + 2 * (n_fft / 2 + 1));
  const int64_t by_cache = std::clamp<int64_t>((int64_t{4} << 20) / bytes_per_frame, 8, 4096);
  const int64_t by_balance = ceil_div(total, 4 * static_cast<int64_t>(at::get_num_threads()));
  return std::max<int64_t>(1, std::min(by_cache, by_balance));
}

// The frames whose statistics are computed: each row's own frames (t < its clip's frame count),
// numbered across rows with the frames past each count left out, so that no zero frame of a
// variable-length batch is windowed or transformed.
class OwnFrames {
 public:
  OwnFrames(const FrameSpec& spec, int64_t rows) : nf_(spec.n_frames), total_(rows * nf_) {
    if (spec.lengths == nullptr) return;
    first_.resize(static_cast<size_t>(rows) + 1, 0);
    for (int64_t r = 0; r < rows; ++r) first_[r + 1] = first_[r] + row_spec(spec, r).n_frames;
    total_ = first_.back();
  }
  int64_t total() const { return total_; }
  int64_t begin(int64_t r) const { return first_.empty() ? r * nf_ : first_[r]; }
  int64_t count(int64_t r) const { return begin(r + 1) - begin(r); }
  // Calls fn(g, n, i) for each row's run of own frames among [v0, v1): output frames
  // [g, g + n) (g = row * n_frames + t) are own frames v0 + i ... v0 + i + n - 1.
  template <typename Fn>
  void for_each_run(int64_t v0, int64_t v1, Fn&& fn) const {
    int64_t r = first_.empty()
                    ? v0 / nf_
                    : std::upper_bound(first_.begin(), first_.end(), v0) - first_.begin() - 1;
    for (int64_t v = v0; v < v1; ++r) {
      const int64_t n = std::min(v1, begin(r + 1)) - v;
      if (n > 0) fn(r * nf_ + (v - begin(r)), n, v - v0);
      v += n;
    }
  }

 private:
  int64_t nf_;
  int64_t total_;
  std::vector<int64_t> first_;  // first_[r]: own frames of the rows before r; empty: nf_ per row
};

// Calls fn.template operator()<K>() with the PowerKind of `kind` as a compile-time constant.
template <typename Fn>
void with_power_kind(PowerKind kind, Fn&& fn) {
  switch (kind) {
    case PowerKind::One:
      fn(std::integral_constant<PowerKind, PowerKind::One>{});
      break;
    case PowerKind::Two:
      fn(std::integral_constant<PowerKind, PowerKind::Two>{});
      break;
    case PowerKind::Three:
      fn(std::integral_constant<PowerKind, PowerKind::Three>{});
      break;
    default:
      fn(std::integral_constant<PowerKind, PowerKind::General>{});
      break;
  }
}

}  // namespace cpu
}  // namespace audiofx
