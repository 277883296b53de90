// CPU kernels of the frame ops: one read of the signal per (row, chunk of frames), blocks of
// gcd(N, H) samples reduced once and combined per frame (csrc/frame_stats.h).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
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
  at::parallel_for(0, rows * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<Block> blocks(static_cast<size_t>((fpc - 1) * hop_blocks + frame_blocks));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / chunks;
      const int64_t f0 = (item % chunks) * fpc;
      const int64_t f1 = std::min(nf, f0 + fpc);
      const scalar_t* row = x + r * T;
      const int64_t b0 = f0 * hop_blocks;
      const int64_t nb = (f1 - 1 - f0) * hop_blocks + frame_blocks;
      for (int64_t k = 0; k < nb; ++k) {
        blocks[k] = reduce_block<scalar_t, acc_t, cmp_t>(row, 1, spec, zcr_mode, b0 + k, g,
                                                         features, rp);
      }
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
