// Math of frame_features_backward (the gradient of rms, the amplitude envelope and
// frame_features), shared by the CPU and CUDA kernels.
//
// rms: grad_x[j] = x[j] * W(j), W(j) = the sum, over every padded position p that maps onto j
// (framing.h source_index), of sum w_t over the frames t holding p, w_t = g_t / (N rms_t) (0 where
// rms_t = 0), in the forward's dtype. Hop-aligned blocks make that one pass: with q = N / H and
// r = N % H, the sample at offset o of block b (padded positions [bH, bH + H)) lies in frames
// b-q+1..b, plus frame b-q when o < r, so W is constant over a block's head (o < r) and over its
// tail: two weights per block, each a direct sum of q + 1 or q frame weights in frame order (as
// the overlap-add sums them, so the values are today's bit for bit; no prefix-sum subtraction,
// which would lose a tiny weight next to a huge one). The padding positions (the first/last ~N
// samples of a row) fold back onto the samples they copy afterwards, in padding order.
//
// The amplitude envelope: g_t goes to the sample holding frame t's first maximum (framing as
// frame_backward.h frame_argmax_position), times sign(x) there with `absolute`. Frames lying
// inside the row find it from per-part maxima (a block's head and tail), O(samples) in all.
#pragma once

#include <cstdint>

#include "frame_backward.h"

namespace audiofx {

// w_t of today's rms gradient: g / (N * rms) in the forward's dtype, 0 where rms = 0.
template <typename scalar_t>
AUDIOFX_HD scalar_t rms_frame_weight(scalar_t g, scalar_t rms, int64_t N) {
  return rms == scalar_t(0) ? scalar_t(0) : g / (static_cast<scalar_t>(N) * rms);
}

// The frames holding the head (o < r) or the tail of hop block b: t_lo..t_hi, clipped to the
// row's frames [0, n_frames).
AUDIOFX_HD void block_frames(int64_t b, bool head, int64_t q, int64_t n_frames, int64_t& t_lo,
                             int64_t& t_hi) {
  const int64_t lo = head ? b - q : b - q + 1;
  t_lo = lo > 0 ? lo : 0;
  t_hi = b < n_frames - 1 ? b : n_frames - 1;
}

// sum_{t = t_lo..t_hi} w[t] in acc_t, in frame order (a direct sum: q or q + 1 terms).
template <typename acc_t, typename scalar_t>
AUDIOFX_HD acc_t block_weight(const scalar_t* w, int64_t b, bool head, int64_t q,
                              int64_t n_frames) {
  int64_t t_lo, t_hi;
  block_frames(b, head, q, n_frames, t_lo, t_hi);
  acc_t acc = acc_t(0);
  for (int64_t t = t_lo; t <= t_hi; ++t) acc += static_cast<acc_t>(w[t]);
  return acc;
}

// The rms weight of row sample j (without padding fold-back).
template <typename acc_t, typename scalar_t>
AUDIOFX_HD acc_t sample_weight(const scalar_t* w, int64_t j, const FrameSpec& s) {
  const int64_t H = s.hop_length;
  const int64_t p = j + s.pad_left;
  const int64_t b = p / H;
  return block_weight<acc_t>(w, b, p - b * H < s.frame_length % H, s.frame_length / H,
                             s.n_frames);
}

// torch.sign as torch computes it, (0 < v) - (v < 0): -1, 0 or 1, and 0 for NaN.
template <typename scalar_t>
AUDIOFX_HD scalar_t sign_of(scalar_t v) {
  return v > scalar_t(0) ? scalar_t(1) : (v < scalar_t(0) ? scalar_t(-1) : scalar_t(0));
}

}  // namespace audiofx
