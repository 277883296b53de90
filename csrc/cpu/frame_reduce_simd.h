// Vectorised reducers of one segment of a contiguous row for the CPU frame kernels
// (frame_reduce_kernel.cpp): the interior twins of reduce_segment (frame_stats.h). Each reads
// s[0 .. n) and s[-1] (the sample before, for the left crossing) and returns the stats of the
// whole segment and, through `head`, those of its first `split` samples (0 < split <= n), in one
// read: a hop-aligned block and its head.
#pragma once

#include <cmath>
#include <cstdint>

#include "../frame_stats.h"

#if defined(__GNUC__)
#define AUDIOFX_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define AUDIOFX_ALWAYS_INLINE inline
#endif

namespace audiofx {
namespace cpu {

// The portable form, written as reductions the compiler vectorises (NaN is tracked on the side
// because a vector max drops it). Built once for baseline x86-64 and once inside AVX2 entry
// points (everything here is inlined into them).
template <bool kAbsolute, typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE void sumsq_and_peak(const scalar_t* s, int64_t n, acc_t& sumsq,
                                          scalar_t& peak) {
  acc_t ss = acc_t(0);
  scalar_t pk = lowest<scalar_t>();
  int32_t has_nan = 0;
#pragma omp simd reduction(+ : ss) reduction(max : pk) reduction(| : has_nan)
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t v = s[i];
    ss += static_cast<acc_t>(v) * static_cast<acc_t>(v);
    const scalar_t u = kAbsolute ? (v < scalar_t(0) ? -v : v) : v;
    pk = u > pk ? u : pk;
    has_nan |= static_cast<int32_t>(v != v);
  }
  sumsq = ss;
  peak = has_nan ? static_cast<scalar_t>(NAN) : pk;
}

template <typename scalar_t>
AUDIOFX_ALWAYS_INLINE int32_t count_crossings(const scalar_t* s, int64_t n, scalar_t thr,
                                              bool zero_pos) {
  int32_t c = 0;
#pragma omp simd reduction(+ : c)
  for (int64_t i = 1; i < n; ++i) {
    c += static_cast<int32_t>(crossing_class(s[i], thr, zero_pos) !=
                              crossing_class(s[i - 1], thr, zero_pos));
  }
  return c;
}

template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE BlockStats<acc_t, scalar_t> reduce_interior(const scalar_t* s, int64_t n,
                                                                  int32_t features,
                                                                  const ReduceParams& rp) {
  BlockStats<acc_t, scalar_t> b = empty_block<acc_t, scalar_t>();
  if (features & (kRms | kPeak)) {
    if (rp.absolute) {
      sumsq_and_peak<true>(s, n, b.sumsq, b.peak);
    } else {
      sumsq_and_peak<false>(s, n, b.sumsq, b.peak);
    }
  }
  if (features & kZcr) {
    const scalar_t thr = static_cast<scalar_t>(rp.threshold);
    b.left_crossing = static_cast<int32_t>(crossing_class(s[-1], thr, rp.zero_pos) !=
                                           crossing_class(s[0], thr, rp.zero_pos));
    b.crossings = count_crossings(s, n, thr, rp.zero_pos);
  }
  return b;
}

template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE BlockStats<acc_t, scalar_t> reduce_interior_split(
    const scalar_t* s, int64_t n, int64_t split, int32_t features, const ReduceParams& rp,
    BlockStats<acc_t, scalar_t>* head) {
  if (split == 0) return reduce_interior<scalar_t, acc_t>(s, n, features, rp);
  const auto h = reduce_interior<scalar_t, acc_t>(s, split, features, rp);
  *head = h;
  if (split == n) return h;
  return append_stats(h, reduce_interior<scalar_t, acc_t>(s + split, n - split, features, rp));
}

// The RMS and crossing rate of n frames from their sums of squares and crossing counts, the
// formulas of frame_stats.h (each op is correctly rounded, so the vector twins below give the
// same bits).
template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE void finish_frames(const acc_t* sumsq, const int32_t* crossings, int64_t n,
                                         int64_t N, scalar_t* rms, scalar_t* zcr) {
  for (int64_t i = 0; i < n; ++i) {
    if (rms) rms[i] = static_cast<scalar_t>(rms_from_sumsq(sumsq[i], N));
    if (zcr) zcr[i] = static_cast<scalar_t>(zcr_from_crossings(crossings[i], N));
  }
}

}  // namespace cpu
}  // namespace audiofx

#if defined(__x86_64__) && defined(__GNUC__)
#define AUDIOFX_HAVE_AVX2_PATH 1
#include <immintrin.h>

#define AUDIOFX_AVX2_TARGET __attribute__((target("avx2,fma,popcnt")))
#define AUDIOFX_AVX512_TARGET __attribute__((target("avx512f,avx2,fma,popcnt")))

namespace audiofx {
namespace cpu {

// The float32 segments with intrinsics (AVX2: 16 samples a step; AVX-512: 32): squares summed
// exactly in double (4 chains, so the FMA latency does not serialise the loop), the peak with
// packed max, and the crossings as bit masks: with zero_pos a sample's class is its
// "v < -thr" bit, otherwise the pair of bits (v < -thr, v > thr); a crossing is a bit that
// differs from the one before (the previous sample's bit shifted in), counted with popcount. A
// NaN sample makes the double sum of squares NaN (squares are >= 0, so no inf - inf), which is
// how the peak learns of it without a per-sample NaN test. The last step of a segment (and of
// its head) is a masked one of 1 .. step-1 samples: masked lanes load nothing (no fault past the
// row), add 0 to the sums, keep the peak, and give no class bits.

// Class bits `cls` of `count` samples (bit k: sample k), `prev` (0 or 1) the class bit of the
// sample before them: the bits of the crossings; `prev` becomes the last sample's bit.
AUDIOFX_ALWAYS_INLINE uint32_t crossing_bits(uint32_t cls, uint32_t& prev, int count,
                                             uint32_t mask) {
  const uint32_t diff = (cls ^ ((cls << 1) | prev)) & mask;
  prev = (cls >> (count - 1)) & 1u;
  return diff;
}

AUDIOFX_ALWAYS_INLINE uint32_t low_bits(int count) {
  return count >= 32 ? 0xffffffffu : (1u << count) - 1u;
}

// Running sums of one segment; `left` is the first sample's crossing bit, `total` counts it.
// (A macro, not a template: vector types lose their attributes as template arguments.)
#define AUDIOFX_SIMD_STATE(NAME, VEC_D, VEC_F) \
  struct NAME {                                \
    VEC_D a0, a1, a2, a3;                      \
    VEC_F pk0, pk1;                            \
    uint32_t prev_neg, prev_pos;               \
    int32_t total, left;                       \
  }

AUDIOFX_ALWAYS_INLINE BlockStats<double, float> finish_stats(double ss, float pk, int32_t total,
                                                            int32_t left) {
  BlockStats<double, float> b;
  b.sumsq = ss;
  b.peak = (ss != ss) ? NAN : pk;
  b.left_crossing = left;
  b.crossings = total - left;
  return b;
}

AUDIOFX_SIMD_STATE(State256, __m256d, __m256);

// kFull: 16 samples; else the first `count` (1..15) of them.
template <bool kAbsolute, bool kZeroPos, bool kFull>
AUDIOFX_AVX2_TARGET AUDIOFX_ALWAYS_INLINE uint32_t step_avx2(const float* p, int count,
                                                              float thr, State256& st) {
  const __m256 neg_thr = _mm256_set1_ps(-thr);
  const __m256 pos_thr = _mm256_set1_ps(thr);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 v0, v1;
  __m256d d0, d1, d2, d3;
  if (kFull) {
    v0 = _mm256_loadu_ps(p);
    v1 = _mm256_loadu_ps(p + 8);
    d0 = _mm256_cvtps_pd(_mm_loadu_ps(p));
    d1 = _mm256_cvtps_pd(_mm_loadu_ps(p + 4));
    d2 = _mm256_cvtps_pd(_mm_loadu_ps(p + 8));
    d3 = _mm256_cvtps_pd(_mm_loadu_ps(p + 12));
  } else {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), iota);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8), iota);
    v0 = _mm256_maskload_ps(p, m0);
    v1 = _mm256_maskload_ps(p + 8, m1);
    d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v0));
    d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v0, 1));
    d2 = _mm256_cvtps_pd(_mm256_castps256_ps128(v1));
    d3 = _mm256_cvtps_pd(_mm256_extractf128_ps(v1, 1));
  }
  st.a0 = _mm256_fmadd_pd(d0, d0, st.a0);
  st.a1 = _mm256_fmadd_pd(d1, d1, st.a1);
  st.a2 = _mm256_fmadd_pd(d2, d2, st.a2);
  st.a3 = _mm256_fmadd_pd(d3, d3, st.a3);
  __m256 u0 = kAbsolute ? _mm256_and_ps(v0, abs_mask) : v0;
  __m256 u1 = kAbsolute ? _mm256_and_ps(v1, abs_mask) : v1;
  if (!kFull) {  // masked lanes hold 0.0, which must not raise the peak
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    u0 = _mm256_blendv_ps(ninf, u0,
                          _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count), iota)));
    u1 = _mm256_blendv_ps(
        ninf, u1, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8), iota)));
  }
  st.pk0 = _mm256_max_ps(st.pk0, u0);
  st.pk1 = _mm256_max_ps(st.pk1, u1);
  const int n = kFull ? 16 : count;
  const uint32_t mask = low_bits(n);
  const uint32_t neg =
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v0, neg_thr, _CMP_LT_OQ))) |
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v1, neg_thr, _CMP_LT_OQ))) << 8;
  uint32_t diff = crossing_bits(neg, st.prev_neg, n, mask);
  if (!kZeroPos) {
    const uint32_t pos =
        static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v0, pos_thr, _CMP_GT_OQ))) |
        static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v1, pos_thr, _CMP_GT_OQ))) << 8;
    diff |= crossing_bits(pos, st.prev_pos, n, mask);
  }
  return diff;
}

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX2_TARGET AUDIOFX_ALWAYS_INLINE void run_avx2(const float* s, int64_t& i, int64_t end,
                                                         float thr, State256& st) {
  for (; i + 16 <= end; i += 16) {
    const uint32_t diff = step_avx2<kAbsolute, kZeroPos, true>(s + i, 16, thr, st);
    if (i == 0) st.left = static_cast<int32_t>(diff & 1u);
    st.total += __builtin_popcount(diff);
  }
  if (i < end) {
    const uint32_t diff =
        step_avx2<kAbsolute, kZeroPos, false>(s + i, static_cast<int>(end - i), thr, st);
    if (i == 0) st.left = static_cast<int32_t>(diff & 1u);
    st.total += __builtin_popcount(diff);
    i = end;
  }
}

AUDIOFX_AVX2_TARGET AUDIOFX_ALWAYS_INLINE BlockStats<double, float> stats_avx2(
    const State256& st) {
  const __m256d a = _mm256_add_pd(_mm256_add_pd(st.a0, st.a1), _mm256_add_pd(st.a2, st.a3));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, a);
  const double ss = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  alignas(32) float pks[8];
  _mm256_store_ps(pks, _mm256_max_ps(st.pk0, st.pk1));
  float pk = pks[0];
  for (int k = 1; k < 8; ++k) pk = pks[k] > pk ? pks[k] : pk;
  return finish_stats(ss, pk, st.total, st.left);
}

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX2_TARGET inline BlockStats<double, float> reduce_split_f32_avx2(
    const float* s, int64_t n, int64_t split, float thr, BlockStats<double, float>* head) {
  State256 st;
  st.a0 = st.a1 = st.a2 = st.a3 = _mm256_setzero_pd();
  st.pk0 = st.pk1 = _mm256_set1_ps(-INFINITY);
  st.prev_neg = static_cast<uint32_t>(s[-1] < -thr);
  st.prev_pos = static_cast<uint32_t>(s[-1] > thr);
  st.total = 0;
  st.left = 0;
  int64_t i = 0;
  if (split > 0) {
    run_avx2<kAbsolute, kZeroPos>(s, i, split, thr, st);
    *head = stats_avx2(st);
  }
  run_avx2<kAbsolute, kZeroPos>(s, i, n, thr, st);
  return stats_avx2(st);
}

// finish_frames for float32 on 4 frames a step: the scalar loop is bound by the latency of a
// division and a square root per frame (and sqrt's errno branch keeps the compiler from
// vectorising it).
AUDIOFX_AVX2_TARGET AUDIOFX_ALWAYS_INLINE void finish_frames_f32_avx2(const double* sumsq,
                                                                     const int32_t* crossings,
                                                                     int64_t n, int64_t N,
                                                                     float* rms, float* zcr) {
  const __m256d vn = _mm256_set1_pd(static_cast<double>(N));
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (rms) {
      const __m256d ms = _mm256_div_pd(_mm256_loadu_pd(sumsq + i), vn);
      _mm_storeu_ps(rms + i, _mm256_cvtpd_ps(_mm256_sqrt_pd(ms)));
    }
    if (zcr) {
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(crossings + i));
      _mm_storeu_ps(zcr + i, _mm256_cvtpd_ps(_mm256_div_pd(_mm256_cvtepi32_pd(c), vn)));
    }
  }
  finish_frames(sumsq + i, crossings + i, n - i, N, rms ? rms + i : nullptr,
                zcr ? zcr + i : nullptr);
}

// GCC 12's AVX-512 intrinsics pass an undefined vector as the unused merge source, which
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13); the
// warning is off from here to the end of the file's AVX-512 code (and its users re-push it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The AVX-512 twin: 32 samples a step, class bits straight from the compare masks (no
// movemask), one 16-sample step, then a masked one for the last 1..15 samples. On Zen 4 a
// 512-bit op issues as two 256-bit halves, yet this is ~1.6x the AVX2 loop (benchmarks/NOTES.md
// §5): half the instructions per sample, and the per-step scalar crossing work is spread over
// twice the samples. One function with its accumulators in locals and the 16-sample step before
// the masked one: written as shared step helpers (as the AVX2 path is), or with a masked step of
// up to 31 samples, the compiler scheduled the main loop's loads and prefetches so that whole
// blocks of 512 ran 8-18 % slower on the batch (Intel, measured; not understood further).
constexpr int64_t kPrefetchAhead = 1024;  // samples: 4 KiB of float32

AUDIOFX_AVX512_TARGET AUDIOFX_ALWAYS_INLINE __m256 upper_half(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX512_TARGET inline BlockStats<double, float> reduce_f32_avx512(const float* s,
                                                                         int64_t n, float thr) {
  const __m512 neg_thr = _mm512_set1_ps(-thr);
  const __m512 pos_thr = _mm512_set1_ps(thr);
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
  __m512d a2 = _mm512_setzero_pd(), a3 = _mm512_setzero_pd();
  __m512 pk0 = _mm512_set1_ps(-INFINITY), pk1 = pk0;
  uint32_t prev_neg = static_cast<uint32_t>(s[-1] < -thr);
  uint32_t prev_pos = static_cast<uint32_t>(s[-1] > thr);
  int32_t total = 0;
  int32_t left = 0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // Both cache lines of the step kPrefetchAhead samples ahead: on a batch that streams from
    // DRAM the hardware prefetcher alone leaves the loop waiting (benchmarks/NOTES.md §5). The
    // address is formed as an integer because it may lie past the row's end (a prefetch
    // never faults; pointer arithmetic out of the array would be undefined).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(s + i) + kPrefetchAhead * sizeof(float);
    _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T0);
    const __m512 v0 = _mm512_loadu_ps(s + i);
    const __m512 v1 = _mm512_loadu_ps(s + i + 16);
    const __m512d d0 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i));
    const __m512d d1 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i + 8));
    const __m512d d2 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i + 16));
    const __m512d d3 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i + 24));
    a0 = _mm512_fmadd_pd(d0, d0, a0);
    a1 = _mm512_fmadd_pd(d1, d1, a1);
    a2 = _mm512_fmadd_pd(d2, d2, a2);
    a3 = _mm512_fmadd_pd(d3, d3, a3);
    pk0 = _mm512_max_ps(pk0, kAbsolute ? _mm512_abs_ps(v0) : v0);
    pk1 = _mm512_max_ps(pk1, kAbsolute ? _mm512_abs_ps(v1) : v1);
    const uint32_t neg = static_cast<uint32_t>(_mm512_cmp_ps_mask(v0, neg_thr, _CMP_LT_OQ)) |
                         static_cast<uint32_t>(_mm512_cmp_ps_mask(v1, neg_thr, _CMP_LT_OQ)) << 16;
    uint32_t diff = crossing_bits(neg, prev_neg, 32, 0xffffffffu);
    if (!kZeroPos) {
      const uint32_t pos =
          static_cast<uint32_t>(_mm512_cmp_ps_mask(v0, pos_thr, _CMP_GT_OQ)) |
          static_cast<uint32_t>(_mm512_cmp_ps_mask(v1, pos_thr, _CMP_GT_OQ)) << 16;
      diff |= crossing_bits(pos, prev_pos, 32, 0xffffffffu);
    }
    if (i == 0) left = static_cast<int32_t>(diff & 1u);
    total += __builtin_popcount(diff);
  }
  if (i + 16 <= n) {
    const __m512 v0 = _mm512_loadu_ps(s + i);
    const __m512d d0 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i));
    const __m512d d1 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i + 8));
    a0 = _mm512_fmadd_pd(d0, d0, a0);
    a1 = _mm512_fmadd_pd(d1, d1, a1);
    pk0 = _mm512_max_ps(pk0, kAbsolute ? _mm512_abs_ps(v0) : v0);
    uint32_t diff = crossing_bits(
        static_cast<uint32_t>(_mm512_cmp_ps_mask(v0, neg_thr, _CMP_LT_OQ)), prev_neg, 16,
        0xffffu);
    if (!kZeroPos) {
      diff |= crossing_bits(
          static_cast<uint32_t>(_mm512_cmp_ps_mask(v0, pos_thr, _CMP_GT_OQ)), prev_pos, 16,
          0xffffu);
    }
    if (i == 0) left = static_cast<int32_t>(diff & 1u);
    total += __builtin_popcount(diff);
    i += 16;
  }
  if (i < n) {  // the last 1..15 samples: masked loads, compares and maximum
    const int count = static_cast<int>(n - i);
    const __mmask16 m = static_cast<__mmask16>(low_bits(count));
    const __m512 v0 = _mm512_maskz_loadu_ps(m, s + i);
    const __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v0));
    const __m512d d1 = _mm512_cvtps_pd(upper_half(v0));
    a2 = _mm512_fmadd_pd(d0, d0, a2);
    a3 = _mm512_fmadd_pd(d1, d1, a3);
    pk1 = _mm512_mask_max_ps(pk1, m, pk1, kAbsolute ? _mm512_abs_ps(v0) : v0);
    uint32_t diff = crossing_bits(
        static_cast<uint32_t>(_mm512_mask_cmp_ps_mask(m, v0, neg_thr, _CMP_LT_OQ)), prev_neg,
        count, m);
    if (!kZeroPos) {
      diff |= crossing_bits(
          static_cast<uint32_t>(_mm512_mask_cmp_ps_mask(m, v0, pos_thr, _CMP_GT_OQ)), prev_pos,
          count, m);
    }
    if (i == 0) left = static_cast<int32_t>(diff & 1u);
    total += __builtin_popcount(diff);
  }
  const double ss =
      _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
  const float pk = _mm512_reduce_max_ps(_mm512_max_ps(pk0, pk1));
  return finish_stats(ss, pk, total, left);
}

// A block and its head: two segments (the rest's left crossing is the one inside the block).
template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX512_TARGET inline BlockStats<double, float> reduce_split_f32_avx512(
    const float* s, int64_t n, int64_t split, float thr, BlockStats<double, float>* head) {
  if (split == 0) return reduce_f32_avx512<kAbsolute, kZeroPos>(s, n, thr);
  const BlockStats<double, float> h = reduce_f32_avx512<kAbsolute, kZeroPos>(s, split, thr);
  *head = h;
  if (split == n) return h;
  return append_stats(h, reduce_f32_avx512<kAbsolute, kZeroPos>(s + split, n - split, thr));
}

AUDIOFX_AVX512_TARGET AUDIOFX_ALWAYS_INLINE void finish_frames_f32_avx512(
    const double* sumsq, const int32_t* crossings, int64_t n, int64_t N, float* rms,
    float* zcr) {
  const __m512d vn = _mm512_set1_pd(static_cast<double>(N));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (rms) {
      const __m512d ms = _mm512_div_pd(_mm512_loadu_pd(sumsq + i), vn);
      _mm256_storeu_ps(rms + i, _mm512_cvtpd_ps(_mm512_sqrt_pd(ms)));
    }
    if (zcr) {
      const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(crossings + i));
      _mm256_storeu_ps(zcr + i, _mm512_cvtpd_ps(_mm512_div_pd(_mm512_cvtepi32_pd(c), vn)));
    }
  }
  finish_frames(sumsq + i, crossings + i, n - i, N, rms ? rms + i : nullptr,
                zcr ? zcr + i : nullptr);
}

#pragma GCC diagnostic pop

}  // namespace cpu
}  // namespace audiofx
#endif  // x86-64 with GCC/Clang
