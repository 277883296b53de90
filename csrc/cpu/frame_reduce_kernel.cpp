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

// The float32 interior block with AVX2 intrinsics, 16 samples a step: squares summed exactly in
// double (4 chains, so the FMA latency does not serialise the loop), the peak with packed max,
// and the crossings as bit masks: with zero_pos a sample's class is its "v < -thr" bit, otherwise
// the pair of bits (v < -thr, v > thr); a crossing is a bit that differs from the one before
// (the previous sample's bit shifted in), counted with popcount. A NaN sample makes the double
// sum of squares NaN (squares are >= 0, so no inf - inf), which is how the peak learns of it
// without a per-sample NaN test. Needs g >= 16; the caller falls back otherwise.
template <bool kAbsolute, bool kZeroPos>
__attribute__((target("avx2,fma,popcnt"))) AUDIOFX_ALWAYS_INLINE BlockStats<double, float>
reduce_interior_block_f32_avx2(const float* s, int64_t g, float thr) {
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
    uint32_t diff = (neg ^ ((neg << 1) | prev_neg)) & 0xffffu;
    prev_neg = neg >> 15;
    if (!kZeroPos) {
      const uint32_t pos =
          static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v0, pos_thr, _CMP_GT_OQ))) |
          static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v1, pos_thr, _CMP_GT_OQ))) << 8;
      diff |= (pos ^ ((pos << 1) | prev_pos)) & 0xffffu;
      prev_pos = pos >> 15;
    }
    if (i == 0) left = static_cast<int32_t>(diff & 1u);
    total += __builtin_popcount(diff);
  }
  const __m256d a = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, a);
  double ss = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  alignas(32) float pks[8];
  _mm256_store_ps(pks, _mm256_max_ps(pk0, pk1));
  float pk = pks[0];
  for (int k = 1; k < 8; ++k) pk = pks[k] > pk ? pks[k] : pk;
  for (; i < g; ++i) {  // tail of a block whose length is not a multiple of 16
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
// A block touching the padding (or the row's first sample, which has no sample before it):
// the padded samples (and the one before) gathered into `scratch` (g + 1 floats) through the index
// map, then reduced by the same vector code as an interior block: once with the value padding for
// the sums and peak, once more with the crossing padding when that differs (e.g. constant vs edge).
template <bool kAbsolute, bool kZeroPos>
__attribute__((target("avx2,fma,popcnt"))) AUDIOFX_ALWAYS_INLINE BlockStats<double, float>
reduce_edge_block_f32_avx2(const float* row, const FrameSpec& spec, PadMode zcr_mode,
                           int64_t block, int64_t g, float thr, float* scratch) {
  const int64_t p0 = block * g;
  const int64_t T = spec.length;
  // scratch[k] holds padded position p0 - 1 + k, i.e. row index j0 + k: the part inside the row
  // is copied, the padding either side filled (constant, edge) or mapped (reflect, wrap).
  const int64_t j0 = p0 - 1 - spec.pad_left;
  const int64_t k_lo = std::clamp<int64_t>(-j0, 0, g + 1);
  const int64_t k_hi = std::clamp<int64_t>(T - j0, k_lo, g + 1);
  auto gather = [&](PadMode mode) {
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
    if (p0 == 0) scratch[0] = 0.0f;  // no sample before the first padded one (left crossing 0)
  };
  gather(spec.mode);
  BlockStats<double, float> b = reduce_interior_block_f32_avx2<kAbsolute, kZeroPos>(scratch + 1, g, thr);
  if (zcr_mode != spec.mode) {
    gather(zcr_mode);
    const BlockStats<double, float> z =
        reduce_interior_block_f32_avx2<kAbsolute, kZeroPos>(scratch + 1, g, thr);
    b.crossings = z.crossings;
    b.left_crossing = z.left_crossing;
  }
  if (p0 == 0) b.left_crossing = 0;  // nothing before the first padded sample
  return b;
}

template <bool kAbsolute, bool kZeroPos>
__attribute__((target("avx2,fma,popcnt"))) AUDIOFX_ALWAYS_INLINE void reduce_chunk_blocks_f32_avx2(
    const float* row, const FrameSpec& spec, PadMode zcr_mode, int64_t b0, int64_t nb, int64_t g,
    const ReduceParams& rp, BlockStats<double, float>* blocks, float* scratch) {
  const float thr = static_cast<float>(rp.threshold);
  for (int64_t k = 0; k < nb; ++k) {
    const int64_t j0 = (b0 + k) * g - spec.pad_left;
    blocks[k] = (j0 >= 1 && j0 + g <= spec.length)
                    ? reduce_interior_block_f32_avx2<kAbsolute, kZeroPos>(row + j0, g, thr)
                    : reduce_edge_block_f32_avx2<kAbsolute, kZeroPos>(row, spec, zcr_mode,
                                                                      b0 + k, g, thr, scratch);
  }
}

// With AVX2, float32 blocks (of any feature set: the single-feature ops too) take the
// intrinsics path; everything else the compiler-vectorised loops built for AVX2.
template <typename scalar_t, typename acc_t>
__attribute__((target("avx2,fma,popcnt"))) void reduce_chunk_blocks_avx2(
    const scalar_t* row, const FrameSpec& spec, PadMode zcr_mode, int64_t b0, int64_t nb,
    int64_t g, int32_t features, const ReduceParams& rp, BlockStats<acc_t, scalar_t>* blocks,
    scalar_t* scratch) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (g >= 16) {  // all three features even when fewer are asked: the pass is memory-bound
      if (rp.absolute) {
        if (rp.zero_pos) {
          reduce_chunk_blocks_f32_avx2<true, true>(row, spec, zcr_mode, b0, nb, g, rp, blocks,
                                                   scratch);
        } else {
          reduce_chunk_blocks_f32_avx2<true, false>(row, spec, zcr_mode, b0, nb, g, rp, blocks,
                                                    scratch);
        }
      } else if (rp.zero_pos) {
        reduce_chunk_blocks_f32_avx2<false, true>(row, spec, zcr_mode, b0, nb, g, rp, blocks,
                                                  scratch);
      } else {
        reduce_chunk_blocks_f32_avx2<false, false>(row, spec, zcr_mode, b0, nb, g, rp, blocks,
                                                   scratch);
      }
      return;
    }
  }
  reduce_chunk_blocks(row, spec, zcr_mode, b0, nb, g, features, rp, blocks);
}

bool cpu_has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("popcnt");
  return yes;
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
  const int64_t fpc = frames_per_chunk(spec, g);
  const int64_t chunks = ceil_div(nf, fpc);
  auto reduce_chunk = &reduce_chunk_blocks_default<scalar_t, acc_t>;
#ifdef AUDIOFX_HAVE_AVX2_PATH
  if (cpu_has_avx2_fma()) reduce_chunk = &reduce_chunk_blocks_avx2<scalar_t, acc_t>;
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
}  // namespace audiofx

AUDIOFX_REGISTER_FRAME_OPS(CPU, audiofx::frame_cpu, audiofx::frame_reduce_cpu)
