"""librosa-compatible functions: librosa's signatures, numpy in and numpy out, librosa's output
shapes and dtypes, computed by audiofx's kernels.

    from audiofx.compat import librosa as alibrosa
    alibrosa.feature.rms(y=y)                 # same as librosa.feature.rms(y=y)
    alibrosa.util.frame(y, frame_length=2048, hop_length=512)

Differences from librosa, all documented per function: results are new arrays, never views; sums
accumulate in float64 (librosa's ``rms`` accumulates in ``dtype``, float32 by default), so
float32 results agree with librosa to float32 rounding, not bit for bit.
"""
from . import feature, util
from .feature import rms, zero_crossing_rate
from .util import frame
from . import core
from .core import stft

__all__ = ["feature", "util", "rms", "zero_crossing_rate", "frame"]
__all__ += ["core", "stft"]
from . import filters
from ._db import amplitude_to_db, power_to_db

__all__ += ["filters", "power_to_db", "amplitude_to_db"]
