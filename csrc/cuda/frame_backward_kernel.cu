// CUDA kernels of the backward ops (csrc/frame_backward_ops.h). overlap_add: one thread per
// output sample gathers from the frames that hold it (no atomics, coalesced along the row), then
// one thread per padding position adds its sum onto the sample it copies (atomicAdd: several
// padding positions may map onto one sample). Accumulation is in at::acc_type (float for
// float16/bfloat16/float32, double for float64) into a buffer of that type. frame_argmax: one
// thread per frame scans it (the amplitude envelope's backward is not on a hot path).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "../frame_backward_ops.h"

namespace audiofx {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // the kernels grid-stride past it

unsigned blocks_for(int64_t items) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(ceil_div(items, kThreads), kMaxBlocks)));
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    overlap_add_rows_kernel(const scalar_t* __restrict__ g, const int64_t rs, const int64_t ts,
                            const int64_t ns, const FrameSpec spec, const int64_t total,
                            acc_t* __restrict__ out) {
  const int64_t T = spec.length;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / T;
    const int64_t i = idx - r * T;
    const FrameSpec row = row_spec(spec, r);
    out[idx] = i < row.length ? overlap_sum<acc_t>(g + r * rs, ts, ns, i + row.pad_left, row)
                              : acc_t(0);
  }
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    overlap_add_padding_kernel(const scalar_t* __restrict__ g, const int64_t rs,
                               const int64_t ts, const int64_t ns, const FrameSpec spec,
                               const int64_t n_pad, const int64_t total, acc_t* __restrict__ out) {
  const int64_t T = spec.length;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / n_pad;
    const int64_t k = idx - r * n_pad;
    // n_pad bounds every row's count (max_padding_positions); this row may have fewer.
    const FrameSpec row = row_spec(spec, r);
    if (k >= n_padding_positions(row)) continue;
    const int64_t p = padding_position(k, row);
    const int64_t j = source_index(p, row.pad_left, row.length, row.mode);
    if (j >= 0) atomicAdd(out + r * T + j, overlap_sum<acc_t>(g + r * rs, ts, ns, p, row));
  }
}

template <typename scalar_t, typename cmp_t>
__global__ void __launch_bounds__(kThreads)
    frame_argmax_kernel(const scalar_t* __restrict__ x, const FrameSpec spec, const bool absolute,
                        const int64_t total, int64_t* __restrict__ out) {
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / spec.n_frames;
    const int64_t t = idx - r * spec.n_frames;
    const FrameSpec row = row_spec(spec, r);
    if (t >= row.n_frames) {
      out[idx] = -1;  // past the clip's frames: the (zero) envelope there has no sample
      continue;
    }
    const int64_t p = frame_argmax_position<cmp_t>(x + r * spec.length, 1, row, t, absolute);
    out[idx] = source_index(p, row.pad_left, row.length, row.mode);
  }
}

at::Tensor overlap_add_cuda(const at::Tensor& frames, const FrameSpec& spec) {
  TORCH_CHECK(frames.is_cuda(), "audiofx: overlap_add_cuda expects a CUDA tensor, got ",
              frames.device());
  const c10::cuda::CUDAGuard device_guard(frames.device());
  const at::Tensor g = frames_3d(frames);
  const int64_t rows = g.size(0);
  const int64_t T = spec.length;
  const auto acc_dtype = at::toAccumulateType(g.scalar_type(), /*is_cuda=*/true);
  at::Tensor acc = at::empty({rows, T}, g.options().dtype(acc_dtype));
  if (rows == 0) return acc.to(g.scalar_type()).view(signal_shape(frames, T));
  const int64_t n_pad = max_padding_positions(spec);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, g.scalar_type(), "audiofx_overlap_add_cuda",
      [&] {
        using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
        const scalar_t* src = g.const_data_ptr<scalar_t>();
        acc_t* dst = acc.data_ptr<acc_t>();
        const int64_t total = rows * T;
        overlap_add_rows_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
            src, g.stride(0), g.stride(1), g.stride(2), spec, total, dst);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        if (n_pad > 0) {
          const int64_t pad_total = rows * n_pad;
          overlap_add_padding_kernel<scalar_t, acc_t>
              <<<blocks_for(pad_total), kThreads, 0, stream>>>(
                  src, g.stride(0), g.stride(1), g.stride(2), spec, n_pad, pad_total, dst);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      });
  const at::Tensor out = acc.scalar_type() == g.scalar_type() ? acc : acc.to(g.scalar_type());
  return out.view(signal_shape(frames, T));
}

at::Tensor frame_argmax_cuda(const at::Tensor& x, const FrameSpec& spec, bool absolute) {
  TORCH_CHECK(x.is_cuda(), "audiofx: frame_argmax_cuda expects a CUDA tensor, got ", x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const at::Tensor xc = x.contiguous();
  const int64_t total = xc.numel() / spec.length * spec.n_frames;
  at::Tensor out = at::empty(frames_shape(x, {spec.n_frames}), xc.options().dtype(at::kLong));
  if (total == 0) return out;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, xc.scalar_type(),
      "audiofx_frame_argmax_cuda", [&] {
        using cmp_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
        frame_argmax_kernel<scalar_t, cmp_t><<<blocks_for(total), kThreads, 0, stream>>>(
            xc.const_data_ptr<scalar_t>(), spec, absolute, total, out.data_ptr<int64_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

}  // namespace
}  // namespace audiofx

AUDIOFX_REGISTER_BACKWARD_OPS(CUDA, audiofx::overlap_add_cuda, audiofx::frame_argmax_cuda)
