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
  int64_t length;      // T, samples per row
  int64_t frame_length;  // N
  int64_t hop_length;    // H
  int64_t pad_left;      // N/2 when centred, else 0
  int64_t n_frames;
  PadMode mode;
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
  return s;
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
    case PadMode::Reflect:
      // Validated: pad_left <= T - 1, so one reflection always lands inside.
      return j < 0 ? -j : 2 * (T - 1) - j;
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
