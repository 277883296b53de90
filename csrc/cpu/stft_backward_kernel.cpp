// CPU kernels of the STFT's backward ops (csrc/spectral_backward_ops.h).
// stft_backward: per chunk of frames (each worker its own), the gradient's columns gathered into
// a (frames, bins) buffer from cache, times the rfft adjoint's weights, inverse-transformed
// (at::fft_irfft) and overlap-added through the window (chunk_overlap_add.h): no frame gradient
// the size of the spectrogram, and no zero-padded complex transform (torch's rfft backward).
// windowed_overlap_add: as overlap_add (frame_backward_kernel.cpp), each chunk of a row gathered
// from the frames that cover it into a thread-local accumulator (rows and disjoint sample ranges
// in parallel, no atomics), with the window multiplied inside the gather instead of in a
// full-size product beforehand; then the padding positions, row by row.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_irfft.h>
#include <ATen/ops/zeros.h>
#include <c10/util/complex.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../spectral_backward_ops.h"
#include "chunk_overlap_add.h"

namespace audiofx {
namespace {

constexpr int64_t kChunk = 4096;  // samples per work item: the accumulator stays in L1

template <typename scalar_t, typename acc_t>
void windowed_chunk(const scalar_t* g, int64_t ts, int64_t ns, const scalar_t* w,
                    const FrameSpec& s, int64_t i0, int64_t i1, acc_t* acc, scalar_t* out) {
  std::fill(acc, acc + (i1 - i0), acc_t(0));
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
    const scalar_t* __restrict__ wt = w + n0;
    acc_t* __restrict__ a = acc + (p_begin - q0);
    if (ns == 1) {
#pragma omp simd
      for (int64_t k = 0; k < m; ++k) {
        a[k] += static_cast<acc_t>(gt[k]) * static_cast<acc_t>(wt[k]);
      }
    } else {
      for (int64_t k = 0; k < m; ++k) {
        a[k] += static_cast<acc_t>(gt[k * ns]) * static_cast<acc_t>(wt[k]);
      }
    }
  }
  for (int64_t k = 0; k < i1 - i0; ++k) out[i0 + k] = static_cast<scalar_t>(acc[k]);
}

at::Tensor windowed_overlap_add_cpu(const at::Tensor& frames, const at::Tensor& window,
                                    const FrameSpec& spec) {
  TORCH_INTERNAL_ASSERT(frames.device().is_cpu());
  const at::Tensor g = frames_3d(frames);
  const at::Tensor wc = window.contiguous();
  const int64_t rows = g.size(0);
  const int64_t T = spec.length;
  at::Tensor out = at::empty({rows, T}, g.options());
  if (rows == 0) return out.view(signal_shape(frames, T));
  const int64_t rs = g.stride(0), ts = g.stride(1), ns = g.stride(2);
  const int64_t chunks = ceil_div(T, kChunk);
  const int64_t n_pad = max_padding_positions(spec);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "audiofx_windowed_overlap_add_cpu", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
    const scalar_t* src = g.const_data_ptr<scalar_t>();
    const scalar_t* w = wc.const_data_ptr<scalar_t>();
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
        if (own_end > i0 && row.n_frames > 0) {
          windowed_chunk(src + r * rs, ts, ns, w, row, i0, own_end, acc.data(), dst + r * T);
        } else {
          std::fill(dst + r * T + i0, dst + r * T + own_end, scalar_t(0));
        }
        std::fill(dst + r * T + own_end, dst + r * T + i1, scalar_t(0));
      }
    });
    if (n_pad == 0) return;
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
          o[j] = static_cast<scalar_t>(
              static_cast<acc_t>(o[j]) +
              windowed_overlap_sum<acc_t>(src + r * rs, ts, ns, w, p, row));
        }
      }
    });
  });
  return out.view(signal_shape(frames, T));
}

// Frames per chunk: about 2 MiB of the gathered spectrum and the frame gradients per worker.
int64_t stft_backward_chunk_frames(int64_t n_fft, size_t real_size, int64_t total) {
  const int64_t bytes_per_frame =
      static_cast<int64_t>(real_size) * (n_fft + 2 * n_bins_for(n_fft)) + 8 * n_fft;
  const int64_t by_cache = std::clamp<int64_t>((int64_t{2} << 20) / bytes_per_frame, 8, 4096);
  const int64_t by_balance = ceil_div(total, 4 * static_cast<int64_t>(at::get_num_threads()));
  return std::max<int64_t>(1, std::min(by_cache, by_balance));
}

std::tuple<at::Tensor, at::Tensor> stft_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                                     const at::Tensor& window,
                                                     const FrameSpec& spec, bool window_grad,
                                                     int64_t chunk_frames) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const int64_t N = spec.frame_length, nf = spec.n_frames;
  const int64_t K = n_bins_for(N);
  const int64_t rows = xc.numel() / spec.length;
  at::Tensor gx = at::empty(x.sizes(), xc.options());
  at::Tensor gw = at::zeros({window_grad ? N : 0}, wc.options().dtype(at::kDouble));
  const cpu::OwnFrames own(spec, rows);
  const int64_t total = own.total();
  if (total == 0) {
    gx.zero_();
    return {gx, gw.to(wc.scalar_type())};
  }
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_stft_backward_cpu", [&] {
    using complex_t = c10::complex<scalar_t>;
    const int64_t F = std::min(
        total, chunk_frames > 0 ? chunk_frames
                                : stft_backward_chunk_frames(N, sizeof(scalar_t), total));
    const complex_t* g = grad.const_data_ptr<complex_t>();
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    const scalar_t* w = wc.const_data_ptr<scalar_t>();
    cpu::ChunkedOverlapAdd<scalar_t> ola(spec, own, rows, F, window_grad,
                                         gx.data_ptr<scalar_t>());
    struct Buffers {
      at::Tensor spectrum;
      std::vector<double> acc;
    };
    const auto add_run = cpu::add_run_for_cpu<scalar_t, scalar_t, scalar_t>();
    cpu::for_each_chunk(
        total, F,
        [&] {
          return Buffers{at::empty({F, K}, grad.options()),
                         std::vector<double>(static_cast<size_t>(ola.acc_size()))};
        },
        [&](Buffers& b, int64_t chunk, int64_t v0, int64_t v1) {
          complex_t* z = b.spectrum.data_ptr<complex_t>();
          own.for_each_run(v0, v1, [&](int64_t gi, int64_t n, int64_t i) {
            const complex_t* gr = g + (gi / nf) * K * nf + gi % nf;
            for (int64_t k = 0; k < K; ++k) {
              const scalar_t wk = rfft_adjoint_weight<scalar_t>(k, N);
              for (int64_t u = 0; u < n; ++u) z[(i + u) * K + k] = gr[k * nf + u] * wk;
            }
          });
          // Unnormalised: the rfft adjoint (its weights are in the buffer already).
          const at::Tensor frames = at::fft_irfft(b.spectrum.narrow(0, 0, v1 - v0), N, -1,
                                                  "forward");
          TORCH_INTERNAL_ASSERT(frames.is_contiguous());
          const scalar_t* G = frames.const_data_ptr<scalar_t>();
          own.for_each_run(v0, v1, [&](int64_t gi, int64_t n, int64_t i) {
            add_run(ola, chunk, G + i * N, n, gi / nf, gi % nf, w, b.acc.data());
            if (window_grad) ola.add_window_run(chunk, G + i * N, n, src, gi / nf, gi % nf);
          });
        });
    ola.finish(window_grad ? gw.data_ptr<double>() : nullptr);
  });
  return {gx, gw.scalar_type() == wc.scalar_type() ? gw : gw.to(wc.scalar_type())};
}

}  // namespace
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CPU, m) {
  m.impl("stft_backward", &audiofx::stft_backward_op<audiofx::stft_backward_cpu>);
  m.impl("windowed_overlap_add",
         &audiofx::windowed_overlap_add_op<audiofx::windowed_overlap_add_cpu>);
}
