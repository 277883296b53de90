"""``audiofx extract``: the features of many audio files, one ``.npz`` per file and a manifest.

The pipeline (:func:`extract`):

1. :func:`expand_inputs` turns files, folders (searched recursively for
   :data:`audiofx.io.AUDIO_EXTENSIONS`) and glob patterns into a sorted list without duplicates.
2. :class:`AudioFileDataset` decodes each file in ``torch.utils.data.DataLoader`` workers with
   :func:`audiofx.io.load` (mono; native rate or ``sr``) and returns either the samples or the
   reason the file could not be decoded, so that a bad file never stops the run.
3. Decoded clips of the same sample rate are grouped into batches of ``batch_size``, right-padded
   to the longest and passed with their ``lengths`` to the frame and spectral kernels
   (:func:`audiofx.frame_features`, :func:`audiofx.spectral_features`), which compute each row as
   if it were its clip alone; each clip's valid frames are cut out. Features computed from the
   magnitude spectrogram (rolloff, flatness, mel, MFCC) run per clip (:mod:`audiofx.spectral`),
   which bounds their memory by the longest clip instead of the batch.
4. Each output is written to a temporary file in its folder and renamed into place
   (``os.replace``), and only then is the file's ``ok`` row appended (and flushed) to the
   manifest: a killed run never leaves a half-written ``.npz`` and loses at most the batch in
   flight. ``resume=True`` skips the files whose last manifest row says ``ok`` (or ``skipped``)
   and whose output exists.

Under ``torchrun`` (``WORLD_SIZE > 1``) rank ``r`` takes files ``r::world`` and logs to
``manifest.rank{r}.csv``; after a barrier (gloo) rank 0 merges the logs into ``manifest.csv``.

Output ``OUT/<path below the inputs' common folder>.npz`` (so ``a/x.wav`` -> ``OUT/a/x.wav.npz``)
holds one array per feature (``(n_frames,)``; ``mel`` ``(n_mels, n_frames)``, ``mfcc``
``(n_mfcc, n_frames)``; float32), ``times`` (frame centres in seconds, ``t * hop_length / sr``),
``sr`` (Hz), ``n_samples`` and ``params`` (a JSON string of the parameters).
"""
from __future__ import annotations

import functools
import glob
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .io import display_path
from .manifest import MANIFEST_FIELDS, ManifestLog, append_missing_rows, read_manifest
from .output_folder import OutputFolder, atomic_savez

__all__ = [
    "FEATURES",
    "DEFAULT_FEATURES",
    "MANIFEST_FIELDS",
    "ExtractParams",
    "ExtractResult",
    "AudioFileDataset",
    "expand_inputs",
    "batch_features",
    "read_manifest",
    "extract",
    "add_subcommands",
]

#: Feature names ``extract`` knows, in output order.
FEATURES = ("ae", "rms", "zcr", "centroid", "bandwidth", "rolloff", "flatness", "mel", "mfcc")
#: The default set: the frame features and the two spectral statistics (the fused kernels).
DEFAULT_FEATURES = ("ae", "rms", "zcr", "centroid", "bandwidth")
_FRAME_FEATURES = ("ae", "rms", "zcr")
_STATS_FEATURES = ("centroid", "bandwidth")
_S_FEATURES = ("rolloff", "flatness", "mel", "mfcc")

# Largest padded batch (samples) before a bucket is flushed early: a long recording is not held
# back waiting for batch_size others, and memory stays bounded (2**25 float32 samples: 128 MiB).
_MAX_BATCH_SAMPLES = 1 << 25


@dataclass(frozen=True)
class ExtractParams:
    """What to compute (saved as JSON in every output).

    ``frame_length`` is the frame of ae/rms/zcr, ``n_fft`` that of the spectral features (both
    even or both odd), with hop ``hop_length`` and librosa's centred framing, so all features
    share the frame count (``1 + T // hop_length`` for even sizes) and the frame times
    ``t * hop_length / sr``. ``sr``: the rate files
    are resampled to (Hz), or None for each file's own.
    """

    features: Tuple[str, ...] = DEFAULT_FEATURES
    frame_length: int = 2048
    hop_length: int = 512
    n_fft: int = 2048
    n_mels: int = 128
    n_mfcc: int = 20
    sr: Optional[int] = None

    def __post_init__(self):
        feats = (self.features,) if isinstance(self.features, str) else tuple(self.features)
        unknown = [f for f in feats if f not in FEATURES]
        if not feats or unknown:
            raise ValueError(f"features must name at least one of {', '.join(FEATURES)}; got "
                             f"unknown {', '.join(map(repr, unknown)) or 'nothing'}")
        # Output order is FEATURES' order, without repeats.
        object.__setattr__(self, "features", tuple(f for f in FEATURES if f in feats))
        for name in ("frame_length", "hop_length", "n_fft", "n_mels", "n_mfcc"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if self.frame_length % 2 != self.n_fft % 2:
            raise ValueError(f"frame_length ({self.frame_length}) and n_fft ({self.n_fft}) must "
                             f"be both even or both odd, so that every feature has the same "
                             f"frames (centred framing: 1 + (T + 2*(N//2) - N) // hop_length)")
        if self.sr is not None and (isinstance(self.sr, bool) or not isinstance(self.sr, int)
                                    or self.sr < 1):
            raise ValueError(f"sr must be an int >= 1 (Hz) or None (each file's rate), got "
                             f"{self.sr!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class ExtractResult:
    """Counts and the time split of one :func:`extract` run (this process's shard).

    ``decode_s`` is summed over the files in the workers (CPU time spent decoding, overlapping
    the main process when ``workers > 0``); ``wait_s`` is the main process waiting for decoded
    files; ``features_s`` and ``write_s`` are main-process wall time; ``audio_s`` the seconds of
    audio computed in this run.
    """

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    decode_s: float = 0.0
    wait_s: float = 0.0
    features_s: float = 0.0
    write_s: float = 0.0
    failures: List[Tuple[str, str]] = field(default_factory=list)
    failed_all_ranks: int = 0

    @property
    def exit_status(self) -> int:
        """1 if any file failed (under torchrun: on any rank), else 0."""
        return 1 if self.failed_all_ranks or self.failed else 0

    def summary(self) -> str:
        rate = self.audio_s / self.wall_s if self.wall_s > 0 else 0.0
        return (f"audiofx extract: {self.ok} ok, {self.failed} failed, {self.skipped} skipped; "
                f"{self.audio_s:.1f} s of audio in {self.wall_s:.2f} s ({rate:,.0f} audio-s/s); "
                f"decode {self.decode_s:.2f} s (summed over files), waiting for decode "
                f"{self.wait_s:.2f} s, features {self.features_s:.2f} s, "
                f"write {self.write_s:.2f} s")


# ---------------------------------------------------------------------------------------------
# Inputs


def _is_audio_name(name: str) -> bool:
    from .io import AUDIO_EXTENSIONS

    return name.lower().endswith(AUDIO_EXTENSIONS)


def _unlistable(e: OSError):
    # os.walk skips a folder it cannot list without a word: its files would be left out of the
    # run (and of the manifest) silently.
    raise ValueError(f"cannot list the folder {display_path(e.filename or '?')}: "
                     f"{e.strerror or e}") from e


def _scan_folder(folder: str) -> List[str]:
    found = []
    for root, dirs, files in os.walk(folder, onerror=_unlistable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(root, f) for f in files
                     if _is_audio_name(f) and not f.startswith("."))
    return found


def expand_inputs(inputs: Iterable) -> List[str]:
    """Absolute paths of the audio files named by ``inputs``, sorted, without duplicates.

    A file is taken as given (whatever its extension: a bad one is reported, not skipped); a
    folder is searched recursively for names ending in :data:`audiofx.io.AUDIO_EXTENSIONS`
    (case-insensitive; hidden files and folders left out); anything else is a glob pattern
    (``**`` recursive), whose folders are searched like folders.

    Raises:
        FileNotFoundError: an input that is neither a file, a folder nor a pattern that matches.
        ValueError: a folder (or one below it) that cannot be listed (permissions): its files
            would otherwise be left out without a word.
    """
    out = set()
    for item in inputs:
        item = os.fspath(item)
        if os.path.isfile(item):
            out.add(os.path.abspath(item))
        elif os.path.isdir(item):
            out.update(os.path.abspath(p) for p in _scan_folder(item))
        else:
            matches = glob.glob(item, recursive=True) if glob.has_magic(item) else []
            if not matches:
                raise FileNotFoundError(f"no such file or folder, and no glob match: {item}")
            for m in matches:
                if os.path.isdir(m):
                    out.update(os.path.abspath(p) for p in _scan_folder(m))
                else:
                    out.add(os.path.abspath(m))
    return sorted(out)


def _output_names(paths: Sequence[str]) -> Dict[str, str]:
    """Each input's output path relative to the output folder: its path below the inputs'
    common folder, plus ``.npz`` (the extension stays, so ``x.wav`` and ``x.flac`` differ)."""
    if not paths:
        return {}
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    return {p: os.path.relpath(p, root) + ".npz" for p in paths}


# ---------------------------------------------------------------------------------------------
# Decoding


@dataclass
class DecodedClip:
    """One file after decoding: ``samples`` float32 ``(T,)`` and ``sr``, or ``reason``."""

    index: int
    path: str
    samples: Optional[torch.Tensor]
    sr: int
    reason: str
    decode_s: float


class AudioFileDataset(torch.utils.data.Dataset):
    """Decodes ``paths[i]`` (mono, resampled to ``sr`` Hz if given) into a :class:`DecodedClip`.

    Never raises for a bad file: a file that cannot be decoded (:class:`audiofx.io.AudioDecodeError`
    or any other error of the decoder) gives a clip with ``samples=None`` and the reason, so a
    ``DataLoader`` worker never takes the run down.
    """

    def __init__(self, paths: Sequence[str], sr: Optional[int] = None):
        self.paths = list(paths)
        self.sr = sr

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> DecodedClip:
        from .io import AudioDecodeError, load

        path = self.paths[i]
        t0 = time.perf_counter()
        try:
            y, sr = load(path, sr=self.sr, mono=True)
            samples, reason = torch.from_numpy(y), ""
        except AudioDecodeError as e:
            samples, sr, reason = None, 0, e.reason
        except Exception as e:  # a decoder bug on one file must not end an overnight run
            samples, sr, reason = None, 0, f"decoding failed: {type(e).__name__}: {e}"
        return DecodedClip(i, path, samples, int(sr), reason, time.perf_counter() - t0)


def _no_collate(item):
    return item


# ---------------------------------------------------------------------------------------------
# Features


def batch_features(clips: Sequence[torch.Tensor], sr: int, params: ExtractParams,
                   device: torch.device) -> List[Dict[str, np.ndarray]]:
    """The features of clips of one sample rate, computed as one padded batch.

    Args:
        clips: float32 ``(T_b,)`` tensors (CPU).
        sr: their sample rate in Hz.
        params: what to compute.
        device: where to compute.

    Returns:
        Per clip, ``{name: float32 array}``: ``(n_frames_b,)`` per frame feature, ``mel``
        ``(n_mels, n_frames_b)``, ``mfcc`` ``(n_mfcc, n_frames_b)``, with
        ``n_frames_b = 1 + T_b // hop_length``; each equal to the :mod:`audiofx` function on that
        clip alone.
    """
    import audiofx

    feats = params.features
    N, H, n_fft = params.frame_length, params.hop_length, params.n_fft
    lengths = torch.tensor([c.shape[-1] for c in clips], dtype=torch.int64)
    x = torch.nn.utils.rnn.pad_sequence(list(clips), batch_first=True).to(device)
    # Clips of one length need no lengths (the same values, without the per-row fix-up).
    kw = {} if int(lengths.min()) == int(lengths.max()) else {"lengths": lengths.to(device)}
    batched: Dict[str, torch.Tensor] = {}
    if any(f in feats for f in _FRAME_FEATURES):
        ff = audiofx.frame_features(x, N, H, **kw)
        ae, r, z = ff[0] if kw else ff
        batched.update(ae=ae, rms=r, zcr=z)
    stats = tuple(f for f in _STATS_FEATURES if f in feats)
    if stats:
        d = audiofx.spectral_features(x, sr=sr, n_fft=n_fft, hop_length=H, features=stats, **kw)
        batched.update(d[0] if kw else d)
    batched = {k: v.cpu() for k, v in batched.items() if k in feats}
    # Centred framing: 1 + (T + 2*(N//2) - N) // hop frames (DESIGN §2), the same for
    # frame_length and n_fft of one parity (ExtractParams checks it).
    n_valid = [audiofx.num_frames(int(t), n_fft, H) for t in lengths.tolist()]

    out = []
    for b, clip in enumerate(clips):
        n = n_valid[b]
        res = {k: v[b, :n].numpy() for k, v in batched.items()}
        if any(f in feats for f in _S_FEATURES):
            res.update(_spectrogram_features(clip.to(device), sr, params))
        out.append({k: np.ascontiguousarray(res[k], dtype=np.float32) for k in feats})
    return out


@functools.lru_cache(maxsize=16)
def _mel_basis(sr: float, n_fft: int, n_mels: int, dtype: torch.dtype, device: str):
    from . import spectral

    return spectral.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, dtype=dtype,
                                   device=device)


def _spectrogram_features(y: torch.Tensor, sr: int, params: ExtractParams) -> dict:
    """rolloff / flatness / mel / MFCC of one clip from its magnitude spectrogram, computed as
    :mod:`audiofx.spectral` computes it from ``x`` (frames windowed and transformed in float64,
    the magnitude rounded to the clip's dtype), so the values equal those functions of ``y``;
    a block of frames at a time (:mod:`audiofx.functional.spectrogram_chunks`), so a long
    recording costs its features' memory, not its spectrogram's (issue 14)."""
    from . import spectral
    from .functional import spectral as FS
    from .functional import spectrogram_chunks as chunks

    feats, n_fft, H = params.features, params.n_fft, params.hop_length
    n, H, mode, w = FS.stft_args(y, n_fft, H, None, "hann", True, "constant", torch.float64)
    stats = [f for f in ("rolloff", "flatness") if f in feats]
    want_mel = "mel" in feats or "mfcc" in feats
    basis = _mel_basis(float(sr), n, params.n_mels, y.dtype, str(y.device)) if want_mel else None

    def per_block(mag: torch.Tensor) -> torch.Tensor:  # (1, bins, frames) float64 magnitudes
        parts = []
        S = mag.to(y.dtype)
        if "rolloff" in stats:
            parts.append(spectral.spectral_rolloff(S=S, sr=sr, n_fft=n)[:, None])
        if "flatness" in stats:
            parts.append(spectral.spectral_flatness(S=S, n_fft=n)[:, None])
        if want_mel:  # melspectrogram(S=...) is this product
            parts.append(torch.matmul(basis, mag.pow(2).to(y.dtype)))
        return torch.cat(parts, dim=-2)

    blocks = chunks.map_spectrogram(y[None], w, n, H, True, mode, 1.0, per_block,
                                    out_dtype=torch.float64)[0]
    out = {name: blocks[i] for i, name in enumerate(stats)}
    if want_mel:
        mel = blocks[len(stats):]
        if "mel" in feats:
            out["mel"] = mel
        if "mfcc" in feats:
            out["mfcc"] = spectral.mfcc(S=spectral.power_to_db(mel), n_mfcc=params.n_mfcc)
    return {k: v.cpu().numpy() for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# The manifest (format: audiofx.manifest; folder, lock and atomic writes: audiofx.output_folder)

_ManifestLog = ManifestLog  # the name earlier versions used


def _manifest_paths(out_dir: str) -> List[str]:
    """``manifest.csv`` and the torchrun rank logs (``manifest.rank{r}[.{run}].csv``)."""
    main = os.path.join(out_dir, "manifest.csv")
    ranks = sorted(glob.glob(os.path.join(glob.escape(out_dir), "manifest.rank*.csv")))
    return [main] + ranks


def _same_params(npz_path: str, params_json: str) -> bool:
    """The output can be read and was computed with these parameters."""
    try:
        with np.load(npz_path) as z:
            return json.loads(str(z["params"])) == json.loads(params_json)
    except Exception:  # unreadable (cut by a power loss, hand-edited...): compute it again
        return False


def _done_rows(out_dir: str, params: ExtractParams) -> Dict[str, dict]:
    """Files whose last manifest row is ok/skipped and whose output exists, can be read and
    holds the same parameters (a resume with other features recomputes)."""
    last = {}
    for m in _manifest_paths(out_dir):
        for row in read_manifest(m):
            last[row["path"]] = row
    want = params.to_json()
    return {p: r for p, r in last.items() if r["status"] in ("ok", "skipped") and r["output"]
            and _same_params(os.path.join(out_dir, r["output"]), want)}


# ---------------------------------------------------------------------------------------------
# The run


def _resolve_device(device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but no CUDA device is available")
        if device == "cuda" and "LOCAL_RANK" in os.environ:
            device = f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return torch.device(device)


def _dist_setup() -> Tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import datetime

    import torch.distributed as dist

    if not dist.is_initialized():
        # Ranks finish their shards at different times; the barrier must outwait the slowest
        # (torchrun ends the group if a rank dies, so a long timeout cannot hang on a crash).
        dist.init_process_group("gloo", timeout=datetime.timedelta(hours=48))
    return dist.get_rank(), dist.get_world_size()


def _run_id(world: int) -> str:
    """A name shared by the ranks of this run (rank 0's, broadcast): their logs
    ``manifest.rank{r}.{run}.csv`` never collide with another run's in the same folder."""
    import uuid

    if world <= 1:
        return ""
    import torch.distributed as dist

    box = [uuid.uuid4().hex[:12]]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@dataclass
class _Job:
    """An :func:`extract` call after its arguments were checked: nothing written yet."""

    files: List[str]
    names: Dict[str, str]
    folder: OutputFolder
    params: ExtractParams
    batch_size: int
    workers: int
    device: torch.device


def _prepare(inputs, out_dir, params, batch_size, workers, device) -> _Job:
    """Every argument check of :func:`extract`, in the order a user reads them; the output
    folder is made (and checked writable) last, so a bad argument writes nothing."""
    if not isinstance(params, ExtractParams):
        raise ValueError(f"params must be an ExtractParams, got {type(params).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")
    dev = _resolve_device(device)
    files = expand_inputs(inputs)
    folder = OutputFolder(out_dir)
    return _Job(files, _output_names(files), folder, params, batch_size, workers, dev)


def extract(inputs: Iterable, out_dir, params: ExtractParams = ExtractParams(), *,
            batch_size: int = 16, workers: int = 2, device="auto", resume: bool = False,
            progress: Optional[bool] = None) -> ExtractResult:
    """Compute ``params.features`` for every audio file of ``inputs`` into ``out_dir``.

    Several runs may write into one ``out_dir`` at once (another job, torchrun ranks): outputs
    go through unique temporary names, manifest rows are appended whole under a lock, and the
    clean-up after killed runs waits for a run that has the folder to itself
    (:mod:`audiofx.output_folder`). A file named by two runs is computed by both; each output
    is replaced whole.

    Args:
        inputs: files, folders and glob patterns (see :func:`expand_inputs`).
        out_dir: output folder (made if missing): one ``.npz`` per input and ``manifest.csv``.
        params: features and framing.
        batch_size: clips (of one sample rate) per kernel call (>= 1).
        workers: ``DataLoader`` worker processes decoding files (0: decode in this process).
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        resume: skip files done by an earlier run into ``out_dir`` (last manifest row ok or
            skipped, output present and computed with the same ``params``); they get a
            ``skipped`` row.
        progress: show a tqdm bar (files/s, audio-s/s); None: only on a terminal.

    Returns:
        :class:`ExtractResult` of this process (under torchrun: its shard, with
        ``failed_all_ranks`` the total over all ranks, so that every rank exits with the same
        status).

    Raises:
        FileNotFoundError: an input names nothing (before any file is decoded).
        ValueError: a bad argument, or an ``out_dir`` that is a file, lies under one or cannot
            be written (before anything is written).
        OSError: the manifest cannot be written (a full disk, ...) mid-run.
    """
    job = _prepare(inputs, out_dir, params, batch_size, workers, device)
    return _run(job, resume, progress)


def _run(job: _Job, resume: bool, progress: Optional[bool]) -> ExtractResult:
    folder = job.folder
    rank, world = _dist_setup()
    run_id = _run_id(world)
    if rank == 0:
        # Clean up after killed runs only when no other writer is alive (exclusive lock).
        if folder.acquire():
            folder.remove_stale_temporaries()
            leftover = _manifest_paths(folder.path)[1:]  # rank logs of a torchrun run that died
            if leftover:
                append_missing_rows(_manifest_paths(folder.path)[0], leftover)
        folder.share()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    folder.acquire()  # ranks > 0: after rank 0's clean-up
    try:
        return _run_shard(job, resume, progress, rank, world, run_id)
    finally:
        folder.release()


def _run_shard(job: _Job, resume: bool, progress: Optional[bool], rank: int, world: int,
               run_id: str) -> ExtractResult:
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    params, dev, names = job.params, job.device, job.names
    out_dir = job.folder.path
    done = _done_rows(out_dir, params) if resume else {}
    mine = job.files[rank::world]
    log = ManifestLog(os.path.join(out_dir, "manifest.csv" if world == 1 else
                                   f"manifest.rank{rank}.{run_id}.csv"))
    res = ExtractResult()
    todo = []
    try:
        for p in mine:
            if p in done:
                log.write(dict(done[p], status="skipped", reason="done in an earlier run"))
                res.skipped += 1
            else:
                todo.append(p)
    except BaseException:
        log.close()
        raise

    bar = tqdm(total=len(mine), initial=res.skipped, unit="file", dynamic_ncols=True,
               disable=(not sys.stderr.isatty()) if progress is None else not progress,
               desc="extract" if world == 1 else f"extract rank {rank}")
    # No more worker processes than files to decode (each one costs a process start).
    loader = torch.utils.data.DataLoader(AudioFileDataset(todo, params.sr), batch_size=None,
                                         shuffle=False, num_workers=min(job.workers, len(todo)),
                                         collate_fn=_no_collate)
    buckets: Dict[int, List[DecodedClip]] = {}

    def fail(path: str, reason: str, duration: str = "") -> None:
        res.failed += 1
        res.failures.append((path, reason))
        log.write(dict(path=path, status="failed", reason=reason, duration_s=duration))
        bar.update(1)

    def flush(sr: int) -> None:
        group = buckets.pop(sr, [])
        if not group:
            return
        t0 = time.perf_counter()
        try:
            results = batch_features([c.samples for c in group], sr, params, dev)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
        except Exception as e:
            # One clip can make the whole batch fail (e.g. out of memory): retry each alone
            # so only the clip at fault is reported.
            if len(group) > 1:
                for c in group:
                    buckets[sr] = [c]
                    flush(sr)
                return
            res.features_s += time.perf_counter() - t0
            c = group[0]
            fail(c.path, f"feature computation failed: {type(e).__name__}: {e}",
                 f"{c.samples.shape[-1] / sr:.6f}")
            return
        res.features_s += time.perf_counter() - t0
        for c, feats in zip(group, results):
            t1 = time.perf_counter()
            n = c.samples.shape[-1]
            n_frames = next(iter(feats.values())).shape[-1]
            arrays = dict(feats)
            arrays.update(times=(np.arange(n_frames) * params.hop_length / sr),
                          sr=np.int64(sr), n_samples=np.int64(n),
                          params=np.array(params.to_json()))
            rel = names[c.path]
            try:
                atomic_savez(os.path.join(out_dir, rel), arrays)
            except (OSError, ValueError) as e:  # e.g. a name too long once ".npz" is added
                res.write_s += time.perf_counter() - t1
                fail(c.path, f"writing the output failed: {e}", f"{n / sr:.6f}")
                continue
            log.write(dict(path=c.path, status="ok", reason="", duration_s=f"{n / sr:.6f}",
                           sample_rate=sr, n_frames=n_frames, output=rel))
            res.write_s += time.perf_counter() - t1
            res.ok += 1
            res.audio_s += n / sr
            bar.update(1)
        elapsed = time.perf_counter() - t_start
        bar.set_postfix_str(f"{res.audio_s / elapsed:,.0f} audio-s/s", refresh=False)

    try:
        t_wait = time.perf_counter()
        for clip in loader:
            res.wait_s += time.perf_counter() - t_wait
            res.decode_s += clip.decode_s
            if clip.samples is None:
                fail(clip.path, clip.reason)
            else:
                group = buckets.setdefault(clip.sr, [])
                group.append(clip)
                longest = max(c.samples.shape[-1] for c in group)
                if len(group) >= job.batch_size or longest * len(group) > _MAX_BATCH_SAMPLES:
                    flush(clip.sr)
            t_wait = time.perf_counter()
        for sr in list(buckets):
            flush(sr)
    finally:
        bar.close()
        log.close()
    res.wall_s = time.perf_counter() - t_start

    res.failed_all_ranks = res.failed
    if world > 1:
        import torch.distributed as dist

        total_failed = torch.tensor([res.failed], dtype=torch.int64)
        dist.all_reduce(total_failed)
        dist.barrier()
        if rank == 0:
            logs = [os.path.join(out_dir, f"manifest.rank{r}.{run_id}.csv") for r in range(world)]
            append_missing_rows(os.path.join(out_dir, "manifest.csv"),
                                [m for m in logs if os.path.exists(m)])
        dist.barrier()
        res.failed_all_ranks = int(total_failed.item())
    return res


# ---------------------------------------------------------------------------------------------
# Command line


def _features_arg(text: str) -> Tuple[str, ...]:
    import argparse

    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if names == ("all",):
        return FEATURES
    unknown = [n for n in names if n not in FEATURES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown feature(s) {', '.join(unknown) or '(none given)'}; choose from "
            f"{','.join(FEATURES)} or 'all'")
    return names


#: Command-line bounds (documented in ``--help``): a frame or FFT of 2**24 samples is over six
#: minutes at 44.1 kHz; rates up to 2**20 Hz cover 768 kHz audio; more than 4096 mel bands or
#: 256 decoding processes is a typo, not a plan (and would exhaust memory or processes).
MAX_FRAME = 1 << 24
MAX_SR = 1 << 20
MAX_N_MELS = 4096
MAX_WORKERS = 256


def _int_at_least(lo: int, hi: Optional[int] = None):
    """An argparse ``type``: an integer in ``[lo, hi]``; anything else is an argument error
    (exit status 2, one line naming the argument and the allowed range)."""
    import argparse

    allowed = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {shown!r}")
        if v < lo or (hi is not None and v > hi):
            shown = str(v) if len(str(v)) <= 40 else f"a {len(str(v))}-digit number"
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {shown}")
        return v

    return parse



def _run_extract(args) -> int:
    try:
        params = ExtractParams(features=args.features, frame_length=args.frame_length,
                               hop_length=args.hop_length, n_fft=args.n_fft, n_mels=args.n_mels,
                               n_mfcc=args.n_mfcc, sr=args.sr)
        job = _prepare(args.inputs, args.out, params, args.batch_size, args.workers,
                       args.device)
    except (FileNotFoundError, ValueError) as e:
        print(f"audiofx extract: {display_path(str(e))}", file=sys.stderr)
        return 2
    try:
        res = _run(job, args.resume, args.progress)
    except OSError as e:  # the manifest cannot be read or written (full disk, permissions)
        print(f"audiofx extract: {display_path(str(e))}", file=sys.stderr)
        return 1
    for path, reason in res.failures:
        print(f"failed: {display_path(path)}: {display_path(reason)}", file=sys.stderr)
    print(res.summary())
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return res.exit_status


def add_subcommands(subparsers) -> None:
    """Adds ``audiofx extract``."""
    p = subparsers.add_parser(
        "extract", help="features of audio files into one .npz each, with a manifest",
        description="Compute features of audio files (wav/flac/ogg/mp3/...; files, folders "
                    "searched recursively, glob patterns) into OUT/<path>.npz, one per input, "
                    "with OUT/manifest.csv giving each file's status (ok/failed/skipped) and "
                    "reason. Exit status 1 when any file failed. Under torchrun each rank takes "
                    "its shard of the files.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder or glob pattern")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--features", type=_features_arg, default=DEFAULT_FEATURES,
                   metavar="NAMES", help=f"comma-separated, from {','.join(FEATURES)}, or all "
                   f"(default {','.join(DEFAULT_FEATURES)})")
    p.add_argument("--sr", type=_int_at_least(1, MAX_SR), default=None,
                   help="resample every file to this rate in Hz, at most 2**20 (default: each "
                        "file's own)")
    p.add_argument("--frame-length", type=_int_at_least(1, MAX_FRAME), default=2048,
                   help="frame of ae/rms/zcr in samples, at most 2**24 (default 2048)")
    p.add_argument("--hop-length", type=_int_at_least(1), default=512,
                   help="hop of every feature in samples (default 512)")
    p.add_argument("--n-fft", type=_int_at_least(1, MAX_FRAME), default=2048,
                   help="FFT size of the spectral features, at most 2**24 (default 2048)")
    p.add_argument("--n-mels", type=_int_at_least(1, MAX_N_MELS), default=128,
                   help="mel bands, at most 4096 (default 128)")
    p.add_argument("--n-mfcc", type=_int_at_least(1, MAX_N_MELS), default=20,
                   help="MFCC coefficients (default 20)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=16,
                   help="clips per kernel call (default 16)")
    p.add_argument("--workers", type=_int_at_least(0, MAX_WORKERS),
                   default=min(4, os.cpu_count() or 1),
                   help="decoding worker processes, at most 256 and never more than the files "
                        "to decode (default min(4, CPUs); 0: in-process)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="skip files an earlier run into DIR finished (manifest ok, output there)")
    p.add_argument("--progress", action=__import__("argparse").BooleanOptionalAction,
                   default=None, help="progress bar (default: only on a terminal)")
    p.set_defaults(func=_run_extract)
