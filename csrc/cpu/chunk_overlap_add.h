// The overlap-add of frame gradients that workers compute chunk by chunk (the backward kernels
// of spectral_features and stft): each chunk's windowed frame gradients go into dL/dx through
// the padding map, with no two workers writing one sample and nothing the size of all the frames
// ever held.
//
// A chunk writes, for each row it covers, the samples from its first frame's start up to its
// last frame's successor's start ("owned"; a row's last frame owns the rest of the row, zeros
// past the covered positions and past the clip's length) straight into dL/dx, and sets aside
// what lands elsewhere: the tail of its last frame past that point (into samples the next chunk
// owns) and the padding positions (which fold back onto samples any chunk of the row may own).
// finish() then adds those row by row. The window's gradient is summed per chunk and the chunks
// in order, so that it does not depend on which worker took which chunk.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "../frame_backward.h"
#include "spectral_cpu.h"

namespace audiofx {
namespace cpu {

// Runs fn(chunk, v0, v1) for chunks [0, chunks) of F own frames each (out of `total`), on one
// task per thread taking chunks from a shared counter (a thread slowed down by other processes on
// its core takes fewer). `setup()` makes each task's buffers, passed to fn as its first argument.
template <typename Setup, typename Fn>
void for_each_chunk(int64_t total, int64_t F, Setup&& setup, Fn&& fn) {
  const int64_t chunks = ceil_div(total, F);
  std::atomic<int64_t> next_chunk{0};
  const int64_t workers = std::min<int64_t>(chunks, at::get_num_threads());
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    auto buffers = setup();
    for (int64_t chunk = next_chunk++; chunk < chunks; chunk = next_chunk++) {
      const int64_t v0 = chunk * F;
      fn(buffers, chunk, v0, std::min(total, v0 + F));
    }
  });
}

template <typename scalar_t>
class ChunkedOverlapAdd {
 public:
  // gx: the (rows, T) gradient, every sample written by add_run/finish (rows without frames
  // zeroed here).
  ChunkedOverlapAdd(const FrameSpec& spec, const OwnFrames& own, int64_t rows, int64_t F,
                    bool window_grad, scalar_t* gx)
      : spec_(spec), own_(own), rows_(rows), F_(F), gx_(gx) {
    const int64_t chunks = ceil_div(own.total(), F);
    const int64_t N = spec.frame_length;
    tail_len_ = std::max<int64_t>(N - spec.hop_length, 0);
    n_pad_ = max_padding_positions(spec);
    tails_.resize(static_cast<size_t>(chunks * tail_len_));
    tail_row_.assign(static_cast<size_t>(chunks), -1);
    tail_at_.assign(static_cast<size_t>(chunks), 0);
    pad_.assign(static_cast<size_t>(rows * n_pad_), 0.0);
    window_.assign(window_grad ? static_cast<size_t>(chunks * N) : 0, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      if (own.count(r) == 0) std::fill(gx + r * spec.length, gx + (r + 1) * spec.length, 0);
    }
  }

  // Scratch that add_run needs per worker (doubles).
  int64_t acc_size() const {
    return F_ * std::max(spec_.hop_length, spec_.frame_length) + spec_.frame_length;
  }

  // The frame gradients G (n, N) of frames t0 .. t0+n-1 of row r (a run of `chunk`), times the
  // window, overlap-added into acc, then written where the chunk owns them.
  template <typename g_t, typename w_t>
  AUDIOFX_SPECTRAL_INLINE void add_run(int64_t chunk, const g_t* G, int64_t n, int64_t r, int64_t t0, const w_t* w,
               double* acc) {
    const FrameSpec row = row_spec(spec_, r);
    const int64_t N = spec_.frame_length, H = spec_.hop_length, P = spec_.pad_left;
    const int64_t Tr = row.length;
    const bool last = t0 + n == row.n_frames;
    const int64_t q0 = t0 * H;
    const int64_t q1 = (t0 + n - 1) * H + N;  // acc holds padded positions [q0, q1)
    const int64_t own_end = last ? q1 : (t0 + n) * H;
    std::fill(acc, acc + (std::max(q1, own_end) - q0), 0.0);
    for (int64_t u = 0; u < n; ++u) {
      double* __restrict__ a = acc + u * H;
      const g_t* __restrict__ gu = G + u * N;
#pragma omp simd
      for (int64_t k = 0; k < N; ++k) {
        a[k] += static_cast<double>(gu[k]) * static_cast<double>(w[k]);
      }
    }
    scalar_t* out = gx_ + r * spec_.length;
    double* pad = pad_.data() + r * n_pad_;
    const int64_t in_lo = std::clamp(P, q0, own_end);  // samples [in_lo - P, in_hi - P)
    const int64_t in_hi = std::clamp(P + Tr, q0, own_end);
    for (int64_t p = q0; p < in_lo; ++p) pad[p] = acc[p - q0];
    for (int64_t p = in_lo; p < in_hi; ++p) out[p - P] = static_cast<scalar_t>(acc[p - q0]);
    for (int64_t p = in_hi; p < own_end; ++p) pad[p - Tr] = acc[p - q0];
    if (last) {
      const int64_t zero_from = std::clamp(q1 - P, int64_t{0}, Tr);
      std::fill(out + zero_from, out + spec_.length, scalar_t(0));
    } else if (q1 > own_end) {
      std::copy(acc + (own_end - q0), acc + (q1 - q0), tails_.data() + chunk * tail_len_);
      tail_row_[chunk] = r;
      tail_at_[chunk] = own_end;
    }
  }

  // The window's gradient of the run: sum of G[u, k] times the unwindowed padded sample under it.
  template <typename g_t, typename x_t>
  void add_window_run(int64_t chunk, const g_t* G, int64_t n, const x_t* x, int64_t r,
                      int64_t t0) {
    const FrameSpec row = row_spec(spec_, r);
    const int64_t N = spec_.frame_length;
    const x_t* xr = x + r * spec_.length;
    double* __restrict__ gw = window_.data() + chunk * N;
    for (int64_t u = 0; u < n; ++u) {
      const g_t* __restrict__ gu = G + u * N;
      const int64_t j0 = (t0 + u) * spec_.hop_length - spec_.pad_left;
      if (j0 >= 0 && j0 + N <= row.length) {
        const x_t* __restrict__ s = xr + j0;
#pragma omp simd
        for (int64_t k = 0; k < N; ++k) {
          gw[k] += static_cast<double>(gu[k]) * static_cast<double>(s[k]);
        }
      } else {
        for (int64_t k = 0; k < N; ++k) {
          gw[k] += static_cast<double>(gu[k]) *
                   static_cast<double>(padded_sample(xr, 1, (t0 + u) * spec_.hop_length + k,
                                                     row.pad_left, row.length, row.mode));
        }
      }
    }
  }

  // After every chunk: the tails and padding positions, rows in parallel; the window's gradient
  // (N doubles, zeroed by the caller) when asked for.
  void finish(double* gw) {
    const int64_t grain =
        std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n_pad_ + spec_.frame_length));
    at::parallel_for(0, rows_, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) fold_row(r);
    });
    if (window_.empty()) return;
    const int64_t N = spec_.frame_length;
    for (size_t c = 0; c < window_.size() / N; ++c) {
      for (int64_t k = 0; k < N; ++k) gw[k] += window_[c * N + k];
    }
  }

 private:
  void fold_row(int64_t r) {
    const int64_t count = own_.count(r);
    if (count == 0) return;
    const FrameSpec row = row_spec(spec_, r);
    const int64_t P = spec_.pad_left, Tr = row.length;
    scalar_t* out = gx_ + r * spec_.length;
    double* pad = pad_.data() + r * n_pad_;
    for (int64_t c = own_.begin(r) / F_; c <= (own_.begin(r) + count - 1) / F_; ++c) {
      if (tail_row_[c] != r) continue;
      const double* tail = tails_.data() + c * tail_len_;
      for (int64_t i = 0; i < tail_len_; ++i) {
        const int64_t p = tail_at_[c] + i;
        if (p < P) {
          pad[p] += tail[i];
        } else if (p < P + Tr) {
          out[p - P] = static_cast<scalar_t>(static_cast<double>(out[p - P]) + tail[i]);
        } else {
          pad[p - Tr] += tail[i];
        }
      }
    }
    const int64_t n_pad = n_padding_positions(row);
    for (int64_t k = 0; k < n_pad; ++k) {
      const int64_t j = source_index(padding_position(k, row), P, Tr, row.mode);
      if (j >= 0) out[j] = static_cast<scalar_t>(static_cast<double>(out[j]) + pad[k]);
    }
  }

  FrameSpec spec_;
  const OwnFrames& own_;
  int64_t rows_, F_;
  scalar_t* gx_;
  int64_t tail_len_, n_pad_;
  std::vector<double> tails_;      // (chunks, tail_len): each chunk's tail
  std::vector<int64_t> tail_row_;  // the row of each chunk's tail, -1 for none
  std::vector<int64_t> tail_at_;   // the padded position where it starts
  std::vector<double> pad_;        // (rows, n_pad): the padding positions
  std::vector<double> window_;     // (chunks, N): the window's gradient per chunk
};

// ChunkedOverlapAdd::add_run compiled for the CPU's instruction set (the build targets baseline
// x86-64, whose 2-wide loops made the overlap-add a third of the spectral backward's own work).
template <typename scalar_t, typename g_t, typename w_t>
using AddRunFn = void (*)(ChunkedOverlapAdd<scalar_t>&, int64_t, const g_t*, int64_t, int64_t,
                          int64_t, const w_t*, double*);

template <typename scalar_t, typename g_t, typename w_t>
void add_run_default(ChunkedOverlapAdd<scalar_t>& ola, int64_t chunk, const g_t* G, int64_t n,
                     int64_t r, int64_t t0, const w_t* w, double* acc) {
  ola.add_run(chunk, G, n, r, t0, w, acc);
}

#ifdef AUDIOFX_SPECTRAL_X86
template <typename scalar_t, typename g_t, typename w_t>
__attribute__((target("avx2,fma"))) void add_run_avx2(ChunkedOverlapAdd<scalar_t>& ola,
                                                      int64_t chunk, const g_t* G, int64_t n,
                                                      int64_t r, int64_t t0, const w_t* w,
                                                      double* acc) {
  ola.add_run(chunk, G, n, r, t0, w, acc);
}

template <typename scalar_t, typename g_t, typename w_t>
__attribute__((target("avx512f,avx2,fma"))) void add_run_avx512(
    ChunkedOverlapAdd<scalar_t>& ola, int64_t chunk, const g_t* G, int64_t n, int64_t r,
    int64_t t0, const w_t* w, double* acc) {
  ola.add_run(chunk, G, n, r, t0, w, acc);
}
#endif

template <typename scalar_t, typename g_t, typename w_t>
AddRunFn<scalar_t, g_t, w_t> add_run_for_cpu() {
#ifdef AUDIOFX_SPECTRAL_X86
  if (cpu_has_avx512f()) return &add_run_avx512<scalar_t, g_t, w_t>;
  if (cpu_has_avx2_fma()) return &add_run_avx2<scalar_t, g_t, w_t>;
#endif
  return &add_run_default<scalar_t, g_t, w_t>;
}

}  // namespace cpu
}  // namespace audiofx
