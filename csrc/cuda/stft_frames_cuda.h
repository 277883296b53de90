// Host launcher of the windowed-frames kernel (stft_kernel.cu), shared with spectral_kernel.cu,
// whose spectral_features op windows one chunk of frames at a time.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "../framing.h"

namespace audiofx {
namespace cuda {

// Frames [g0, g0 + count) of the contiguous (rows, T) signal `x`, numbered across rows
// (g = row * n_frames + t), multiplied by `window` (contiguous, n_fft) into `out` (contiguous,
// (count, N)): window and out of x's dtype (stft_frames), or a float64 window and a float32 or
// float64 out (spectral_features' compute type); on the current stream, on x's device (the
// caller holds the device guard). With spec.lengths a frame past its row's own count is zeros.
void launch_stft_frames(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
                        int64_t g0, int64_t count, const at::Tensor& out);

}  // namespace cuda
}  // namespace audiofx
