"""audiofx: fast, exact audio feature extraction for PyTorch.

Custom C++/CUDA torch ops (``torch.ops.audiofx.*``) behind librosa-compatible functions::

    import audiofx as afx
    ae, rms, zcr = afx.frame_features(x)          # x: (..., T) float tensor, any device
    feats = afx.spectral_features(x, sr=22050)    # {"centroid": ..., "bandwidth": ...}

See ``audiofx.functional`` for the shapes and the framing convention, ``audiofx.spectral`` for the
pure-torch spectral set (mel, MFCC, rolloff, flatness, contrast, dB).
"""
from . import _ops, spectral
from .functional import (
    FrameFeatures,
    amplitude_envelope,
    frame,
    frame_features,
    frame_lengths,
    frame_mask,
    get_window,
    num_frames,
    rms,
    spectral_bandwidth,
    spectral_centroid,
    spectral_features,
    stft,
    zero_crossing_rate,
)
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

# nn modules, models, losses and data sets load on first use (``audiofx.nn`` etc.), so that
# importing the feature functions stays light.
_LAZY_SUBMODULES = ("nn", "models", "data", "losses")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FrameFeatures",
    "amplitude_envelope",
    "amplitude_to_db",
    "frame",
    "frame_features",
    "frame_lengths",
    "frame_mask",
    "get_window",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
    "melspectrogram",
    "mfcc",
    "num_frames",
    "power_to_db",
    "rms",
    "rms_from_spectrogram",
    "spectral",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_contrast",
    "spectral_features",
    "spectral_flatness",
    "spectral_rolloff",
    "stft",
    "zero_crossing_rate",
]
