// CUDA kernel of spectral_features_backward (csrc/spectral_backward_ops.h; the math is
// csrc/spectral_backward.h), chunked as the forward (spectral_kernel.cu): per chunk of frames,
// the windowed frames (stft_kernel.cu's launcher), their spectrum (cuFFT through at::fft_rfft),
// a warp per frame turning the spectrum into its gradient in place (three sweeps over the frame's
// bins: sums, deviations, coefficients), the inverse transform (at::fft_irfft), then the windowed
// overlap-add of the frame gradients (chunk_overlap_add.cuh: atomics into an accumulator of
// at::acc_type). Chunks follow each other on the stream, so only the accumulator and one chunk's
// buffers are alive.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_irfft.h>
#include <ATen/ops/fft_rfft.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "../spectral_backward_ops.h"
#include "chunk_overlap_add.cuh"
#include "stft_frames_cuda.h"

namespace audiofx {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// Warp per frame i of the chunk (output frame g0 + i): z (count, n_bins) interleaved complex.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    spectrum_grad_kernel(acc_t* __restrict__ z, const int64_t count, const int64_t n_bins,
                         const int64_t n_fft, const double* __restrict__ freq, const acc_t bin_hz,
                         const scalar_t* __restrict__ g_c, const scalar_t* __restrict__ g_b,
                         const int64_t g0, const StatsParams<acc_t> sp) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
       i < count; i += warps) {
    acc_t* col = z + 2 * i * n_bins;
    const acc_t gc = g_c != nullptr ? static_cast<acc_t>(g_c[g0 + i]) : acc_t(0);
    const acc_t gb = g_b != nullptr ? static_cast<acc_t>(g_b[g0 + i]) : acc_t(0);
    acc_t s = acc_t(0), fs = acc_t(0);
    for (int64_t k = lane; k < n_bins; k += kWarp) {
      const acc_t m = bin_magnitude<true, acc_t, acc_t>(col + 2 * k);
      s += m;
      fs += bin_frequency<acc_t>(freq, k, bin_hz) * m;
    }
    s = warp_sum(s);
    fs = warp_sum(fs);
    const acc_t c = centroid_from(s, fs, sp.tiny);
    acc_t dev = acc_t(0), slope = acc_t(0);
    for (int64_t k = lane; k < n_bins; k += kWarp) {
      const acc_t m = bin_magnitude<true, acc_t, acc_t>(col + 2 * k);
      const acc_t d = bin_frequency<acc_t>(freq, k, bin_hz) - c;
      acc_t dp, sl;
      abs_pow_and_slope(d, sp.p, sp.kind, dp, sl);
      dev += m * dp;
      slope += m * sl;
    }
    dev = warp_sum(dev);
    slope = warp_sum(slope);
    const SpectrumGrad<acc_t> gr = spectrum_grad(s, c, dev, slope, gc, gb, sp);
    for (int64_t k = lane; k < n_bins; k += kWarp) {
      const acc_t m = bin_magnitude<true, acc_t, acc_t>(col + 2 * k);
      const acc_t d = bin_frequency<acc_t>(freq, k, bin_hz) - c;
      const acc_t coef =
          m > acc_t(0) ? (gr.a * abs_pow(d, sp.p, sp.kind) + gr.beta * d + gr.shift) / m *
                             rfft_adjoint_weight<acc_t>(k, n_fft)
                       : acc_t(0);
      col[2 * k] *= coef;
      col[2 * k + 1] *= coef;
    }
  }
}

// Frames per chunk: about 256 MiB of frames, spectrum and frame gradients, as the forward's.
int64_t backward_chunk_frames(int64_t n_fft, size_t real_size) {
  const int64_t bytes_per_frame =
      static_cast<int64_t>(real_size) * (2 * n_fft + 2 * n_bins_for(n_fft));
  return std::max<int64_t>(1, (int64_t{256} << 20) / bytes_per_frame);
}

template <typename acc_t>
using complex_of = std::conditional_t<std::is_same_v<acc_t, double>, c10::complex<double>,
                                      c10::complex<float>>;

std::tuple<at::Tensor, at::Tensor> spectral_features_backward_cuda(
    const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
    const std::optional<at::Tensor>& freq, double bin_hz, const BandwidthArgs& bw,
    const StatsGrads& grads, bool window_grad, int64_t chunk_frames) {
  TORCH_CHECK(x.is_cuda() && window.is_cuda(), "audiofx: x and window must be CUDA tensors");
  c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const at::Tensor fc = freq.has_value() ? freq->contiguous() : at::Tensor();
  const int64_t N = spec.frame_length;
  const int64_t n_bins = n_bins_for(N);
  const int64_t total = xc.numel() / spec.length * spec.n_frames;
  const at::ScalarType compute = xc.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor acc = at::zeros(xc.sizes(), xc.options().dtype(compute));
  at::Tensor gw = at::zeros({window_grad ? N : 0}, wc.options());
  if (total == 0 || (!grads.centroid.has_value() && !grads.bandwidth.has_value())) {
    return {acc.to(xc.scalar_type()), gw};
  }
  const int64_t F = std::min(
      total, chunk_frames > 0 ? chunk_frames : backward_chunk_frames(N, c10::elementSize(compute)));
  at::Tensor frames = at::empty({F, N}, xc.options().dtype(compute));
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, xc.scalar_type(),
                                  "audiofx_spectral_features_backward_cuda", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    const auto sp = make_stats_params<acc_t>(
        bw, static_cast<double>(std::numeric_limits<scalar_t>::min()));
    const scalar_t* gc =
        grads.centroid.has_value() ? grads.centroid->const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* gb =
        grads.bandwidth.has_value() ? grads.bandwidth->const_data_ptr<scalar_t>() : nullptr;
    for (int64_t g0 = 0; g0 < total; g0 += F) {
      const int64_t count = std::min(F, total - g0);
      const at::Tensor frames_view = frames.narrow(0, 0, count);
      launch_stft_frames(xc, wc, spec, g0, count, frames_view);
      at::Tensor spectrum = at::fft_rfft(frames_view, N, -1);
      TORCH_INTERNAL_ASSERT(spectrum.is_contiguous());
      acc_t* z = reinterpret_cast<acc_t*>(spectrum.mutable_data_ptr<complex_of<acc_t>>());
      const int warps_per_block = kThreads / kWarp;
      const int blocks = static_cast<int>(std::max<int64_t>(
          1, std::min<int64_t>(ceil_div(count, warps_per_block), int64_t{sms} * 16)));
      spectrum_grad_kernel<scalar_t, acc_t><<<blocks, kThreads, 0, stream>>>(
          z, count, n_bins, N, fc.defined() ? fc.const_data_ptr<double>() : nullptr,
          static_cast<acc_t>(bin_hz), gc, gb, g0, sp);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      // Unnormalised: the rfft adjoint (its weights are in the spectrum already).
      const at::Tensor grad_frames = at::fft_irfft(spectrum, N, -1, "forward");
      TORCH_INTERNAL_ASSERT(grad_frames.is_contiguous());
      launch_overlap_add_chunk(grad_frames.const_data_ptr<acc_t>(), count,
                               wc.const_data_ptr<double>(), xc.const_data_ptr<scalar_t>(), spec,
                               g0, acc.mutable_data_ptr<acc_t>(),
                               window_grad ? gw.mutable_data_ptr<double>() : nullptr, stream);
    }
  });
  return {acc.scalar_type() == xc.scalar_type() ? acc : acc.to(xc.scalar_type()), gw};
}

}  // namespace
}  // namespace cuda
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CUDA, m) {
  m.impl("spectral_features_backward",
         &audiofx::spectral_features_backward_op<audiofx::cuda::spectral_features_backward_cuda>);
}
