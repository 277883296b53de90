// CUDA kernels of the frame reductions, the hop-aligned block scheme of csrc/frame_stats.h:
// phase 1 reduces every block a chunk of frames needs once into its whole and head stats (a
// logical warp per block, coalesced loads), phase 2 combines each frame's q + 1 of them (a thread
// per frame) and writes zeros past a row's own frame count. The scratch between the phases is
// bounded (max(8 MiB, the outputs)): larger inputs run as several chunks of rows, or of frames
// of one row.
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
constexpr int64_t kMinScratchBytes = int64_t{8} << 20;

template <typename cmp_t>
struct NanMaxOp {
  __device__ __forceinline__ cmp_t operator()(cmp_t a, cmp_t b) const { return nan_max(a, b); }
};

// One wave of resident blocks: the kernels grid-stride over the rest.
int64_t grid_size(int64_t work_items, int64_t items_per_block) {
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  const int64_t per_sm = std::max(1, prop->maxThreadsPerMultiProcessor / kThreads);
  return std::max<int64_t>(
      1, std::min(ceil_div(work_items, items_per_block), prop->multiProcessorCount * per_sm));
}

// The frames [f0, f1) of rows [r0, r0 + n_rows) that one launch pair covers; the scratch holds
// blocks_per_row = hb.blocks_for(f0, f1) whole and head stats per row.
struct Chunk {
  int64_t r0, n_rows, f0, f1, blocks_per_row;
};

// One lane's share of a segment: the fields of BlockStats, accumulated sample by sample.
template <typename acc_t, typename cmp_t>
struct LaneStats {
  acc_t sumsq = acc_t(0);
  cmp_t peak = lowest<cmp_t>();
  int32_t crossings = 0;

  __device__ __forceinline__ void add_value(cmp_t v, bool absolute) {
    sumsq += static_cast<acc_t>(v) * static_cast<acc_t>(v);
    peak = nan_max(peak, peak_input(v, absolute));
  }
};

// One logical warp of kLanes threads per (row, block) of the chunk; the lanes stride over the
// samples the block's frames need (hb.read_length) into the stats of its head (i < r) and of the
// rest, reduced with CUB. Same fields as reduce_segment (frame_stats.h), sample for sample. Each
// lane reads its own left neighbour for the crossing test (an L1 hit) instead of shuffling.
template <typename scalar_t, typename acc_t, typename cmp_t, int kLanes>
__global__ void __launch_bounds__(kThreads)
    block_stats_kernel(const scalar_t* __restrict__ x, const FrameSpec spec,
                       const PadMode zcr_mode, const HopBlocks hb, const Chunk chunk,
                       const int32_t features, const ReduceParams rp,
                       BlockStats<acc_t, cmp_t>* __restrict__ whole,
                       BlockStats<acc_t, cmp_t>* __restrict__ head) {
  using AccReduce = cub::WarpReduce<acc_t, kLanes>;
  using CmpReduce = cub::WarpReduce<cmp_t, kLanes>;
  using IntReduce = cub::WarpReduce<int32_t, kLanes>;
  constexpr int kGroups = kThreads / kLanes;
  __shared__ typename AccReduce::TempStorage acc_storage[kGroups];
  __shared__ typename CmpReduce::TempStorage cmp_storage[kGroups];
  __shared__ typename IntReduce::TempStorage int_storage[kGroups];

  const int group = threadIdx.x / kLanes;
  const int lane = threadIdx.x % kLanes;
  const cmp_t thr = static_cast<cmp_t>(rp.threshold);
  const bool values = (features & (kRms | kPeak)) != 0;
  const bool zcr = (features & kZcr) != 0;
  const int64_t n_items = chunk.n_rows * chunk.blocks_per_row;

  // `item` is uniform across a logical warp, so its lanes stay converged for the reductions.
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * kGroups + group; item < n_items;
       item += static_cast<int64_t>(gridDim.x) * kGroups) {
    const int64_t r = chunk.r0 + item / chunk.blocks_per_row;
    const int64_t k = chunk.f0 + item % chunk.blocks_per_row;
    const FrameSpec rs = row_spec(spec, r);
    const int64_t fe = chunk.f1 < rs.n_frames ? chunk.f1 : rs.n_frames;
    if (fe <= chunk.f0 || k >= chunk.f0 + hb.blocks_for(chunk.f0, fe)) continue;  // unused
    const int64_t n = hb.read_length(k, fe);
    const int64_t p0 = k * hb.hop;
    const int64_t j0 = p0 - rs.pad_left;
    const scalar_t* row = x + r * spec.length;
    LaneStats<acc_t, cmp_t> hs, ts;  // head, rest
    int32_t left = 0;
    auto add = [&](LaneStats<acc_t, cmp_t>& s, int64_t i, cmp_t v, int32_t prev_cls,
                   int32_t cls) {
      if (values) s.add_value(v, rp.absolute);
      if (zcr) {
        if (i == 0) {
          left = static_cast<int32_t>(cls != prev_cls);
        } else {
          s.crossings += static_cast<int32_t>(cls != prev_cls);
        }
      }
    };
    if (j0 >= 1 && j0 + n <= rs.length) {
      // The block and the sample before it lie inside the clip: plain loads, no index map.
      const scalar_t* s = row + j0;
      for (int64_t i = lane; i < n; i += kLanes) {
        const cmp_t v = static_cast<cmp_t>(s[i]);
        const int32_t prev = zcr ? crossing_class(static_cast<cmp_t>(s[i - 1]), thr, rp.zero_pos)
                                 : 0;
        const int32_t cls = zcr ? crossing_class(v, thr, rp.zero_pos) : 0;
        if (i < hb.r) {
          add(hs, i, v, prev, cls);
        } else {
          add(ts, i, v, prev, cls);
        }
      }
    } else {
      for (int64_t i = lane; i < n; i += kLanes) {
        const int64_t p = p0 + i;
        const cmp_t v = values ? static_cast<cmp_t>(
                                     padded_sample(row, 1, p, rs.pad_left, rs.length, rs.mode))
                               : cmp_t(0);
        int32_t prev = 0, cls = 0;
        if (zcr && p > 0) {  // p = 0: nothing before the first padded sample, no crossing
          prev = crossing_class(static_cast<cmp_t>(padded_sample(row, 1, p - 1, rs.pad_left,
                                                                 rs.length, zcr_mode)),
                                thr, rp.zero_pos);
          cls = crossing_class(
              static_cast<cmp_t>(padded_sample(row, 1, p, rs.pad_left, rs.length, zcr_mode)),
              thr, rp.zero_pos);
        }
        if (i < hb.r) {
          add(hs, i, v, prev, cls);
        } else {
          add(ts, i, v, prev, cls);
        }
      }
    }
    BlockStats<acc_t, cmp_t> h = empty_block<acc_t, cmp_t>();
    BlockStats<acc_t, cmp_t> t = empty_block<acc_t, cmp_t>();
    // hb.r and n are uniform across the logical warp: every lane takes part in each reduction.
    if (hb.r > 0) {
      if (values) {
        h.sumsq = AccReduce(acc_storage[group]).Sum(hs.sumsq);
        h.peak = CmpReduce(cmp_storage[group]).Reduce(hs.peak, NanMaxOp<cmp_t>{});
      }
      if (zcr) h.crossings = IntReduce(int_storage[group]).Sum(hs.crossings);
    }
    if (n > hb.r) {
      if (values) {
        t.sumsq = AccReduce(acc_storage[group]).Sum(ts.sumsq);
        t.peak = CmpReduce(cmp_storage[group]).Reduce(ts.peak, NanMaxOp<cmp_t>{});
      }
      if (zcr) t.crossings = IntReduce(int_storage[group]).Sum(ts.crossings);
    }
    if (lane == 0) {  // lane 0 holds sample 0, so its `left` is the block's
      const int64_t slot = item;
      h.left_crossing = left;
      if (hb.r > 0) head[slot] = h;
      if (n > hb.r) {
        // The crossing between the head's last sample and the rest's first is in ts.crossings.
        BlockStats<acc_t, cmp_t> w;
        w.sumsq = h.sumsq + t.sumsq;
        w.peak = nan_max(h.peak, t.peak);
        w.crossings = h.crossings + t.crossings;
        w.left_crossing = left;
        whole[slot] = w;
      }
    }
  }
}

// One thread per (row, frame) of the chunk; output index row * n_frames + frame, as on the CPU.
template <typename scalar_t, typename acc_t, typename cmp_t>
__global__ void __launch_bounds__(kThreads)
    combine_frames_kernel(const BlockStats<acc_t, cmp_t>* __restrict__ whole,
                          const BlockStats<acc_t, cmp_t>* __restrict__ head,
                          const FrameSpec spec, const HopBlocks hb, const Chunk chunk,
                          const int32_t features, scalar_t* __restrict__ peak,
                          scalar_t* __restrict__ rms, scalar_t* __restrict__ zcr) {
  const int64_t frames = chunk.f1 - chunk.f0;
  const int64_t n_items = chunk.n_rows * frames;
  const int64_t N = spec.frame_length;
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       item < n_items; item += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t rr = item / frames;
    const int64_t t = chunk.f0 + (item - rr * frames);
    const int64_t r = chunk.r0 + rr;
    const int64_t o = r * spec.n_frames + t;
    if (t >= row_spec(spec, r).n_frames) {  // past the clip's own frames
      if (features & kPeak) peak[o] = scalar_t(0);
      if (features & kRms) rms[o] = scalar_t(0);
      if (features & kZcr) zcr[o] = scalar_t(0);
      continue;
    }
    const int64_t b = rr * chunk.blocks_per_row + (t - chunk.f0);
    const auto tot = combine_frame(whole + b, head + b, hb);
    if (features & kPeak) peak[o] = static_cast<scalar_t>(tot.peak);
    if (features & kRms) rms[o] = static_cast<scalar_t>(rms_from_sumsq(tot.sumsq, N));
    if (features & kZcr) zcr[o] = static_cast<scalar_t>(zcr_from_crossings(tot.crossings, N));
  }
}

template <typename scalar_t, int kLanes>
void launch_block_stats(const scalar_t* x, const FrameSpec& spec, PadMode zcr_mode,
                        const HopBlocks& hb, const Chunk& chunk, int32_t features,
                        const ReduceParams& rp, void* whole, void* head, cudaStream_t stream) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
  using cmp_t = at::opmath_type<scalar_t>;
  using Block = BlockStats<acc_t, cmp_t>;
  block_stats_kernel<scalar_t, acc_t, cmp_t, kLanes>
      <<<grid_size(chunk.n_rows * chunk.blocks_per_row, kThreads / kLanes), kThreads, 0,
         stream>>>(x, spec, zcr_mode, hb, chunk, features, rp, static_cast<Block*>(whole),
                   static_cast<Block*>(head));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The chunks of one call: all rows at once when their blocks fit the scratch, else groups of
// rows, else (a row alone needs more) windows of one row's frames.
template <typename F>
void for_each_chunk(int64_t rows, int64_t nf, const HopBlocks& hb, int64_t max_blocks, F fn) {
  const int64_t row_blocks = hb.blocks_for(0, nf);
  if (row_blocks <= max_blocks) {
    const int64_t per_launch = std::max<int64_t>(1, max_blocks / row_blocks);
    for (int64_t r0 = 0; r0 < rows; r0 += per_launch) {
      fn(Chunk{r0, std::min(per_launch, rows - r0), 0, nf, row_blocks});
    }
    return;
  }
  const int64_t fpl = std::max<int64_t>(1, max_blocks - hb.q);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t f0 = 0; f0 < nf; f0 += fpl) {
      const int64_t f1 = std::min(nf, f0 + fpl);
      fn(Chunk{r, 1, f0, f1, hb.blocks_for(f0, f1)});
    }
  }
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
  int64_t out_bytes = 0;
  for (int i = 0; i < 3; ++i) {
    if (features & bits[i]) {
      out[i] = at::empty(shape, x.options());
      out_bytes += out[i].numel() * static_cast<int64_t>(out[i].element_size());
    }
  }
  if (x.numel() == 0 || nf == 0) return out;

  const at::Tensor xc = x.contiguous();
  const int64_t rows = xc.numel() / spec.length;
  const HopBlocks hb = hop_blocks(N, spec.hop_length);
  zcr_mode = effective_zcr_mode(spec.mode, zcr_mode);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, xc.scalar_type(),
      "audiofx_frame_reduce_cuda", [&] {
        using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
        using cmp_t = at::opmath_type<scalar_t>;
        using Block = BlockStats<acc_t, cmp_t>;
        constexpr int64_t kPairBytes = 2 * static_cast<int64_t>(sizeof(Block));
        const int64_t max_blocks =
            std::max<int64_t>(1, std::max(kMinScratchBytes, out_bytes) / kPairBytes);
        int64_t slots = 0;  // the largest chunk's blocks
        for_each_chunk(rows, nf, hb, max_blocks, [&](const Chunk& c) {
          slots = std::max(slots, c.n_rows * c.blocks_per_row);
        });
        const at::Tensor buffer =
            at::empty({2 * slots * static_cast<int64_t>(sizeof(Block))},
                      xc.options().dtype(at::kByte));
        Block* whole = static_cast<Block*>(buffer.data_ptr());
        Block* head = whole + slots;
        const scalar_t* src = xc.const_data_ptr<scalar_t>();
        auto ptr = [](const at::Tensor& t) {
          return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
        };
        // Blocks shorter than a warp would leave most of its lanes idle.
        const bool wide = (hb.q > 0 ? hb.hop : hb.r) >= 32;
        for_each_chunk(rows, nf, hb, max_blocks, [&](const Chunk& chunk) {
          if (wide) {
            launch_block_stats<scalar_t, 32>(src, spec, zcr_mode, hb, chunk, features, params,
                                             whole, head, stream);
          } else {
            launch_block_stats<scalar_t, 4>(src, spec, zcr_mode, hb, chunk, features, params,
                                            whole, head, stream);
          }
          const int64_t n_frames = chunk.n_rows * (chunk.f1 - chunk.f0);
          combine_frames_kernel<scalar_t, acc_t, cmp_t>
              <<<grid_size(n_frames, kThreads), kThreads, 0, stream>>>(
                  whole, head, spec, hb, chunk, features, ptr(out[kPeakSlot]),
                  ptr(out[kRmsSlot]), ptr(out[kZcrSlot]));
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
      });
  return out;
}

}  // namespace audiofx
