// The backward ops of the spectral ops, written once over a device's kernels: argument checks
// here, csrc/cpu and csrc/cuda provide the kernels and register them.
//
//   spectral_features_backward(x, window, <spectral_features' framing and statistics args>,
//       grad_centroid?, grad_bandwidth?, window_grad, chunk_frames, lengths?)
//       -> (dL/dx (x's shape and dtype), dL/dwindow (float64 (n_fft,), or (0,) unless window_grad))
//     recomputes each chunk of frames and its spectrum as the forward does, forms the spectrum's
//     gradient (csrc/spectral_backward.h), inverse-transforms it and overlap-adds the windowed
//     frame gradients through the padding map: peak memory O(dL/dx + one chunk).
//   stft_backward(grad (..., n_fft/2 + 1, n_frames) complex, x, window, ...) -> (dL/dx, dL/dwindow)
//     per chunk of frames: the gradient's columns times the rfft adjoint's weights, the inverse
//     real FFT (at::fft_irfft), then windowed and overlap-added as above.
//   windowed_overlap_add(frames (..., n_frames, N), window (N,), length T, ...) -> (..., T):
//     out[..., source_index(t*H + n)] += frames[..., t, n] * window[n]; the adjoint of
//     stft_frames in x (the STFT's backward after the inverse real FFT).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string_view>
#include <tuple>

#include "frame_backward_ops.h"
#include "spectral_backward.h"
#include "spectral_ops.h"

namespace audiofx {

// Output gradients of spectral_features (either may be absent: no gradient flows from it), each
// (..., n_frames) of x's dtype, contiguous.
struct StatsGrads {
  std::optional<at::Tensor> centroid, bandwidth;
};

using SpectralFeaturesBackwardFn = std::tuple<at::Tensor, at::Tensor> (*)(
    const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
    const std::optional<at::Tensor>& freq, double bin_hz, const BandwidthArgs& bw,
    const StatsGrads& grads, bool window_grad, int64_t chunk_frames);
// (dL/dx, dL/dwindow (window's dtype; (0,) unless window_grad)) of stft from the gradient of its
// complex output (contiguous, conjugation resolved).
using StftBackwardFn = std::tuple<at::Tensor, at::Tensor> (*)(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
    bool window_grad, int64_t chunk_frames);
using WindowedOverlapAddFn = at::Tensor (*)(const at::Tensor& frames, const at::Tensor& window,
                                            const FrameSpec& spec);

inline std::optional<at::Tensor> checked_stats_grad(const std::optional<at::Tensor>& g,
                                                    const at::Tensor& x, const FrameSpec& spec,
                                                    const char* name) {
  if (!g.has_value() || !g->defined()) return std::nullopt;
  const auto shape = frames_shape(x, {spec.n_frames});
  TORCH_CHECK_VALUE(g->sizes() == at::IntArrayRef(shape), "audiofx: ", name,
                    " must have the shape of spectral_features' output ", at::IntArrayRef(shape),
                    ", got ", g->sizes());
  TORCH_CHECK_TYPE(g->scalar_type() == x.scalar_type(), "audiofx: ", name, " must be ",
                   x.scalar_type(), ", got ", g->scalar_type());
  TORCH_CHECK_VALUE(g->device() == x.device(), "audiofx: ", name, " must be on ", x.device(),
                    ", got ", g->device());
  return g->contiguous();
}

template <SpectralFeaturesBackwardFn kernel>
std::tuple<at::Tensor, at::Tensor> spectral_features_backward_op(
    const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length, bool center,
    std::string_view pad_mode, const std::optional<at::Tensor>& freq, double bin_hz, double p,
    bool norm, const std::optional<at::Tensor>& grad_centroid,
    const std::optional<at::Tensor>& grad_bandwidth, bool window_grad, int64_t chunk_frames,
    const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, n_fft, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  check_window(x, window, n_fft, at::kDouble);
  check_freq(freq, n_bins_for(n_fft), x.device());
  TORCH_CHECK_VALUE(std::isfinite(bin_hz), "audiofx: bin_hz must be finite, got ", bin_hz);
  TORCH_CHECK_VALUE(chunk_frames >= 0, "audiofx: chunk_frames must be >= 0 (0: automatic), got ",
                    chunk_frames);
  const BandwidthArgs bw{p, norm};
  check_bandwidth_args(bw);
  const StatsGrads grads{checked_stats_grad(grad_centroid, x, spec, "grad_centroid"),
                         checked_stats_grad(grad_bandwidth, x, spec, "grad_bandwidth")};
  return kernel(x, window, spec, freq, bin_hz, bw, grads, window_grad, chunk_frames);
}

template <StftBackwardFn kernel>
std::tuple<at::Tensor, at::Tensor> stft_backward_op(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window, int64_t n_fft,
    int64_t hop_length, bool center, std::string_view pad_mode, bool window_grad,
    int64_t chunk_frames, const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, n_fft, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  check_window(x, window, n_fft, x.scalar_type());
  TORCH_CHECK_VALUE(chunk_frames >= 0, "audiofx: chunk_frames must be >= 0 (0: automatic), got ",
                    chunk_frames);
  const auto shape = frames_shape(x, {n_bins_for(n_fft), spec.n_frames});
  TORCH_CHECK_VALUE(grad.sizes() == at::IntArrayRef(shape), "audiofx: grad must have stft's shape ",
                    at::IntArrayRef(shape), ", got ", grad.sizes());
  TORCH_CHECK_TYPE(grad.scalar_type() == c10::toComplexType(x.scalar_type()),
                   "audiofx: grad must be ", c10::toComplexType(x.scalar_type()), ", got ",
                   grad.scalar_type());
  TORCH_CHECK_VALUE(grad.device() == x.device(), "audiofx: grad must be on ", x.device(),
                    ", got ", grad.device());
  return kernel(grad.resolve_conj().resolve_neg().contiguous(), x, window, spec, window_grad,
                chunk_frames);
}

template <WindowedOverlapAddFn kernel>
at::Tensor windowed_overlap_add_op(const at::Tensor& frames, const at::Tensor& window,
                                   int64_t length, int64_t frame_length, int64_t hop_length,
                                   bool center, std::string_view pad_mode,
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
  check_window(frames, window, frame_length, frames.scalar_type());
  int64_t rows = 1;
  for (int64_t d = 0; d + 2 < frames.dim(); ++d) rows *= frames.size(d);
  return kernel(frames, window, with_lengths(spec, lengths, rows, frames.device()));
}

}  // namespace audiofx
