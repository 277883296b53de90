"""Public, stateless feature functions: argument checks, librosa's defaults, then one op call.

Every function takes a real floating tensor ``x`` of shape ``(..., T)`` (any leading dims are a
batch; samples in the last dim, in arbitrary units, typically [-1, 1]) on any device, and returns
contiguous tensors of ``x``'s dtype. Frame ``t`` covers samples ``[t*hop_length, t*hop_length +
frame_length)`` of the padded signal (DESIGN.md §2):

* ``center=True`` pads ``frame_length // 2`` samples on both sides with ``pad_mode`` in
  ``"constant"`` (zeros), ``"edge"``, ``"reflect"``, ``"wrap"`` (numpy's names), giving
  ``1 + (T + 2*(N//2) - N) // H`` frames — librosa's convention;
* ``center=False, pad_mode="wrap"`` completes the last frame with ``x[0], x[1], ...`` (end-wrap),
  giving ``1 + ceil(max(T - N, 0) / H)`` frames, so no sample is dropped;
* ``center=False, pad_mode=None`` does not pad (``1 + (T - N) // H`` frames, needs ``T >= N``).
  As in librosa, other pad modes are ignored without centring (no padding).

Padding is virtual in the kernels: the signal is read once and never copied padded. Devices: CPU
(float32, float64) and CUDA (also float16, bfloat16, accumulating in float).

Variable-length batches: every frame-level function takes ``lengths``, an integer tensor of shape
``x.shape[:-1]`` (for a right-padded ``(B, T)`` batch: ``(B,)``, on any device) of the valid
samples of each row, in ``[1, T]``. Each row is then computed as if it were ``x[b, :lengths[b]]``
alone: centre padding and end-wrap apply at the row's own end, and no value past ``lengths[b]``
reaches the result (the batch padding may hold anything, NaN included). The output keeps the shape
of the full-T call; frames ``t >= frame_lengths[b]`` are zero, and the function returns
``(result, frame_lengths)`` with ``frame_lengths`` (int64, ``lengths``' shape) the frame count of
each clip alone (:func:`frame_lengths`; :func:`frame_mask` gives the boolean mask).

How, and what it costs: ``lengths`` is data the kernels read, like ``x`` (DESIGN §7): each
row is framed with its own length inside the kernel, its frames past its own count written as
zeros; no host sync, no index map, no extra pass over the output, so a variable-length call costs
about what the plain call does. Differentiable (the backward ops take the same lengths: nothing
flows to the samples past a row's length) and compiles with ``torch.compile(fullgraph=True)``.
The range checks (a ``ValueError`` for values outside ``[1, T]``, ``<= frame_length // 2`` with
``reflect``, ``< frame_length`` without padding) run on lengths held on the CPU, outside
``torch.compile``: there they cost no device sync. Lengths on an accelerator, and every value
under compile, are clamped into ``[1, T]`` by the kernels instead, so no value reads outside its
row.

Modules: :mod:`~audiofx.functional.frame` (framing and the frame features),
:mod:`~audiofx.functional.spectral` (the STFT and the spectral statistics),
:mod:`~audiofx.functional.checks` (the argument checks every function starts with).
"""

from .frame import __all__ as _FRAME_ALL
from .frame import (
    FrameFeatures,
    amplitude_envelope,
    frame,
    frame_features,
    frame_lengths,
    frame_mask,
    num_frames,
    rms,
    zero_crossing_rate,
)
from .spectral import __all__ as _SPECTRAL_ALL
from .spectral import (
    SPECTRAL_FEATURES,
    get_window,
    magnitude_spectrogram,
    spectral_bandwidth,
    spectral_centroid,
    spectral_features,
    stft,
)

# The public API is the submodules' (one list each, not a second copy here).
__all__ = _FRAME_ALL + _SPECTRAL_ALL
