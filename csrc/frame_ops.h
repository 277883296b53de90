// The public frame ops, written once over a device's reduction and framing kernels:
// csrc/cpu and csrc/cuda instantiate these with their own kernels and register the results.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <string_view>
#include <tuple>

#include "frame_args.h"
#include "frame_stats.h"

namespace audiofx {

// Reduces every frame of x (rows = all leading dims) into the features in `features`;
// entries not asked for are left undefined. Outputs have shape (..., n_frames).
using FrameReduceFn = std::array<at::Tensor, 3> (*)(const at::Tensor& x, const FrameSpec& spec,
                                                    PadMode zcr_mode, int32_t features,
                                                    const ReduceParams& params);
// Materialises the frames: (..., n_frames, N).
using FrameFn = at::Tensor (*)(const at::Tensor& x, const FrameSpec& spec);

enum FeatureSlot { kPeakSlot = 0, kRmsSlot = 1, kZcrSlot = 2 };

template <FrameFn kernel>
at::Tensor frame_op(const at::Tensor& x, int64_t frame_length, int64_t hop_length, bool center,
                    std::string_view pad_mode, const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  return kernel(x, with_lengths(checked_spec(x, frame_length, hop_length, mode), lengths,
                                rows_of(x), x.device()));
}

template <FrameReduceFn kernel>
at::Tensor amplitude_envelope_op(const at::Tensor& x, int64_t frame_length, int64_t hop_length,
                                 bool center, std::string_view pad_mode, bool absolute,
                                 const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, frame_length, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  return kernel(x, spec, mode, kPeak, ReduceParams{absolute, true, 0.0})[kPeakSlot];
}

template <FrameReduceFn kernel>
at::Tensor rms_op(const at::Tensor& x, int64_t frame_length, int64_t hop_length, bool center,
                  std::string_view pad_mode, const std::optional<at::Tensor>& lengths) {
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, frame_length, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  return kernel(x, spec, mode, kRms, ReduceParams{false, true, 0.0})[kRmsSlot];
}

inline void check_threshold(double threshold) {
  TORCH_CHECK_VALUE(threshold >= 0.0, "audiofx: threshold must be >= 0, got ", threshold);
}

template <FrameReduceFn kernel>
at::Tensor zero_crossing_rate_op(const at::Tensor& x, int64_t frame_length, int64_t hop_length,
                                 bool center, std::string_view pad_mode, double threshold,
                                 bool zero_pos, const std::optional<at::Tensor>& lengths) {
  check_threshold(threshold);
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, frame_length, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  return kernel(x, spec, mode, kZcr, ReduceParams{false, zero_pos, threshold})[kZcrSlot];
}

template <FrameReduceFn kernel>
std::tuple<at::Tensor, at::Tensor, at::Tensor> frame_features_op(
    const at::Tensor& x, int64_t frame_length, int64_t hop_length, bool center,
    std::string_view pad_mode, std::string_view zcr_pad_mode, bool absolute, double threshold,
    bool zero_pos, const std::optional<at::Tensor>& lengths) {
  check_threshold(threshold);
  const PadMode mode = parse_pad_mode(center, pad_mode);
  const PadMode zcr_mode = parse_pad_mode(center, zcr_pad_mode);
  const FrameSpec spec = with_lengths(checked_spec(x, frame_length, hop_length, mode), lengths,
                                      rows_of(x), x.device());
  const FrameSpec zcr_spec = checked_spec(x, frame_length, hop_length, zcr_mode);
  TORCH_CHECK_VALUE(spec.n_frames == zcr_spec.n_frames, "audiofx: pad_mode '", pad_mode,
                    "' and zcr_pad_mode '", zcr_pad_mode,
                    "' give different frame counts; with center=False use the same mode");
  auto out = kernel(x, spec, zcr_mode, kAllFeatures, ReduceParams{absolute, zero_pos, threshold});
  return {out[kPeakSlot], out[kRmsSlot], out[kZcrSlot]};
}

}  // namespace audiofx

// One line per op and device: `AUDIOFX_REGISTER_FRAME_OPS(CPU, frame_cpu, frame_reduce_cpu)`.
#define AUDIOFX_REGISTER_FRAME_OPS(DEVICE, FRAME_KERNEL, REDUCE_KERNEL)                        \
  TORCH_LIBRARY_IMPL(audiofx, DEVICE, m) {                                                      \
    m.impl("frame", &audiofx::frame_op<FRAME_KERNEL>);                                          \
    m.impl("amplitude_envelope", &audiofx::amplitude_envelope_op<REDUCE_KERNEL>);               \
    m.impl("rms", &audiofx::rms_op<REDUCE_KERNEL>);                                              \
    m.impl("zero_crossing_rate", &audiofx::zero_crossing_rate_op<REDUCE_KERNEL>);                \
    m.impl("frame_features", &audiofx::frame_features_op<REDUCE_KERNEL>);                       \
  }
