// The one definition of framing that every audiofx kernel (CPU and CUDA) shares.
//
// Frame t of a row covers padded[t*H : t*H + N]; the padding is virtual: `source_index` maps a
// position of the padded signal back onto the row (or to "zero"), so no kernel ever copies a
// padded signal. DESIGN.md §2 is the contract this file implements.
#pragma once

#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define AUDIOFX_HD __host__ __device__ __forceinline__
#else
#define AUDIOFX_HD inline
#endif

namespace audiofx {

// Stable integer codes: they travel from the host spec into the CUDA kernels by value.
enum class PadMode : int32_t {
  None = 0,      // no padding; requires T >= N
  Constant = 1,  // centred, zeros
  Edge = 2,      // centred, the first/last sample repeated
  Reflect = 3,   // centred, numpy "reflect" (edge sample not repeated); requires T > N/2
  Wrap = 4,      // centred, numpy "wrap" (periodic extension on both sides)
  EndWrap = 5,   // not centred; the tail is completed with x[0], x[1], ... circularly
};

struct FrameSpec {
  int64_t length;        // T, samples per row (of the tensor: also the row stride)
  int64_t frame_length;  // N
  int64_t hop_length;    // H
  int64_t pad_left;      // N/2 when centred, else 0
  int64_t n_frames;      // frames of the output (for T samples)
  PadMode mode;
  // Optional per-row clip lengths (int64, one per row, on the kernel's device; nullptr: every
  // row is T samples long). Row r is then framed as x[r, :lengths[r]] alone (row_spec) and its
  // frames t >= row_spec(...).n_frames are written as zeros; the output keeps n_frames.
  const int64_t* lengths;
};

AUDIOFX_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

AUDIOFX_HD int64_t gcd64(int64_t a, int64_t b) {
  while (b != 0) {
    const int64_t r = a % b;
    a = b;
    b = r;
  }
  return a;
}

AUDIOFX_HD bool is_centered(PadMode mode) {
  return mode == PadMode::Constant || mode == PadMode::Edge || mode == PadMode::Reflect ||
         mode == PadMode::Wrap;
}

// Number of frames for a row of T samples (DESIGN §2 table). Returns 0 when the mode
// cannot frame that row (no padding and T < N), which callers reject before launching.
AUDIOFX_HD int64_t n_frames_for(int64_t T, int64_t N, int64_t H, PadMode mode) {
  if (is_centered(mode)) {
    return 1 + (T + 2 * (N / 2) - N) / H;
  }
  if (mode == PadMode::EndWrap) {
    const int64_t excess = T > N ? T - N : 0;
    return 1 + ceil_div(excess, H);
  }
  return T >= N ? 1 + (T - N) / H : 0;
}

AUDIOFX_HD FrameSpec make_spec(int64_t T, int64_t N, int64_t H, PadMode mode) {
  FrameSpec s;
  s.length = T;
  s.frame_length = N;
  s.hop_length = H;
  s.pad_left = is_centered(mode) ? N / 2 : 0;
  s.n_frames = n_frames_for(T, N, H, mode);
  s.mode = mode;
  s.lengths = nullptr;
  return s;
}

// Valid samples of row r: lengths[r] clamped into [1, T] (the host checks the range outside
// torch.compile; under it out-of-range values are clamped here, so nothing is read past the row).
AUDIOFX_HD int64_t row_length(const FrameSpec& spec, int64_t r) {
  if (spec.lengths == nullptr) return spec.length;
  const int64_t L = spec.lengths[r];
  return L < 1 ? 1 : (L > spec.length ? spec.length : L);
}

// The framing of row r alone (length = its clip, n_frames = the clip's own count, lengths =
// nullptr). The row's data still starts at r * spec.length: callers index rows with the full
// spec and frame them with this one.
AUDIOFX_HD FrameSpec row_spec(const FrameSpec& spec, int64_t r) {
  if (spec.lengths == nullptr) return spec;
  return make_spec(row_length(spec, r), spec.frame_length, spec.hop_length, spec.mode);
}

// Index into the row for padded position p, or -1 for a zero of constant padding.
// `mode` is passed separately from the spec because the zero-crossing rate pads with `edge`
// where the other frame features use the caller's mode (librosa's convention) while the
// geometry (pad_left, n_frames) is shared.
AUDIOFX_HD int64_t source_index(int64_t p, int64_t pad_left, int64_t T, PadMode mode) {
  int64_t j = p - pad_left;
  if (j >= 0 && j < T) return j;
  switch (mode) {
    case PadMode::Constant:
      return -1;
    case PadMode::Edge:
      return j < 0 ? 0 : T - 1;
    case PadMode::Reflect: {
      // Validated: pad_left <= T - 1, so one reflection lands inside. A per-row length clamped
      // under torch.compile may be shorter: clamp so that nothing outside the row is read.
      const int64_t k = j < 0 ? -j : 2 * (T - 1) - j;
      return k < 0 ? 0 : (k > T - 1 ? T - 1 : k);
    }
    case PadMode::Wrap:
    case PadMode::EndWrap: {
      int64_t r = j % T;
      return r < 0 ? r + T : r;
    }
    case PadMode::None:
    default:
      return j;  // unreachable for valid specs: frames never leave [0, T)
  }
}

// Sample value at padded position p (0 for constant padding), read through a strided row.
template <typename scalar_t>
AUDIOFX_HD scalar_t padded_sample(const scalar_t* row, int64_t stride, int64_t p,
                                  int64_t pad_left, int64_t T, PadMode mode) {
  const int64_t j = source_index(p, pad_left, T, mode);
  return j < 0 ? scalar_t(0) : row[j * stride];
}

}  // namespace audiofx
