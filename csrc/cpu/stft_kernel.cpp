// CPU kernels of stft_frames (the fused pad-frame-window step of the STFT) and of stft (that
// step, the FFT (at::fft_rfft: pocketfft/MKL) and the transposition into librosa's layout, a
// cache-sized chunk of frames at a time per worker, straight into the output: the peak is the
// output, not the frames, their spectrum and its transposed copy together; benchmarks/NOTES.md
// §6). Padding is virtual (csrc/framing.h); interior frames are a vectorised multiply.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_rfft.h>
#include <c10/util/complex.h>
#include <torch/library.h>

#include <algorithm>

#include "../spectral_ops.h"
#include "chunk_overlap_add.h"
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

at::Tensor stft_cpu(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
                    int64_t chunk_frames) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const int64_t N = spec.frame_length, nf = spec.n_frames;
  const int64_t K = n_bins_for(N);
  const int64_t total = xc.numel() / spec.length * nf;
  at::Tensor out = at::empty(frames_shape(x, {K, nf}),
                             xc.options().dtype(c10::toComplexType(xc.scalar_type())));
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_stft_cpu", [&] {
    using complex_t = c10::complex<scalar_t>;
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    const scalar_t* w = wc.const_data_ptr<scalar_t>();
    complex_t* dst = out.data_ptr<complex_t>();
    const int64_t F = std::min(
        total, chunk_frames > 0 ? chunk_frames : cpu::auto_chunk_frames(N, sizeof(scalar_t), total));
    const auto window_frames = cpu::window_frames_for_cpu<scalar_t, scalar_t>();
    cpu::for_each_chunk(
        total, F, [&] { return at::empty({F, N}, xc.options()); },
        [&](at::Tensor& frames, int64_t, int64_t v0, int64_t v1) {
          window_frames(src, w, spec, v0, v1 - v0, frames.data_ptr<scalar_t>());
          const at::Tensor spectrum = at::fft_rfft(frames.narrow(0, 0, v1 - v0), N, -1);
          const complex_t* z = spectrum.const_data_ptr<complex_t>();
          // Each row's run of the chunk, transposed into (bins, frames) from cache.
          for (int64_t g = v0; g < v1;) {
            const int64_t r = g / nf, t0 = g % nf;
            const int64_t n = std::min(v1 - g, nf - t0);
            const complex_t* zr = z + (g - v0) * K;
            complex_t* o = dst + r * K * nf + t0;
            for (int64_t k = 0; k < K; ++k) {
              for (int64_t i = 0; i < n; ++i) o[k * nf + i] = zr[i * K + k];
            }
            g += n;
          }
        });
  });
  return out;
}

}  // namespace
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CPU, m) {
  m.impl("stft_frames", &audiofx::stft_frames_op<audiofx::stft_frames_cpu>);
  m.impl("stft", &audiofx::stft_op<audiofx::stft_cpu>);
}
