// CUDA kernels of spectral_stats and spectral_features (csrc/spectral_stats.h has the math).
//
// A frame's statistics take two sweeps over its column (sums, then deviations from the centroid):
// - bins contiguous (the spectrum of a chunk of frames, or S.mT): a warp per frame, lanes along
//   the bins (coalesced), warp-shuffle sums; the second sweep re-reads the frame's few KB from
//   L1/L2 right after the first;
// - frames contiguous (a (n_bins, n_frames) spectrogram): a thread per frame walking down its
//   column, so a warp reads 32 consecutive frames of a row of S (coalesced).
// spectral_features windows, transforms (cuFFT via torch.fft, float32 for float16/bfloat16) and
// reduces large chunks of frames in turn, so the complex spectrogram is never whole. With per-row
// lengths the frames past a clip's count are windowed as zeros, whose statistics are exactly 0
// (a silent frame's): the chunks stay a fixed grid, as counting each row's frames on the host
// would need the lengths there (a device sync).
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_rfft.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "../spectral_ops.h"
#include "stft_frames_cuda.h"

namespace audiofx {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

// Frame g of a spectrogram: column base = (g / frames_per_row) * row_stride
// + (g % frames_per_row) * frame_stride; bins bin_stride apart. Strides count bins (a complex
// bin is two values).
struct StatsLayout {
  int64_t frames;  // total over rows
  int64_t frames_per_row;
  int64_t n_bins;
  int64_t row_stride, bin_stride, frame_stride;
};

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

template <bool kComplex, typename value_t>
__device__ __forceinline__ const value_t* column(const value_t* S, const StatsLayout& lay,
                                                 int64_t g) {
  constexpr int64_t kValues = kComplex ? 2 : 1;
  return S + kValues * ((g / lay.frames_per_row) * lay.row_stride +
                        (g % lay.frames_per_row) * lay.frame_stride);
}

template <bool kComplex, typename value_t, typename out_t, typename acc_t>
__global__ void stats_warp_kernel(const value_t* __restrict__ S, StatsLayout lay,
                                  const double* __restrict__ freq, acc_t bin_hz,
                                  const double* __restrict__ given, StatsParams<acc_t> sp,
                                  out_t* __restrict__ centroid, out_t* __restrict__ bandwidth) {
  constexpr int64_t kValues = kComplex ? 2 : 1;
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
       g < lay.frames; g += warps) {
    const value_t* col = column<kComplex>(S, lay, g);
    acc_t s = acc_t(0);
    acc_t fs = acc_t(0);
    for (int64_t k = lane; k < lay.n_bins; k += kWarp) {
      const acc_t a = bin_magnitude<kComplex, value_t, acc_t>(col + kValues * k * lay.bin_stride);
      s += a;
      fs += bin_frequency<acc_t>(freq, k, bin_hz) * a;
    }
    s = warp_sum(s);
    fs = warp_sum(fs);
    const acc_t c = centroid_from(s, fs, sp.tiny);
    const acc_t cb = given != nullptr ? static_cast<acc_t>(given[g]) : c;
    acc_t d = acc_t(0);
    for (int64_t k = lane; k < lay.n_bins; k += kWarp) {
      const acc_t a = bin_magnitude<kComplex, value_t, acc_t>(col + kValues * k * lay.bin_stride);
      d += a * abs_pow(bin_frequency<acc_t>(freq, k, bin_hz) - cb, sp.p, sp.kind);
    }
    d = warp_sum(d);
    if (lane == 0) {
      centroid[g] = static_cast<out_t>(c);
      bandwidth[g] = static_cast<out_t>(bandwidth_from(d, s, sp));
    }
  }
}

template <typename value_t, typename out_t, typename acc_t>
__global__ void stats_thread_kernel(const value_t* __restrict__ S, StatsLayout lay,
                                    const double* __restrict__ freq, acc_t bin_hz,
                                    const double* __restrict__ given, StatsParams<acc_t> sp,
                                    out_t* __restrict__ centroid, out_t* __restrict__ bandwidth) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < lay.frames;
       g += stride) {
    const value_t* col = column<false>(S, lay, g);
    acc_t s = acc_t(0);
    acc_t fs = acc_t(0);
    for (int64_t k = 0; k < lay.n_bins; ++k) {
      const acc_t a = static_cast<acc_t>(col[k * lay.bin_stride]);
      s += a;
      fs += bin_frequency<acc_t>(freq, k, bin_hz) * a;
    }
    const acc_t c = centroid_from(s, fs, sp.tiny);
    const acc_t cb = given != nullptr ? static_cast<acc_t>(given[g]) : c;
    acc_t d = acc_t(0);
    for (int64_t k = 0; k < lay.n_bins; ++k) {
      const acc_t a = static_cast<acc_t>(col[k * lay.bin_stride]);
      d += a * abs_pow(bin_frequency<acc_t>(freq, k, bin_hz) - cb, sp.p, sp.kind);
    }
    centroid[g] = static_cast<out_t>(c);
    bandwidth[g] = static_cast<out_t>(bandwidth_from(d, s, sp));
  }
}

int grid_for(int64_t work_items, int64_t per_block) {
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>((work_items + per_block - 1) / per_block,
                                             int64_t{sms} * 16)));
}

template <bool kComplex, typename value_t, typename out_t, typename acc_t>
void launch_stats(const value_t* S, const StatsLayout& lay, const double* freq, double bin_hz,
                  const double* given, const StatsParams<acc_t>& sp, out_t* centroid,
                  out_t* bandwidth) {
  auto stream = at::cuda::getCurrentCUDAStream();
  const acc_t hz = static_cast<acc_t>(bin_hz);
  bool warp_per_frame = true;
  if constexpr (!kComplex) warp_per_frame = lay.bin_stride == 1 || lay.frame_stride != 1;
  if (warp_per_frame) {
    stats_warp_kernel<kComplex, value_t, out_t, acc_t>
        <<<grid_for(lay.frames, kThreads / kWarp), kThreads, 0, stream>>>(
            S, lay, freq, hz, given, sp, centroid, bandwidth);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }
  if constexpr (!kComplex) {
    stats_thread_kernel<value_t, out_t, acc_t>
        <<<grid_for(lay.frames, kThreads), kThreads, 0, stream>>>(S, lay, freq, hz, given, sp,
                                                                  centroid, bandwidth);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// Float accumulation for float/half/bfloat16, double for double.
template <typename scalar_t>
using acc_type_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;

std::tuple<at::Tensor, at::Tensor> spectral_stats_cuda(const at::Tensor& S,
                                                       const std::optional<at::Tensor>& freq,
                                                       double bin_hz,
                                                       const std::optional<at::Tensor>& centroid,
                                                       const BandwidthArgs& bw) {
  TORCH_CHECK(S.is_cuda(), "audiofx: S must be a CUDA tensor");
  c10::cuda::CUDAGuard guard(S.device());
  const SpectrogramView v = spectrogram_view(S);
  const auto shape = stats_shape(S);
  at::Tensor cen = at::empty(shape, S.options());
  at::Tensor band = at::empty(shape, S.options());
  if (cen.numel() == 0) return {cen, band};
  const at::Tensor fc = freq.has_value() ? freq->contiguous() : at::Tensor();
  const at::Tensor gc = centroid.has_value() ? centroid->contiguous() : at::Tensor();
  const StatsLayout lay{v.rows * v.n_frames, v.n_frames, v.n_bins,
                        v.row_stride, v.bin_stride, v.frame_stride};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, S.scalar_type(),
                                  "audiofx_spectral_stats_cuda", [&] {
    using acc_t = acc_type_t<scalar_t>;
    const auto sp = make_stats_params<acc_t>(
        bw, static_cast<double>(std::numeric_limits<scalar_t>::min()));
    launch_stats<false>(v.s.const_data_ptr<scalar_t>(), lay,
                        fc.defined() ? fc.const_data_ptr<double>() : nullptr, bin_hz,
                        gc.defined() ? gc.const_data_ptr<double>() : nullptr, sp,
                        cen.mutable_data_ptr<scalar_t>(), band.mutable_data_ptr<scalar_t>());
  });
  return {cen, band};
}

// Frames per chunk: about 256 MiB of frames and spectrum, enough for cuFFT to fill the GPU.
int64_t auto_chunk_frames(int64_t n_fft, size_t real_size) {
  const int64_t bytes_per_frame =
      static_cast<int64_t>(real_size) * (n_fft + 2 * n_bins_for(n_fft));
  return std::max<int64_t>(1, (int64_t{256} << 20) / bytes_per_frame);
}

std::tuple<at::Tensor, at::Tensor> spectral_features_cuda(const at::Tensor& x,
                                                          const at::Tensor& window,
                                                          const FrameSpec& spec,
                                                          const std::optional<at::Tensor>& freq,
                                                          double bin_hz, const BandwidthArgs& bw,
                                                          int64_t chunk_frames) {
  TORCH_CHECK(x.is_cuda() && window.is_cuda(), "audiofx: x and window must be CUDA tensors");
  c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const at::Tensor fc = freq.has_value() ? freq->contiguous() : at::Tensor();
  const int64_t N = spec.frame_length;
  const int64_t n_bins = n_bins_for(N);
  const int64_t total = xc.numel() / spec.length * spec.n_frames;
  const auto shape = frames_shape(x, {spec.n_frames});
  at::Tensor cen = at::empty(shape, xc.options());
  at::Tensor band = at::empty(shape, xc.options());
  // The accumulation type: float16/bfloat16/float32 frames are windowed and transformed in
  // float32, float64 ones in float64.
  const at::ScalarType compute = xc.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const int64_t F = std::min(
      total, chunk_frames > 0 ? chunk_frames
                              : auto_chunk_frames(N, c10::elementSize(compute)));
  at::Tensor frames = at::empty({F, N}, xc.options().dtype(compute));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, xc.scalar_type(),
                                  "audiofx_spectral_features_cuda", [&] {
    using acc_t = acc_type_t<scalar_t>;
    const auto sp = make_stats_params<acc_t>(
        bw, static_cast<double>(std::numeric_limits<scalar_t>::min()));
    for (int64_t g0 = 0; g0 < total; g0 += F) {
      const int64_t count = std::min(F, total - g0);
      const at::Tensor frames_view = frames.narrow(0, 0, count);
      launch_stft_frames(xc, wc, spec, g0, count, frames_view);
      // Not fft_rfft_out, which transforms into a temporary and copies it out. The caching
      // allocator hands the same block back for every chunk.
      const at::Tensor spectrum = at::fft_rfft(frames_view, N, -1);
      TORCH_INTERNAL_ASSERT(spectrum.is_contiguous());
      const StatsLayout lay{count, count, n_bins, 0, 1, n_bins};
      launch_stats<true>(reinterpret_cast<const acc_t*>(spectrum.const_data_ptr()), lay,
                         fc.defined() ? fc.const_data_ptr<double>() : nullptr, bin_hz, nullptr,
                         sp, cen.mutable_data_ptr<scalar_t>() + g0,
                         band.mutable_data_ptr<scalar_t>() + g0);
    }
  });
  return {cen, band};
}

}  // namespace
}  // namespace cuda
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CUDA, m) {
  m.impl("spectral_stats", &audiofx::spectral_stats_op<audiofx::cuda::spectral_stats_cuda>);
  m.impl("spectral_features",
         &audiofx::spectral_features_op<audiofx::cuda::spectral_features_cuda>);
}
