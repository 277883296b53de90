// CUDA kernels of the STFT's backward ops (csrc/spectral_backward_ops.h).
// stft_backward: per chunk of frames, a thread per (frame, bin) gathers the gradient's column
// times the rfft adjoint's weight into a (frames, bins) buffer of the compute type, cuFFT inverts
// it (at::fft_irfft), and chunk_overlap_add.cuh adds the windowed frame gradients onto dL/dx.
// windowed_overlap_add: as overlap_add (frame_backward_kernel.cu), one thread per output sample
// gathers from the frames that hold it, times the window (no atomics, coalesced along the row),
// then one thread per padding position adds its sum onto the sample it copies (atomicAdd:
// several padding positions may map onto one sample). Accumulation in at::acc_type.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_irfft.h>
#include <ATen/ops/zeros.h>
#include <c10/util/complex.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>

#include "../spectral_backward_ops.h"
#include "chunk_overlap_add.cuh"

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

// buf[i, k] = grad[row, k, t] * rfft_adjoint_weight(k) for frames g0 + i = row * n_frames + t.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    gather_columns_kernel(const c10::complex<scalar_t>* __restrict__ grad, const int64_t n_bins,
                          const int64_t n_frames, const int64_t n_fft, const int64_t g0,
                          const int64_t count, c10::complex<acc_t>* __restrict__ buf) {
  const int64_t total = count * n_bins;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // Consecutive threads take consecutive frames of one bin: coalesced reads along a row of grad.
    const int64_t k = idx / count;
    const int64_t i = idx - k * count;
    const int64_t g = g0 + i;
    const int64_t r = g / n_frames;
    const c10::complex<scalar_t> v = grad[(r * n_bins + k) * n_frames + (g - r * n_frames)];
    const acc_t wk = rfft_adjoint_weight<acc_t>(k, n_fft);
    buf[i * n_bins + k] =
        c10::complex<acc_t>(static_cast<acc_t>(v.real()) * wk, static_cast<acc_t>(v.imag()) * wk);
  }
}

// Frames per chunk: about 256 MiB of the gathered spectrum and the frame gradients.
int64_t stft_backward_chunk_frames(int64_t n_fft, size_t real_size) {
  const int64_t bytes_per_frame =
      static_cast<int64_t>(real_size) * (2 * n_fft + 2 * n_bins_for(n_fft));
  return std::max<int64_t>(1, (int64_t{256} << 20) / bytes_per_frame);
}

std::tuple<at::Tensor, at::Tensor> stft_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                      const at::Tensor& window,
                                                      const FrameSpec& spec, bool window_grad,
                                                      int64_t chunk_frames) {
  TORCH_CHECK(grad.is_cuda() && x.is_cuda() && window.is_cuda(),
              "audiofx: stft_backward_cuda expects CUDA tensors");
  const c10::cuda::CUDAGuard device_guard(x.device());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const int64_t N = spec.frame_length, nf = spec.n_frames;
  const int64_t K = n_bins_for(N);
  const int64_t total = xc.numel() / spec.length * nf;
  const at::ScalarType compute = xc.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor acc = at::zeros(xc.sizes(), xc.options().dtype(compute));
  at::Tensor gw = at::zeros({window_grad ? N : 0}, wc.options().dtype(at::kDouble));
  const int64_t F = std::min(total, chunk_frames > 0
                                        ? chunk_frames
                                        : stft_backward_chunk_frames(N, c10::elementSize(compute)));
  at::Tensor buf = at::empty({F, K}, xc.options().dtype(c10::toComplexType(compute)));
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND(at::ScalarType::Half, xc.scalar_type(),
                                 "audiofx_stft_backward_cuda", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    for (int64_t g0 = 0; g0 < total; g0 += F) {
      const int64_t count = std::min(F, total - g0);
      gather_columns_kernel<scalar_t, acc_t><<<blocks_for(count * K), kThreads, 0, stream>>>(
          grad.const_data_ptr<c10::complex<scalar_t>>(), K, nf, N, g0, count,
          buf.mutable_data_ptr<c10::complex<acc_t>>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      // Unnormalised: the rfft adjoint (its weights are in the buffer already).
      const at::Tensor frames = at::fft_irfft(buf.narrow(0, 0, count), N, -1, "forward");
      TORCH_INTERNAL_ASSERT(frames.is_contiguous());
      cuda::launch_overlap_add_chunk(frames.const_data_ptr<acc_t>(), count,
                                     wc.const_data_ptr<scalar_t>(), xc.const_data_ptr<scalar_t>(),
                                     spec, g0, acc.mutable_data_ptr<acc_t>(),
                                     window_grad ? gw.mutable_data_ptr<double>() : nullptr,
                                     stream);
    }
  });
  return {acc.scalar_type() == xc.scalar_type() ? acc : acc.to(xc.scalar_type()),
          gw.to(wc.scalar_type())};
}

}  // namespace
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CUDA, m) {
  m.impl("stft_backward", &audiofx::stft_backward_op<audiofx::stft_backward_cuda>);
  m.impl("windowed_overlap_add",
         &audiofx::windowed_overlap_add_op<audiofx::windowed_overlap_add_cuda>);
}
