// Math of the backward ops, shared by the CPU and CUDA kernels (csrc/framing.h's index map).
//
// Every frame op's gradient is a weighted overlap-add through the padding map: for frames t and
// offsets n, grad_x[source_index(t*H + n)] += G[t, n]. The kernels gather instead of scattering:
// the covered padded signal (positions [0, (n_frames-1)*H + N)) splits into the row itself
// (p = pad_left + i, which maps onto sample i in every mode, each written by one thread) and the
// padding positions (at most N/2 on each side when centred, the end-wrap tail otherwise), which
// map onto samples already written and are added in a second pass. The amplitude envelope's
// gradient goes to one sample per frame, found by `frame_argmax_position`.
#pragma once

#include <cstdint>

#include "framing.h"

namespace audiofx {

// Length of the padded signal that the frames cover.
AUDIOFX_HD int64_t covered_length(const FrameSpec& s) {
  return (s.n_frames - 1) * s.hop_length + s.frame_length;
}

// The frames holding padded position p are t_lo..t_hi (empty when t_lo > t_hi).
AUDIOFX_HD void frames_holding(int64_t p, const FrameSpec& s, int64_t& t_lo, int64_t& t_hi) {
  const int64_t first = p - s.frame_length + 1;  // t*H must be >= first
  t_lo = first > 0 ? ceil_div(first, s.hop_length) : 0;
  const int64_t last = p / s.hop_length;
  t_hi = last < s.n_frames - 1 ? last : s.n_frames - 1;
}

// sum_t G[t, p - t*H] over the frames holding p; G is one row's (n_frames, N) block with
// strides (t_stride, n_stride) (n_stride = 0 for a per-frame weight broadcast over the frame).
template <typename acc_t, typename scalar_t>
AUDIOFX_HD acc_t overlap_sum(const scalar_t* g, int64_t t_stride, int64_t n_stride, int64_t p,
                             const FrameSpec& s) {
  int64_t t_lo, t_hi;
  frames_holding(p, s, t_lo, t_hi);
  acc_t acc = acc_t(0);
  for (int64_t t = t_lo; t <= t_hi; ++t) {
    acc += static_cast<acc_t>(g[t * t_stride + (p - t * s.hop_length) * n_stride]);
  }
  return acc;
}

// Padding positions of the covered signal: [0, pad_left) then [pad_left + T, covered_length).
// None for a row without frames (no padding and a clip shorter than N): nothing to fold back.
AUDIOFX_HD int64_t n_padding_positions(const FrameSpec& s) {
  if (s.n_frames < 1) return 0;
  const int64_t right = covered_length(s) - s.pad_left - s.length;
  return s.pad_left + (right > 0 ? right : 0);
}

// An upper bound of n_padding_positions(row_spec(s, r)) over every row, from the geometry alone
// (a device kernel's grid is sized before any length is read): centred, N/2 on each side; end-wrap,
// at most max(N, H) - 1 on the right (a clip of L < N is completed to N; a longer one to less than
// one hop past it), and never past the full row's covered length.
AUDIOFX_HD int64_t max_padding_positions(const FrameSpec& s) {
  if (s.lengths == nullptr) return n_padding_positions(s);
  if (is_centered(s.mode)) return 2 * s.pad_left;
  if (s.mode != PadMode::EndWrap) return 0;
  const int64_t wrap = (s.frame_length > s.hop_length ? s.frame_length : s.hop_length) - 1;
  const int64_t covered = covered_length(s) - 1;
  return wrap < covered ? wrap : covered;
}

AUDIOFX_HD int64_t padding_position(int64_t k, const FrameSpec& s) {
  return k < s.pad_left ? k : s.length + k;
}

// Padded position of the first maximum of frame t (of |x| when `absolute`); the first NaN wins
// over any number, as numpy.max returns NaN. Ties go to the first position, so a constant-padding
// zero before an equal sample takes the gradient (and sends it nowhere: source_index is -1).
template <typename cmp_t, typename scalar_t>
AUDIOFX_HD int64_t frame_argmax_position(const scalar_t* row, int64_t stride, const FrameSpec& s,
                                         int64_t t, bool absolute) {
  const int64_t p0 = t * s.hop_length;
  const int64_t j0 = p0 - s.pad_left;
  const bool inside = j0 >= 0 && j0 + s.frame_length <= s.length;
  int64_t best_p = p0;
  cmp_t best = cmp_t(0);
  for (int64_t n = 0; n < s.frame_length; ++n) {
    const cmp_t raw = static_cast<cmp_t>(
        inside ? row[(j0 + n) * stride]
               : padded_sample(row, stride, p0 + n, s.pad_left, s.length, s.mode));
    const cmp_t v = absolute && raw < cmp_t(0) ? -raw : raw;
    if (n == 0) {
      best = v;
      continue;
    }
    if (best != best) break;  // NaN found: it is the maximum
    if (v > best || v != v) {
      best = v;
      best_p = p0 + n;
    }
  }
  return best_p;
}

}  // namespace audiofx
