// CUDA kernels of the frame reductions, the same block decomposition as csrc/cpu: phase 1 reduces
// every block of g = gcd(N, H) samples once (a logical warp per block, coalesced loads), phase 2
// combines each frame's N/g blocks (a thread per frame). The math is csrc/frame_stats.h.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContextLight.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cub/warp/warp_reduce.cuh>

#include <algorithm>

#include "frame_kernels.h"

namespace audiofx {
namespace {

constexpr int kThreads = 256;

template <typename cmp_t>
struct NanMaxOp {
  __device__ __forceinline__ cmp_t operator()(cmp_t a, cmp_t b) const { return nan_max(a, b); }
};

// Resident blocks are enough: the kernels grid-stride, so the grid never nears gridDim limits.
int64_t grid_size(int64_t work_items, int64_t items_per_block) {
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  return std::max<int64_t>(1, std::min(ceil_div(work_items, items_per_block), sms * 16));
}

// One lane's share of a block: the fields of BlockStats, accumulated sample by sample.
template <typename acc_t, typename cmp_t>
struct LaneStats {
  acc_t sumsq = acc_t(0);
  cmp_t peak = lowest<cmp_t>();
  int32_t crossings = 0;
  int32_t left_crossing = 0;

  __device__ __forceinline__ void add_value(cmp_t v, bool absolute) {
    sumsq += static_cast<acc_t>(v) * static_cast<acc_t>(v);
    peak = nan_max(peak, peak_input(v, absolute));
  }
  // Sample i of the block (i = 0: the crossing with the sample before the block).
  __device__ __forceinline__ void add_pair(int64_t i, int32_t prev_class, int32_t cls) {
    if (i == 0) {
      left_crossing = static_cast<int32_t>(cls != prev_class);
    } else {
      crossings += static_cast<int32_t>(cls != prev_class);
    }
  }
};

// One logical warp of kLanes threads per (row, block); the lanes stride over the block's g
// samples and reduce with CUB. Same fields as reduce_block (frame_stats.h), sample for sample.
// Each lane reads its own left neighbour for the crossing test (an L1 hit) instead of shuffling.
template <typename scalar_t, typename acc_t, typename cmp_t, int kLanes>
__global__ void __launch_bounds__(kThreads)
    block_stats_kernel(const scalar_t* __restrict__ x, const FrameSpec spec,
                       const PadMode zcr_mode, const int64_t g, const int64_t n_blocks,
                       const int64_t n_items, const int32_t features, const ReduceParams rp,
                       BlockStats<acc_t, cmp_t>* __restrict__ out) {
  using AccReduce = cub::WarpReduce<acc_t, kLanes>;
  using CmpReduce = cub::WarpReduce<cmp_t, kLanes>;
  using IntReduce = cub::WarpReduce<int32_t, kLanes>;
  constexpr int kGroups = kThreads / kLanes;
  __shared__ typename AccReduce::TempStorage acc_storage[kGroups];
  __shared__ typename CmpReduce::TempStorage cmp_storage[kGroups];
  __shared__ typename IntReduce::TempStorage int_storage[kGroups];

  const int group = threadIdx.x / kLanes;
  const int lane = threadIdx.x % kLanes;
  const int64_t T = spec.length;
  const int64_t pad_left = spec.pad_left;
  const cmp_t thr = static_cast<cmp_t>(rp.threshold);
  const bool values = (features & (kRms | kPeak)) != 0;
  const bool zcr = (features & kZcr) != 0;

  // `item` is uniform across a logical warp, so its lanes stay converged for the reductions.
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * kGroups + group; item < n_items;
       item += static_cast<int64_t>(gridDim.x) * kGroups) {
    const int64_t r = item / n_blocks;
    const int64_t p0 = (item - r * n_blocks) * g;
    const int64_t j0 = p0 - pad_left;
    const scalar_t* row = x + r * T;
    LaneStats<acc_t, cmp_t> ls;
    if (j0 >= 1 && j0 + g <= T) {
      // The block and the sample before it lie inside the row: plain loads, no index map.
      const scalar_t* s = row + j0;
      for (int64_t i = lane; i < g; i += kLanes) {
        const cmp_t v = static_cast<cmp_t>(s[i]);
        if (values) ls.add_value(v, rp.absolute);
        if (zcr) {
          ls.add_pair(i, crossing_class(static_cast<cmp_t>(s[i - 1]), thr, rp.zero_pos),
                      crossing_class(v, thr, rp.zero_pos));
        }
      }
    } else {
      for (int64_t i = lane; i < g; i += kLanes) {
        const int64_t p = p0 + i;
        if (values) {
          ls.add_value(static_cast<cmp_t>(padded_sample(row, 1, p, pad_left, T, spec.mode)),
                       rp.absolute);
        }
        if (zcr && p > 0) {
          const cmp_t prev =
              static_cast<cmp_t>(padded_sample(row, 1, p - 1, pad_left, T, zcr_mode));
          const cmp_t v = static_cast<cmp_t>(padded_sample(row, 1, p, pad_left, T, zcr_mode));
          ls.add_pair(i, crossing_class(prev, thr, rp.zero_pos),
                      crossing_class(v, thr, rp.zero_pos));
        }
      }
    }
    BlockStats<acc_t, cmp_t> b = empty_block<acc_t, cmp_t>();
    if (values) {
      b.sumsq = AccReduce(acc_storage[group]).Sum(ls.sumsq);
      b.peak = CmpReduce(cmp_storage[group]).Reduce(ls.peak, NanMaxOp<cmp_t>{});
    }
    if (zcr) {
      b.crossings = IntReduce(int_storage[group]).Sum(ls.crossings);
      b.left_crossing = ls.left_crossing;  // lane 0 holds sample 0
    }
    if (lane == 0) out[item] = b;
  }
}

// One thread per (row, frame): output index item = row * n_frames + frame, as on the CPU.
template <typename scalar_t, typename acc_t, typename cmp_t>
__global__ void __launch_bounds__(kThreads)
    combine_frames_kernel(const BlockStats<acc_t, cmp_t>* __restrict__ blocks,
                          const int64_t n_blocks, const int64_t hop_blocks,
                          const int64_t frame_blocks, const int64_t n_frames,
                          const int64_t n_items, const int64_t N, const int32_t features,
                          scalar_t* __restrict__ peak, scalar_t* __restrict__ rms,
                          scalar_t* __restrict__ zcr) {
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       item < n_items; item += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = item / n_frames;
    const int64_t t = item - r * n_frames;
    const auto tot = combine_frame(blocks + r * n_blocks + t * hop_blocks, frame_blocks);
    if (features & kPeak) peak[item] = static_cast<scalar_t>(tot.peak);
    if (features & kRms) rms[item] = static_cast<scalar_t>(rms_from_sumsq(tot.sumsq, N));
    if (features & kZcr) zcr[item] = static_cast<scalar_t>(zcr_from_crossings(tot.crossings, N));
  }
}

template <typename scalar_t, int kLanes>
void launch_block_stats(const scalar_t* x, const FrameSpec& spec, PadMode zcr_mode, int64_t g,
                        int64_t n_blocks, int64_t n_items, int32_t features,
                        const ReduceParams& rp, void* out, cudaStream_t stream) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
  using cmp_t = at::opmath_type<scalar_t>;
  block_stats_kernel<scalar_t, acc_t, cmp_t, kLanes>
      <<<grid_size(n_items, kThreads / kLanes), kThreads, 0, stream>>>(
          x, spec, zcr_mode, g, n_blocks, n_items, features, rp,
          static_cast<BlockStats<acc_t, cmp_t>*>(out));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

std::array<at::Tensor, 3> frame_reduce_cuda(const at::Tensor& x, const FrameSpec& spec,
                                            PadMode zcr_mode, int32_t features,
                                            const ReduceParams& params) {
  TORCH_CHECK(x.is_cuda(), "audiofx: frame_reduce_cuda expects a CUDA tensor, got ", x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const int64_t N = spec.frame_length;
  const int64_t nf = spec.n_frames;
  const auto shape = frames_shape(x, {nf});
  std::array<at::Tensor, 3> out;
  const int32_t bits[3] = {kPeak, kRms, kZcr};
  for (int i = 0; i < 3; ++i) {
    if (features & bits[i]) out[i] = at::empty(shape, x.options());
  }
  if (x.numel() == 0 || nf == 0) return out;

  const at::Tensor xc = x.contiguous();
  const int64_t rows = xc.numel() / spec.length;
  const int64_t g = gcd64(N, spec.hop_length);
  const int64_t hop_blocks = spec.hop_length / g;
  const int64_t frame_blocks = N / g;
  const int64_t n_blocks = (nf - 1) * hop_blocks + frame_blocks;
  const int64_t n_block_items = rows * n_blocks;
  const int64_t n_frame_items = rows * nf;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, xc.scalar_type(),
      "audiofx_frame_reduce_cuda", [&] {
        using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
        using cmp_t = at::opmath_type<scalar_t>;
        using Block = BlockStats<acc_t, cmp_t>;
        const at::Tensor buffer = at::empty({n_block_items * static_cast<int64_t>(sizeof(Block))},
                                            xc.options().dtype(at::kByte));
        const scalar_t* src = xc.const_data_ptr<scalar_t>();
        // Blocks shorter than a warp would leave most of its lanes idle.
        if (g >= 32) {
          launch_block_stats<scalar_t, 32>(src, spec, zcr_mode, g, n_blocks, n_block_items,
                                           features, params, buffer.data_ptr(), stream);
        } else {
          launch_block_stats<scalar_t, 4>(src, spec, zcr_mode, g, n_blocks, n_block_items,
                                          features, params, buffer.data_ptr(), stream);
        }
        auto ptr = [](const at::Tensor& t) {
          return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
        };
        combine_frames_kernel<scalar_t, acc_t, cmp_t>
            <<<grid_size(n_frame_items, kThreads), kThreads, 0, stream>>>(
                static_cast<const Block*>(buffer.const_data_ptr()), n_blocks, hop_blocks,
                frame_blocks, nf, n_frame_items, N, features, ptr(out[kPeakSlot]),
                ptr(out[kRmsSlot]), ptr(out[kZcrSlot]));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

}  // namespace audiofx
