"""Benchmarks of DESIGN.md §6 and issue 12: audiofx against librosa, plain torch and the floors.

    audiofx bench [--repeats 5] [--full] [--only geometry,lengths] [--write-results PATH]
    python -m benchmarks.report          # the same, run from a checkout

One process runs every comparison interleaved (each timed round takes one sample of every
implementation in turn, so load drifts on a shared machine hit them alike) and prints a markdown
report, one section each:

* ``ops``: the median time per call of each implementation of each op on the two workloads of
  §6 (256 clips x 4 s and one 60 s clip, float32 at 22.05 kHz, N = n_fft = 2048, H = 512,
  center=True), its ratio to audiofx, its throughput in seconds of audio per second, its peak
  extra memory, and the §6 targets with their ratios;
* ``geometry``: ``frame_features`` for every frame/hop pair of issue 12 (coprime pairs and
  H > N included) against librosa, plain torch and ``dot``, with the peak extra memory, on the
  CPU and on CUDA where available;
* ``lengths``: ``frame_features``, ``spectral_features``, ``frame`` and ``stft`` with random
  per-row ``lengths`` in [T/2, T] against the plain call;
* ``loss`` (with ``--full`` or ``--only loss``): forward and forward + backward of
  :class:`audiofx.losses.MultiResolutionSTFTLoss` against the same loss on ``torch.stft``;
* ``sweep``: time vs clip length (0.5 s .. 10 min) and batch size (1 .. 1024), plotted (PNG);
* ``memory_long`` (with ``--full`` or ``--only``): the peak memory of melspectrogram, mfcc,
  rolloff, flatness, contrast and stft on one 2**26-sample recording against librosa (issue 14);
* ``cuda``: on a CUDA device, the kernels against a device-to-device copy (achieved GB/s) and
  cuFFT alone.

Modules, one concern each: :mod:`.workloads` (the signal and the §6 geometry),
:mod:`.implementations` (audiofx, librosa, plain torch and the floors, per op),
:mod:`.timing` (interleaved rounds, paired ratios), :mod:`.memory` (peak extra memory of one
call), :mod:`.targets` (the targets and their judgement), :mod:`.formatting` (markdown cells),
:mod:`.op_results`, :mod:`.geometry`, :mod:`.lengths`, :mod:`.loss`, :mod:`.size_sweep`,
:mod:`.long_memory` and :mod:`.cuda` (the sections: run + table), :mod:`.report` (the document)
and :mod:`.cli` (the command line).
"""
from .cli import add_arguments, add_subcommands, check_args, main, run, selected_sections
from .cuda import cuda_lines, run_cuda
from .formatting import fmt_memory, fmt_ms, fmt_rate, fmt_ratio
from .geometry import GEOMETRIES, GeometryResult, geometry_lines, geometry_table, run_geometry
from .implementations import (
    FLOORS,
    OPS,
    SPECTRAL_OPS,
    audiofx_ops,
    dot_floor,
    implementations,
    librosa_module,
    librosa_ops,
    pick_librosa,
    stack_clips,
    stft_frames,
    torch_amplitude_envelope,
    torch_centroid_bandwidth,
    torch_frame_features,
    torch_ops,
    torch_rms,
    torch_stft,
    torch_zero_crossing_rate,
)
from .lengths import (LENGTHS_OPS, LengthsResult, lengths_lines, lengths_table, random_lengths,
                      run_lengths)
from .long_memory import (LONG_FUNCTIONS, LONG_SAMPLES, LongMemoryResult, long_memory_lines,
                          long_peak_child, long_signal, run_long_memory)
from .loss import LossResult, loss_lines, run_loss, torch_stft_loss
from .memory import cuda_peak_memory, output_bytes, peak_child, peak_memory, rss_peak_of
from .op_results import (OpResult, max_rel_err, memory_targets, results_table, run_memory, run_ops,
                         targets_table)
from .report import DEFAULT_SECTIONS, SECTIONS, build_report, machine_description, merge_sections
from .size_sweep import SWEEP_BATCHES, SWEEP_LENGTHS_S, plot_sweep, run_sweep, sweep_table
from .targets import (GEOMETRY_TARGETS, LENGTHS_TARGETS, LOSS_TARGET, TARGETS, Target,
                      memory_bound_mib, memory_holds)
from .timing import (MIN_SPAN_S, SLOW_CALL_S, SLOW_ROUNDS, measured_ratio, paired_ratio, synced,
                     time_interleaved)
from .workloads import (
    BATCH_WORKLOAD,
    FRAME_LENGTH,
    HOP_LENGTH,
    SR,
    WORKLOADS,
    ZCR_THRESHOLD,
    make_signal,
    workload_seed,
)
