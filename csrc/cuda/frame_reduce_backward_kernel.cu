// CUDA kernel of frame_features_backward (csrc/frame_reduce_backward_ops.h), in four grid-stride
// launches on the current stream: the per-frame rms weights (O(output) scratch); one thread per
// sample writes x * its hop block's weight (coalesced, one read of x; zeros past the row's
// length); one thread per padding position adds x[j] times its weight onto the sample it copies;
// one thread per frame finds its first maximum (frame_argmax_position) and adds g_t there. The
// adds are atomic (several padding positions / frames may share a sample), in x's dtype.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/Atomic.cuh>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "../frame_reduce_backward_ops.h"

namespace audiofx {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // the kernels grid-stride past it

unsigned grid_for(int64_t items) {
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min(ceil_div(items, kThreads), kMaxBlocks)));
}

#define AUDIOFX_GRID_STRIDE(idx, total)                                                  \
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;        \
       idx < (total); idx += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    rms_weights_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ rms,
                       const int64_t N, const int64_t total, scalar_t* __restrict__ w) {
  AUDIOFX_GRID_STRIDE(i, total) { w[i] = rms_frame_weight(g[i], rms[i], N); }
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    weight_samples_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ w,
                          const FrameSpec spec, const int64_t total, scalar_t* __restrict__ out) {
  const int64_t T = spec.length;
  const bool masked = spec.lengths != nullptr;
  AUDIOFX_GRID_STRIDE(idx, total) {
    const int64_t r = idx / T;
    const int64_t i = idx - r * T;
    const FrameSpec row = row_spec(spec, r);
    scalar_t v = scalar_t(0);
    if (w != nullptr && i < row.length) {
      const scalar_t wi =
          static_cast<scalar_t>(sample_weight<acc_t>(w + r * spec.n_frames, i, row));
      v = masked && wi == scalar_t(0) ? scalar_t(0) : x[idx] * wi;
    }
    out[idx] = v;
  }
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    fold_padding_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ w,
                        const FrameSpec spec, const int64_t n_pad, const int64_t total,
                        scalar_t* __restrict__ out) {
  AUDIOFX_GRID_STRIDE(idx, total) {
    const int64_t r = idx / n_pad;
    const int64_t k = idx - r * n_pad;
    const FrameSpec row = row_spec(spec, r);  // n_pad bounds every row's count
    if (k >= n_padding_positions(row)) continue;
    const int64_t p = padding_position(k, row);
    const int64_t j = source_index(p, row.pad_left, row.length, row.mode);
    if (j < 0) continue;
    const scalar_t wp =
        static_cast<scalar_t>(overlap_sum<acc_t>(w + r * spec.n_frames, 1, 0, p, row));
    if (wp != scalar_t(0)) gpuAtomicAdd(out + r * spec.length + j, x[r * spec.length + j] * wp);
  }
}

template <typename scalar_t, typename cmp_t>
__global__ void __launch_bounds__(kThreads)
    envelope_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ ge,
                    const FrameSpec spec, const bool absolute, const int64_t total,
                    scalar_t* __restrict__ out) {
  AUDIOFX_GRID_STRIDE(idx, total) {
    const int64_t r = idx / spec.n_frames;
    const int64_t t = idx - r * spec.n_frames;
    const FrameSpec row = row_spec(spec, r);
    if (t >= row.n_frames) continue;
    const scalar_t* xr = x + r * spec.length;
    const int64_t p = frame_argmax_position<cmp_t>(xr, 1, row, t, absolute);
    const int64_t j = source_index(p, row.pad_left, row.length, row.mode);
    if (j < 0) continue;
    const scalar_t v = absolute ? static_cast<scalar_t>(ge[idx] * sign_of(xr[j])) : ge[idx];
    gpuAtomicAdd(out + r * spec.length + j, v);
  }
}

at::Tensor frame_features_backward_cuda(const at::Tensor& x, const at::Tensor& rms,
                                        const at::Tensor& grad_rms,
                                        const at::Tensor& grad_envelope, const FrameSpec& spec,
                                        bool absolute) {
  TORCH_CHECK(x.is_cuda(), "audiofx: frame_features_backward_cuda expects a CUDA tensor, got ",
              x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  at::Tensor out = at::empty_like(x);
  const int64_t rows = x.size(0);
  if (out.numel() == 0) return out;
  const bool do_rms = grad_rms.defined(), do_env = grad_envelope.defined();
  const int64_t nf = spec.n_frames;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(),
      "audiofx_frame_features_backward_cuda", [&] {
        using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
        const scalar_t* X = x.const_data_ptr<scalar_t>();
        scalar_t* G = out.data_ptr<scalar_t>();
        at::Tensor w;
        const scalar_t* W = nullptr;
        if (do_rms) {
          w = at::empty({rows, nf}, x.options());
          rms_weights_kernel<scalar_t><<<grid_for(rows * nf), kThreads, 0, stream>>>(
              grad_rms.const_data_ptr<scalar_t>(), rms.const_data_ptr<scalar_t>(),
              spec.frame_length, rows * nf, w.data_ptr<scalar_t>());
          C10_CUDA_KERNEL_LAUNCH_CHECK();
          W = w.const_data_ptr<scalar_t>();
        }
        const int64_t total = rows * spec.length;
        weight_samples_kernel<scalar_t, acc_t><<<grid_for(total), kThreads, 0, stream>>>(
            X, W, spec, total, G);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        const int64_t n_pad = max_padding_positions(spec);
        if (do_rms && n_pad > 0 && spec.mode != PadMode::Constant) {
          fold_padding_kernel<scalar_t, acc_t><<<grid_for(rows * n_pad), kThreads, 0, stream>>>(
              X, W, spec, n_pad, rows * n_pad, G);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
        if (do_env) {
          envelope_kernel<scalar_t, acc_t><<<grid_for(rows * nf), kThreads, 0, stream>>>(
              X, grad_envelope.const_data_ptr<scalar_t>(), spec, absolute, rows * nf, G);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      });
  return out;
}

}  // namespace
}  // namespace audiofx

AUDIOFX_REGISTER_FRAME_FEATURES_BACKWARD(CUDA, audiofx::frame_features_backward_cuda)
