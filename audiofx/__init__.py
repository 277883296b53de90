"""audiofx: fast, exact audio feature extraction for PyTorch.

Custom C++/CUDA torch ops (``torch.ops.audiofx.*``) behind librosa-compatible functions::

    import audiofx as afx
    ae, rms, zcr = afx.frame_features(x)          # x: (..., T) float tensor, any device

See ``audiofx.functional`` for the shapes and the framing convention.
"""
from . import _ops
from .functional import (
    FrameFeatures,
    amplitude_envelope,
    frame,
    frame_features,
    num_frames,
    rms,
    zero_crossing_rate,
)

from .functional import (
    get_window,
    spectral_bandwidth,
    spectral_centroid,
    spectral_features,
    stft,
)

from . import spectral
from .spectral import (
    amplitude_to_db,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    melspectrogram,
    mfcc,
    power_to_db,
    rms_from_spectrogram,
    spectral_contrast,
    spectral_flatness,
    spectral_rolloff,
)

__version__ = "0.1.0"

__all__ = [
    "FrameFeatures",
    "amplitude_envelope",
    "frame",
    "frame_features",
    "num_frames",
    "rms",
    "zero_crossing_rate",
]
__all__ += [
    "get_window",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_features",
    "stft",
]
__all__ += [
    "amplitude_to_db",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
    "melspectrogram",
    "mfcc",
    "power_to_db",
    "rms_from_spectrogram",
    "spectral",
    "spectral_contrast",
    "spectral_flatness",
    "spectral_rolloff",
]
