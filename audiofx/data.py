"""Audio classification data sets: :class:`AudioFolder` (a folder per class, or a CSV of
``path,label``) and :func:`collate`, which right-pads a batch and returns its lengths.

Files are decoded with :func:`audiofx.io.load` (libsndfile through ``soundfile``: wav, flac,
ogg/vorbis, opus, mp3, ...), mixed to mono and resampled with libsoxr. A file that cannot be
decoded is found when the data set is built (in the main process, before any loader worker
forks), reported once with a :class:`SkippedFileWarning` naming the path and the reason, listed
in ``.skipped`` and left out of the items; it is never dropped silently.
"""
from __future__ import annotations

import csv
import numbers
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from . import io as audio_io

__all__ = ["AudioFolder", "SkippedFileWarning", "collate"]


class SkippedFileWarning(UserWarning):
    """A file of a data set that could not be decoded and is left out (path and reason)."""


def _is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in audio_io.AUDIO_EXTENSIONS


def _scan_folder(root: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Class names (sorted sub-folders) and (path, class) for the audio files under each."""
    classes = sorted(d for d in os.listdir(root)
                     if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise ValueError(f"root_or_csv must be a folder with one sub-folder per class (or a .csv "
                         f"file); {root!r} has no sub-folders")
    entries = []
    for c in classes:
        for folder, dirs, files in os.walk(os.path.join(root, c)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            entries.extend((os.path.join(folder, f), c) for f in sorted(files) if _is_audio(f))
    return classes, entries


def _read_csv(path: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Class names (sorted labels) and (path, label) rows of a ``path,label`` CSV file; relative
    paths are taken from the CSV's folder."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in (reader.fieldnames or [])]
        if "path" not in fields or "label" not in fields:
            raise ValueError(f"the CSV file {path!r} must have a header with columns 'path' and "
                             f"'label', got {fields}")
        reader.fieldnames = fields
        entries = []
        for row_number, row in enumerate(reader, start=2):
            p, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
            if not p or not label:
                raise ValueError(f"{path}, line {row_number}: 'path' and 'label' must both be "
                                 f"given, got {row!r}")
            entries.append((p if os.path.isabs(p) else os.path.join(base, p), label))
    return sorted({label for _, label in entries}), entries


def _probe(path: str, decode: bool):
    """(duration in seconds, None) for a good file, (None, reason) for a bad one."""
    try:
        if decode:
            y, file_sr = audio_io.load(path, sr=None, mono=True)
            return y.shape[-1] / file_sr, None
        hdr = audio_io.info(path)
        if hdr.frames == 0:
            return None, "no audio samples"
        return hdr.duration, None
    except audio_io.AudioDecodeError as e:
        return None, e.reason


class AudioFolder(torch.utils.data.Dataset):
    """Labelled audio clips from a folder per class, or from a CSV of ``path,label``.

    Args:
        root_or_csv: a folder whose sub-folders are the classes (audio files anywhere below
            each, by extension, :data:`audiofx.io.AUDIO_EXTENSIONS`; other files are not
            considered), or a ``.csv`` file with a header holding columns ``path`` and
            ``label`` (paths relative to the CSV's folder, or absolute).
        sr: sampling rate of the items (Hz); files at other rates are resampled (soxr "HQ").
        crop_seconds: item duration: longer clips are cut to ``round(crop_seconds * sr)``
            samples (from the start, or at a random offset with ``random_crop``), shorter ones
            right-padded with zeros to it (at a random offset with ``random_crop``) unless
            ``pad=False``. None keeps every clip's own length (:func:`collate` pads a batch).
        random_crop: random offsets for the crop/pad (``torch``'s generator, so
            ``torch.manual_seed`` and loader worker seeds apply).
        transform: applied to each waveform ``(T,)`` after crop/pad.
        pad: pad short clips to ``crop_seconds`` (see there).
        verify: decode every file once when the data set is built (default), so that a bad file
            (truncated, corrupt, not audio, empty) is found up front; False reads only the
            headers (faster for large sets: a file that then fails to decode raises
            :class:`audiofx.io.AudioDecodeError` from ``__getitem__``).
        num_workers: threads that probe the files when the set is built.

    Attributes:
        classes: class names, sorted; a label is an index into it.
        files: ``(path, label_index)`` of every usable file, in a deterministic order.
        durations: seconds of each file of ``files`` (at its own rate).
        skipped: ``(path, reason)`` of every file left out; each was reported once with a
            :class:`SkippedFileWarning`.

    Items: ``(waveform, label)``: ``waveform`` float32 ``(T,)`` in [-1, 1] at ``sr``,
    ``label`` an int.
    """

    def __init__(self, root_or_csv, sr: int = 16000, crop_seconds: Optional[float] = None,
                 random_crop: bool = False, transform: Optional[Callable] = None, *,
                 pad: bool = True, verify: bool = True, num_workers: int = 4):
        root_or_csv = os.fspath(root_or_csv)
        if isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr < 1:
            raise ValueError(f"sr must be an int >= 1 (Hz), got {sr!r}")
        if crop_seconds is not None and (isinstance(crop_seconds, bool)
                                         or not isinstance(crop_seconds, numbers.Real)
                                         or not crop_seconds > 0):
            raise ValueError(f"crop_seconds must be a number > 0 (seconds) or None, got "
                             f"{crop_seconds!r}")
        for name, value in (("random_crop", random_crop), ("pad", pad), ("verify", verify)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {transform!r}")
        self.sr = int(sr)
        self.crop_seconds = crop_seconds
        self.crop_samples = None if crop_seconds is None else max(int(round(crop_seconds * sr)),
                                                                  1)
        self.random_crop = random_crop
        self.pad = pad
        self.transform = transform

        if os.path.isdir(root_or_csv):
            self.classes, entries = _scan_folder(root_or_csv)
        elif os.path.isfile(root_or_csv) and root_or_csv.lower().endswith(".csv"):
            self.classes, entries = _read_csv(root_or_csv)
        else:
            raise ValueError(f"root_or_csv must be a folder with one sub-folder per class or a "
                             f".csv file of path,label; got {root_or_csv!r}")
        self.root = root_or_csv
        index = {c: i for i, c in enumerate(self.classes)}

        paths = [p for p, _ in entries]
        workers = max(1, min(int(num_workers), len(paths)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            probes = list(pool.map(lambda p: _probe(p, verify), paths))
        self.files: List[Tuple[str, int]] = []
        self.durations: List[float] = []
        self.skipped: List[Tuple[str, str]] = []
        for (path, label), (duration, reason) in zip(entries, probes):
            if reason is None:
                self.files.append((path, index[label]))
                self.durations.append(duration)
            else:
                self.skipped.append((path, reason))
                warnings.warn(f"skipping {path}: {reason}", SkippedFileWarning, stacklevel=2)

    @property
    def targets(self) -> List[int]:
        """The label index of every item."""
        return [label for _, label in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        path, label = self.files[i]
        y, _ = audio_io.load(path, sr=self.sr, mono=True)
        wave = torch.from_numpy(y)
        if self.crop_samples is not None:
            wave = self._crop_or_pad(wave, self.crop_samples)
        if self.transform is not None:
            wave = self.transform(wave)
        return wave, label

    def _crop_or_pad(self, wave: torch.Tensor, n: int) -> torch.Tensor:
        T = wave.shape[-1]
        if T > n:
            start = int(torch.randint(0, T - n + 1, ())) if self.random_crop else 0
            return wave[start: start + n].clone()
        if T < n and self.pad:
            left = int(torch.randint(0, n - T + 1, ())) if self.random_crop else 0
            return torch.nn.functional.pad(wave, (left, n - T - left))
        return wave

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.root!r}, sr={self.sr}, items={len(self)}, "
                f"classes={len(self.classes)}, skipped={len(self.skipped)})")


def collate(batch: Sequence[Tuple[torch.Tensor, int]]):
    """Right-pads a list of ``(waveform (T_i,), label)`` into a batch.

    Returns:
        ``(x, lengths, labels)``: ``x`` ``(B, max T_i)`` of the waveforms' dtype, zeros after
        each clip's end; ``lengths`` int64 ``(B,)`` the ``T_i``; ``labels`` int64 ``(B,)``.
    """
    if len(batch) == 0:
        raise ValueError("batch must hold at least one (waveform, label) item")
    waves = []
    for i, item in enumerate(batch):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"batch[{i}] must be a (waveform, label) pair, got "
                            f"{type(item).__name__}")
        w = torch.as_tensor(item[0])
        if w.dim() != 1 or w.shape[0] == 0 or not w.is_floating_point():
            raise ValueError(f"batch[{i}]'s waveform must be a non-empty 1-D float tensor (T,), "
                             f"got shape {tuple(w.shape)} and dtype {w.dtype}")
        waves.append(w)
    lengths = torch.tensor([w.shape[0] for w in waves], dtype=torch.int64)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64)
    x = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True, padding_value=0.0)
    return x, lengths, labels
