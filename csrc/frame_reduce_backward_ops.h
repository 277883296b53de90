// frame_features_backward: the gradient w.r.t. x of rms (grad_rms, with the forward's rms), of the
// amplitude envelope (grad_envelope) and of frame_features (both; zcr's is zero), in one pass
// over x (csrc/frame_reduce_backward.h). Argument checks here; csrc/cpu and csrc/cuda provide the
// kernels.
//
//   frame_features_backward(x (..., T), rms?, grad_rms?, grad_envelope? (..., n_frames), N, H,
//                           center, pad_mode, absolute, lengths?) -> (..., T), contiguous
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string_view>

#include "frame_args.h"
#include "frame_reduce_backward.h"

namespace audiofx {

// x contiguous (rows, T); rms / grad_rms / grad_envelope contiguous (rows, n_frames) of x's dtype,
// or undefined tensors when absent (rms and grad_rms both or neither).
using FrameFeaturesBackwardFn = at::Tensor (*)(const at::Tensor& x, const at::Tensor& rms,
                                               const at::Tensor& grad_rms,
                                               const at::Tensor& grad_envelope,
                                               const FrameSpec& spec, bool absolute);

inline at::Tensor frame_grad_arg(const std::optional<at::Tensor>& t, const at::Tensor& x,
                                 const FrameSpec& spec, const char* name) {
  if (!t.has_value() || !t->defined()) return at::Tensor();
  TORCH_CHECK_TYPE(t->scalar_type() == x.scalar_type(), "audiofx: ", name,
                   " must have x's dtype ", x.scalar_type(), ", got ", t->scalar_type());
  TORCH_CHECK_VALUE(t->device() == x.device(), "audiofx: ", name, " must be on ", x.device(),
                    ", got ", t->device());
  TORCH_CHECK_VALUE(t->dim() == x.dim() && t->size(-1) == spec.n_frames &&
                        t->numel() == rows_of(x) * spec.n_frames,
                    "audiofx: ", name, " must have shape (..., n_frames = ", spec.n_frames,
                    ") with x's leading dims, got ", t->sizes());
  return t->contiguous().view({-1, spec.n_frames});
}

template <FrameFeaturesBackwardFn kernel>
at::Tensor frame_features_backward_op(const at::Tensor& x, const std::optional<at::Tensor>& rms,
                                      const std::optional<at::Tensor>& grad_rms,
                                      const std::optional<at::Tensor>& grad_envelope,
                                      int64_t frame_length, int64_t hop_length, bool center,
                                      std::string_view pad_mode, bool absolute,
                                      const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, frame_length, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  const at::Tensor r = frame_grad_arg(rms, x, spec, "rms");
  const at::Tensor g = frame_grad_arg(grad_rms, x, spec, "grad_rms");
  TORCH_CHECK_VALUE(r.defined() || !g.defined(), "audiofx: grad_rms needs the forward's rms");
  const at::Tensor ge = frame_grad_arg(grad_envelope, x, spec, "grad_envelope");
  const at::Tensor xc = x.contiguous();
  return kernel(xc.view({-1, spec.length}), g.defined() ? r : at::Tensor(), g, ge, spec, absolute)
      .view(x.sizes());
}

}  // namespace audiofx

#define AUDIOFX_REGISTER_FRAME_FEATURES_BACKWARD(DEVICE, KERNEL)                          \
  TORCH_LIBRARY_IMPL(audiofx, DEVICE, m) {                                                \
    m.impl("frame_features_backward", &audiofx::frame_features_backward_op<KERNEL>);     \
  }
