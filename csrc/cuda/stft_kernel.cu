// CUDA kernels of stft_frames (the fused pad-frame-window step of the STFT) and stft (that step,
// then cuFFT through at::fft_rfft). A block per frame (grid-stride over frames), its threads along the frame,
// so reads of the signal and writes of the frames are coalesced; padding is virtual
// (csrc/framing.h). With per-row lengths a row is framed as its clip alone (its frames past the
// clip's count written as zeros), so spectral_features' chunks need no fix-up either.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_rfft.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>

#include "../spectral_ops.h"
#include "stft_frames_cuda.h"

namespace audiofx {
namespace cuda {
namespace {

template <typename scalar_t, typename window_t, typename out_t>
__global__ void stft_frames_kernel(const scalar_t* __restrict__ x,
                                   const window_t* __restrict__ window, FrameSpec spec,
                                   int64_t g0, int64_t count, out_t* __restrict__ out) {
  using compute_t = std::conditional_t<std::is_same_v<out_t, double>, double, float>;
  const int64_t N = spec.frame_length;
  for (int64_t i = blockIdx.x; i < count; i += gridDim.x) {
    const int64_t g = g0 + i;
    const int64_t r = g / spec.n_frames;
    const int64_t t = g - r * spec.n_frames;
    const scalar_t* row = x + r * spec.length;
    const FrameSpec own = row_spec(spec, r);
    const int64_t j0 = t * spec.hop_length - spec.pad_left;
    out_t* o = out + i * N;
    if (t >= own.n_frames) {
      for (int64_t n = threadIdx.x; n < N; n += blockDim.x) o[n] = static_cast<out_t>(0.0f);
    } else if (j0 >= 0 && j0 + N <= own.length) {
      for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
        o[n] = static_cast<out_t>(static_cast<compute_t>(row[j0 + n]) *
                                  static_cast<compute_t>(window[n]));
      }
    } else {
      for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
        o[n] = static_cast<out_t>(windowed_sample<compute_t>(row, own, t, n, window));
      }
    }
  }
}

template <typename scalar_t, typename window_t, typename out_t>
void launch(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec, int64_t g0,
            int64_t count, const at::Tensor& out) {
  const int64_t N = spec.frame_length;
  const int threads = static_cast<int>(std::min<int64_t>(256, (N + 31) / 32 * 32));
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int blocks = static_cast<int>(std::min<int64_t>(count, int64_t{sms} * 32));
  stft_frames_kernel<scalar_t, window_t, out_t>
      <<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
          x.const_data_ptr<scalar_t>(), window.const_data_ptr<window_t>(), spec, g0, count,
          out.mutable_data_ptr<out_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void launch_stft_frames(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
                        int64_t g0, int64_t count, const at::Tensor& out) {
  if (count == 0) return;
  const bool same = window.scalar_type() == x.scalar_type() && out.scalar_type() == x.scalar_type();
  TORCH_INTERNAL_ASSERT(same || (window.scalar_type() == at::kDouble &&
                                 (out.scalar_type() == at::kFloat ||
                                  out.scalar_type() == at::kDouble)));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(),
                                  "audiofx_stft_frames_cuda", [&] {
    if (same) {
      launch<scalar_t, scalar_t, scalar_t>(x, window, spec, g0, count, out);
    } else if (out.scalar_type() == at::kFloat) {
      launch<scalar_t, double, float>(x, window, spec, g0, count, out);
    } else {
      launch<scalar_t, double, double>(x, window, spec, g0, count, out);
    }
  });
}

namespace {

at::Tensor stft_frames_cuda(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec) {
  TORCH_CHECK(x.is_cuda() && window.is_cuda(), "audiofx: x and window must be CUDA tensors");
  c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  at::Tensor out = at::empty(frames_shape(x, {spec.n_frames, spec.frame_length}), xc.options());
  if (out.numel() == 0) return out;
  launch_stft_frames(xc, wc, spec, 0, xc.numel() / spec.length * spec.n_frames, out);
  return out;
}

// The frames whole, then cuFFT over all of them (enough work to fill the GPU; chunk_frames is the
// CPU kernel's), then the transposition into (bins, frames).
at::Tensor stft_cuda(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
                     int64_t /*chunk_frames*/) {
  const at::Tensor frames = stft_frames_cuda(x, window, spec);
  return at::fft_rfft(frames, spec.frame_length, -1).transpose(-1, -2).contiguous();
}

}  // namespace
}  // namespace cuda
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CUDA, m) {
  m.impl("stft_frames", &audiofx::stft_frames_op<audiofx::cuda::stft_frames_cuda>);
  m.impl("stft", &audiofx::stft_op<audiofx::cuda::stft_cuda>);
}
