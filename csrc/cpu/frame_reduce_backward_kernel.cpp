// CPU kernel of frame_features_backward (csrc/frame_reduce_backward_ops.h).
//
// Pass 1, in parallel over (row, chunk of hop blocks): grad = x * (the block head's or tail's rms
// weight), a vectorised loop per block part that also takes the part's maximum (of |x| with
// `absolute`; NaN when the part holds one) when the envelope's gradient is asked for; zeros past
// the row's length. Pass 2, in parallel over rows, touches O(N + frames) samples per row: the
// padding positions fold back onto the first/last ~N samples (their weight rebuilt in the
// overlap-add's order), then each frame's g_t is added at its first maximum, found from the part
// maxima (frames inside the row) or by a scan through the padding (the few at the edges).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "../frame_reduce_backward_ops.h"

namespace audiofx {
namespace {

constexpr int64_t kChunkSamples = 16384;  // samples per pass-1 work item

// grad[0, n) = x * w (0 where `zero`), and with kEnv the part's maximum (NaN if it holds one).
template <bool kEnv, bool kAbsolute, typename scalar_t>
scalar_t weight_part(const scalar_t* __restrict__ x, scalar_t* __restrict__ g, int64_t n,
                     scalar_t w, bool zero) {
  if (zero) {
    std::fill(g, g + n, scalar_t(0));
  } else {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) g[k] = x[k] * w;
  }
  if (!kEnv) return scalar_t(0);
  scalar_t peak = -std::numeric_limits<scalar_t>::infinity();
  int32_t has_nan = 0;
#pragma omp simd reduction(max : peak) reduction(| : has_nan)
  for (int64_t k = 0; k < n; ++k) {
    const scalar_t v = kAbsolute ? std::abs(x[k]) : x[k];
    peak = v > peak ? v : peak;
    has_nan |= static_cast<int32_t>(v != v);
  }
  return has_nan ? std::numeric_limits<scalar_t>::quiet_NaN() : peak;
}

template <bool kAbsolute, typename scalar_t>
int64_t first_equal(const scalar_t* x, int64_t a, int64_t e, scalar_t peak) {
  const bool nan = peak != peak;
  for (int64_t j = a; j < e; ++j) {
    const scalar_t v = kAbsolute ? std::abs(x[j]) : x[j];
    if (nan ? v != v : v == peak) return j;
  }
  return a;  // unreachable: the part holds its maximum
}

// Row range of part k (2b: block b's head, 2b + 1: its tail).
inline void part_range(int64_t k, const FrameSpec& s, int64_t& a, int64_t& e) {
  const int64_t H = s.hop_length, r = s.frame_length % H;
  const int64_t start = (k / 2) * H - s.pad_left;
  a = (k & 1) ? start + r : start;
  e = (k & 1) ? start + H : start + r;
}

// First maximum of frame t lying inside the row, from its parts' maxima.
template <bool kAbsolute, typename scalar_t>
int64_t interior_frame_argmax(const scalar_t* x, const scalar_t* mx, int64_t t,
                              const FrameSpec& s) {
  const int64_t q = s.frame_length / s.hop_length;
  const int64_t r = s.frame_length % s.hop_length;
  const int64_t k0 = r == 0 ? 2 * t + 1 : 2 * t;  // no heads when r = 0
  const int64_t step = r == 0 ? 2 : 1;
  const int64_t k1 = 2 * (t + q);                  // inclusive end: the head of block t + q
  int64_t best_k = -1;
  scalar_t best = scalar_t(0);
  for (int64_t k = k0; k <= k1; k += step) {
    const scalar_t v = mx[k];
    if (v != v) {  // the first NaN is the maximum
      best_k = k;
      best = v;
      break;
    }
    if (best_k < 0 || v > best) {
      best_k = k;
      best = v;
    }
  }
  int64_t a, e;
  part_range(best_k, s, a, e);
  return first_equal<kAbsolute>(x, a, e, best);
}

template <bool kRms, bool kEnv, bool kAbsolute, typename scalar_t>
void frame_features_backward_impl(const scalar_t* X, const scalar_t* W, const scalar_t* GE,
                                  scalar_t* G, scalar_t* MX, int64_t rows, const FrameSpec& spec) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  const int64_t T = spec.length, nf = spec.n_frames, N = spec.frame_length;
  const int64_t H = spec.hop_length, P = spec.pad_left;
  const int64_t q = N / H, rem = N % H;
  const int64_t nblk = ceil_div(T + P, H);
  const int64_t per_item = std::max<int64_t>(1, kChunkSamples / H);
  const int64_t chunks = ceil_div(nblk, per_item);
  const bool masked = spec.lengths != nullptr;

  // Pass 1: the hop-block weights times x, the part maxima, zeros past each row's length.
  auto pass1 = [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row = item / chunks;
      const FrameSpec own = row_spec(spec, row);
      const int64_t L = own.length, nfr = own.n_frames;
      const scalar_t* x = X + row * T;
      scalar_t* g = G + row * T;
      const scalar_t* w = kRms ? W + row * nf : nullptr;
      scalar_t* mx = kEnv ? MX + row * 2 * nblk : nullptr;
      const int64_t b0 = (item % chunks) * per_item;
      const int64_t b1 = std::min(nblk, b0 + per_item);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t start = b * H - P;
        for (int part = 0; part < 2; ++part) {
          const int64_t a = std::max<int64_t>(0, part ? start + rem : start);
          const int64_t e = std::min(L, part ? start + H : start + rem);
          if (a >= e) continue;
          const scalar_t wt = kRms ? static_cast<scalar_t>(
                                         block_weight<acc_t>(w, b, part == 0, q, nfr))
                                   : scalar_t(0);
          const bool zero = !kRms || (masked && wt == scalar_t(0));
          const scalar_t m = weight_part<kEnv, kAbsolute>(x + a, g + a, e - a, wt, zero);
          if (kEnv) mx[2 * b + part] = m;
        }
      }
      const int64_t lo = std::max<int64_t>(L, b0 * H - P), hi = std::min(T, b1 * H - P);
      if (hi > lo) std::fill(g + lo, g + hi, scalar_t(0));
    }
  };

  // Pass 2: padding fold-back and the envelope, row by row.
  const int64_t E = std::max(N, H);
  auto pass2 = [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> edge;
    for (int64_t row = begin; row < end; ++row) {
      const FrameSpec own = row_spec(spec, row);
      const int64_t L = own.length, nfr = own.n_frames;
      const scalar_t* x = X + row * T;
      scalar_t* g = G + row * T;
      const int64_t n_pad = n_padding_positions(own);
      if (kRms && n_pad > 0 && own.mode != PadMode::Constant) {
        const scalar_t* w = W + row * nf;
        // The samples padding can copy: [0, hs) and [L - ts, L).
        const int64_t hs = std::min(L, E), ts = std::min(L - hs, E);
        edge.resize(static_cast<size_t>(hs + ts));
        auto at = [&](int64_t j) -> int64_t { return j < hs ? j : (j >= L - ts ? hs + j - (L - ts) : -1); };
        for (int64_t j = 0; j < hs; ++j) edge[j] = static_cast<scalar_t>(sample_weight<acc_t>(w, j, own));
        for (int64_t j = L - ts; j < L; ++j) edge[at(j)] = static_cast<scalar_t>(sample_weight<acc_t>(w, j, own));
        for (int64_t k = 0; k < n_pad; ++k) {
          const int64_t p = padding_position(k, own);
          const int64_t j = source_index(p, own.pad_left, L, own.mode);
          const int64_t i = j < 0 ? -1 : at(j);
          if (i < 0) continue;
          edge[i] = static_cast<scalar_t>(static_cast<acc_t>(edge[i]) +
                                          overlap_sum<acc_t>(w, 1, 0, p, own));
        }
        auto put = [&](int64_t j) {
          const scalar_t wj = edge[at(j)];
          g[j] = masked && wj == scalar_t(0) ? scalar_t(0) : x[j] * wj;
        };
        for (int64_t j = 0; j < hs; ++j) put(j);
        for (int64_t j = L - ts; j < L; ++j) put(j);
      }
      if (kEnv) {
        const scalar_t* ge = GE + row * nf;
        const scalar_t* mx = MX + row * 2 * nblk;
        for (int64_t t = 0; t < nfr; ++t) {
          const int64_t j0 = t * H - P;
          int64_t j;
          if (j0 >= 0 && j0 + N <= L) {
            j = interior_frame_argmax<kAbsolute>(x, mx, t, own);
          } else {
            const int64_t p = frame_argmax_position<scalar_t>(x, 1, own, t, kAbsolute);
            j = source_index(p, own.pad_left, L, own.mode);
          }
          if (j < 0) continue;
          const scalar_t v = kAbsolute ? ge[t] * sign_of(x[j]) : ge[t];
          g[j] = g[j] + v;
        }
      }
    }
  };
  if (rows >= 4 * at::get_num_threads()) {
    // Enough rows: pass 2 of a row right after its pass 1, while the row is still in cache.
    at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        pass1(row * chunks, (row + 1) * chunks);
        pass2(row, row + 1);
      }
    });
  } else {
    at::parallel_for(0, rows * chunks, 1, pass1);
    at::parallel_for(0, rows, 1, pass2);
  }
}

at::Tensor frame_features_backward_cpu(const at::Tensor& x, const at::Tensor& rms,
                                       const at::Tensor& grad_rms,
                                       const at::Tensor& grad_envelope, const FrameSpec& spec,
                                       bool absolute) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const int64_t rows = x.size(0);
  const int64_t T = spec.length, nf = spec.n_frames, N = spec.frame_length;
  at::Tensor out = at::empty_like(x);
  if (rows == 0) return out;
  const bool do_rms = grad_rms.defined(), do_env = grad_envelope.defined();
  const int64_t nblk = ceil_div(T + spec.pad_left, spec.hop_length);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "audiofx_frame_features_backward_cpu", [&] {
    // The per-frame rms weights (O(output) scratch), as today's g / (N * rms) in x's dtype.
    at::Tensor w;
    if (do_rms) {
      w = at::empty({rows, nf}, x.options());
      const scalar_t* g = grad_rms.const_data_ptr<scalar_t>();
      const scalar_t* r = rms.const_data_ptr<scalar_t>();
      scalar_t* wd = w.data_ptr<scalar_t>();
      at::parallel_for(0, rows * nf, 65536, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) wd[i] = rms_frame_weight(g[i], r[i], N);
      });
    }
    at::Tensor mx;
    if (do_env) mx = at::empty({rows, 2 * nblk}, x.options());
    const scalar_t* X = x.const_data_ptr<scalar_t>();
    const scalar_t* W = do_rms ? w.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* GE = do_env ? grad_envelope.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* G = out.data_ptr<scalar_t>();
    scalar_t* MX = do_env ? mx.data_ptr<scalar_t>() : nullptr;
    auto run = [&](auto rms_c, auto env_c, auto abs_c) {
      frame_features_backward_impl<decltype(rms_c)::value, decltype(env_c)::value,
                                   decltype(abs_c)::value, scalar_t>(X, W, GE, G, MX, rows, spec);
    };
    using yes = std::true_type;
    using no = std::false_type;
    if (do_rms && do_env) {
      absolute ? run(yes{}, yes{}, yes{}) : run(yes{}, yes{}, no{});
    } else if (do_rms) {
      run(yes{}, no{}, no{});
    } else if (do_env) {
      absolute ? run(no{}, yes{}, yes{}) : run(no{}, yes{}, no{});
    } else {
      out.zero_();
    }
  });
  return out;
}

}  // namespace
}  // namespace audiofx

AUDIOFX_REGISTER_FRAME_FEATURES_BACKWARD(CPU, audiofx::frame_features_backward_cpu)
