// CPU kernels of the frame ops: one read of the signal per (row, chunk of frames), blocks of
// gcd(N, H) samples reduced once and combined per frame (csrc/frame_stats.h).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../frame_ops.h"

namespace audiofx {
namespace {

// Frames per work item: enough samples (~64K) to amortise the blocks that neighbouring chunks
// recompute at their boundary, few enough to balance rows of very different counts, and few
// enough that the item's block buffer stays L2-sized (<= kMaxChunkBlocks, or one frame's blocks
// when a frame alone has more): with a small g = gcd(N, H) (H = 441 gives g = 1) a block is a
// sample or a few, and 64K samples of blocks would be MiBs of scratch per thread.
constexpr int64_t kMaxChunkBlocks = 8192;

int64_t frames_per_chunk(const FrameSpec& s, int64_t g) {
  const int64_t by_samples = std::max<int64_t>(1, (int64_t{1} << 16) / s.hop_length);
  const int64_t hop_blocks = s.hop_length / g;
  const int64_t frame_blocks = s.frame_length / g;
  const int64_t by_blocks =
      frame_blocks >= kMaxChunkBlocks ? 1 : 1 + (kMaxChunkBlocks - frame_blocks) / hop_blocks;
  return std::max<int64_t>(1, std::min(by_samples, by_blocks));
}

// Interior twin of reduce_block (frame_stats.h) for a block lying wholly inside a contiguous row
// with a sample before it: the same sums, maxima and crossing classes, written as reductions the
// compiler vectorises (NaN is tracked on the side because a vector max drops it).
#if defined(__GNUC__)
#define AUDIOFX_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define AUDIOFX_ALWAYS_INLINE inline
#endif

template <bool kAbsolute, typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE void sumsq_and_peak(const scalar_t* s, int64_t g, acc_t& sumsq, scalar_t& peak) {
  acc_t ss = acc_t(0);
  scalar_t pk = lowest<scalar_t>();
  int32_t has_nan = 0;
#pragma omp simd reduction(+ : ss) reduction(max : pk) reduction(| : has_nan)
  for (int64_t i = 0; i < g; ++i) {
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
AUDIOFX_ALWAYS_INLINE int32_t count_crossings(const scalar_t* s, int64_t g, scalar_t thr, bool zero_pos) {
  int32_t c = 0;
#pragma omp simd reduction(+ : c)
  for (int64_t i = 1; i < g; ++i) {
    c += static_cast<int32_t>(crossing_class(s[i], thr, zero_pos) !=
                              crossing_class(s[i - 1], thr, zero_pos));
  }
  return c;
}

template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE BlockStats<acc_t, scalar_t> reduce_interior_block(const scalar_t* s, int64_t g, int32_t features,
                                                  const ReduceParams& rp) {
  BlockStats<acc_t, scalar_t> b = empty_block<acc_t, scalar_t>();
  if (features & (kRms | kPeak)) {
    if (rp.absolute) {
      sumsq_and_peak<true>(s, g, b.sumsq, b.peak);
    } else {
      sumsq_and_peak<false>(s, g, b.sumsq, b.peak);
    }
  }
  if (features & kZcr) {
    const scalar_t thr = static_cast<scalar_t>(rp.threshold);
    b.left_crossing = static_cast<int32_t>(crossing_class(s[-1], thr, rp.zero_pos) !=
                                           crossing_class(s[0], thr, rp.zero_pos));
    b.crossings = count_crossings(s, g, thr, rp.zero_pos);
  }
  return b;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define AUDIOFX_HAVE_AVX2_PATH 1
#include <immintrin.h>

#include <cstdlib>
#include <string>

#define AUDIOFX_AVX2_TARGET __attribute__((target("avx2,fma,popcnt")))
#define AUDIOFX_AVX512_TARGET __attribute__((target("avx512f,avx2,fma,popcnt")))

// The float32 interior blocks with intrinsics (AVX2: 16 samples a step; AVX-512: 32): squares
// summed exactly in double (4 chains, so the FMA latency does not serialise the loop), the peak
// with packed max, and the crossings as bit masks: with zero_pos a sample's class is its
// "v < -thr" bit, otherwise the pair of bits (v < -thr, v > thr); a crossing is a bit that
// differs from the one before (the previous sample's bit shifted in), counted with popcount. A
// NaN sample makes the double sum of squares NaN (squares are >= 0, so no inf - inf), which is
// how the peak learns of it without a per-sample NaN test. Both need g >= 16 (the caller falls
// back otherwise) and end in finish_block_f32, the scalar tail of a block that is not a multiple
// of the step.

// Bits of crossings between consecutive samples of a step whose class bits are `cls` (bit k:
// sample k, kBits samples), with `prev` (0 or 1) the class bit of the sample before the step;
// `prev` becomes the step's last bit.
template <int kBits>
AUDIOFX_ALWAYS_INLINE uint32_t crossing_bits(uint32_t cls, uint32_t& prev) {
  const uint32_t mask = kBits == 32 ? 0xffffffffu : (1u << kBits) - 1u;
  const uint32_t diff = (cls ^ ((cls << 1) | prev)) & mask;
  prev = (cls >> (kBits - 1)) & 1u;
  return diff;
}

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_ALWAYS_INLINE BlockStats<double, float> finish_block_f32(const float* s, int64_t i,
                                                                 int64_t g, float thr, double ss,
                                                                 float pk, int32_t total,
                                                                 int32_t left) {
  for (; i < g; ++i) {
    const float v = s[i];
    ss += static_cast<double>(v) * static_cast<double>(v);
    const float u = kAbsolute ? (v < 0.0f ? -v : v) : v;
    pk = u > pk ? u : pk;
    total += static_cast<int32_t>(crossing_class(v, thr, kZeroPos) !=
                                  crossing_class(s[i - 1], thr, kZeroPos));
  }
  BlockStats<double, float> b;
  b.sumsq = ss;
  b.peak = (ss != ss) ? NAN : pk;
  b.left_crossing = left;
  b.crossings = total - left;
  return b;
}

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX2_TARGET inline BlockStats<double, float> reduce_interior_block_f32_avx2(
    const float* s, int64_t g, float thr) {
  const __m256 neg_thr = _mm256_set1_ps(-thr);
  const __m256 pos_thr = _mm256_set1_ps(thr);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  __m256d a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
  __m256 pk0 = _mm256_set1_ps(-INFINITY), pk1 = pk0;
  // Class bits of the sample before the block, as bit 0 of the running "previous" masks.
  uint32_t prev_neg = static_cast<uint32_t>(s[-1] < -thr);
  uint32_t prev_pos = static_cast<uint32_t>(s[-1] > thr);
  int32_t total = 0;
  int32_t left = 0;
  int64_t i = 0;
  for (; i + 16 <= g; i += 16) {
    const __m256 v0 = _mm256_loadu_ps(s + i);
    const __m256 v1 = _mm256_loadu_ps(s + i + 8);
    const __m256d d0 = _mm256_cvtps_pd(_mm_loadu_ps(s + i));
    const __m256d d1 = _mm256_cvtps_pd(_mm_loadu_ps(s + i + 4));
    const __m256d d2 = _mm256_cvtps_pd(_mm_loadu_ps(s + i + 8));
    const __m256d d3 = _mm256_cvtps_pd(_mm_loadu_ps(s + i + 12));
    a0 = _mm256_fmadd_pd(d0, d0, a0);
    a1 = _mm256_fmadd_pd(d1, d1, a1);
    a2 = _mm256_fmadd_pd(d2, d2, a2);
    a3 = _mm256_fmadd_pd(d3, d3, a3);
    if (kAbsolute) {
      pk0 = _mm256_max_ps(pk0, _mm256_and_ps(v0, abs_mask));
      pk1 = _mm256_max_ps(pk1, _mm256_and_ps(v1, abs_mask));
    } else {
      pk0 = _mm256_max_ps(pk0, v0);
      pk1 = _mm256_max_ps(pk1, v1);
    }
    const uint32_t neg =
        static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v0, neg_thr, _CMP_LT_OQ))) |
        static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v1, neg_thr, _CMP_LT_OQ))) << 8;
    uint32_t diff = crossing_bits<16>(neg, prev_neg);
    if (!kZeroPos) {
      const uint32_t pos =
          static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v0, pos_thr, _CMP_GT_OQ))) |
          static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v1, pos_thr, _CMP_GT_OQ))) << 8;
      diff |= crossing_bits<16>(pos, prev_pos);
    }
    if (i == 0) left = static_cast<int32_t>(diff & 1u);
    total += __builtin_popcount(diff);
  }
  const __m256d a = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, a);
  const double ss = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  alignas(32) float pks[8];
  _mm256_store_ps(pks, _mm256_max_ps(pk0, pk1));
  float pk = pks[0];
  for (int k = 1; k < 8; ++k) pk = pks[k] > pk ? pks[k] : pk;
  return finish_block_f32<kAbsolute, kZeroPos>(s, i, g, thr, ss, pk, total, left);
}

// GCC 12's AVX-512 intrinsics pass an undefined vector as the unused merge source, which
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13); the
// warning is off from here to the end of the AVX-512 entry points.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The AVX-512 twin: 32 samples a step, class bits straight from the compare masks (no
// movemask), one 16-sample step for a remainder of 16..31. On Zen 4 a 512-bit op issues as two
// 256-bit halves, yet this is ~1.6x the AVX2 loop (benchmarks/NOTES.md §5): half the
// instructions per sample, and the per-step scalar crossing work is spread over twice the
// samples.
constexpr int64_t kPrefetchAhead = 1024;  // samples: 4 KiB of float32

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX512_TARGET inline BlockStats<double, float> reduce_interior_block_f32_avx512(
    const float* s, int64_t g, float thr) {
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
  for (; i + 32 <= g; i += 32) {
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
    uint32_t diff = crossing_bits<32>(neg, prev_neg);
    if (!kZeroPos) {
      const uint32_t pos =
          static_cast<uint32_t>(_mm512_cmp_ps_mask(v0, pos_thr, _CMP_GT_OQ)) |
          static_cast<uint32_t>(_mm512_cmp_ps_mask(v1, pos_thr, _CMP_GT_OQ)) << 16;
      diff |= crossing_bits<32>(pos, prev_pos);
    }
    if (i == 0) left = static_cast<int32_t>(diff & 1u);
    total += __builtin_popcount(diff);
  }
  if (i + 16 <= g) {
    const __m512 v0 = _mm512_loadu_ps(s + i);
    const __m512d d0 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i));
    const __m512d d1 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i + 8));
    a0 = _mm512_fmadd_pd(d0, d0, a0);
    a1 = _mm512_fmadd_pd(d1, d1, a1);
    pk0 = _mm512_max_ps(pk0, kAbsolute ? _mm512_abs_ps(v0) : v0);
    uint32_t diff = crossing_bits<16>(
        static_cast<uint32_t>(_mm512_cmp_ps_mask(v0, neg_thr, _CMP_LT_OQ)), prev_neg);
    if (!kZeroPos) {
      diff |= crossing_bits<16>(
          static_cast<uint32_t>(_mm512_cmp_ps_mask(v0, pos_thr, _CMP_GT_OQ)), prev_pos);
    }
    if (i == 0) left = static_cast<int32_t>(diff & 1u);
    total += __builtin_popcount(diff);
    i += 16;
  }
  const double ss =
      _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
  const float pk = _mm512_reduce_max_ps(_mm512_max_ps(pk0, pk1));
  return finish_block_f32<kAbsolute, kZeroPos>(s, i, g, thr, ss, pk, total, left);
}
#endif

// Blocks [b0, b0 + nb) of one row. Everything it calls on the interior path is inlined, so the
// AVX2 entry point below compiles the whole hot loop for AVX2+FMA while the default one stays
// baseline x86-64; the choice is made once per call from the CPU's features.
template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE void reduce_chunk_blocks(const scalar_t* row, const FrameSpec& spec,
                                               PadMode zcr_mode, int64_t b0, int64_t nb,
                                               int64_t g, int32_t features,
                                               const ReduceParams& rp,
                                               BlockStats<acc_t, scalar_t>* blocks) {
  for (int64_t k = 0; k < nb; ++k) {
    const int64_t j0 = (b0 + k) * g - spec.pad_left;
    blocks[k] = (j0 >= 1 && j0 + g <= spec.length)
                    ? reduce_interior_block<scalar_t, acc_t>(row + j0, g, features, rp)
                    : reduce_block<scalar_t, acc_t, scalar_t>(row, 1, spec, zcr_mode, b0 + k, g,
                                                              features, rp);
  }
}

template <typename scalar_t, typename acc_t>
void reduce_chunk_blocks_default(const scalar_t* row, const FrameSpec& spec, PadMode zcr_mode,
                                 int64_t b0, int64_t nb, int64_t g, int32_t features,
                                 const ReduceParams& rp, BlockStats<acc_t, scalar_t>* blocks,
                                 scalar_t* /*scratch*/) {
  reduce_chunk_blocks(row, spec, zcr_mode, b0, nb, g, features, rp, blocks);
}

#ifdef AUDIOFX_HAVE_AVX2_PATH
// Padded positions p0 - 1 .. p0 + g - 1 of `block` (p0 = block * g) into scratch[0 .. g]: the
// part inside the row copied, the padding either side filled (constant, edge) or mapped
// (reflect, wrap); scratch[0] = 0 for the first block, which has no sample before it.
inline void gather_edge_block(const float* row, const FrameSpec& spec, PadMode mode,
                              int64_t block, int64_t g, float* scratch) {
  const int64_t p0 = block * g;
  const int64_t T = spec.length;
  const int64_t j0 = p0 - 1 - spec.pad_left;  // row index of scratch[0]
  const int64_t k_lo = std::clamp<int64_t>(-j0, 0, g + 1);
  const int64_t k_hi = std::clamp<int64_t>(T - j0, k_lo, g + 1);
  if (mode == PadMode::Constant || mode == PadMode::Edge) {
    std::fill(scratch, scratch + k_lo, mode == PadMode::Edge ? row[0] : 0.0f);
    std::fill(scratch + k_hi, scratch + g + 1, mode == PadMode::Edge ? row[T - 1] : 0.0f);
  } else {
    for (int64_t k = 0; k < k_lo; ++k) {
      scratch[k] = padded_sample(row, 1, p0 - 1 + k, spec.pad_left, T, mode);
    }
    for (int64_t k = k_hi; k <= g; ++k) {
      scratch[k] = padded_sample(row, 1, p0 - 1 + k, spec.pad_left, T, mode);
    }
  }
  if (k_hi > k_lo) std::memcpy(scratch + k_lo, row + j0 + k_lo, sizeof(float) * (k_hi - k_lo));
  if (p0 == 0) scratch[0] = 0.0f;
}

using ReduceBlockF32 = BlockStats<double, float> (*)(const float*, int64_t, float);

// A block touching the padding (or the row's first sample, which has no sample before it):
// gathered into `scratch` (g + 1 floats) and reduced by the same vector code as an interior
// block: once with the value padding for the sums and peak, once more with the crossing padding
// when that differs (e.g. constant vs edge).
template <ReduceBlockF32 kReduce>
AUDIOFX_ALWAYS_INLINE BlockStats<double, float> reduce_edge_block_f32(
    const float* row, const FrameSpec& spec, PadMode zcr_mode, int64_t block, int64_t g,
    float thr, float* scratch) {
  gather_edge_block(row, spec, spec.mode, block, g, scratch);
  BlockStats<double, float> b = kReduce(scratch + 1, g, thr);
  if (zcr_mode != spec.mode) {
    gather_edge_block(row, spec, zcr_mode, block, g, scratch);
    const BlockStats<double, float> z = kReduce(scratch + 1, g, thr);
    b.crossings = z.crossings;
    b.left_crossing = z.left_crossing;
  }
  if (block == 0) b.left_crossing = 0;  // nothing before the first padded sample
  return b;
}

template <ReduceBlockF32 kReduce>
AUDIOFX_ALWAYS_INLINE void reduce_chunk_blocks_f32(const float* row, const FrameSpec& spec,
                                                   PadMode zcr_mode, int64_t b0, int64_t nb,
                                                   int64_t g, float thr,
                                                   BlockStats<double, float>* blocks,
                                                   float* scratch) {
  for (int64_t k = 0; k < nb; ++k) {
    const int64_t j0 = (b0 + k) * g - spec.pad_left;
    blocks[k] = (j0 >= 1 && j0 + g <= spec.length)
                    ? kReduce(row + j0, g, thr)
                    : reduce_edge_block_f32<kReduce>(row, spec, zcr_mode, b0 + k, g, thr, scratch);
  }
}

// One entry per instruction set and (absolute, zero_pos): `flatten` inlines the block loop and
// its block reducer (same target) into it, so the hot loop is compiled for that target only.
template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX2_TARGET __attribute__((flatten)) void chunk_f32_avx2(
    const float* row, const FrameSpec& spec, PadMode zcr_mode, int64_t b0, int64_t nb, int64_t g,
    float thr, BlockStats<double, float>* blocks, float* scratch) {
  reduce_chunk_blocks_f32<&reduce_interior_block_f32_avx2<kAbsolute, kZeroPos>>(
      row, spec, zcr_mode, b0, nb, g, thr, blocks, scratch);
}

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX512_TARGET __attribute__((flatten)) void chunk_f32_avx512(
    const float* row, const FrameSpec& spec, PadMode zcr_mode, int64_t b0, int64_t nb, int64_t g,
    float thr, BlockStats<double, float>* blocks, float* scratch) {
  reduce_chunk_blocks_f32<&reduce_interior_block_f32_avx512<kAbsolute, kZeroPos>>(
      row, spec, zcr_mode, b0, nb, g, thr, blocks, scratch);
}
#pragma GCC diagnostic pop

// The instruction set the CPU kernels use (these float32 frame kernels and, through
// cpu_isa_level(), the spectral statistics of spectral_cpu.h): the best the CPU has, or the one
// AUDIOFX_CPU_ISA names ("baseline", "avx2", "avx512"; read once; a set the CPU lacks is not
// used), so that every path can be tested on one machine.
enum class CpuIsa { Baseline, Avx2, Avx512 };

CpuIsa detect_cpu_isa() {
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("popcnt");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  CpuIsa best = avx512 ? CpuIsa::Avx512 : avx2 ? CpuIsa::Avx2 : CpuIsa::Baseline;
  if (const char* want = std::getenv("AUDIOFX_CPU_ISA")) {
    const std::string w(want);
    if (w == "baseline") {
      best = CpuIsa::Baseline;
    } else if (w == "avx2") {
      if (avx2) best = CpuIsa::Avx2;
    } else if (w != "avx512") {
      TORCH_WARN("audiofx: AUDIOFX_CPU_ISA must be one of 'baseline', 'avx2', 'avx512', got '",
                 w, "'; using the best the CPU has");
    }
  }
  return best;
}

CpuIsa cpu_isa() {
  static const CpuIsa isa = detect_cpu_isa();
  return isa;
}

using ChunkF32 = void (*)(const float*, const FrameSpec&, PadMode, int64_t, int64_t, int64_t,
                          float, BlockStats<double, float>*, float*);

ChunkF32 chunk_f32_entry(CpuIsa isa, bool absolute, bool zero_pos) {
  static constexpr ChunkF32 avx2[2][2] = {
      {&chunk_f32_avx2<false, false>, &chunk_f32_avx2<false, true>},
      {&chunk_f32_avx2<true, false>, &chunk_f32_avx2<true, true>}};
  static constexpr ChunkF32 avx512[2][2] = {
      {&chunk_f32_avx512<false, false>, &chunk_f32_avx512<false, true>},
      {&chunk_f32_avx512<true, false>, &chunk_f32_avx512<true, true>}};
  return (isa == CpuIsa::Avx512 ? avx512 : avx2)[absolute][zero_pos];
}

// With AVX2, float32 blocks of g >= 16 samples (of any feature set: the single-feature ops too)
// take the intrinsics path; everything else the compiler-vectorised loops built for AVX2.
template <typename scalar_t, typename acc_t>
AUDIOFX_AVX2_TARGET void reduce_chunk_blocks_avx2(const scalar_t* row, const FrameSpec& spec,
                                                  PadMode zcr_mode, int64_t b0, int64_t nb,
                                                  int64_t g, int32_t features,
                                                  const ReduceParams& rp,
                                                  BlockStats<acc_t, scalar_t>* blocks,
                                                  scalar_t* scratch) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (g >= 16) {  // all three features even when fewer are asked: the pass is memory-bound
      chunk_f32_entry(cpu_isa(), rp.absolute, rp.zero_pos)(
          row, spec, zcr_mode, b0, nb, g, static_cast<float>(rp.threshold), blocks, scratch);
      return;
    }
  }
  reduce_chunk_blocks(row, spec, zcr_mode, b0, nb, g, features, rp, blocks);
}
#endif

template <typename scalar_t>
void reduce_rows_cpu(const scalar_t* x, int64_t rows, const FrameSpec& spec, PadMode zcr_mode,
                     int32_t features, const ReduceParams& rp, scalar_t* peak, scalar_t* rms,
                     scalar_t* zcr) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  using cmp_t = scalar_t;
  using Block = BlockStats<acc_t, cmp_t>;
  const int64_t N = spec.frame_length;
  const int64_t T = spec.length;
  const int64_t nf = spec.n_frames;
  const int64_t g = gcd64(N, spec.hop_length);
  const int64_t hop_blocks = spec.hop_length / g;
  const int64_t frame_blocks = N / g;
  int64_t fpc = frames_per_chunk(spec, g);
  int64_t chunks = ceil_div(nf, fpc);
  // Few work items (one long clip: 21 chunks): parallel_for gives each thread a contiguous
  // share, so one thread would do a whole chunk more than another (11 vs 10 on 2 threads).
  // Rounding each row's chunk count up to a multiple of the thread count evens the shares.
  const int64_t threads = at::get_num_threads();
  if (threads > 1 && chunks > 1 && rows * chunks < 16 * threads) {
    fpc = ceil_div(nf, ceil_div(chunks, threads) * threads);
    chunks = ceil_div(nf, fpc);
  }
  auto reduce_chunk = &reduce_chunk_blocks_default<scalar_t, acc_t>;
#ifdef AUDIOFX_HAVE_AVX2_PATH
  if (cpu_isa() != CpuIsa::Baseline) reduce_chunk = &reduce_chunk_blocks_avx2<scalar_t, acc_t>;
#endif
  at::parallel_for(0, rows * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<Block> blocks(static_cast<size_t>((fpc - 1) * hop_blocks + frame_blocks));
    std::vector<scalar_t> scratch(static_cast<size_t>(g + 1));  // edge blocks, AVX2 path
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / chunks;
      const int64_t f0 = (item % chunks) * fpc;
      const int64_t f1 = std::min(nf, f0 + fpc);
      const scalar_t* row = x + r * T;
      const int64_t b0 = f0 * hop_blocks;
      const int64_t nb = (f1 - 1 - f0) * hop_blocks + frame_blocks;
      reduce_chunk(row, spec, zcr_mode, b0, nb, g, features, rp, blocks.data(), scratch.data());
      for (int64_t t = f0; t < f1; ++t) {
        const auto tot = combine_frame(blocks.data() + (t - f0) * hop_blocks, frame_blocks);
        const int64_t o = r * nf + t;
        if (features & kPeak) peak[o] = static_cast<scalar_t>(tot.peak);
        if (features & kRms) rms[o] = static_cast<scalar_t>(rms_from_sumsq(tot.sumsq, N));
        if (features & kZcr) zcr[o] = static_cast<scalar_t>(zcr_from_crossings(tot.crossings, N));
      }
    }
  });
}

std::array<at::Tensor, 3> frame_reduce_cpu(const at::Tensor& x, const FrameSpec& spec,
                                           PadMode zcr_mode, int32_t features,
                                           const ReduceParams& params) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const int64_t rows = xc.numel() / spec.length;
  const auto shape = frames_shape(x, {spec.n_frames});
  std::array<at::Tensor, 3> out;
  const int32_t bits[3] = {kPeak, kRms, kZcr};
  for (int i = 0; i < 3; ++i) {
    if (features & bits[i]) out[i] = at::empty(shape, xc.options());
  }
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_frame_reduce_cpu", [&] {
    auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
    reduce_rows_cpu<scalar_t>(xc.const_data_ptr<scalar_t>(), rows, spec, zcr_mode, features,
                              params, ptr(out[kPeakSlot]), ptr(out[kRmsSlot]),
                              ptr(out[kZcrSlot]));
  });
  return out;
}

at::Tensor frame_cpu(const at::Tensor& x, const FrameSpec& spec) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const int64_t T = spec.length;
  const int64_t N = spec.frame_length;
  const int64_t nf = spec.n_frames;
  const int64_t rows = xc.numel() / T;
  at::Tensor out = at::empty(frames_shape(x, {nf, N}), xc.options());
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_frame_cpu", [&] {
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, 16384 / N);
    at::parallel_for(0, rows * nf, grain, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const scalar_t* row = src + (item / nf) * T;
        const int64_t p0 = (item % nf) * spec.hop_length;
        scalar_t* o = dst + item * N;
        const int64_t j0 = p0 - spec.pad_left;
        if (j0 >= 0 && j0 + N <= T) {
          std::memcpy(o, row + j0, sizeof(scalar_t) * N);
        } else {
          for (int64_t n = 0; n < N; ++n) {
            o[n] = padded_sample(row, 1, p0 + n, spec.pad_left, T, spec.mode);
          }
        }
      }
    });
  });
  return out;
}

}  // namespace

int cpu_isa_level() {
#ifdef AUDIOFX_HAVE_AVX2_PATH
  return static_cast<int>(cpu_isa());
#else
  return 0;
#endif
}

const char* cpu_isa_name() {
#ifdef AUDIOFX_HAVE_AVX2_PATH
  switch (cpu_isa()) {
    case CpuIsa::Avx512:
      return "avx512";
    case CpuIsa::Avx2:
      return "avx2";
    case CpuIsa::Baseline:
      break;
  }
#endif
  return "baseline";
}

}  // namespace audiofx

AUDIOFX_REGISTER_FRAME_OPS(CPU, audiofx::frame_cpu, audiofx::frame_reduce_cpu)
