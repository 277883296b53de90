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
#include <vector>

#include "../frame_ops.h"

namespace audiofx {
namespace {

// Frames per work item: enough samples (~64K) to amortise the blocks that neighbouring chunks
// recompute at their boundary, few enough to balance rows of very different counts.
int64_t frames_per_chunk(const FrameSpec& s) {
  return std::max<int64_t>(1, (int64_t{1} << 16) / s.hop_length);
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
                                 const ReduceParams& rp, BlockStats<acc_t, scalar_t>* blocks) {
  reduce_chunk_blocks(row, spec, zcr_mode, b0, nb, g, features, rp, blocks);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define AUDIOFX_HAVE_AVX2_PATH 1
template <typename scalar_t, typename acc_t>
__attribute__((target("avx2,fma"))) void reduce_chunk_blocks_avx2(
    const scalar_t* row, const FrameSpec& spec, PadMode zcr_mode, int64_t b0, int64_t nb,
    int64_t g, int32_t features, const ReduceParams& rp, BlockStats<acc_t, scalar_t>* blocks) {
  reduce_chunk_blocks(row, spec, zcr_mode, b0, nb, g, features, rp, blocks);
}

bool cpu_has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
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
  const int64_t fpc = frames_per_chunk(spec);
  const int64_t chunks = ceil_div(nf, fpc);
  auto reduce_chunk = &reduce_chunk_blocks_default<scalar_t, acc_t>;
#ifdef AUDIOFX_HAVE_AVX2_PATH
  if (cpu_has_avx2_fma()) reduce_chunk = &reduce_chunk_blocks_avx2<scalar_t, acc_t>;
#endif
  at::parallel_for(0, rows * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<Block> blocks(static_cast<size_t>((fpc - 1) * hop_blocks + frame_blocks));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / chunks;
      const int64_t f0 = (item % chunks) * fpc;
      const int64_t f1 = std::min(nf, f0 + fpc);
      const scalar_t* row = x + r * T;
      const int64_t b0 = f0 * hop_blocks;
      const int64_t nb = (f1 - 1 - f0) * hop_blocks + frame_blocks;
      reduce_chunk(row, spec, zcr_mode, b0, nb, g, features, rp, blocks.data());
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
