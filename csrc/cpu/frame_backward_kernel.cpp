// CPU kernels of the backward ops (csrc/frame_backward_ops.h): overlap_add gathers each chunk of
// a row from the frames that cover it into a thread-local accumulator (rows and disjoint sample
// ranges in parallel, no atomics), then adds the padding positions row by row; frame_argmax scans
// each frame, interior frames with a vectorised max and a search for its first occurrence.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../frame_backward_ops.h"

namespace audiofx {
namespace {

constexpr int64_t kChunk = 4096;  // samples per work item: the accumulator stays in L1

template <typename scalar_t, typename acc_t>
void overlap_add_chunk(const scalar_t* g, int64_t ts, int64_t ns, const FrameSpec& s, int64_t i0,
                       int64_t i1, acc_t* acc, scalar_t* out) {
  const int64_t len = i1 - i0;
  std::fill(acc, acc + len, acc_t(0));
  const int64_t q0 = i0 + s.pad_left;  // padded positions [q0, q1) are samples [i0, i1)
  const int64_t q1 = i1 + s.pad_left;
  int64_t t_lo, t_hi, unused;
  frames_holding(q0, s, t_lo, unused);
  frames_holding(q1 - 1, s, unused, t_hi);
  const int64_t H = s.hop_length;
  for (int64_t t = t_lo; t <= t_hi; ++t) {
    const int64_t p_begin = std::max(q0, t * H);
    const int64_t p_end = std::min(q1, t * H + s.frame_length);
    const int64_t n0 = p_begin - t * H;
    const int64_t m = p_end - p_begin;
    const scalar_t* __restrict__ gt = g + t * ts + n0 * ns;
    acc_t* __restrict__ a = acc + (p_begin - q0);
    if (ns == 1) {
#pragma omp simd
      for (int64_t k = 0; k < m; ++k) a[k] += static_cast<acc_t>(gt[k]);
    } else if (ns == 0) {  // a per-frame weight expanded over the frame (rms)
      const acc_t v = static_cast<acc_t>(gt[0]);
#pragma omp simd
      for (int64_t k = 0; k < m; ++k) a[k] += v;
    } else {
      for (int64_t k = 0; k < m; ++k) a[k] += static_cast<acc_t>(gt[k * ns]);
    }
  }
  for (int64_t k = 0; k < len; ++k) out[i0 + k] = static_cast<scalar_t>(acc[k]);
}

at::Tensor overlap_add_cpu(const at::Tensor& frames, const FrameSpec& spec) {
  TORCH_INTERNAL_ASSERT(frames.device().is_cpu());
  const at::Tensor g = frames_3d(frames);
  const int64_t rows = g.size(0);
  const int64_t T = spec.length;
  at::Tensor out = at::empty({rows, T}, g.options());
  if (rows == 0) return out.view(signal_shape(frames, T));
  const int64_t rs = g.stride(0), ts = g.stride(1), ns = g.stride(2);
  const int64_t chunks = ceil_div(T, kChunk);
  const int64_t n_pad = max_padding_positions(spec);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "audiofx_overlap_add_cpu", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
    const scalar_t* src = g.const_data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, rows * chunks, 4, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> acc(static_cast<size_t>(std::min(kChunk, T)));
      for (int64_t item = begin; item < end; ++item) {
        const int64_t r = item / chunks;
        const int64_t i0 = (item % chunks) * kChunk;
        const int64_t i1 = std::min(T, i0 + kChunk);
        // Row r is the clip of its own length: gathered through its own framing, zero after it.
        const FrameSpec row = row_spec(spec, r);
        const int64_t own_end = std::clamp(row.length, i0, i1);
        if (own_end > i0) {
          overlap_add_chunk(src + r * rs, ts, ns, row, i0, own_end, acc.data(), dst + r * T);
        }
        std::fill(dst + r * T + own_end, dst + r * T + i1, scalar_t(0));
      }
    });
    if (n_pad == 0) return;
    // Padding positions fold back onto samples the first pass wrote; a row's run in order.
    const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n_pad));
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const FrameSpec row = row_spec(spec, r);
        scalar_t* o = dst + r * T;
        const int64_t row_pad = n_padding_positions(row);
        for (int64_t k = 0; k < row_pad; ++k) {
          const int64_t p = padding_position(k, row);
          const int64_t j = source_index(p, row.pad_left, row.length, row.mode);
          if (j < 0) continue;
          o[j] = static_cast<scalar_t>(static_cast<acc_t>(o[j]) +
                                       overlap_sum<acc_t>(src + r * rs, ts, ns, p, row));
        }
      }
    });
  });
  return out.view(signal_shape(frames, T));
}

// First maximum of a frame lying inside the row: a vectorised max (NaN tracked on the side, as a
// vector max drops it), then the first sample equal to it.
template <bool kAbsolute, typename scalar_t>
int64_t interior_argmax(const scalar_t* s, int64_t N) {
  scalar_t peak = -std::numeric_limits<scalar_t>::infinity();
  int32_t has_nan = 0;
#pragma omp simd reduction(max : peak) reduction(| : has_nan)
  for (int64_t i = 0; i < N; ++i) {
    const scalar_t v = kAbsolute ? std::abs(s[i]) : s[i];
    peak = v > peak ? v : peak;
    has_nan |= static_cast<int32_t>(v != v);
  }
  for (int64_t i = 0; i < N; ++i) {
    const scalar_t v = kAbsolute ? std::abs(s[i]) : s[i];
    if (has_nan ? v != v : v == peak) return i;
  }
  return 0;  // unreachable: some sample equals the max
}

at::Tensor frame_argmax_cpu(const at::Tensor& x, const FrameSpec& spec, bool absolute) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const int64_t T = spec.length;
  const int64_t N = spec.frame_length;
  const int64_t nf = spec.n_frames;
  const int64_t total = xc.numel() / T * nf;
  at::Tensor out = at::empty(frames_shape(x, {nf}), xc.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_frame_argmax_cpu", [&] {
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    int64_t* dst = out.data_ptr<int64_t>();
    at::parallel_for(0, total, std::max<int64_t>(1, 32768 / N), [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) {
        const int64_t r = g / nf;
        const int64_t t = g % nf;
        const scalar_t* row = src + r * T;
        const FrameSpec own = row_spec(spec, r);
        const int64_t j0 = t * own.hop_length - own.pad_left;
        if (t >= own.n_frames) {
          dst[g] = -1;  // past the clip's frames: the (zero) envelope there has no sample
        } else if (j0 >= 0 && j0 + N <= own.length) {
          dst[g] = j0 + (absolute ? interior_argmax<true>(row + j0, N)
                                  : interior_argmax<false>(row + j0, N));
        } else {
          const int64_t p = frame_argmax_position<scalar_t>(row, 1, own, t, absolute);
          dst[g] = source_index(p, own.pad_left, own.length, own.mode);
        }
      }
    });
  });
  return out;
}

}  // namespace
}  // namespace audiofx

AUDIOFX_REGISTER_BACKWARD_OPS(CPU, audiofx::overlap_add_cpu, audiofx::frame_argmax_cpu)
