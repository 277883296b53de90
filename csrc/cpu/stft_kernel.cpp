// CPU kernel of stft_frames: the fused pad-frame-window step of the STFT (the FFT itself is
// torch.fft's). Padding is virtual (csrc/framing.h); interior frames are a vectorised multiply.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>

#include "../spectral_ops.h"
#include "spectral_cpu.h"

namespace audiofx {
namespace {

at::Tensor stft_frames_cpu(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const int64_t N = spec.frame_length;
  const int64_t total = xc.numel() / spec.length * spec.n_frames;
  at::Tensor out = at::empty(frames_shape(x, {spec.n_frames, N}), xc.options());
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_stft_frames_cpu", [&] {
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    const scalar_t* w = wc.const_data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, 32768 / N);
    at::parallel_for(0, total, grain, [&](int64_t begin, int64_t end) {
      cpu::window_frames(src, w, spec, begin, end - begin, dst + begin * N);
    });
  });
  return out;
}

}  // namespace
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CPU, m) {
  m.impl("stft_frames", &audiofx::stft_frames_op<audiofx::stft_frames_cpu>);
}
