// CUDA kernel of windowed_overlap_add (csrc/spectral_backward_ops.h), the STFT's backward after
// the inverse real FFT: as overlap_add (frame_backward_kernel.cu), one thread per output sample
// gathers from the frames that hold it, times the window (no atomics, coalesced along the row),
// then one thread per padding position adds its sum onto the sample it copies (atomicAdd:
// several padding positions may map onto one sample). Accumulation in at::acc_type.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "../spectral_backward_ops.h"

namespace audiofx {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // the kernels grid-stride past it

unsigned blocks_for(int64_t items) {
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min(ceil_div(items, kThreads), kMaxBlocks)));
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    windowed_rows_kernel(const scalar_t* __restrict__ g, const int64_t rs, const int64_t ts,
                         const int64_t ns, const scalar_t* __restrict__ w, const FrameSpec spec,
                         const int64_t total, acc_t* __restrict__ out) {
  const int64_t T = spec.length;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / T;
    const int64_t i = idx - r * T;
    const FrameSpec row = row_spec(spec, r);
    out[idx] = i < row.length
                   ? windowed_overlap_sum<acc_t>(g + r * rs, ts, ns, w, i + row.pad_left, row)
                   : acc_t(0);
  }
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    windowed_padding_kernel(const scalar_t* __restrict__ g, const int64_t rs, const int64_t ts,
                            const int64_t ns, const scalar_t* __restrict__ w,
                            const FrameSpec spec, const int64_t n_pad, const int64_t total,
                            acc_t* __restrict__ out) {
  const int64_t T = spec.length;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / n_pad;
    const int64_t k = idx - r * n_pad;
    const FrameSpec row = row_spec(spec, r);
    if (k >= n_padding_positions(row)) continue;
    const int64_t p = padding_position(k, row);
    const int64_t j = source_index(p, row.pad_left, row.length, row.mode);
    if (j >= 0) {
      atomicAdd(out + r * T + j, windowed_overlap_sum<acc_t>(g + r * rs, ts, ns, w, p, row));
    }
  }
}

at::Tensor windowed_overlap_add_cuda(const at::Tensor& frames, const at::Tensor& window,
                                     const FrameSpec& spec) {
  TORCH_CHECK(frames.is_cuda() && window.is_cuda(),
              "audiofx: windowed_overlap_add_cuda expects CUDA tensors, got ", frames.device(),
              " and ", window.device());
  const c10::cuda::CUDAGuard device_guard(frames.device());
  const at::Tensor g = frames_3d(frames);
  const at::Tensor wc = window.contiguous();
  const int64_t rows = g.size(0);
  const int64_t T = spec.length;
  const auto acc_dtype = at::toAccumulateType(g.scalar_type(), /*is_cuda=*/true);
  at::Tensor acc = at::empty({rows, T}, g.options().dtype(acc_dtype));
  if (rows == 0) return acc.to(g.scalar_type()).view(signal_shape(frames, T));
  const int64_t n_pad = max_padding_positions(spec);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, g.scalar_type(),
      "audiofx_windowed_overlap_add_cuda", [&] {
        using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
        const scalar_t* src = g.const_data_ptr<scalar_t>();
        const scalar_t* w = wc.const_data_ptr<scalar_t>();
        acc_t* dst = acc.mutable_data_ptr<acc_t>();
        const int64_t total = rows * T;
        windowed_rows_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
            src, g.stride(0), g.stride(1), g.stride(2), w, spec, total, dst);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        if (n_pad > 0) {
          const int64_t pad_total = rows * n_pad;
          windowed_padding_kernel<scalar_t, acc_t>
              <<<blocks_for(pad_total), kThreads, 0, stream>>>(
                  src, g.stride(0), g.stride(1), g.stride(2), w, spec, n_pad, pad_total, dst);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      });
  const at::Tensor out = acc.scalar_type() == g.scalar_type() ? acc : acc.to(g.scalar_type());
  return out.view(signal_shape(frames, T));
}

}  // namespace
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CUDA, m) {
  m.impl("windowed_overlap_add",
         &audiofx::windowed_overlap_add_op<audiofx::windowed_overlap_add_cuda>);
}
