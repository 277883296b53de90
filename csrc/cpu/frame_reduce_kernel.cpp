// CPU kernels of the frame ops. The reductions read each (row, chunk of frames) once as
// hop-aligned blocks, each reduced to its whole and head stats and combined per frame
// (csrc/frame_stats.h); `frame` materialises the frames. Both frame row r as its own clip
// (framing.h row_spec) and write zeros past its frame count in the same pass.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "../frame_ops.h"
#include "frame_reduce_simd.h"

namespace audiofx {
namespace {

// Frames per work item: enough samples (~64K) to amortise the q blocks that neighbouring chunks
// both read, few enough to balance rows of very different counts, and a block buffer that stays
// L2-sized (<= kMaxChunkBlocks, unless a frame alone spans more blocks: then at least q frames,
// so that re-read blocks stay under half of the item's).
constexpr int64_t kMaxChunkBlocks = 8192;

int64_t frames_per_chunk(const HopBlocks& hb) {
  const int64_t by_samples = std::max<int64_t>(1, (int64_t{1} << 16) / hb.hop);
  const int64_t by_blocks = std::max(kMaxChunkBlocks - hb.q, hb.q);
  return std::max<int64_t>(1, std::min(by_samples, by_blocks));
}

// The blocks of frames [f0, f1) of one row (`rs`: its own framing) into whole[i] and head[i]
// (block f0 + i), with the portable reducers: the interior ones where the block and the sample
// before it lie inside the clip, reduce_segment through the index map elsewhere.
template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE void reduce_blocks_generic(const scalar_t* row, const FrameSpec& rs,
                                                 PadMode zcr_mode, const HopBlocks& hb,
                                                 int64_t f0, int64_t f1, int32_t features,
                                                 const ReduceParams& rp,
                                                 BlockStats<acc_t, scalar_t>* whole,
                                                 BlockStats<acc_t, scalar_t>* head) {
  const int64_t nb = hb.blocks_for(f0, f1);
  for (int64_t i = 0; i < nb; ++i) {
    const int64_t k = f0 + i;
    const int64_t n = hb.read_length(k, f1);
    const int64_t p0 = k * hb.hop;
    const int64_t j0 = p0 - rs.pad_left;
    if (j0 >= 1 && j0 + n <= rs.length) {
      whole[i] = cpu::reduce_interior_split<scalar_t, acc_t>(row + j0, n, hb.r, features, rp,
                                                             head + i);
      continue;
    }
    auto segment = [&](int64_t p, int64_t len) {
      return reduce_segment<scalar_t, acc_t, scalar_t>(row, 1, rs, zcr_mode, p, len, features,
                                                       rp);
    };
    if (hb.r == 0) {
      whole[i] = segment(p0, n);
    } else {
      head[i] = segment(p0, hb.r);
      whole[i] = n == hb.r ? head[i] : append_stats(head[i], segment(p0 + hb.r, n - hb.r));
    }
  }
}

// A work item's buffers (one set per thread): the block stats of a chunk, its frames' sums of
// squares and crossing counts, and the edge-block gather of the float32 intrinsics path.
template <typename scalar_t, typename acc_t>
struct ChunkBuffers {
  BlockStats<acc_t, scalar_t>* whole;
  BlockStats<acc_t, scalar_t>* head;
  acc_t* sumsq;
  int32_t* crossings;
  scalar_t* scratch;
};

// The outputs of a chunk's first frame (nullptr: not asked for).
template <typename scalar_t>
struct FrameOutputs {
  scalar_t* peak;
  scalar_t* rms;
  scalar_t* zcr;
};

// The n frames of a chunk from its blocks: peaks written, sums and counts left for the finish.
template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE void combine_chunk(const ChunkBuffers<scalar_t, acc_t>& buf,
                                         const HopBlocks& hb, int64_t n, scalar_t* peak) {
  for (int64_t i = 0; i < n; ++i) {
    const BlockStats<acc_t, scalar_t> f = combine_frame(buf.whole + i, buf.head + i, hb);
    if (peak) peak[i] = f.peak;
    buf.sumsq[i] = f.sumsq;
    buf.crossings[i] = f.crossings;
  }
}

// Frames [f0, f1) of one row (`rs`: its own framing) into `out`.
template <typename scalar_t, typename acc_t>
using ChunkFn = void (*)(const scalar_t* row, const FrameSpec& rs, PadMode zcr_mode,
                         const HopBlocks& hb, int64_t f0, int64_t f1, int32_t features,
                         const ReduceParams& rp, const ChunkBuffers<scalar_t, acc_t>& buf,
                         const FrameOutputs<scalar_t>& out);

template <typename scalar_t, typename acc_t>
AUDIOFX_ALWAYS_INLINE void chunk_portable(const scalar_t* row, const FrameSpec& rs,
                                          PadMode zcr_mode, const HopBlocks& hb, int64_t f0,
                                          int64_t f1, int32_t features, const ReduceParams& rp,
                                          const ChunkBuffers<scalar_t, acc_t>& buf,
                                          const FrameOutputs<scalar_t>& out) {
  reduce_blocks_generic(row, rs, zcr_mode, hb, f0, f1, features, rp, buf.whole, buf.head);
  combine_chunk(buf, hb, f1 - f0, out.peak);
  cpu::finish_frames(buf.sumsq, buf.crossings, f1 - f0, hb.frame, out.rms, out.zcr);
}

template <typename scalar_t, typename acc_t>
void chunk_generic(const scalar_t* row, const FrameSpec& rs, PadMode zcr_mode,
                   const HopBlocks& hb, int64_t f0, int64_t f1, int32_t features,
                   const ReduceParams& rp, const ChunkBuffers<scalar_t, acc_t>& buf,
                   const FrameOutputs<scalar_t>& out) {
  chunk_portable(row, rs, zcr_mode, hb, f0, f1, features, rp, buf, out);
}

#ifdef AUDIOFX_HAVE_AVX2_PATH
using Block32 = BlockStats<double, float>;

// Padded positions p0 - 1 .. p0 + n - 1 of a row into scratch[0 .. n]: the part inside the clip
// copied, the padding either side filled (constant, edge) or mapped (reflect, wrap);
// scratch[0] = 0 at p0 = 0, which has no sample before it.
inline void gather_edge(const float* row, const FrameSpec& rs, PadMode mode, int64_t p0,
                        int64_t n, float* scratch) {
  const int64_t T = rs.length;
  const int64_t j0 = p0 - 1 - rs.pad_left;  // row index of scratch[0]
  const int64_t k_lo = std::clamp<int64_t>(-j0, 0, n + 1);
  const int64_t k_hi = std::clamp<int64_t>(T - j0, k_lo, n + 1);
  if (mode == PadMode::Constant || mode == PadMode::Edge) {
    std::fill(scratch, scratch + k_lo, mode == PadMode::Edge ? row[0] : 0.0f);
    std::fill(scratch + k_hi, scratch + n + 1, mode == PadMode::Edge ? row[T - 1] : 0.0f);
  } else {
    for (int64_t k = 0; k < k_lo; ++k) {
      scratch[k] = padded_sample(row, 1, p0 - 1 + k, rs.pad_left, T, mode);
    }
    for (int64_t k = k_hi; k <= n; ++k) {
      scratch[k] = padded_sample(row, 1, p0 - 1 + k, rs.pad_left, T, mode);
    }
  }
  if (k_hi > k_lo) std::memcpy(scratch + k_lo, row + j0 + k_lo, sizeof(float) * (k_hi - k_lo));
  if (p0 == 0) scratch[0] = 0.0f;
}

using SplitF32 = Block32 (*)(const float*, int64_t, int64_t, float, Block32*);

// The float32 blocks with one of the intrinsics reducers (frame_reduce_simd.h). A block touching
// the padding (or the clip's first sample, which has no sample before it) is gathered into
// `scratch` (H + 1 floats) and reduced by the same code: once with the value padding, once more
// with the crossing padding when that differs (e.g. constant vs edge).
template <SplitF32 kReduce>
AUDIOFX_ALWAYS_INLINE void reduce_blocks_f32(const float* row, const FrameSpec& rs,
                                             PadMode zcr_mode, const HopBlocks& hb, int64_t f0,
                                             int64_t f1, float thr, Block32* whole,
                                             Block32* head, float* scratch) {
  const int64_t nb = hb.blocks_for(f0, f1);
  for (int64_t i = 0; i < nb; ++i) {
    const int64_t k = f0 + i;
    const int64_t n = hb.read_length(k, f1);
    const int64_t p0 = k * hb.hop;
    const int64_t j0 = p0 - rs.pad_left;
    if (j0 >= 1 && j0 + n <= rs.length) {
      whole[i] = kReduce(row + j0, n, hb.r, thr, head + i);
      continue;
    }
    gather_edge(row, rs, rs.mode, p0, n, scratch);
    whole[i] = kReduce(scratch + 1, n, hb.r, thr, head + i);
    if (zcr_mode != rs.mode) {
      gather_edge(row, rs, zcr_mode, p0, n, scratch);
      Block32 zh = empty_block<double, float>();
      const Block32 zw = kReduce(scratch + 1, n, hb.r, thr, &zh);
      whole[i].crossings = zw.crossings;
      whole[i].left_crossing = zw.left_crossing;
      if (hb.r > 0) {
        head[i].crossings = zh.crossings;
        head[i].left_crossing = zh.left_crossing;
      }
    }
    if (p0 == 0) {  // nothing before the first padded sample
      whole[i].left_crossing = 0;
      if (hb.r > 0) head[i].left_crossing = 0;
    }
  }
}

// One entry per instruction set (and, for float32, per (absolute, zero_pos)): `flatten` inlines
// the block loop and its reducers into it, so the hot loop is compiled for that target only.
using Buffers32 = ChunkBuffers<float, double>;

template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX2_TARGET __attribute__((flatten)) void chunk_f32_avx2(
    const float* row, const FrameSpec& rs, PadMode zcr_mode, const HopBlocks& hb, int64_t f0,
    int64_t f1, int32_t /*features*/, const ReduceParams& rp, const Buffers32& buf,
    const FrameOutputs<float>& out) {
  reduce_blocks_f32<&cpu::reduce_split_f32_avx2<kAbsolute, kZeroPos>>(
      row, rs, zcr_mode, hb, f0, f1, static_cast<float>(rp.threshold), buf.whole, buf.head,
      buf.scratch);
  combine_chunk(buf, hb, f1 - f0, out.peak);
  cpu::finish_frames_f32_avx2(buf.sumsq, buf.crossings, f1 - f0, hb.frame, out.rms,
                              out.zcr);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC bug 105593: frame_reduce_simd.h
template <bool kAbsolute, bool kZeroPos>
AUDIOFX_AVX512_TARGET __attribute__((flatten)) void chunk_f32_avx512(
    const float* row, const FrameSpec& rs, PadMode zcr_mode, const HopBlocks& hb, int64_t f0,
    int64_t f1, int32_t /*features*/, const ReduceParams& rp, const Buffers32& buf,
    const FrameOutputs<float>& out) {
  reduce_blocks_f32<&cpu::reduce_split_f32_avx512<kAbsolute, kZeroPos>>(
      row, rs, zcr_mode, hb, f0, f1, static_cast<float>(rp.threshold), buf.whole, buf.head,
      buf.scratch);
  combine_chunk(buf, hb, f1 - f0, out.peak);
  cpu::finish_frames_f32_avx512(buf.sumsq, buf.crossings, f1 - f0, hb.frame,
                                out.rms, out.zcr);
}
#pragma GCC diagnostic pop

template <typename scalar_t, typename acc_t>
AUDIOFX_AVX2_TARGET void chunk_generic_avx2(const scalar_t* row, const FrameSpec& rs,
                                            PadMode zcr_mode, const HopBlocks& hb, int64_t f0,
                                            int64_t f1, int32_t features,
                                            const ReduceParams& rp,
                                            const ChunkBuffers<scalar_t, acc_t>& buf,
                                            const FrameOutputs<scalar_t>& out) {
  chunk_portable(row, rs, zcr_mode, hb, f0, f1, features, rp, buf, out);
}

// The instruction set the CPU kernels use (these float32 frame kernels and, through
// cpu_isa_level(), the spectral statistics of spectral_cpu.h): the best the CPU has, or the one
// AUDIOFX_CPU_ISA names ("baseline", "avx2", "avx512"; read once; a set the CPU lacks is not
// used), so that every path can be tested on one machine.
enum class CpuIsa { Baseline, Avx2, Avx512 };

CpuIsa detect_cpu_isa() {
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("popcnt");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  CpuIsa best = avx512 ? CpuIsa::Avx512 : avx2 ? CpuIsa::Avx2 : CpuIsa::Baseline;
  if (const char* want = std::getenv("AUDIOFX_CPU_ISA")) {
    const std::string w(want);
    if (w == "baseline") {
      best = CpuIsa::Baseline;
    } else if (w == "avx2") {
      if (avx2) best = CpuIsa::Avx2;
    } else if (w != "avx512") {
      TORCH_WARN("audiofx: AUDIOFX_CPU_ISA must be one of 'baseline', 'avx2', 'avx512', got '",
                 w, "'; using the best the CPU has");
    }
  }
  return best;
}

CpuIsa cpu_isa() {
  static const CpuIsa isa = detect_cpu_isa();
  return isa;
}
#endif  // AUDIOFX_HAVE_AVX2_PATH

// The chunk reducer for this call: float32 segments of 16 samples or more (every feature set:
// the pass is memory-bound, so the single-feature ops take it too) go to the intrinsics of the
// CPU's instruction set; everything else to the portable loops, built for AVX2 where it exists.
template <typename scalar_t, typename acc_t>
ChunkFn<scalar_t, acc_t> chunk_entry(const HopBlocks& hb, const ReduceParams& rp) {
#ifdef AUDIOFX_HAVE_AVX2_PATH
  const CpuIsa isa = cpu_isa();
  if (isa == CpuIsa::Baseline) return &chunk_generic<scalar_t, acc_t>;
  if constexpr (std::is_same_v<scalar_t, float> && std::is_same_v<acc_t, double>) {
    if ((hb.q > 0 ? hb.hop : hb.r) >= 16) {
      static constexpr ChunkFn<float, double> avx2[2][2] = {
          {&chunk_f32_avx2<false, false>, &chunk_f32_avx2<false, true>},
          {&chunk_f32_avx2<true, false>, &chunk_f32_avx2<true, true>}};
      static constexpr ChunkFn<float, double> avx512[2][2] = {
          {&chunk_f32_avx512<false, false>, &chunk_f32_avx512<false, true>},
          {&chunk_f32_avx512<true, false>, &chunk_f32_avx512<true, true>}};
      return (isa == CpuIsa::Avx512 ? avx512 : avx2)[rp.absolute][rp.zero_pos];
    }
  }
  return &chunk_generic_avx2<scalar_t, acc_t>;
#else
  (void)hb;
  (void)rp;
  return &chunk_generic<scalar_t, acc_t>;
#endif
}

template <typename scalar_t>
void reduce_rows_cpu(const scalar_t* x, int64_t rows, const FrameSpec& spec, PadMode zcr_mode,
                     int32_t features, const ReduceParams& rp, scalar_t* peak, scalar_t* rms,
                     scalar_t* zcr) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  using Block = BlockStats<acc_t, scalar_t>;
  const int64_t T = spec.length;
  const int64_t nf = spec.n_frames;
  const HopBlocks hb = hop_blocks(spec.frame_length, spec.hop_length);
  zcr_mode = effective_zcr_mode(spec.mode, zcr_mode);
  int64_t fpc = frames_per_chunk(hb);
  int64_t chunks = ceil_div(nf, fpc);
  // Few work items (one long clip: 21 chunks): parallel_for gives each thread a contiguous
  // share, so one thread would do a whole chunk more than another (11 vs 10 on 2 threads).
  // Rounding each row's chunk count up to a multiple of the thread count evens the shares.
  const int64_t threads = at::get_num_threads();
  if (threads > 1 && chunks > 1 && rows * chunks < 16 * threads) {
    fpc = ceil_div(nf, ceil_div(chunks, threads) * threads);
    chunks = ceil_div(nf, fpc);
  }
  const ChunkFn<scalar_t, acc_t> reduce_chunk = chunk_entry<scalar_t, acc_t>(hb, rp);
  if (!(features & kPeak)) peak = nullptr;
  if (!(features & kRms)) rms = nullptr;
  if (!(features & kZcr)) zcr = nullptr;
  at::parallel_for(0, rows * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<Block> whole(static_cast<size_t>(fpc + hb.q));
    std::vector<Block> head(static_cast<size_t>(fpc + hb.q));
    std::vector<acc_t> sumsq(static_cast<size_t>(fpc));
    std::vector<int32_t> crossings(static_cast<size_t>(fpc));
    // Edge blocks of the float32 intrinsics path: H + 1 samples (r + 1 when only heads are read).
    std::vector<scalar_t> scratch(static_cast<size_t>((hb.q > 0 ? hb.hop : hb.r) + 1));
    const ChunkBuffers<scalar_t, acc_t> buf{whole.data(), head.data(), sumsq.data(),
                                            crossings.data(), scratch.data()};
    auto at = [](scalar_t* p, int64_t o) { return p ? p + o : nullptr; };
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / chunks;
      const int64_t f0 = (item % chunks) * fpc;
      const int64_t f1 = std::min(nf, f0 + fpc);
      const FrameSpec rs = row_spec(spec, r);
      const int64_t fe = std::max(f0, std::min(f1, rs.n_frames));  // past it: zeros
      const int64_t o = r * nf + f0;
      if (fe > f0) {
        reduce_chunk(x + r * T, rs, zcr_mode, hb, f0, fe, features, rp, buf,
                     FrameOutputs<scalar_t>{at(peak, o), at(rms, o), at(zcr, o)});
      }
      for (scalar_t* p : {peak, rms, zcr}) {
        if (p) std::fill(p + r * nf + fe, p + r * nf + f1, scalar_t(0));
      }
    }
  });
}

std::array<at::Tensor, 3> frame_reduce_cpu(const at::Tensor& x, const FrameSpec& spec,
                                           PadMode zcr_mode, int32_t features,
                                           const ReduceParams& params) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const int64_t rows = xc.numel() / spec.length;
  const auto shape = frames_shape(x, {spec.n_frames});
  std::array<at::Tensor, 3> out;
  const int32_t bits[3] = {kPeak, kRms, kZcr};
  for (int i = 0; i < 3; ++i) {
    if (features & bits[i]) out[i] = at::empty(shape, xc.options());
  }
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_frame_reduce_cpu", [&] {
    auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
    reduce_rows_cpu<scalar_t>(xc.const_data_ptr<scalar_t>(), rows, spec, zcr_mode, features,
                              params, ptr(out[kPeakSlot]), ptr(out[kRmsSlot]),
                              ptr(out[kZcrSlot]));
  });
  return out;
}

at::Tensor frame_cpu(const at::Tensor& x, const FrameSpec& spec) {
  TORCH_INTERNAL_ASSERT(x.device().is_cpu());
  const at::Tensor xc = x.contiguous();
  const int64_t T = spec.length;
  const int64_t N = spec.frame_length;
  const int64_t nf = spec.n_frames;
  const int64_t rows = xc.numel() / T;
  at::Tensor out = at::empty(frames_shape(x, {nf, N}), xc.options());
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "audiofx_frame_cpu", [&] {
    const scalar_t* src = xc.const_data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, 16384 / N);
    at::parallel_for(0, rows * nf, grain, [&](int64_t begin, int64_t end) {
      int64_t r = -1;
      FrameSpec rs = spec;
      for (int64_t item = begin; item < end; ++item) {
        if (item / nf != r) {
          r = item / nf;
          rs = row_spec(spec, r);
        }
        const int64_t t = item - r * nf;
        scalar_t* o = dst + item * N;
        if (t >= rs.n_frames) {  // past the clip's own frames
          std::memset(o, 0, sizeof(scalar_t) * N);
          continue;
        }
        const scalar_t* row = src + r * T;
        const int64_t p0 = t * spec.hop_length;
        const int64_t j0 = p0 - rs.pad_left;
        if (j0 >= 0 && j0 + N <= rs.length) {
          std::memcpy(o, row + j0, sizeof(scalar_t) * N);
        } else {
          for (int64_t n = 0; n < N; ++n) {
            o[n] = padded_sample(row, 1, p0 + n, rs.pad_left, rs.length, rs.mode);
          }
        }
      }
    });
  });
  return out;
}

}  // namespace

int cpu_isa_level() {
#ifdef AUDIOFX_HAVE_AVX2_PATH
  return static_cast<int>(cpu_isa());
#else
  return 0;
#endif
}

const char* cpu_isa_name() {
#ifdef AUDIOFX_HAVE_AVX2_PATH
  switch (cpu_isa()) {
    case CpuIsa::Avx512:
      return "avx512";
    case CpuIsa::Avx2:
      return "avx2";
    case CpuIsa::Baseline:
      break;
  }
#endif
  return "baseline";
}

}  // namespace audiofx

AUDIOFX_REGISTER_FRAME_OPS(CPU, audiofx::frame_cpu, audiofx::frame_reduce_cpu)
