// Math of the frame reductions (amplitude envelope, RMS, zero-crossing rate), shared by the CPU
// and CUDA kernels so that the CPU tests exercise the exact code the GPU runs.
//
// Hop-aligned blocks: block k of a row is the padded positions [k*H, k*H + H). With q = N / H
// and r = N % H, frame t is the q whole blocks t .. t+q-1 followed by the head (first r samples)
// of block t+q. Each block is read once and reduced into the stats of its head and of its whole,
// so a frame costs q + 1 combines whatever gcd(N, H) is, and the combines only add, max and
// count (no prefix sums, whose subtraction would leave rounding noise in a silent frame).
// A crossing between two segments is stored as the later one's `left_crossing`, so appending
// segments counts it and a frame drops its first segment's.
#pragma once

#include <cmath>
#include <cstdint>

#include "framing.h"

namespace audiofx {

// Which of the three features a kernel computes (a bit set; all three share one pass).
enum FeatureBits : int32_t {
  kPeak = 1,
  kRms = 2,
  kZcr = 4,
  kAllFeatures = kPeak | kRms | kZcr,
};

struct ReduceParams {
  bool absolute;      // amplitude envelope of |x| instead of x
  bool zero_pos;      // zero counts as positive (sign-bit test) instead of sign() in {-1,0,1}
  double threshold;   // |x| <= threshold counts as 0 for the crossing test
};

// Sign class of a sample for the crossing test, librosa's rule: values within the threshold are
// zero; with zero_pos the class is the sign bit (zero is positive), otherwise sign(). The
// threshold is >= 0 (checked on the host), so "v < -thr" is exactly "signbit after zeroing".
template <typename cmp_t>
AUDIOFX_HD int32_t crossing_class(cmp_t v, cmp_t thr, bool zero_pos) {
  return -static_cast<int32_t>(v < -thr) + static_cast<int32_t>(!zero_pos && v > thr);
}

// max() that propagates NaN like numpy.max.
template <typename cmp_t>
AUDIOFX_HD cmp_t nan_max(cmp_t m, cmp_t v) {
  return (v > m || v != v) ? v : m;
}

template <typename cmp_t>
AUDIOFX_HD cmp_t peak_input(cmp_t v, bool absolute) {
  return absolute ? (v < cmp_t(0) ? -v : v) : v;
}

template <typename cmp_t>
AUDIOFX_HD cmp_t lowest() {
  return -static_cast<cmp_t>(INFINITY);
}

// Stats of a segment of consecutive padded positions.
template <typename acc_t, typename cmp_t>
struct BlockStats {
  acc_t sumsq;
  cmp_t peak;
  int32_t crossings;      // crossings between consecutive samples inside the segment
  int32_t left_crossing;  // crossing between the segment's first sample and the one before it
};

template <typename acc_t, typename cmp_t>
AUDIOFX_HD BlockStats<acc_t, cmp_t> empty_block() {
  BlockStats<acc_t, cmp_t> b;
  b.sumsq = acc_t(0);
  b.peak = lowest<cmp_t>();
  b.crossings = 0;
  b.left_crossing = 0;
  return b;
}

// The stats of segment a followed directly by segment b.
template <typename acc_t, typename cmp_t>
AUDIOFX_HD BlockStats<acc_t, cmp_t> append_stats(const BlockStats<acc_t, cmp_t>& a,
                                                 const BlockStats<acc_t, cmp_t>& b) {
  BlockStats<acc_t, cmp_t> c;
  c.sumsq = a.sumsq + b.sumsq;
  c.peak = nan_max(a.peak, b.peak);
  c.crossings = a.crossings + b.left_crossing + b.crossings;
  c.left_crossing = a.left_crossing;
  return c;
}

// Reduce the n samples at padded positions [p0, p0 + n) of one row, reading every sample through
// the index map (`spec`: the row's own framing, framing.h row_spec). `spec.mode` pads the samples
// seen by the peak and RMS, `zcr_mode` those seen by the crossing test. This is the reference
// form: the CPU kernel uses it for segments that touch the padding (and has vectorised twins for
// the interior), the CUDA kernel splits the same per-sample steps across a warp.
template <typename scalar_t, typename acc_t, typename cmp_t>
AUDIOFX_HD BlockStats<acc_t, cmp_t> reduce_segment(const scalar_t* row, int64_t stride,
                                                   const FrameSpec& spec, PadMode zcr_mode,
                                                   int64_t p0, int64_t n, int32_t features,
                                                   const ReduceParams& rp) {
  BlockStats<acc_t, cmp_t> b = empty_block<acc_t, cmp_t>();
  const int64_t T = spec.length;
  const cmp_t thr = static_cast<cmp_t>(rp.threshold);
  int32_t prev_class = 0;
  if ((features & kZcr) && p0 > 0) {
    prev_class = crossing_class(
        static_cast<cmp_t>(padded_sample(row, stride, p0 - 1, spec.pad_left, T, zcr_mode)), thr,
        rp.zero_pos);
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = p0 + i;
    if (features & (kRms | kPeak)) {
      const cmp_t v =
          static_cast<cmp_t>(padded_sample(row, stride, p, spec.pad_left, T, spec.mode));
      b.sumsq += static_cast<acc_t>(v) * static_cast<acc_t>(v);
      b.peak = nan_max(b.peak, peak_input(v, rp.absolute));
    }
    if (features & kZcr) {
      const int32_t cls = crossing_class(
          static_cast<cmp_t>(padded_sample(row, stride, p, spec.pad_left, T, zcr_mode)), thr,
          rp.zero_pos);
      if (i == 0) {
        b.left_crossing = (p0 > 0) ? static_cast<int32_t>(cls != prev_class) : 0;
      } else {
        b.crossings += static_cast<int32_t>(cls != prev_class);
      }
      prev_class = cls;
    }
  }
  return b;
}

// How frames decompose into hop-aligned blocks: q whole blocks and a head of r samples.
struct HopBlocks {
  int64_t frame;  // N
  int64_t hop;    // H: samples per block
  int64_t q;      // N / H
  int64_t r;      // N % H (0: no head)

  // Blocks that frames [f0, f1) (f1 > f0) use, from block f0 on.
  AUDIOFX_HD int64_t blocks_for(int64_t f0, int64_t f1) const {
    return f1 - f0 + q - (r == 0 ? 1 : 0);
  }
  // Samples of block k to read for frames [f0, f1): the whole block where a frame uses it whole,
  // else its head. Only the last block (and every block when H > N) is a head alone, so no
  // sample past the last frame's end (or in the gaps between frames) is read.
  AUDIOFX_HD int64_t read_length(int64_t k, int64_t f1) const {
    return (q > 0 && k < f1 - 1 + q) ? hop : r;
  }
};

AUDIOFX_HD HopBlocks hop_blocks(int64_t N, int64_t H) {
  HopBlocks hb;
  hb.frame = N;
  hb.hop = H;
  hb.q = N / H;
  hb.r = N % H;
  return hb;
}

// Frame t from the blocks of its chunk: whole[i], head[i] hold block t+i's whole and head stats
// (whole[0 .. q-1] and head[q] are read). Blocks add left to right, as a frame reads them.
template <typename acc_t, typename cmp_t>
AUDIOFX_HD BlockStats<acc_t, cmp_t> combine_frame(const BlockStats<acc_t, cmp_t>* whole,
                                                  const BlockStats<acc_t, cmp_t>* head,
                                                  const HopBlocks& hb) {
  if (hb.q == 0) return head[0];
  BlockStats<acc_t, cmp_t> f = whole[0];
  for (int64_t k = 1; k < hb.q; ++k) f = append_stats(f, whole[k]);
  if (hb.r > 0) f = append_stats(f, head[hb.q]);
  return f;
}

// sqrt(mean of squares) over the N samples of the frame.
template <typename acc_t>
AUDIOFX_HD acc_t rms_from_sumsq(acc_t sumsq, int64_t N) {
  return sqrt(sumsq / static_cast<acc_t>(N));
}

// Crossings / N in double: exact for the count, then one rounding to the output dtype.
AUDIOFX_HD double zcr_from_crossings(int64_t crossings, int64_t N) {
  return static_cast<double>(crossings) / static_cast<double>(N);
}

// The crossing test pads with its own mode only where centring gives both modes one geometry;
// without centring the frame features use one mode (the Python layer requires it, and when the
// full-T frame counts agree no frame reaches the padding), and a per-row length must not make the
// no-padding mode index past the clip.
AUDIOFX_HD PadMode effective_zcr_mode(PadMode value_mode, PadMode zcr_mode) {
  return is_centered(value_mode) ? zcr_mode : value_mode;
}

}  // namespace audiofx
