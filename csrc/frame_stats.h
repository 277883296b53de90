// Math of the frame reductions (amplitude envelope, RMS, zero-crossing rate), shared by the CPU
// and CUDA kernels so that the CPU tests exercise the exact code the GPU runs.
//
// The signal is split into blocks of g = gcd(N, H) samples. Each block is reduced once into a
// BlockStats; frame t then combines its N/g blocks, starting at block t*H/g. A crossing between
// two blocks is stored as the later block's `left_crossing`, so a frame counts it for every block
// but its first.
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

template <typename acc_t, typename cmp_t>
struct BlockStats {
  acc_t sumsq;
  cmp_t peak;
  int32_t crossings;      // crossings between consecutive samples inside the block
  int32_t left_crossing;  // crossing between the block's first sample and the one before it
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

// Reduce the g samples of block `block` (padded positions [block*g, block*g + g)) of one row,
// reading every sample through the index map. `value_mode` pads the samples seen by the peak and
// RMS, `zcr_mode` those seen by the crossing test. This is the reference form: the CPU kernel
// uses it for blocks that touch the padding (and has a vectorised twin for the interior), the
// CUDA kernel splits the same per-sample steps across a warp.
template <typename scalar_t, typename acc_t, typename cmp_t>
AUDIOFX_HD BlockStats<acc_t, cmp_t> reduce_block(const scalar_t* row, int64_t stride,
                                                 const FrameSpec& spec, PadMode zcr_mode,
                                                 int64_t block, int64_t g, int32_t features,
                                                 const ReduceParams& rp) {
  BlockStats<acc_t, cmp_t> b = empty_block<acc_t, cmp_t>();
  const int64_t p0 = block * g;
  const int64_t T = spec.length;
  const cmp_t thr = static_cast<cmp_t>(rp.threshold);
  int32_t prev_class = 0;
  if ((features & kZcr) && p0 > 0) {
    prev_class = crossing_class(
        static_cast<cmp_t>(padded_sample(row, stride, p0 - 1, spec.pad_left, T, zcr_mode)), thr,
        rp.zero_pos);
  }
  for (int64_t i = 0; i < g; ++i) {
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

template <typename acc_t, typename cmp_t>
struct FrameTotals {
  acc_t sumsq;
  cmp_t peak;
  int64_t crossings;
};

// Combine the N/g blocks of one frame, `blocks` pointing at its first block.
template <typename acc_t, typename cmp_t>
AUDIOFX_HD FrameTotals<acc_t, cmp_t> combine_frame(const BlockStats<acc_t, cmp_t>* blocks,
                                                   int64_t blocks_per_frame) {
  FrameTotals<acc_t, cmp_t> f;
  f.sumsq = acc_t(0);
  f.peak = lowest<cmp_t>();
  f.crossings = 0;
  for (int64_t k = 0; k < blocks_per_frame; ++k) {
    f.sumsq += blocks[k].sumsq;
    f.peak = nan_max(f.peak, blocks[k].peak);
    f.crossings += blocks[k].crossings + (k > 0 ? blocks[k].left_crossing : 0);
  }
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

}  // namespace audiofx
