// CUDA kernel of `frame`: out[r, t, n] = padded_sample(row r, t*H + n), the materialised frames
// (row r framed as its own clip with per-row lengths, zeros past its frame count); and the CUDA
// registration of every frame op (the heavier reductions compile in parallel, in
// frame_reduce_kernel.cu).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "frame_kernels.h"

namespace audiofx {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridDim = 65535;  // gridDim.y's limit; the kernel grid-strides past it

// threadIdx.x/blockIdx.x walk a frame's samples (coalesced reads and writes), threadIdx.y/
// blockIdx.y the (row, frame) items, so the divisions are once per item.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    frame_kernel(const scalar_t* __restrict__ x, const FrameSpec spec, const int64_t n_items,
                 scalar_t* __restrict__ out) {
  const int64_t N = spec.frame_length;
  const int64_t T = spec.length;
  for (int64_t item = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y;
       item < n_items; item += static_cast<int64_t>(gridDim.y) * blockDim.y) {
    const int64_t r = item / spec.n_frames;
    const int64_t t = item - r * spec.n_frames;
    // Row r framed as its own clip of L samples (framing.h row_spec).
    const int64_t L = row_length(spec, r);
    const int64_t row_frames =
        spec.lengths == nullptr ? spec.n_frames
                                : n_frames_for(L, N, spec.hop_length, spec.mode);
    const int64_t p0 = t * spec.hop_length;
    const scalar_t* row = x + r * T;
    scalar_t* o = out + item * N;
    const int64_t j0 = p0 - spec.pad_left;
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t dn = static_cast<int64_t>(gridDim.x) * blockDim.x;
    // The loops are not unrolled: they run once per thread unless N > 65535 * 256, and unrolled
    // copies of the index map's 64-bit remainder (a subroutine call) made ptxas spill.
    if (t >= row_frames) {  // a frame of no clip: zeros
#pragma unroll 1
      for (int64_t n = n0; n < N; n += dn) o[n] = scalar_t(0);
    } else if (j0 >= 0 && j0 + N <= L) {  // most frames: a plain copy
#pragma unroll 1
      for (int64_t n = n0; n < N; n += dn) o[n] = row[j0 + n];
    } else {
#pragma unroll 1
      for (int64_t n = n0; n < N; n += dn) {
        o[n] = padded_sample(row, 1, p0 + n, spec.pad_left, L, spec.mode);
      }
    }
  }
}

}  // namespace

at::Tensor frame_cuda(const at::Tensor& x, const FrameSpec& spec) {
  TORCH_CHECK(x.is_cuda(), "audiofx: frame_cuda expects a CUDA tensor, got ", x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const int64_t N = spec.frame_length;
  const int64_t nf = spec.n_frames;
  at::Tensor out = at::empty(frames_shape(x, {nf, N}), x.options());
  if (x.numel() == 0 || out.numel() == 0) return out;

  const at::Tensor xc = x.contiguous();
  const int64_t n_items = (xc.numel() / spec.length) * nf;
  // Short frames share a block between several items instead of idling most of its threads.
  const int bx = N >= kThreads ? kThreads : static_cast<int>(ceil_div(N, 32) * 32);
  const int by = kThreads / bx;
  const dim3 block(bx, by);
  const dim3 grid(static_cast<unsigned>(std::min(ceil_div(N, bx), kMaxGridDim)),
                  static_cast<unsigned>(std::min(ceil_div(n_items, by), kMaxGridDim)));
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, xc.scalar_type(), "audiofx_frame_cuda",
      [&] {
        frame_kernel<scalar_t><<<grid, block, 0, stream>>>(xc.const_data_ptr<scalar_t>(), spec,
                                                            n_items, out.data_ptr<scalar_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

}  // namespace audiofx

AUDIOFX_REGISTER_FRAME_OPS(CUDA, audiofx::frame_cuda, audiofx::frame_reduce_cuda)
