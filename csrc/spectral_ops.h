// The spectral ops (stft_frames, stft, spectral_stats, spectral_features), written once over a device's
// kernels: argument checks here, csrc/cpu and csrc/cuda provide the kernels and register them.
// The Python layer raises ValueError/TypeError earlier; these checks guard C++ callers.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <optional>
#include <string_view>
#include <tuple>

#include "frame_args.h"
#include "spectral_stats.h"

namespace audiofx {

// Bandwidth options of spectral_stats / spectral_features.
struct BandwidthArgs {
  double p;
  bool norm;
};

// (..., n_frames, n_fft): padded[t*H + n] * window[n].
using StftFramesFn = at::Tensor (*)(const at::Tensor& x, const at::Tensor& window,
                                    const FrameSpec& spec);
// Complex (..., n_fft/2 + 1, n_frames): rfft of the windowed frames, x's precision.
using StftFn = at::Tensor (*)(const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
                              int64_t chunk_frames);
// (centroid, bandwidth), each S.shape without the bins dim. `freq` (n_bins) and `centroid`
// (..., n_frames) are float64 when given; bandwidth is taken around `centroid` when given.
using SpectralStatsFn = std::tuple<at::Tensor, at::Tensor> (*)(
    const at::Tensor& S, const std::optional<at::Tensor>& freq, double bin_hz,
    const std::optional<at::Tensor>& centroid, const BandwidthArgs& bw);
// (centroid, bandwidth) of |rfft(windowed frames)|, each (..., n_frames), frames processed in
// chunks of `chunk_frames` (0: the kernel's choice) so that the spectrogram is never whole.
// `window` is float64; frames are windowed and transformed in the accumulation type
// (at::acc_type: double on CPU, as librosa, whose float32 STFT is computed in float64; float on
// CUDA for float32/float16/bfloat16).
using SpectralFeaturesFn = std::tuple<at::Tensor, at::Tensor> (*)(
    const at::Tensor& x, const at::Tensor& window, const FrameSpec& spec,
    const std::optional<at::Tensor>& freq, double bin_hz, const BandwidthArgs& bw,
    int64_t chunk_frames);

// stft_frames takes the window in x's dtype (its output's); spectral_features in float64, as
// librosa windows (the frames are windowed in the kernel's compute type).
inline void check_window(const at::Tensor& x, const at::Tensor& window, int64_t n_fft,
                         at::ScalarType dtype) {
  TORCH_CHECK_VALUE(window.dim() == 1 && window.size(0) == n_fft,
                    "audiofx: window must be 1-D of length n_fft = ", n_fft, ", got shape ",
                    window.sizes());
  TORCH_CHECK_TYPE(window.scalar_type() == dtype, "audiofx: window must be ", dtype, ", got ",
                   window.scalar_type());
  TORCH_CHECK_VALUE(window.device() == x.device(), "audiofx: window must be on x's device ",
                    x.device(), ", got ", window.device());
}

inline void check_bandwidth_args(const BandwidthArgs& bw) {
  TORCH_CHECK_VALUE(std::isfinite(bw.p) && bw.p > 0.0, "audiofx: p must be a finite number > 0, "
                    "got ", bw.p);
}

inline void check_freq(const std::optional<at::Tensor>& freq, int64_t n_bins,
                       const at::Device& device) {
  if (!freq.has_value()) return;
  TORCH_CHECK_VALUE(freq->dim() == 1 && freq->size(0) == n_bins,
                    "audiofx: freq must be 1-D with one frequency per bin (", n_bins,
                    "), got shape ", freq->sizes());
  TORCH_CHECK_TYPE(freq->scalar_type() == at::kDouble, "audiofx: freq must be float64, got ",
                   freq->scalar_type());
  TORCH_CHECK_VALUE(freq->device() == device, "audiofx: freq must be on ", device, ", got ",
                    freq->device());
}

inline int64_t n_bins_for(int64_t n_fft) { return n_fft / 2 + 1; }

template <StftFramesFn kernel>
at::Tensor stft_frames_op(const at::Tensor& x, const at::Tensor& window, int64_t n_fft,
                          int64_t hop_length, bool center, std::string_view pad_mode,
                          const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, n_fft, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  check_window(x, window, n_fft, x.scalar_type());
  return kernel(x, window, spec);
}

template <StftFn kernel>
at::Tensor stft_op(const at::Tensor& x, const at::Tensor& window, int64_t n_fft,
                   int64_t hop_length, bool center, std::string_view pad_mode,
                   int64_t chunk_frames, const std::optional<at::Tensor>& lengths) {
  TORCH_CHECK_VALUE(chunk_frames >= 0, "audiofx: chunk_frames must be >= 0 (0: automatic), got ",
                    chunk_frames);
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, n_fft, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  check_window(x, window, n_fft, x.scalar_type());
  return kernel(x, window, spec, chunk_frames);
}

template <SpectralStatsFn kernel>
std::tuple<at::Tensor, at::Tensor> spectral_stats_op(const at::Tensor& S,
                                                     const std::optional<at::Tensor>& freq,
                                                     double bin_hz,
                                                     const std::optional<at::Tensor>& centroid,
                                                     double p, bool norm) {
  TORCH_CHECK_TYPE(at::isFloatingType(S.scalar_type()),
                   "audiofx: S must be a real floating tensor (a magnitude spectrogram), got ",
                   S.scalar_type());
  TORCH_CHECK_VALUE(S.dim() >= 2 && S.size(-2) >= 1,
                    "audiofx: S must have shape (..., n_bins, n_frames) with n_bins >= 1, got ",
                    S.sizes());
  TORCH_CHECK_VALUE(std::isfinite(bin_hz), "audiofx: bin_hz must be finite, got ", bin_hz);
  check_freq(freq, S.size(-2), S.device());
  if (centroid.has_value()) {
    std::vector<int64_t> shape(S.sizes().begin(), S.sizes().end() - 2);
    shape.push_back(S.size(-1));
    TORCH_CHECK_VALUE(centroid->sizes() == at::IntArrayRef(shape),
                      "audiofx: centroid must have shape ", at::IntArrayRef(shape),
                      " (S without its bins dim), got ", centroid->sizes());
    TORCH_CHECK_TYPE(centroid->scalar_type() == at::kDouble,
                     "audiofx: centroid must be float64, got ", centroid->scalar_type());
    TORCH_CHECK_VALUE(centroid->device() == S.device(), "audiofx: centroid must be on ",
                      S.device(), ", got ", centroid->device());
  }
  const BandwidthArgs bw{p, norm};
  check_bandwidth_args(bw);
  return kernel(S, freq, bin_hz, centroid, bw);
}

template <SpectralFeaturesFn kernel>
std::tuple<at::Tensor, at::Tensor> spectral_features_op(
    const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length, bool center,
    std::string_view pad_mode, const std::optional<at::Tensor>& freq, double bin_hz, double p,
    bool norm, int64_t chunk_frames, const std::optional<at::Tensor>& lengths) {
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
  return kernel(x, window, spec, freq, bin_hz, bw, chunk_frames);
}

// S as (rows, n_bins, n_frames) with its strides, without copying when a view suffices.
struct SpectrogramView {
  at::Tensor s;  // 3-D
  int64_t rows, n_bins, n_frames;
  int64_t row_stride, bin_stride, frame_stride;
};

inline SpectrogramView spectrogram_view(const at::Tensor& S) {
  SpectrogramView v;
  v.n_bins = S.size(-2);
  v.n_frames = S.size(-1);
  v.s = S.reshape({-1, v.n_bins, v.n_frames});
  v.rows = v.s.size(0);
  v.row_stride = v.s.stride(0);
  v.bin_stride = v.s.stride(1);
  v.frame_stride = v.s.stride(2);
  return v;
}

// Output shape of the per-frame statistics: S's leading dims, then n_frames.
inline std::vector<int64_t> stats_shape(const at::Tensor& S) {
  std::vector<int64_t> shape(S.sizes().begin(), S.sizes().end() - 2);
  shape.push_back(S.size(-1));
  return shape;
}

template <typename acc_t>
StatsParams<acc_t> make_stats_params(const BandwidthArgs& bw, double tiny) {
  StatsParams<acc_t> sp;
  sp.tiny = static_cast<acc_t>(tiny);
  sp.p = static_cast<acc_t>(bw.p);
  sp.inv_p = static_cast<acc_t>(1.0 / bw.p);
  sp.kind = power_kind(bw.p);
  sp.norm = bw.norm;
  return sp;
}

}  // namespace audiofx
