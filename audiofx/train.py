"""Training, evaluating and using audio classifiers: ``audiofx train``, ``evaluate``, ``predict``.

A classifier is an :class:`AudioClassifier`: the feature front end
(:class:`audiofx.nn.FeatureStack`, raw waveform -> ``(B, F, frames)`` and a frame mask) followed
by a model from :data:`audiofx.models.MODELS` that pools over the valid frames. :func:`train`
fits one with AdamW and cross-entropy on a labelled folder or CSV (:class:`audiofx.data.
AudioFolder`), holds out a validation split stratified by class and fixed by the seed, reports
accuracy and macro-F1 each epoch, and writes

* ``OUT/last.pt`` (every epoch) and ``OUT/best.pt`` (best validation accuracy, ties broken by
  the lower validation loss): checkpoints that hold everything needed to rebuild the classifier
  (model name and config, feature config, sample rate, class names, weights) and to resume
  (optimizer, scheduler, epoch, the RNG states of every rank, the split);
* ``OUT/tensorboard/``: losses, metrics, learning rate, step timings, a few audio clips and
  their feature images (``tensorboard --logdir OUT/tensorboard``);
* ``OUT/summary.json``: the final and best metrics and the time per step spent waiting for data
  and, with ``profile_time=True`` (``--profile-time``), on augmentation, the feature front end and
  the model.

A training step never waits for the device: the loss is summed on the device and read once per
epoch, and the step's time split is measured only when asked for (CUDA events, read at the end
of the epoch), so the host queues the next step while the device runs this one.

The same command runs under ``torchrun --nproc_per_node=K``: each process trains on its shard
(``DistributedSampler``), gradients are averaged by ``DistributedDataParallel`` (gloo on CPU,
nccl on CUDA), metrics are summed over ranks, and only rank 0 writes files and progress bars.
For tests, ``AUDIOFX_DUMP_FINAL_STATE=DIR`` makes every rank save its final ``state_dict`` to
``DIR/rank<R>.pt``.

Heavy or optional dependencies (tqdm, tensorboard, matplotlib) are imported where they are used.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import random
import sys
import time
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

__all__ = ["AudioClassifier", "StepTimer", "build_classifier", "load_checkpoint",
           "confusion_matrix", "classification_metrics", "stratified_split", "train", "evaluate", "predict",
           "add_subcommands"]

CHECKPOINT_FORMAT = "audiofx-classifier"
CHECKPOINT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# The classifier and its checkpoint

class AudioClassifier(nn.Module):
    """Waveform -> logits: ``front`` (a :class:`audiofx.nn.FeatureStack`) then ``model``.

    ``forward(x, lengths=None)``: ``x`` ``(B, T)`` float waveforms at ``front.sr`` Hz,
    right-padded; ``lengths`` ``(B,)`` valid samples per row (None: all valid). Returns logits
    ``(B, n_classes)``. The model pools over the frames the front end marks valid, so padding
    does not change a clip's prediction.

    The forward reads no tensor value on the host (no device sync): ``lengths`` go to the
    front end as data, also when every row is full (a full row costs the kernels nothing extra).
    With ``stopwatch`` set (a :class:`StepTimer`), the front end's time is recorded in it as
    ``"features"``, to split a training step between features and model.
    """

    def __init__(self, front: nn.Module, model: nn.Module):
        super().__init__()
        self.front = front
        self.model = model
        self.stopwatch: Optional[StepTimer] = None

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        watch = self.stopwatch
        if watch is not None:
            t0 = watch.mark()
        if lengths is None:
            feats, mask = self.front(x), None
        else:
            feats, mask = self.front(x, lengths)
        if watch is not None:
            watch.add("features", t0, watch.mark())
        return self.model(feats, mask)


def build_classifier(model_name: str, model_config: dict, feature_config: dict) -> AudioClassifier:
    """An untrained :class:`AudioClassifier` from a model name in :data:`audiofx.models.MODELS`,
    the model's ``config()`` and the front end's ``config()`` (as stored in a checkpoint)."""
    from . import models
    from . import nn as afn

    if model_name not in models.MODELS:
        raise ValueError(f"model must be one of {sorted(models.MODELS)}, got {model_name!r}")
    front = afn.FeatureStack(**feature_config)
    return AudioClassifier(front, models.build_model(model_name, **model_config))


def load_checkpoint(path, device="cpu") -> Tuple[AudioClassifier, dict]:
    """Rebuild the classifier a checkpoint holds, in eval mode on ``device``.

    Returns:
        ``(classifier, checkpoint)``; ``checkpoint["classes"]`` are the class names (index =
        logit row), ``checkpoint["sample_rate"]`` the rate (Hz) the waveforms must have.

    Raises:
        ValueError: the file is not an audiofx classifier checkpoint.
    """
    ckpt = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not an audiofx classifier checkpoint (written by "
                         f"`audiofx train`)")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {ckpt['version']} is newer than this "
                         f"audiofx reads ({CHECKPOINT_VERSION})")
    net = build_classifier(ckpt["model"]["name"], ckpt["model"]["config"],
                           ckpt["features"]["config"])
    net.load_state_dict(ckpt["state_dict"])
    return net.to(device).eval(), ckpt


# ---------------------------------------------------------------------------------------------
# Metrics and the split

def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts: row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred,
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def classification_metrics(cm: np.ndarray) -> dict:
    """Accuracy, macro-F1 and per-class F1 of a confusion matrix (rows true, columns predicted).

    F1 of class ``c`` is ``2 TP / (2 TP + FP + FN)``; macro-F1 averages it over the classes
    that occur in the truth or in the predictions (scikit-learn's ``f1_score(average="macro")``
    on the same labels).
    """
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    denom = 2 * tp + fp + fn
    present = denom > 0
    f1 = np.where(present, 2 * tp / np.where(present, denom, 1), 0.0)
    return {"accuracy": float(tp.sum() / total) if total else float("nan"),
            "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
            "f1": f1.tolist(), "n": int(total)}


def stratified_split(labels: Sequence[int], val_fraction: float,
                     seed: int) -> Tuple[List[int], List[int]]:
    """Indices ``(train, val)``: from each class, ``round(val_fraction * n_class)`` items (at
    least 1 and at most ``n_class - 1`` when ``val_fraction > 0`` and the class has 2 or more)
    go to validation, chosen by a permutation fixed by ``seed``. Both lists are sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_val = int(round(val_fraction * len(idx)))
        if val_fraction > 0 and len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        else:
            n_val = 0
        val_idx += idx[:n_val].tolist()
        train_idx += idx[n_val:].tolist()
    return sorted(train_idx), sorted(val_idx)


# ---------------------------------------------------------------------------------------------
# Devices, processes, random state

class StepTimer:
    """Named intervals of training steps, timed on the device's own clock and read once.

    ``mark()`` returns a point in time: on CUDA a recorded ``torch.cuda.Event`` (queued on the
    current stream; the host does not wait), on the CPU ``time.perf_counter()`` (the work before
    it is done when the call returns). ``add(name, start, end)`` files an interval;
    ``collect()`` waits once for the last CUDA event, adds every filed interval to
    ``seconds[name]`` and returns a copy of it. On CUDA an interval is device time between the
    two events: where the host is slower than the device it includes the device's idle wait.
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.seconds: dict = {}
        self._pending: list = []

    def mark(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def add(self, name: str, start, end) -> None:
        self._pending.append((name, start, end))

    def collect(self) -> dict:
        if self.cuda and self._pending:
            self._pending[-1][2].synchronize()
        for name, start, end in self._pending:
            dt = start.elapsed_time(end) / 1e3 if self.cuda else end - start
            self.seconds[name] = self.seconds.get(name, 0.0) + dt
        self._pending.clear()
        return dict(self.seconds)


class _Dist:
    """This process's place in a torchrun job (rank 0 of 1 when not under torchrun)."""

    def __init__(self, device: torch.device):
        import torch.distributed as dist

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        self.owns_group = False
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            import torch.distributed as dist

            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def gather(self, obj) -> list:
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _resolve_device(device: str) -> torch.device:
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA device; use 'cpu' or 'auto'")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _rng_state(aug_gen: Optional[torch.Generator]) -> dict:
    """This process's random state, in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "augment": aug_gen.get_state() if aug_gen is not None else None,
    }


def _set_rng_state(state: dict, aug_gen: Optional[torch.Generator]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if aug_gen is not None and state["augment"] is not None:
        aug_gen.set_state(state["augment"])


def _worker_init(worker_id: int) -> None:
    # torch seeds each worker with base_seed + worker_id (base_seed from the loader's
    # generator); numpy and random follow it so that anything the dataset draws is reproducible.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _lr_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    if schedule == "constant":
        return 1.0
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------------------------
# Data

def _dataset_root(data) -> str:
    data = os.fspath(data)
    return os.path.dirname(os.path.abspath(data)) if data.lower().endswith(".csv") \
        else os.path.abspath(data)


def _relpaths(ds, root: str) -> List[str]:
    return [os.path.relpath(os.path.abspath(p), root).replace(os.sep, "/") for p, _ in ds.files]


def _open_dataset(data, sr: int, crop_seconds: Optional[float]):
    from . import data as afd

    if not os.path.exists(os.fspath(data)):
        raise FileNotFoundError(f"data: no such folder or CSV file: {data}")
    ds = afd.AudioFolder(data, sr=sr, crop_seconds=crop_seconds)
    if len(ds.files) == 0:
        raise ValueError(f"data: {data} holds no readable audio files "
                         f"({len(ds.skipped)} skipped)")
    return ds


def _report_skipped(ds) -> None:
    for path, reason in ds.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


class _Shard(torch.utils.data.Sampler):
    """Indices ``rank, rank + world, ...``: evaluation shards without the padding that
    ``DistributedSampler`` adds (which would count some clips twice)."""

    def __init__(self, n: int, rank: int, world: int):
        self.idx = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.idx)

    def __len__(self):
        return len(self.idx)


def _loader(subset, batch_size: int, sampler, num_workers: int, seed: int, drop_last=False,
            pin_memory: bool = False):
    from . import data as afd

    g = torch.Generator()
    g.manual_seed(seed)
    return torch.utils.data.DataLoader(
        subset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
        collate_fn=afd.collate, worker_init_fn=_worker_init, generator=g, drop_last=drop_last,
        persistent_workers=False, pin_memory=pin_memory)


def _to_device(batch, device: torch.device):
    """A batch of tensors on ``device``; from pinned memory (the CUDA loaders pin) the copies
    are queued without the host waiting for them."""
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def _confusion_on(net: AudioClassifier, loader, n_classes: int, device: torch.device,
                  label_map: Optional[np.ndarray] = None,
                  bar: bool = False, desc: str = "eval") -> Tuple[np.ndarray, float, int]:
    """Confusion matrix, summed cross-entropy and count over ``loader`` (net in eval mode).

    Both sums stay on the device until the end: one read for the whole loader."""
    from tqdm.auto import tqdm

    net.eval()
    counts = torch.zeros(n_classes * n_classes, dtype=torch.int64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    n = 0
    for x, lengths, y in tqdm(loader, desc=desc, disable=not bar, leave=False, file=sys.stderr):
        if label_map is not None:
            y = torch.from_numpy(label_map[y.numpy()])
        x, lengths, y = _to_device((x, lengths, y), device)
        logits = net(x, lengths)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double()
        n += len(y)
        # scatter_add_, not bincount: CUDA's bincount reads the largest index on the host.
        idx = y * n_classes + logits.argmax(1)
        counts.scatter_add_(0, idx, torch.ones_like(idx))
    cm = counts.cpu().numpy().reshape(n_classes, n_classes)
    return cm, float(loss_sum), n


# ---------------------------------------------------------------------------------------------
# train

def _check_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _check_positive(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, "
                         f"got {value!r}")
    return float(value)


def train(data, out, model: str = "cnn", features: Sequence[str] = ("mel",), epochs: int = 10,
          batch_size: int = 32, lr: float = 3e-3, weight_decay: float = 1e-2,
          val_fraction: float = 0.15, seed: int = 0, device: str = "auto", resume=False,
          sr: int = 16000, crop_seconds: Optional[float] = None, frame_length: int = 512,
          hop_length: int = 160, n_fft: Optional[int] = None, n_mels: int = 64, n_mfcc: int = 20,
          model_kwargs: Optional[dict] = None, augment: bool = True,
          lr_schedule: str = "cosine", num_workers: int = 0, log_clips: int = 4,
          progress: bool = True, stop_after_epoch: Optional[int] = None,
          threads: Optional[int] = None, profile_time: bool = False) -> dict:
    """Train an :class:`AudioClassifier` on a labelled folder or CSV; see the module docstring
    for what is written to ``out``.

    Args:
        data: a folder with one sub-folder per class, or a CSV ``path,label``
            (:class:`audiofx.data.AudioFolder`); decoded and resampled to ``sr`` Hz.
        out: output folder (created).
        model: a name in :data:`audiofx.models.MODELS`; ``model_kwargs`` its hyper-parameters.
        features: names in :data:`audiofx.nn.FEATURE_NAMES`, stacked along the feature axis.
        epochs: total epochs (also when resuming: a resumed run continues up to ``epochs``).
        batch_size: clips per step per process; lr, weight_decay: AdamW's.
        val_fraction: share of each class held out for validation (0: none); the split is
            stratified, fixed by ``seed`` and stored in the checkpoint.
        seed: seeds python, numpy and torch, the split, the sampler, the loader's workers and the
            augmentation; the same seed and data give the same weights (on the same machine).
        device: ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"`` (``cuda:LOCAL_RANK``
            under torchrun).
        resume: False, True (continue from ``out/last.pt``) or a checkpoint path. The model,
            features, sample rate and split come from the checkpoint; training continues as if
            never interrupted (same weights as one uninterrupted run).
        crop_seconds: cut clips to at most this long (None: whole files, right-padded per batch).
        frame_length, hop_length, n_fft, n_mels, n_mfcc: the front end's framing (samples) and
            sizes; the front end standardises each feature row with running statistics.
        augment: random gain, time shift and noise on training batches
            (:class:`audiofx.augment.WaveformAugment`).
        lr_schedule: ``"cosine"`` (warm-up over the first epoch, then cosine decay to 1% of
            ``lr`` at ``epochs``) or ``"constant"``.
        num_workers: DataLoader worker processes (0: load in this process).
        log_clips: audio clips (with feature images) written to TensorBoard at the start.
        progress: tqdm progress bars (rank 0 only).
        stop_after_epoch: end this run after that epoch although ``epochs`` is larger (a
            time-sliced job; continue with ``resume=True``).
        threads: CPU threads for torch during this call (``torch.set_num_threads``, restored
            on return; None: as set). On a machine shared with other jobs, fewer threads than
            cores avoids OpenMP contention.
        profile_time: split each training step into augmentation, feature front end and model
            (forward, backward and optimizer step; the front end's backward counts as model):
            CUDA events on CUDA, ``time.perf_counter`` on the CPU (:class:`StepTimer`), read
            once per epoch. Off by default: the split costs a few events per step, and without
            it a step never waits for the device.

    Returns:
        The summary also written to ``out/summary.json``: ``best`` and ``last`` validation
        metrics, ``history`` per epoch, ``timing`` (``steps``; ``data_ms_per_step``, the host's
        wait for the loader; with ``profile_time`` also ``augment_ms_per_step``,
        ``features_ms_per_step`` and ``model_ms_per_step``, else None), ``wall_seconds``,
        ``skipped`` files.
    """
    from . import models
    from . import nn as afn

    _check_int("epochs", epochs)
    _check_int("batch_size", batch_size)
    _check_int("num_workers", num_workers, 0)
    _check_int("log_clips", log_clips, 0)
    _check_int("seed", seed, 0)
    _check_positive("lr", lr)
    _check_positive("weight_decay", weight_decay, allow_zero=True)
    if lr_schedule not in ("cosine", "constant"):
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {lr_schedule!r}")
    if stop_after_epoch is not None:
        _check_int("stop_after_epoch", stop_after_epoch)
    if threads is not None:
        _check_int("threads", threads)
    if not isinstance(profile_time, bool):
        raise TypeError(f"profile_time must be a bool, got {profile_time!r}")
    features = list(features)
    if not features or any(f not in afn.FEATURE_NAMES for f in features):
        raise ValueError(f"features must be a non-empty list of names in "
                         f"{afn.FEATURE_NAMES}, got {features!r}")
    if model not in models.MODELS:
        raise ValueError(f"model must be one of {sorted(models.MODELS)}, got {model!r}")
    dev = _resolve_device(device)
    t_start = time.perf_counter()

    ckpt = None
    if resume:
        path = os.path.join(out, "last.pt") if resume is True else os.fspath(resume)
        if not os.path.exists(path):
            raise FileNotFoundError(f"resume: no checkpoint at {path}")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"resume: {path} is not an audiofx classifier checkpoint")
        if ckpt["model"]["name"] != model:
            raise ValueError(f"resume: the checkpoint holds model {ckpt['model']['name']!r}, "
                             f"not {model!r}")
        sr = ckpt["sample_rate"]
        crop_seconds = ckpt["crop_seconds"]

    dist = _Dist(dev)
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(data, out, dev, ckpt, dist, t_start, model_name=model,
                      features=features, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, val_fraction=val_fraction, seed=seed, sr=sr,
                      crop_seconds=crop_seconds, frame_length=frame_length,
                      hop_length=hop_length, n_fft=n_fft, n_mels=n_mels, n_mfcc=n_mfcc,
                      model_kwargs=dict(model_kwargs or {}), augment=augment,
                      lr_schedule=lr_schedule, num_workers=num_workers, log_clips=log_clips,
                      progress=progress, stop_after_epoch=stop_after_epoch,
                      profile_time=profile_time)
    finally:
        torch.set_num_threads(threads_before)  # a library call leaves the process as it was
        dist.close()


def _train(data, out, dev: torch.device, ckpt: Optional[dict], dist: _Dist, t_start: float, *,
           model_name, features, epochs, batch_size, lr, weight_decay, val_fraction, seed, sr,
           crop_seconds, frame_length, hop_length, n_fft, n_mels, n_mfcc, model_kwargs, augment,
           lr_schedule, num_workers, log_clips, progress, stop_after_epoch,
           profile_time) -> dict:
    """:func:`train` after the argument checks: one process's share of the job."""
    from tqdm.auto import tqdm

    from .augment import WaveformAugment

    _seed_everything(seed)
    ds = _open_dataset(data, sr, crop_seconds)
    if dist.main:
        _report_skipped(ds)
    root = _dataset_root(data)
    rel = _relpaths(ds, root)
    labels = [lab for _, lab in ds.files]

    if ckpt is not None:
        if list(ckpt["classes"]) != list(ds.classes):
            raise ValueError(f"resume: the checkpoint's classes {ckpt['classes']} differ from "
                             f"the data's {ds.classes}")
        where = {p: i for i, p in enumerate(rel)}
        missing = [p for p in ckpt["split"]["train"] + ckpt["split"]["val"] if p not in where]
        if missing:
            raise ValueError(f"resume: {len(missing)} files of the checkpoint's split are not in "
                             f"{data} (first: {missing[0]})")
        train_idx = [where[p] for p in ckpt["split"]["train"]]
        val_idx = [where[p] for p in ckpt["split"]["val"]]
        seed, val_fraction = ckpt["split"]["seed"], ckpt["split"]["val_fraction"]
        feature_config = ckpt["features"]["config"]
        model_config = ckpt["model"]["config"]
        net = build_classifier(model_name, model_config, feature_config)
    else:
        train_idx, val_idx = stratified_split(labels, val_fraction, seed)
        from . import models
        from . import nn as afn

        front = afn.FeatureStack(features, sr=sr, frame_length=frame_length,
                                 hop_length=hop_length, n_fft=n_fft, n_mels=n_mels,
                                 n_mfcc=n_mfcc, standardize=True)
        # The same seed on every rank gives the same initial weights (DDP also broadcasts them).
        net = AudioClassifier(front, models.build_model(
            model_name, in_features=front.feature_dim, n_classes=len(ds.classes),
            **model_kwargs))
        feature_config, model_config = front.config(), net.model.config()
    net.to(dev)
    n_classes = len(ds.classes)

    aug = WaveformAugment(sr=sr) if augment else None
    aug_gen = torch.Generator(device=dev) if aug is not None else None
    if aug_gen is not None:
        aug_gen.manual_seed(seed + 7919 * (dist.rank + 1))

    train_set = torch.utils.data.Subset(ds, train_idx)
    val_set = torch.utils.data.Subset(ds, val_idx)
    # DistributedSampler also for one process: it reshuffles as a function of (seed, epoch)
    # alone, so a resumed run draws the same batches as an uninterrupted one.
    sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=dist.world,
                                                  rank=dist.rank, shuffle=True, seed=seed)
    drop_last = len(sampler) > batch_size  # a last batch of 1 clip would upset batch norm
    steps_per_epoch = len(sampler) // batch_size if drop_last \
        else math.ceil(len(sampler) / batch_size)

    ddp = net
    if dist.enabled:
        ddp = nn.parallel.DistributedDataParallel(
            net, device_ids=[dev.index] if dev.type == "cuda" else None)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    total_steps = epochs * steps_per_epoch
    warmup = min(steps_per_epoch, max(1, total_steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(lr_schedule, s, total_steps, warmup))

    start_epoch, history, best = 0, [], None
    if ckpt is not None:
        net.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start_epoch, history, best = ckpt["epoch"], list(ckpt["history"]), ckpt["best"]
        if len(ckpt["rng"]) == dist.world:
            _set_rng_state(ckpt["rng"][dist.rank], aug_gen)
        elif dist.main:
            warnings.warn(f"resume: the checkpoint was written by {len(ckpt['rng'])} processes, "
                          f"this run has {dist.world}: random streams restart from the seed")
        if dist.main and ckpt.get("epochs") != epochs:
            print(f"resume: training to {epochs} epochs (the checkpoint planned "
                  f"{ckpt.get('epochs')}); the learning-rate schedule is stretched to match",
                  file=sys.stderr)

    pin = dev.type == "cuda"
    val_loader = _loader(val_set, batch_size, _Shard(len(val_set), dist.rank, dist.world),
                         num_workers, seed, pin_memory=pin)
    writer = None
    if dist.main:
        os.makedirs(out, exist_ok=True)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.path.join(out, "tensorboard"))
        print(f"audiofx train: {len(train_idx)} training and {len(val_idx)} validation clips, "
              f"{n_classes} classes, model {model_name}, features {'+'.join(feature_config['features'])} "
              f"({net.front.feature_dim} rows), {sum(p.numel() for p in net.parameters()):,} "
              f"parameters, {dist.world} process(es) on {dev.type}", file=sys.stderr)

    base = dict(format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION,
                model=dict(name=model_name, config=model_config),
                features=dict(config=feature_config), classes=list(ds.classes),
                sample_rate=sr, crop_seconds=crop_seconds, epochs=epochs,
                augment=aug.config() if aug is not None else None,
                split=dict(seed=seed, val_fraction=val_fraction,
                           train=[rel[i] for i in train_idx], val=[rel[i] for i in val_idx]),
                train_args=dict(batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                lr_schedule=lr_schedule, world_size=dist.world,
                                data=os.path.abspath(os.fspath(data))))
    timing = dict(steps=0, data=0.0)
    timer = StepTimer(dev) if profile_time else None
    logged_clips = False
    last_metrics = history[-1]["val"] if history else None
    end_epoch = epochs if stop_after_epoch is None else min(epochs, stop_after_epoch)

    for epoch in range(start_epoch, end_epoch):
        t_epoch = time.perf_counter()
        sampler.set_epoch(epoch)
        loader = _loader(train_set, batch_size, sampler, num_workers, seed + epoch, drop_last,
                         pin_memory=pin)
        if writer is not None and not logged_clips and log_clips:
            _log_clips(writer, net, val_set if len(val_set) else train_set, ds.classes, sr, dev,
                       aug, log_clips, epoch)
            logged_clips = True
        ddp.train()
        net.stopwatch = timer
        # The loss is summed on the device and read once, after the epoch: reading it per step
        # would make the host wait for every step to finish before queueing the next.
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        n_seen = 0
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=not (progress and dist.main), file=sys.stderr)
        t_wait = time.perf_counter()
        for batch in loader:
            timing["data"] += time.perf_counter() - t_wait
            x, lengths, y = _to_device(batch, dev)
            loss = _train_step(ddp, opt, sched, x, lengths, y, aug, aug_gen, timer)
            loss_sum += loss.double() * len(y)
            n_seen += len(y)
            timing["steps"] += 1
            bar.update(1)
            t_wait = time.perf_counter()
        bar.close()
        net.stopwatch = None
        if dist.enabled:
            # DDP broadcasts rank 0's buffers (feature and batch-norm statistics) before every
            # forward; after the last one each rank updated its own copy, so re-align them.
            import torch.distributed as tdist

            for b in net.buffers():
                tdist.broadcast(b, 0)
        tot = dist.sum_(torch.stack([loss_sum, loss_sum.new_tensor(float(n_seen))]))
        train_loss = float(tot[0] / tot[1])
        if timer is not None:
            timing.update(timer.collect())

        record = {"epoch": epoch + 1, "train_loss": train_loss, "lr": sched.get_last_lr()[0]}
        if len(val_set):
            cm, vloss, vn = _confusion_on(net, val_loader, n_classes, dev)
            cm = dist.sum_(torch.from_numpy(cm)).numpy()
            tot = dist.sum_(torch.tensor([vloss, vn], dtype=torch.float64))
            m = classification_metrics(cm)
            m["loss"] = float(tot[0] / tot[1])
            m["confusion"] = cm.tolist()
            record["val"] = m
            last_metrics = m
        record["seconds"] = time.perf_counter() - t_epoch
        history.append(record)
        # Best: highest validation accuracy, ties broken by the lower validation loss.
        improved = best is None or "val" not in record or (
            (record["val"]["accuracy"], -record["val"]["loss"])
            > (best["val"]["accuracy"], -best["val"]["loss"]))
        if improved:
            best = record
        rng = dist.gather(_rng_state(aug_gen))
        if dist.main:
            state = dict(base, state_dict=net.state_dict(), optimizer=opt.state_dict(),
                         scheduler=sched.state_dict(), epoch=epoch + 1, history=history,
                         best=best, rng=rng)
            _atomic_save(state, os.path.join(out, "last.pt"))
            if improved:
                _atomic_save(state, os.path.join(out, "best.pt"))
            writer.add_scalar("loss/train", train_loss, epoch + 1)
            writer.add_scalar("lr", record["lr"], epoch + 1)
            if "val" in record:
                writer.add_scalar("loss/val", record["val"]["loss"], epoch + 1)
                writer.add_scalar("val/accuracy", record["val"]["accuracy"], epoch + 1)
                writer.add_scalar("val/macro_f1", record["val"]["macro_f1"], epoch + 1)
            for k, ms in _ms_per_step(timing).items():
                if ms is not None:
                    writer.add_scalar(f"time_per_step_ms/{k}", ms, epoch + 1)
            writer.flush()
            msg = f"epoch {epoch + 1}/{epochs}: train loss {train_loss:.4f}"
            if "val" in record:
                v = record["val"]
                msg += (f", val loss {v['loss']:.4f}, accuracy {v['accuracy']:.4f}, "
                        f"macro-F1 {v['macro_f1']:.4f}")
            print(msg + f" ({record['seconds']:.1f} s)", flush=True)

    if os.environ.get("AUDIOFX_DUMP_FINAL_STATE"):
        d = os.environ["AUDIOFX_DUMP_FINAL_STATE"]
        os.makedirs(d, exist_ok=True)
        torch.save(net.state_dict(), os.path.join(d, f"rank{dist.rank}.pt"))
    dist.barrier()

    summary = dict(
        model=model_name, features=feature_config["features"], classes=list(ds.classes),
        epochs_done=history[-1]["epoch"] if history else 0, epochs=epochs,
        last=last_metrics, best=best, history=history, world_size=dist.world,
        device=dev.type, wall_seconds=time.perf_counter() - t_start,
        timing={"steps": timing["steps"],
                **{f"{k}_ms_per_step": ms for k, ms in _ms_per_step(timing).items()}},
        skipped=[list(s) for s in ds.skipped])
    if dist.main:
        writer.close()
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        t = summary["timing"]
        split = (f"augment {t['augment_ms_per_step']:.1f} ms, features "
                 f"{t['features_ms_per_step']:.1f} ms, model {t['model_ms_per_step']:.1f} ms"
                 if profile_time else "augment / features / model: --profile-time")
        print(f"time per training step: data {t['data_ms_per_step']:.1f} ms, {split}; total "
              f"{summary['wall_seconds']:.1f} s", file=sys.stderr)
    return summary


def _train_step(ddp, opt, sched, x, lengths, y, aug=None, aug_gen=None,
                timer: Optional[StepTimer] = None) -> torch.Tensor:
    """One optimisation step on a batch already on the device: augment, forward, cross-entropy,
    backward, optimizer and scheduler step. Returns the (detached) loss as a 0-dim tensor on the
    device; nothing here reads a tensor's value on the host, so the host never waits for the
    device. With ``timer``, files the intervals ``augment`` and ``step`` (the front end files
    ``features`` through :attr:`AudioClassifier.stopwatch`)."""
    if timer is not None:
        t0 = timer.mark()
    if aug is not None:
        x = aug(x, lengths, generator=aug_gen)
    if timer is not None:
        t1 = timer.mark()
        timer.add("augment", t0, t1)
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(ddp(x, lengths), y)
    loss.backward()
    opt.step()
    sched.step()
    if timer is not None:
        timer.add("step", t1, timer.mark())
    return loss.detach()


def _ms_per_step(timing: dict) -> dict:
    """Milliseconds per step of ``data`` and, when timed, ``augment``, ``features`` and
    ``model`` (the step less the front end); None for what was not timed."""
    steps = max(1, timing["steps"])
    out = {"data": 1e3 * timing["data"] / steps}
    timed = "step" in timing
    features = timing.get("features", 0.0)
    out["augment"] = 1e3 * timing["augment"] / steps if timed else None
    out["features"] = 1e3 * features / steps if timed else None
    out["model"] = 1e3 * (timing["step"] - features) / steps if timed else None
    return out


def _atomic_save(obj, path: str) -> None:
    # A job killed while writing must leave the previous checkpoint intact.
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _feature_figure(feats: np.ndarray, title: str):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
    ax.imshow(feats, origin="lower", aspect="auto", cmap="magma")
    ax.set(title=title, xlabel="frame", ylabel="feature row")
    fig.tight_layout()
    return fig


@torch.no_grad()
def _log_clips(writer, net, subset, classes, sr, dev, aug, n, step) -> None:
    """A few clips (as heard and, if augmenting, as the model hears them in training) and the
    front end's output for each, to TensorBoard."""
    from . import data as afd

    n = min(n, len(subset))
    x, lengths, y = afd.collate([subset[i] for i in range(n)])
    x, lengths = x.to(dev), lengths.to(dev)
    was_training = net.training
    net.eval()
    feats, mask = net.front(x, lengths)
    for i in range(n):
        name = f"clip{i}_{classes[int(y[i])]}"
        wav = x[i, : int(lengths[i])].float().cpu()
        peak = float(wav.abs().max()) or 1.0
        writer.add_audio(f"audio/{name}", wav / max(peak, 1.0), step, sample_rate=sr)
        valid = int(mask[i].sum())
        writer.add_figure(f"features/{name}",
                          _feature_figure(feats[i, :, :valid].float().cpu().numpy(),
                                          f"{classes[int(y[i])]}: features"), step)
    if aug is not None:
        g = torch.Generator(device=dev)
        g.manual_seed(0)
        xa = aug(x, lengths, generator=g)
        for i in range(n):
            wav = xa[i, : int(lengths[i])].float().cpu()
            writer.add_audio(f"augmented/clip{i}_{classes[int(y[i])]}",
                             wav / max(float(wav.abs().max()), 1.0), step, sample_rate=sr)
    net.train(was_training)


# ---------------------------------------------------------------------------------------------
# evaluate and predict

def evaluate(checkpoint, data, batch_size: int = 64, device: str = "auto",
             png: Optional[str] = None, progress: bool = False, stream=None) -> dict:
    """Accuracy, macro-F1 and confusion matrix of a checkpoint on a labelled folder or CSV.

    The data's class names must be among the checkpoint's (matched by name, so a folder with
    only some of the classes works). Prints the metrics and the confusion matrix (rows true,
    columns predicted) to ``stream`` (None: stdout); with ``png`` writes the matrix as an image.

    Returns:
        ``{"accuracy", "macro_f1", "f1" (per class), "n", "confusion" (list of rows),
        "classes", "skipped"}``.
    """
    _check_int("batch_size", batch_size)
    stream = sys.stdout if stream is None else stream
    dev = _resolve_device(device)
    net, ckpt = load_checkpoint(checkpoint, dev)
    classes = list(ckpt["classes"])
    ds = _open_dataset(data, ckpt["sample_rate"], ckpt["crop_seconds"])
    _report_skipped(ds)
    unknown = [c for c in ds.classes if c not in classes]
    if unknown:
        raise ValueError(f"data: classes {unknown} are not among the checkpoint's {classes}")
    label_map = np.array([classes.index(c) for c in ds.classes], dtype=np.int64)
    loader = _loader(ds, batch_size, None, 0, 0)
    cm, _, _ = _confusion_on(net, loader, len(classes), dev, label_map, bar=progress)
    m = classification_metrics(cm)
    m.update(confusion=cm.tolist(), classes=classes, skipped=[list(s) for s in ds.skipped])
    print(f"{m['n']} clips: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}",
          file=stream)
    width = max(5, max(len(c) for c in classes) + 1)
    print("confusion matrix (rows: true class, columns: predicted class)", file=stream)
    print(" " * width + "".join(f"{c[:width - 1]:>{width}}" for c in classes), file=stream)
    for c, row in zip(classes, cm):
        print(f"{c:<{width}}" + "".join(f"{v:>{width}d}" for v in row), file=stream)
    if png is not None:
        _confusion_png(cm, classes, png, f"{os.path.basename(os.fspath(checkpoint))}: accuracy "
                       f"{m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}")
        print(f"confusion matrix image: {png}", file=stream)
    return m


def _confusion_png(cm: np.ndarray, classes: List[str], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.5 + 0.55 * k, 1.2 + 0.5 * k), dpi=100)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    top = cm.max() if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > top / 2 else "black")
    fig.tight_layout()
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


@torch.no_grad()
def predict(checkpoint, files: Sequence, device: str = "auto", batch_size: int = 32,
            stream=None) -> Tuple[List[dict], List[Tuple[str, str]]]:
    """The most probable class of each audio file.

    Each file is decoded with :func:`audiofx.io.load` at the checkpoint's sample rate (and cut
    to its ``crop_seconds``); a file that cannot be decoded is reported on stderr and skipped.
    Prints ``path<TAB>label<TAB>probability`` per file to ``stream`` (None: stdout).

    Returns:
        ``(predictions, skipped)``: ``predictions`` a list of ``{"path", "label",
        "probability", "probabilities" (per class)}`` in the order of ``files``; ``skipped`` a
        list of ``(path, reason)``.
    """
    from . import data as afd
    from . import io as aio

    _check_int("batch_size", batch_size)
    stream = sys.stdout if stream is None else stream
    dev = _resolve_device(device)
    net, ckpt = load_checkpoint(checkpoint, dev)
    classes, sr, crop = ckpt["classes"], ckpt["sample_rate"], ckpt["crop_seconds"]
    preds, skipped, batch = [], [], []

    def flush():
        if not batch:
            return
        x, lengths, _ = afd.collate([(w, 0) for _, w in batch])
        prob = torch.softmax(net(x.to(dev), lengths.to(dev)).float(), dim=1).cpu()
        for (path, _), p in zip(batch, prob):
            k = int(p.argmax())
            preds.append(dict(path=path, label=classes[k], probability=float(p[k]),
                              probabilities=p.tolist()))
            print(f"{path}\t{classes[k]}\t{float(p[k]):.4f}", file=stream, flush=True)
        batch.clear()

    for f in files:
        path = os.fspath(f)
        try:
            y, _ = aio.load(path, sr=sr, max_seconds=crop)
        except aio.AudioDecodeError as e:
            skipped.append((path, e.reason))
            print(f"skipped {path}: {e.reason}", file=sys.stderr)
            continue
        batch.append((path, torch.from_numpy(y)))
        if len(batch) == batch_size:
            flush()
    flush()
    return preds, skipped


# ---------------------------------------------------------------------------------------------
# The command line

def _model_arg(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass  # a bare word stays a string
    return key, value


def _run_train(args) -> int:
    features = [f for item in args.features for f in item.split(",") if f]
    try:
        summary = train(
            args.data, args.out, model=args.model, features=features, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
            val_fraction=args.val_fraction, seed=args.seed, device=args.device,
            resume=(True if args.resume == "" else args.resume) if args.resume is not None
            else False,
            sr=args.sr, crop_seconds=args.crop_seconds, frame_length=args.frame_length,
            hop_length=args.hop_length, n_fft=args.n_fft, n_mels=args.n_mels,
            n_mfcc=args.n_mfcc, model_kwargs=dict(args.model_arg),
            augment=not args.no_augment, lr_schedule=args.lr_schedule,
            num_workers=args.workers, log_clips=args.log_clips, progress=not args.no_progress,
            stop_after_epoch=args.stop_after_epoch, threads=args.threads,
            profile_time=args.profile_time)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"audiofx train: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0 and summary["best"] and "val" in summary["best"]:
        b = summary["best"]
        print(f"best: epoch {b['epoch']}, validation accuracy {b['val']['accuracy']:.4f}, "
              f"macro-F1 {b['val']['macro_f1']:.4f}; checkpoints in {args.out}")
    return 0


def _run_evaluate(args) -> int:
    png = args.png
    if png is None:
        name = os.path.basename(os.path.normpath(os.fspath(args.data)))
        png = os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                           f"confusion_{os.path.splitext(name)[0] or 'data'}.png")
    try:
        evaluate(args.checkpoint, args.data, batch_size=args.batch_size, device=args.device,
                 png=png or None, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"audiofx evaluate: {e}", file=sys.stderr)
        return 2
    return 0


def _run_predict(args) -> int:
    try:
        _, skipped = predict(args.checkpoint, args.files, device=args.device,
                             batch_size=args.batch_size)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"audiofx predict: {e}", file=sys.stderr)
        return 2
    return 1 if skipped else 0


def add_subcommands(subparsers) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to the ``audiofx`` command."""
    t = subparsers.add_parser(
        "train", help="train a classifier on a labelled folder or CSV",
        description="Train an audio classifier (feature front end + model) with AdamW and "
        "cross-entropy; checkpoints, TensorBoard logs and summary.json go to --out. Runs "
        "unchanged under torchrun --nproc_per_node=K.")
    t.add_argument("data", help="folder with one sub-folder per class, or a CSV path,label")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--model", default="cnn", help="cnn, gru or attention (default cnn)")
    t.add_argument("--model-arg", action="append", default=[], type=_model_arg,
                   metavar="KEY=VALUE", help="a model hyper-parameter (repeatable)")
    t.add_argument("--features", nargs="+", default=["mel"],
                   help="front-end features: ae rms zcr centroid bandwidth mel mfcc "
                   "(space or comma separated; default mel)")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (default 3e-3)")
    t.add_argument("--weight-decay", type=float, default=1e-2)
    t.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine")
    t.add_argument("--val-fraction", type=float, default=0.15,
                   help="share of each class held out for validation (default 0.15)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--resume", nargs="?", const="", default=None, metavar="CHECKPOINT",
                   help="continue from CHECKPOINT (default OUT/last.pt)")
    t.add_argument("--stop-after-epoch", type=int, default=None, metavar="N",
                   help="end this run after epoch N (continue later with --resume)")
    t.add_argument("--sr", type=int, default=16000, help="sample rate in Hz (default 16000)")
    t.add_argument("--crop-seconds", type=float, default=None)
    t.add_argument("--frame-length", type=int, default=512, help="samples (default 512)")
    t.add_argument("--hop-length", type=int, default=160, help="samples (default 160)")
    t.add_argument("--n-fft", type=int, default=None, help="FFT size (default: frame length)")
    t.add_argument("--n-mels", type=int, default=64)
    t.add_argument("--n-mfcc", type=int, default=20)
    t.add_argument("--no-augment", action="store_true", help="no gain/shift/noise augmentation")
    t.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    t.add_argument("--log-clips", type=int, default=4, help="clips logged to TensorBoard")
    t.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument("--profile-time", action="store_true",
                   help="split each step's time into augment / features / model (CUDA events "
                   "on CUDA, read once per epoch); off: steps never wait for the device")
    t.set_defaults(func=_run_train)

    e = subparsers.add_parser(
        "evaluate", help="accuracy, macro-F1 and confusion matrix of a checkpoint",
        description="Evaluate a checkpoint of `audiofx train` on a labelled folder or CSV: "
        "prints accuracy, macro-F1 and the confusion matrix, and writes it as a PNG.")
    e.add_argument("checkpoint")
    e.add_argument("data", help="folder with one sub-folder per class, or a CSV path,label")
    e.add_argument("--png", default=None, help="confusion-matrix image (default: "
                   "confusion_<data>.png next to the checkpoint; '' for none)")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=_run_evaluate)

    p = subparsers.add_parser(
        "predict", help="label and probability of audio files",
        description="Print path, predicted label and its probability for each file.")
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(func=_run_predict)
