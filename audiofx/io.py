"""Reading audio files: decode (soundfile / libsndfile), mix to mono, resample (soxr).

Used by the data sets (:mod:`audiofx.data`) and the command line (``audiofx extract/plot/info``).
Decoding is delegated to libsndfile (through ``soundfile``: wav, flac, ogg/vorbis, opus, mp3 and
the rest of its formats) and resampling to libsoxr (``soxr``, the "HQ" quality that librosa's
default ``soxr_hq`` uses): both are well-kept libraries that do this better than code of our own.

Every failure to produce samples raises :class:`AudioDecodeError` with a reason a person can act
on ("empty file (0 bytes)", "truncated: ...", "not an audio file: ..."), so that batch jobs can
record it per file and go on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ._audio_header import declared_frames

__all__ = ["AudioDecodeError", "AudioInfo", "AUDIO_EXTENSIONS", "display_path", "info", "load",
           "resample"]

#: File name extensions treated as audio when a folder is scanned (lower case, with the dot).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au")


class AudioDecodeError(ValueError):
    """A file that could not be decoded into samples; ``reason`` says why, ``path`` which."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: ``frames`` samples per channel at ``sample_rate`` Hz."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def display_path(path) -> str:
    """``path`` (str, bytes or path-like) as text any terminal or UTF-8 file can take: bytes of
    a name that are not valid UTF-8 (kept by ``os.fsdecode`` as surrogates, which a strict
    UTF-8 stream refuses) shown as ``\\xNN``."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def _soundfile():
    import soundfile

    return soundfile


def _check_path(path) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioDecodeError(path, "no such file")
    if os.path.isdir(path):
        raise AudioDecodeError(path, "is a folder, not a file")
    if os.path.getsize(path) == 0:
        raise AudioDecodeError(path, "empty file (0 bytes)")
    return path


def _native(path: str):
    """The path as libsndfile takes it: bytes on POSIX, so that a name that is not valid UTF-8
    (Latin-1 bytes from an old archive: ``os.fsdecode`` keeps them as surrogates) opens as the
    file system spells it; soundfile would encode a str strictly and fail."""
    return os.fsencode(path) if os.name == "posix" else path


def info(path) -> AudioInfo:
    """The header of an audio file (no samples decoded).

    Raises:
        AudioDecodeError: missing, empty, or not a format libsndfile reads.
    """
    sf = _soundfile()
    path = _check_path(path)
    try:
        i = sf.info(_native(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioDecodeError(path, f"not an audio file libsndfile can read ({e})") from e
    return AudioInfo(path, int(i.samplerate), int(i.channels), int(i.frames), str(i.format),
                     str(i.subtype))


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``y`` (``(T,)`` or ``(channels, T)``) from ``orig_sr`` to ``target_sr`` Hz with
    libsoxr's high-quality filter; returns float32 (``(T', )`` / ``(channels, T')``)."""
    if orig_sr == target_sr:
        return np.ascontiguousarray(y, dtype=np.float32)
    import soxr

    if y.ndim == 1:
        return soxr.resample(y.astype(np.float32), orig_sr, target_sr, quality="HQ")
    # soxr takes (frames, channels).
    return np.ascontiguousarray(
        soxr.resample(np.ascontiguousarray(y.T, dtype=np.float32), orig_sr, target_sr,
                      quality="HQ").T)


#: Bytes of float32 samples read in one call; beyond it (and beyond what the file's size can
#: hold uncompressed) a file is read in blocks, so that a damaged header declaring 2**40 frames
#: costs what the file holds, not an allocation of what it claims.
_READ_BLOCK_BYTES = 64 << 20


def _read_frames(f, want: int, hdr: AudioInfo) -> np.ndarray:
    """Up to ``want`` frames of the open file ``f`` as float32 ``(frames, channels)``."""
    channels = max(1, hdr.channels)
    plausible = max(_READ_BLOCK_BYTES, 64 * os.path.getsize(hdr.path))
    if want * channels * 4 <= plausible:
        return f.read(frames=want, dtype="float32", always_2d=True)
    block = max(1, _READ_BLOCK_BYTES // (channels * 4))
    parts, got = [], 0
    while got < want:
        part = f.read(frames=min(block, want - got), dtype="float32", always_2d=True)
        if part.shape[0] == 0:
            break
        parts.append(part)
        got += part.shape[0]
    if not parts:
        return np.zeros((0, channels), dtype=np.float32)
    return np.concatenate(parts)


def load(path, sr: Optional[int] = None, mono: bool = True,
         max_seconds: Optional[float] = None) -> Tuple[np.ndarray, int]:
    """Decode an audio file into float32 samples in [-1, 1].

    Args:
        path: a file in any format libsndfile reads (wav, flac, ogg, opus, mp3, ...).
        sr: target sample rate in Hz (resampled with soxr "HQ"), or None to keep the file's.
        mono: mix the channels down by averaging (``(T,)``); else ``(channels, T)``.
        max_seconds: read at most this much from the start (None: all).

    Returns:
        ``(y, sample_rate)``: ``y`` is float32 ``(T,)`` (mono) or ``(channels, T)``.

    Raises:
        AudioDecodeError: missing, empty, not audio, holding no samples, or truncated (fewer
        samples than its header declares, or a decoder error part-way).
    """
    sf = _soundfile()
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, int) or sr < 1):
        raise ValueError(f"sr must be an int >= 1 (Hz) or None, got {sr!r}")
    if max_seconds is not None and (isinstance(max_seconds, bool)
                                    or not isinstance(max_seconds, (int, float))
                                    or not 0 < max_seconds < float("inf")):
        raise ValueError(f"max_seconds must be a finite number > 0 or None, got {max_seconds!r}")
    hdr = info(path)
    want = hdr.frames
    limit = None if max_seconds is None else int(round(max_seconds * hdr.sample_rate))
    if limit is not None:
        want = min(want, limit)
    try:
        with sf.SoundFile(_native(hdr.path)) as f:
            data = _read_frames(f, want, hdr)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioDecodeError(hdr.path, f"truncated or corrupt: decoding failed ({e})") from e
    if data.shape[0] == 0:
        raise AudioDecodeError(hdr.path, "no audio samples")
    # A file cut short: fewer frames than its header declares. libsndfile's own count is exact
    # for FLAC (STREAMINFO) but follows the file size for WAV, AIFF and AU, whose headers are
    # read separately (PCM, float, A-law and mu-law encodings alike).
    declared = hdr.frames if hdr.format == "FLAC" else declared_frames(hdr.path)
    if declared is not None and limit is not None:
        declared = min(declared, limit)
    if declared is not None and data.shape[0] < declared:
        raise AudioDecodeError(
            hdr.path, f"truncated: the header declares {declared} frames, the file holds "
            f"{data.shape[0]}")
    y = data.T  # (channels, T)
    if not np.all(np.isfinite(y)):
        raise AudioDecodeError(hdr.path, "holds non-finite samples (NaN or inf)")
    if mono:
        y = y.mean(axis=0)
    if sr is not None:
        y = resample(y, hdr.sample_rate, sr)
    return np.ascontiguousarray(y, dtype=np.float32), (sr if sr is not None else hdr.sample_rate)
