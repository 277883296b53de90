// CUDA kernels of the frame ops, split over two .cu files that nvcc compiles in parallel;
// frame_kernel.cu registers both.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>

#include "../frame_ops.h"

namespace audiofx {

// audiofx::FrameFn and audiofx::FrameReduceFn of frame_ops.h.
at::Tensor frame_cuda(const at::Tensor& x, const FrameSpec& spec);

std::array<at::Tensor, 3> frame_reduce_cuda(const at::Tensor& x, const FrameSpec& spec,
                                            PadMode zcr_mode, int32_t features,
                                            const ReduceParams& params);

}  // namespace audiofx
