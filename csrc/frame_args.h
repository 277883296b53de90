// Host-side argument checks shared by every frame op's CPU and CUDA entry points: they turn the
// op's (center, pad_mode) strings into the PadMode of framing.h and validate the geometry. The
// Python layer raises ValueError/TypeError earlier; these TORCH_CHECKs guard C++ callers.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string_view>

#include "framing.h"

namespace audiofx {

// center=true: constant | edge | reflect | wrap (numpy names).
// center=false: "wrap" is the end-wrap convention; "none" (and, as in librosa, any other mode,
// which librosa ignores without centring) means no padding.
inline PadMode parse_pad_mode(bool center, std::string_view pad_mode) {
  if (center) {
    if (pad_mode == "constant") return PadMode::Constant;
    if (pad_mode == "edge") return PadMode::Edge;
    if (pad_mode == "reflect") return PadMode::Reflect;
    if (pad_mode == "wrap") return PadMode::Wrap;
    TORCH_CHECK_VALUE(false, "audiofx: pad_mode must be one of 'constant', 'edge', 'reflect', "
                      "'wrap' when center=True, got '", pad_mode, "'");
  }
  if (pad_mode == "wrap") return PadMode::EndWrap;
  if (pad_mode == "none" || pad_mode == "constant" || pad_mode == "edge" ||
      pad_mode == "reflect") {
    return PadMode::None;
  }
  TORCH_CHECK_VALUE(false, "audiofx: pad_mode must be one of 'wrap', 'none', 'constant', 'edge', "
                    "'reflect' when center=False, got '", pad_mode, "'");
}

// The framing of a row of T samples, after the checks every op shares (N, H >= 1; reflect needs
// T > N/2; no padding needs T >= N). Forward ops take T from x, backward ops from their argument.
inline FrameSpec checked_geometry(int64_t T, int64_t frame_length, int64_t hop_length,
                                  PadMode mode) {
  TORCH_CHECK_VALUE(frame_length >= 1, "audiofx: frame_length must be >= 1, got ", frame_length);
  TORCH_CHECK_VALUE(hop_length >= 1, "audiofx: hop_length must be >= 1, got ", hop_length);
  if (mode == PadMode::Reflect) {
    TORCH_CHECK_VALUE(T > frame_length / 2, "audiofx: pad_mode='reflect' needs more than "
                      "frame_length // 2 = ", frame_length / 2, " samples, got ", T);
  }
  if (mode == PadMode::None) {
    TORCH_CHECK_VALUE(T >= frame_length, "audiofx: without padding the signal needs at least "
                      "frame_length = ", frame_length, " samples, got ", T);
  }
  return make_spec(T, frame_length, hop_length, mode);
}

inline FrameSpec checked_spec(const at::Tensor& x, int64_t frame_length, int64_t hop_length,
                              PadMode mode) {
  TORCH_CHECK_TYPE(at::isFloatingType(x.scalar_type()),
                   "audiofx: x must be a real floating tensor, got ", x.scalar_type());
  TORCH_CHECK_VALUE(x.dim() >= 1 && x.numel() > 0, "audiofx: x must be non-empty, got shape ",
                    x.sizes());
  return checked_geometry(x.size(-1), frame_length, hop_length, mode);
}

// `spec` with the optional per-row lengths of a variable-length call attached (FrameSpec::lengths):
// an int64 tensor on `device` with one value per row (`rows` = the product of the leading dims),
// contiguous. The Python layer converts and range-checks it; the kernels clamp each value into
// [1, T] (framing.h row_length), so no value can make a kernel read outside its row.
inline FrameSpec with_lengths(FrameSpec spec, const std::optional<at::Tensor>& lengths,
                              int64_t rows, const at::Device& device) {
  if (!lengths.has_value()) return spec;
  const at::Tensor& L = *lengths;
  TORCH_CHECK_TYPE(L.scalar_type() == at::kLong, "audiofx: lengths must be int64, got ",
                   L.scalar_type());
  TORCH_CHECK_VALUE(L.device() == device, "audiofx: lengths must be on ", device, ", got ",
                    L.device());
  TORCH_CHECK_VALUE(L.numel() == rows, "audiofx: lengths must hold one value per row (", rows,
                    "), got shape ", L.sizes());
  TORCH_CHECK_VALUE(L.is_contiguous(), "audiofx: lengths must be contiguous");
  spec.lengths = rows > 0 ? L.const_data_ptr<int64_t>() : nullptr;
  return spec;
}

// Rows of a (..., T) tensor: the product of its leading dims.
inline int64_t rows_of(const at::Tensor& x) {
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < x.dim(); ++d) rows *= x.size(d);
  return rows;
}

// Output shape: x's leading dims, then `tail`.
inline std::vector<int64_t> frames_shape(const at::Tensor& x, std::initializer_list<int64_t> tail) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.insert(shape.end(), tail.begin(), tail.end());
  return shape;
}

}  // namespace audiofx
