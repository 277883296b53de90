// The backward ops of the frame and STFT ops (overlap_add, frame_argmax), written once over a
// device's kernels: argument checks here, csrc/cpu and csrc/cuda provide the kernels.
//
//   overlap_add(frames (..., n_frames, N), length T, ...) -> (..., T):
//       out[..., source_index(t*H + n)] += frames[..., t, n]; the adjoint of `frame`.
//   frame_argmax(x (..., T), ...) -> int64 (..., n_frames):
//       the sample (index into the row) holding each frame's first maximum, -1 when that is a
//       zero of constant padding; where the amplitude envelope's gradient goes.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string_view>

#include "frame_args.h"
#include "frame_backward.h"

namespace audiofx {

// frames viewed as (rows, n_frames, N) with its strides (stride 0 kept: a per-frame weight
// expanded over the frame is not copied).
using OverlapAddFn = at::Tensor (*)(const at::Tensor& frames, const FrameSpec& spec);
using FrameArgmaxFn = at::Tensor (*)(const at::Tensor& x, const FrameSpec& spec, bool absolute);

template <OverlapAddFn kernel>
at::Tensor overlap_add_op(const at::Tensor& frames, int64_t length, int64_t frame_length,
                          int64_t hop_length, bool center, std::string_view pad_mode,
                          const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  TORCH_CHECK_TYPE(at::isFloatingType(frames.scalar_type()),
                   "audiofx: frames must be a real floating tensor, got ", frames.scalar_type());
  TORCH_CHECK_VALUE(length >= 1, "audiofx: length must be >= 1, got ", length);
  FrameSpec spec = checked_geometry(length, frame_length, hop_length, mode);
  TORCH_CHECK_VALUE(frames.dim() >= 2 && frames.size(-1) == frame_length &&
                        frames.size(-2) == spec.n_frames,
                    "audiofx: frames must have shape (..., n_frames = ", spec.n_frames,
                    ", frame_length = ", frame_length, ") for length ", length, ", got ",
                    frames.sizes());
  int64_t rows = 1;
  for (int64_t d = 0; d + 2 < frames.dim(); ++d) rows *= frames.size(d);
  return kernel(frames, with_lengths(spec, lengths, rows, frames.device()));
}

template <FrameArgmaxFn kernel>
at::Tensor frame_argmax_op(const at::Tensor& x, int64_t frame_length, int64_t hop_length,
                           bool center, std::string_view pad_mode, bool absolute,
                           const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  return kernel(x, with_lengths(checked_spec(x, frame_length, hop_length, mode), lengths,
                                rows_of(x), x.device()),
                absolute);
}

// Output shape of overlap_add: frames' leading dims, then T.
inline std::vector<int64_t> signal_shape(const at::Tensor& frames, int64_t length) {
  std::vector<int64_t> shape(frames.sizes().begin(), frames.sizes().end() - 2);
  shape.push_back(length);
  return shape;
}

// frames as 3-D (rows, n_frames, N) without copying where a view suffices.
inline at::Tensor frames_3d(const at::Tensor& frames) {
  return frames.reshape({-1, frames.size(-2), frames.size(-1)});
}

}  // namespace audiofx

#define AUDIOFX_REGISTER_BACKWARD_OPS(DEVICE, OVERLAP_ADD_KERNEL, ARGMAX_KERNEL)   \
  TORCH_LIBRARY_IMPL(audiofx, DEVICE, m) {                                        \
    m.impl("overlap_add", &audiofx::overlap_add_op<OVERLAP_ADD_KERNEL>);          \
    m.impl("frame_argmax", &audiofx::frame_argmax_op<ARGMAX_KERNEL>);             \
  }
