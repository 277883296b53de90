"""Training steps without host syncs (issue 13, item 3): the compiled training step has no graph
break with ``lengths``; ``audiofx train``'s step reads no tensor value on the host (spied on the
CPU: only the epoch ends read the loss); on CUDA the step runs under
``torch.cuda.set_sync_debug_mode("error")``; the step timing is optional and filed per step.

The data is a tiny set of tones written here (no espeak-ng needed): 3 classes x 4 clips of
0.2-0.3 s at 8 kHz.
"""
from __future__ import annotations

import copy
import os
import sys
import traceback

import numpy as np
import pytest
import soundfile as sf
import torch
import torch._dynamo.testing

from audiofx import train as T
from audiofx.models import build_model
from audiofx.nn import FeatureStack

SR = 8000
SMALL = {"cnn": dict(channels=(4, 8)),
         "attention": dict(d_model=16, n_heads=2, n_layers=1, dim_feedforward=32)}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    for c, f0 in (("high", 1800.0), ("low", 300.0), ("mid", 800.0)):
        os.makedirs(root / c)
        for i in range(4):
            n = int(rng.integers(1600, 2400))
            t = np.arange(n) / SR
            y = 0.5 * np.sin(2 * np.pi * f0 * (1 + 0.05 * i) * t) + 0.05 * rng.standard_normal(n)
            sf.write(root / c / f"{c}_{i}.wav", y.astype(np.float32), SR)
    return root


TINY = dict(features=("mel", "zcr"), sr=SR, frame_length=256, hop_length=128, n_mels=16,
            val_fraction=0.25, device="cpu", progress=False, log_clips=0,
            model_kwargs=SMALL["cnn"], threads=1, epochs=1, seed=0)


def _classifier(name, features, sr=SR):
    torch.manual_seed(0)
    front = FeatureStack(features, sr=sr, frame_length=256, hop_length=128, n_mels=16,
                         standardize=True)
    return T.AudioClassifier(front, build_model(name, in_features=front.feature_dim,
                                                n_classes=3, **SMALL[name]))


def _batch(length, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, length, generator=g)
    lengths = torch.tensor([length, length - 437, length // 2])
    x[torch.arange(length) >= lengths[:, None]] = 0.0
    return x, lengths, torch.tensor([0, 1, 2])


# ---------------------------------------------------------------------------------------------
# The compiled training step: one graph, no break, with lengths

def _compiled_steps(net, backend):
    counter = torch._dynamo.testing.CompileCounterWithBackend(backend)
    compiled = torch.compile(net, fullgraph=True, dynamic=True, backend=counter)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    frames = []
    for length in (2000, 2731):
        x, lengths, y = _batch(length, length)
        for _ in range(2):
            loss = torch.nn.functional.cross_entropy(compiled(x, lengths), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert torch.isfinite(loss.detach())
        frames.append(counter.frame_count)
    return frames


@pytest.mark.parametrize("name", sorted(SMALL))
def test_compiled_training_step_has_no_graph_break(name):
    """FeatureStack (frame features, standardised, with lengths) + a model under
    ``torch.compile(fullgraph=True, dynamic=True)``: forward and backward trace through
    AOTAutograd (``aot_eager``) in one graph (fullgraph raises on any break), the second length
    reuses it, and ``torch._dynamo.explain`` counts no break."""
    torch._dynamo.reset()
    net = _classifier(name, ("ae", "rms", "zcr"))
    x, lengths, _ = _batch(2000, 0)
    explained = torch._dynamo.explain(copy.deepcopy(net))(x, lengths)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    first, second = _compiled_steps(net, "aot_eager")
    assert second == first  # no recompile for the second length


def test_compiled_training_step_with_the_mel_front_end():
    """The ``audiofx train`` default (mel + zcr front end, CNN) under the same compile."""
    torch._dynamo.reset()
    _compiled_steps(_classifier("cnn", ("mel", "zcr")), "aot_eager")


# ---------------------------------------------------------------------------------------------
# No host sync in the train loop's step (CPU: spy on the tensor methods that read values)

SPIED = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")
TORCH_OPTIM = os.sep + os.path.join("torch", "optim") + os.sep


class _ValueReads:
    """Every Python-level call of a :data:`SPIED` tensor method, with its call stack."""

    def __init__(self, monkeypatch):
        self.calls = []
        for name in SPIED:
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, getattr(torch.Tensor, name)))

    def _wrap(self, name, method):
        def spy(tensor, *args, **kwargs):
            self.calls.append((name, traceback.extract_stack(sys._getframe(1), limit=60)))
            return method(tensor, *args, **kwargs)
        return spy

    def in_step(self):
        """The reads made inside ``audiofx.train._train_step`` (one optimisation step), less
        two that are host reads on every device: AdamW's step counter (a CPU tensor unless the
        optimizer is ``capturable`` or ``fused``) and the range check of CPU ``lengths``
        (``check_length_values``, skipped for lengths on a device)."""
        out = []
        for name, stack in self.calls:
            if not any(f.name == "_train_step" and f.filename.endswith("train.py")
                       for f in stack):
                continue
            caller = stack[-1]
            if TORCH_OPTIM in caller.filename \
                    or any(f.name == "check_length_values" for f in stack[-2:]):
                continue
            out.append((name, f"{caller.filename}:{caller.lineno} {caller.name}"))
        return out

    def from_train_loop(self):
        """The reads whose caller is in audiofx/train.py (the loop and its helpers)."""
        return [(name, stack[-1].lineno) for name, stack in self.calls
                if stack[-1].filename.endswith(os.path.join("audiofx", "train.py"))]


@pytest.mark.parametrize("profile_time", [False, True], ids=["plain", "profile_time"])
def test_train_steps_read_no_tensor_value(tones, tmp_path, monkeypatch, profile_time):
    """Two tiny runs, 4 and 2 steps per epoch (batch 2 and 4; 9 training clips, augmentation
    on, clips of unequal lengths): no value read inside a step, and train.py's own reads are
    the same in number for both runs (per epoch: the summed loss, the validation sums), so
    none of them is per step."""
    counts, steps = [], []
    for batch_size in (2, 4):
        with monkeypatch.context() as mp:
            spy = _ValueReads(mp)
            summary = T.train(tones, tmp_path / f"b{batch_size}", batch_size=batch_size,
                              profile_time=profile_time, **TINY)
        assert spy.in_step() == []
        counts.append(sorted(spy.from_train_loop()))
        steps.append(summary["timing"]["steps"])
    assert steps == [4, 2]
    assert counts[0] == counts[1] and len(counts[0]) <= 8, counts


def test_profile_time_is_optional_and_splits_the_step(tones, tmp_path):
    plain = T.train(tones, tmp_path / "plain", batch_size=4, **TINY)["timing"]
    assert plain["steps"] == 2 and plain["data_ms_per_step"] >= 0
    assert plain["augment_ms_per_step"] is None and plain["features_ms_per_step"] is None
    assert plain["model_ms_per_step"] is None
    timed = T.train(tones, tmp_path / "timed", batch_size=4, profile_time=True, **TINY)["timing"]
    assert timed["steps"] == 2
    for k in ("data", "augment", "features", "model"):
        assert timed[f"{k}_ms_per_step"] > 0, k
    with pytest.raises(TypeError, match="profile_time"):
        T.train(tones, tmp_path / "bad", batch_size=4, profile_time="yes", **TINY)


def test_step_timer_on_the_cpu():
    timer = T.StepTimer(torch.device("cpu"))
    a = timer.mark()
    b = timer.mark()
    timer.add("x", a, b)
    timer.add("x", a, b)
    assert timer.collect() == {"x": pytest.approx(2 * (b - a))}
    assert timer.collect() == {"x": pytest.approx(2 * (b - a))}  # filed intervals count once


def test_the_epoch_loss_equals_the_mean_of_the_step_losses(tones, tmp_path, monkeypatch):
    """The loss summed on the device and read once per epoch is the clip-weighted mean of the
    step losses."""
    losses = []
    step = T._train_step

    def recording(*args, **kwargs):
        loss = step(*args, **kwargs)
        losses.append((float(loss), len(args[5])))
        return loss

    monkeypatch.setattr(T, "_train_step", recording)
    summary = T.train(tones, tmp_path / "run", batch_size=2, **TINY)
    want = sum(v * n for v, n in losses) / sum(n for _, n in losses)
    assert summary["history"][0]["train_loss"] == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# CUDA: the real step under sync debug mode

@pytest.mark.cuda
@pytest.mark.parametrize("name", ["cnn", "gru", "attention"])
@pytest.mark.parametrize("profile_time", [False, True], ids=["plain", "profile_time"])
def test_cuda_train_step_does_not_synchronise(name, profile_time):
    """``_train_step`` (augment, FeatureStack with lengths, model, AdamW, scheduler) on CUDA with
    ``torch.cuda.set_sync_debug_mode("error")``: any synchronising call raises."""
    from audiofx.augment import WaveformAugment

    dev = torch.device("cuda")
    kw = dict(SMALL, gru=dict(hidden_size=8))[name]
    torch.manual_seed(0)
    front = FeatureStack(("mel", "zcr", "centroid"), sr=SR, frame_length=256, hop_length=128,
                         n_mels=16, standardize=True)
    net = T.AudioClassifier(front, build_model(name, in_features=front.feature_dim,
                                               n_classes=3, **kw)).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    aug = WaveformAugment(sr=SR)
    gen = torch.Generator(device=dev)
    gen.manual_seed(0)
    timer = T.StepTimer(dev) if profile_time else None
    net.stopwatch = timer
    x, lengths, y = (t.to(dev) for t in _batch(2400, 0))
    T._train_step(net, opt, sched, x, lengths, y, aug, gen, timer)  # warm-up: allocations, plans
    torch.cuda.synchronize()
    total = torch.zeros((), dtype=torch.float64, device=dev)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            total += T._train_step(net, opt, sched, x, lengths, y, aug, gen, timer).double()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(total)
    if timer is not None:
        seconds = timer.collect()
        assert seconds["features"] > 0 and seconds["step"] > seconds["features"]
