// CPU kernels of spectral_stats (centroid and bandwidth of a magnitude spectrogram, two sweeps per
// frame from cache) and spectral_features (the same statistics straight from the signal: window,
// rfft and reduce chunks of frames that stay in cache, each thread on its own chunks, so the
// complex spectrogram is never whole).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_rfft.h>
#include <c10/util/complex.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <vector>

#include "../spectral_ops.h"
#include "spectral_cpu.h"

namespace audiofx {
namespace {

std::tuple<at::Tensor, at::Tensor> spectral_stats_cpu(const at::Tensor& S,
                                                      const std::optional<at::Tensor>& freq,
                                                      double bin_hz,
                                                      const std::optional<at::Tensor>& centroid,
                                                      const BandwidthArgs& bw) {
  TORCH_INTERNAL_ASSERT(S.device().is_cpu());
  const SpectrogramView v = spectrogram_view(S);
  const auto shape = stats_shape(S);
  at::Tensor cen = at::empty(shape, S.options());
  at::Tensor band = at::empty(shape, S.options());
  if (cen.numel() == 0) return {cen, band};
  const at::Tensor fc = freq.has_value() ? freq->contiguous() : at::Tensor();
  const at::Tensor gc = centroid.has_value() ? centroid->contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(S.scalar_type(), "audiofx_spectral_stats_cpu", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
    const auto sp = make_stats_params<acc_t>(bw, std::numeric_limits<scalar_t>::min());
    const std::vector<acc_t> f = cpu::frequency_table<acc_t>(
        fc.defined() ? fc.const_data_ptr<double>() : nullptr, v.n_bins, bin_hz);
    const scalar_t* s = v.s.const_data_ptr<scalar_t>();
    const double* given = gc.defined() ? gc.const_data_ptr<double>() : nullptr;
    scalar_t* c_out = cen.data_ptr<scalar_t>();
    scalar_t* b_out = band.data_ptr<scalar_t>();
    const int64_t nf = v.n_frames;
    cpu::with_power_kind(sp.kind, [&](auto kind) {
      constexpr PowerKind K = decltype(kind)::value;
      if (v.bin_stride == 1) {
        // Each frame's bins are contiguous (e.g. S = |rfft(frames)|.mT): a frame per step.
        const int64_t grain = std::max<int64_t>(1, 16384 / v.n_bins);
        at::parallel_for(0, v.rows * nf, grain, [&](int64_t begin, int64_t end) {
          for (int64_t g = begin; g < end; ++g) {
            const int64_t r = g / nf;
            const int64_t t = g % nf;
            acc_t c, b;
            cpu::column_stats<K>(s + r * v.row_stride + t * v.frame_stride, v.n_bins, f.data(),
                                 given != nullptr ? given + g : nullptr, sp, c, b);
            c_out[g] = static_cast<scalar_t>(c);
            b_out[g] = static_cast<scalar_t>(b);
          }
        });
        return;
      }
      const int64_t tiles = ceil_div(nf, cpu::kStatsTile);
      at::parallel_for(0, v.rows * tiles, 1, [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t r = item / tiles;
          const int64_t t0 = (item % tiles) * cpu::kStatsTile;
          const int64_t nt = std::min(cpu::kStatsTile, nf - t0);
          const scalar_t* base = s + r * v.row_stride + t0 * v.frame_stride;
          const double* g = given != nullptr ? given + r * nf + t0 : nullptr;
          const int64_t o = r * nf + t0;
          if (v.frame_stride == 1) {
            cpu::tile_stats<K, true>(base, v.bin_stride, 1, v.n_bins, nt, f.data(), g, sp,
                                     c_out + o, b_out + o);
          } else {
            cpu::tile_stats<K, false>(base, v.bin_stride, v.frame_stride, v.n_bins, nt, f.data(),
                                      g, sp, c_out + o, b_out + o);
          }
        }
      });
    });
  });
  return {cen, band};
}

std::tuple<at::Tensor, at::Tensor> spectral_features_cpu(const at::Tensor& x,
                                                         const at::Tensor& window,
                                                         const FrameSpec& spec,
                                                         const std::optional<at::Tensor>& freq,
                                                         double bin_hz, const BandwidthArgs& bw,
                                                         int64_t chunk_frames) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const at::Tensor wc = window.contiguous();
  const at::Tensor fc = freq.has_value() ? freq->contiguous() : at::Tensor();
  const int64_t N = spec.frame_length;
  const int64_t nf = spec.n_frames;
  const int64_t n_bins = n_bins_for(N);
  const int64_t rows = xc.numel() / spec.length;
  const auto shape = frames_shape(x, {nf});
  at::Tensor cen = at::empty(shape, xc.options());
  at::Tensor band = at::empty(shape, xc.options());
  const cpu::OwnFrames own(spec, rows);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_spectral_features_cpu", [&] {
    // Frames, FFT, magnitudes and sums all in acc_t (double): librosa's precision for float32.
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
    static_assert(std::is_same_v<acc_t, double>);
    const auto sp = make_stats_params<acc_t>(bw, std::numeric_limits<scalar_t>::min());
    const std::vector<acc_t> f = cpu::frequency_table<acc_t>(
        fc.defined() ? fc.const_data_ptr<double>() : nullptr, n_bins, bin_hz);
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    const acc_t* w = wc.const_data_ptr<acc_t>();
    scalar_t* c_out = cen.data_ptr<scalar_t>();
    scalar_t* b_out = band.data_ptr<scalar_t>();
    if (spec.lengths != nullptr) {
      // The statistics of a silent frame, which is what a frame past a clip's count holds.
      for (int64_t r = 0; r < rows; ++r) {
        std::fill(c_out + r * nf + own.count(r), c_out + (r + 1) * nf, scalar_t(0));
        std::fill(b_out + r * nf + own.count(r), b_out + (r + 1) * nf, scalar_t(0));
      }
    }
    const int64_t total = own.total();
    if (total == 0) return;
    const auto acc_dtype = c10::CppTypeToScalarType<acc_t>::value;
    const int64_t F = std::min(
        total, chunk_frames > 0 ? chunk_frames : cpu::auto_chunk_frames(N, sizeof(acc_t), total));
    const int64_t chunks = ceil_div(total, F);
    cpu::with_power_kind(sp.kind, [&](auto kind) {
      constexpr PowerKind K = decltype(kind)::value;
      const auto spectrum_stats = cpu::spectrum_stats_for_cpu<K, scalar_t>();
      const auto window_frames = cpu::window_frames_for_cpu<acc_t, scalar_t>();
      // One task per thread taking chunks from a shared counter (a thread slowed down by other
      // processes on its core takes fewer chunks), each with its buffers allocated once. Inside
      // the parallel region the FFT of a chunk runs on its thread (OpenMP does not nest).
      std::atomic<int64_t> next_chunk{0};
      const int64_t workers = std::min<int64_t>(chunks, at::get_num_threads());
      at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
        at::Tensor frames = at::empty({F, N}, xc.options().dtype(acc_dtype));
        std::vector<acc_t> mag(static_cast<size_t>(n_bins));
        for (int64_t chunk = next_chunk++; chunk < chunks; chunk = next_chunk++) {
          const int64_t v0 = chunk * F;
          const int64_t v1 = std::min(total, v0 + F);
          acc_t* buf = frames.data_ptr<acc_t>();
          own.for_each_run(v0, v1, [&](int64_t g, int64_t n, int64_t i) {
            window_frames(src, w, spec, g, n, buf + i * N);
          });
          // Not fft_rfft_out: on CPU it transforms into a temporary and copies that out.
          const at::Tensor spectrum = at::fft_rfft(frames.narrow(0, 0, v1 - v0), N, -1);
          TORCH_INTERNAL_ASSERT(spectrum.is_contiguous());
          const acc_t* z =
              reinterpret_cast<const acc_t*>(spectrum.const_data_ptr<c10::complex<acc_t>>());
          own.for_each_run(v0, v1, [&](int64_t g, int64_t n, int64_t i) {
            spectrum_stats(z + 2 * i * n_bins, n, n_bins, f.data(), sp, mag.data(), c_out + g,
                           b_out + g);
          });
        }
      });
    });
  });
  return {cen, band};
}

}  // namespace
}  // namespace audiofx

TORCH_LIBRARY_IMPL(audiofx, CPU, m) {
  m.impl("spectral_stats", &audiofx::spectral_stats_op<audiofx::spectral_stats_cpu>);
  m.impl("spectral_features", &audiofx::spectral_features_op<audiofx::spectral_features_cpu>);
}
