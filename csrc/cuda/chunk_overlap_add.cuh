// The windowed overlap-add of one chunk of frame gradients into dL/dx on CUDA, shared by the
// spectral_features and stft backward kernels: a thread per (frame, offset) adds its windowed
// value onto the sample under it with atomicAdd into an accumulator of at::acc_type (a sample
// lies in about N / H frames of a chunk, and padding maps several positions onto one sample),
// and sums its window gradient over a group of frames before one atomicAdd per offset. Frames
// past a row's own count are skipped.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include <algorithm>

#include "../framing.h"

namespace audiofx {
namespace cuda {

constexpr int kOverlapThreads = 256;
constexpr int kFramesPerBlock = 16;  // frames whose window gradient a thread sums in registers

// Thread (offset n, a group of kFramesPerBlock frames of the chunk): G (count, N) times the
// window, added onto the samples under it; its window gradient summed over the group.
template <typename scalar_t, typename acc_t, typename window_t>
__global__ void __launch_bounds__(kOverlapThreads)
    overlap_add_chunk_kernel(const acc_t* __restrict__ G, const int64_t count,
                             const window_t* __restrict__ window, const scalar_t* __restrict__ x,
                             const FrameSpec spec, const int64_t g0, acc_t* __restrict__ gx,
                             double* __restrict__ gw) {
  const int64_t N = spec.frame_length;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const acc_t w = static_cast<acc_t>(window[n]);
  for (int64_t i0 = static_cast<int64_t>(blockIdx.y) * kFramesPerBlock; i0 < count;
       i0 += static_cast<int64_t>(gridDim.y) * kFramesPerBlock) {
    acc_t w_sum = acc_t(0);
    const int64_t i1 = i0 + kFramesPerBlock < count ? i0 + kFramesPerBlock : count;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t g = g0 + i;
      const int64_t r = g / spec.n_frames;
      const int64_t t = g - r * spec.n_frames;
      const FrameSpec row = row_spec(spec, r);
      if (t >= row.n_frames) continue;
      const acc_t v = G[i * N + n];
      const int64_t j = source_index(t * spec.hop_length + n, row.pad_left, row.length, row.mode);
      if (j >= 0) {
        atomicAdd(gx + r * spec.length + j, v * w);
        if (gw != nullptr) w_sum += v * static_cast<acc_t>(x[r * spec.length + j]);
      }
    }
    if (gw != nullptr) atomicAdd(gw + n, static_cast<double>(w_sum));
  }
}

template <typename scalar_t, typename acc_t, typename window_t>
void launch_overlap_add_chunk(const acc_t* G, int64_t count, const window_t* window,
                              const scalar_t* x, const FrameSpec& spec, int64_t g0, acc_t* gx,
                              double* gw, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(ceil_div(spec.frame_length, kOverlapThreads)),
                  static_cast<unsigned>(std::min<int64_t>(ceil_div(count, kFramesPerBlock),
                                                          65535)));
  overlap_add_chunk_kernel<scalar_t, acc_t, window_t><<<grid, kOverlapThreads, 0, stream>>>(
      G, count, window, x, spec, g0, gx, gw);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace audiofx
