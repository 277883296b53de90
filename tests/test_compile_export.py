"""torch.compile(fullgraph=True, dynamic=True) of a model that trains through the ops (a learnable
FIR front end whose loss uses rms and spectral features), step for step against eager on two
input lengths, and torch.export.export of a feature extractor with a dynamic time dimension."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch._dynamo.testing
import torch.nn.functional as F

import audiofx as afx
from reference import make_signal, ref_rms

SR = 8000


class FeatureMatcher(torch.nn.Module):
    """A learnable gain and 5-tap FIR filter on the waveform, trained so that the rms and the
    spectral centroid of its output match those of a target filter's output."""

    def __init__(self):
        super().__init__()
        self.fir = torch.nn.Parameter(torch.tensor([0.1, 0.2, 0.4, 0.2, 0.1]))
        self.gain = torch.nn.Parameter(torch.tensor(0.7))

    def features(self, y):
        r = afx.rms(y, 256, 64)
        ae, _, _ = afx.frame_features(y, 256, 64, absolute=True)
        c = afx.spectral_features(y, sr=SR, n_fft=256, hop_length=64)["centroid"]
        return r, ae, c

    def forward(self, x, target_rms, target_peak, target_centroid):
        y = self.gain * F.conv1d(x.unsqueeze(1), self.fir.view(1, 1, -1), padding=2).squeeze(1)
        r, ae, c = self.features(y)
        return (F.mse_loss(r, target_rms) + 0.1 * F.mse_loss(ae, target_peak)
                + F.mse_loss(c / 1000.0, target_centroid / 1000.0))


def _batch(T, seed):
    x = torch.from_numpy(make_signal("normal", T, np.float64, seed=seed, shape=(3,))).float()
    teacher = torch.tensor([0.3, -0.2, 0.8, 0.25, -0.1])
    y = 1.3 * F.conv1d(x.unsqueeze(1), teacher.view(1, 1, -1), padding=2).squeeze(1)
    with torch.no_grad():
        r, ae, c = FeatureMatcher().features(y)
    return x, r, ae, c


def _train(model, batches, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for batch in batches:
        for _ in range(steps):
            opt.zero_grad()
            loss = model(*batch)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("backend", ["inductor", "aot_eager"])
def test_compiled_training_matches_eager(backend):
    """fullgraph=True, dynamic=True: 4 SGD steps on each of two lengths; the compiled model's
    losses and parameters follow eager's step for step, and the loss decreases."""
    torch._dynamo.reset()
    batches = [_batch(2000, seed=1), _batch(2731, seed=2)]
    eager = FeatureMatcher()
    compiled_model = copy.deepcopy(eager)
    counter = torch._dynamo.testing.CompileCounterWithBackend(backend)
    compiled = torch.compile(compiled_model, fullgraph=True, dynamic=True, backend=counter)
    want = _train(eager, batches, 4)
    got = _train(compiled, batches[:1], 4)
    graphs = counter.frame_count
    got += _train(compiled, batches[1:], 4)
    assert counter.frame_count == graphs  # the second length reuses the dynamic graph
    np.testing.assert_allclose(got, want, rtol=2e-4)
    for pe, pc in zip(eager.parameters(), compiled_model.parameters()):
        torch.testing.assert_close(pc, pe, rtol=2e-4, atol=1e-6)
    for first, last in ((want[0], want[3]), (want[4], want[7])):
        assert last < 0.9 * first


def test_compiled_gradient_of_every_frame_op():
    """Gradients of frame, amplitude envelope, rms, zcr, frame_features and the STFT through
    torch.compile(fullgraph=True, dynamic=True, backend='aot_eager') equal eager's."""
    torch._dynamo.reset()

    def f(x):
        ae, r, z = afx.frame_features(x, 64, 20, center=True, pad_mode="reflect")
        return (afx.frame(x, 32, 10).square().sum() + ae.sum() + (r * r).sum() + z.sum()
                + afx.amplitude_envelope(x, 50, 7, center=False, pad_mode=None).sum()
                + afx.stft(x, 64, 16, pad_mode="edge").abs().sum()
                + afx.zero_crossing_rate(x, 64, 16).sum())

    compiled = torch.compile(f, fullgraph=True, dynamic=True, backend="aot_eager")
    for T in (300, 411):
        x = torch.from_numpy(make_signal("normal", T, np.float64, seed=T, shape=(2,)))
        xe = x.clone().requires_grad_()
        xc = x.clone().requires_grad_()
        (ge,) = torch.autograd.grad(f(xe), xe)
        (gc,) = torch.autograd.grad(compiled(xc), xc)
        torch.testing.assert_close(gc, ge, rtol=1e-12, atol=1e-12)


class Extractor(torch.nn.Module):
    """Frame features and spectral centroid/bandwidth, stacked (..., 5, n_frames)."""

    def forward(self, x):
        ae, r, z = afx.frame_features(x, 512, 128)
        sf = afx.spectral_features(x, sr=22050, n_fft=512, hop_length=128)
        return torch.stack([ae, r, z, sf["centroid"], sf["bandwidth"]], dim=-2)


def test_export_feature_extractor_dynamic_time():
    x = torch.from_numpy(make_signal("chirp", 4000, np.float64, seed=0, shape=(2,))).float()
    T = torch.export.Dim("T", min=600, max=1_000_000)
    ep = torch.export.export(Extractor(), (x,), dynamic_shapes={"x": {1: T}})
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert {"audiofx.frame_features.default", "audiofx.spectral_features.default"} <= targets
    for length in (4000, 5171):
        xi = torch.from_numpy(make_signal("chirp", length, np.float64, seed=1, shape=(2,))).float()
        got = ep.module()(xi)
        want = Extractor()(xi)
        assert got.shape == (2, 5, 1 + length // 128)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        # And the values are right, not only equal: rms against numpy.
        np.testing.assert_allclose(got[:, 1].numpy(), ref_rms(xi, 512, 128), rtol=2e-6,
                                   atol=1e-7)


def test_export_of_the_training_loss_backpropagates():
    """torch.export of the training loss keeps the custom ops and their autograd: the exported
    module's loss and parameter gradients equal eager's."""
    x, r, ae, c = _batch(1500, seed=3)
    model = FeatureMatcher()
    exported = torch.export.export(model, (x, r, ae, c)).module()
    want = model(x, r, ae, c)
    want.backward()
    got = exported(x, r, ae, c)
    got.backward()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
    grads = dict(exported.named_parameters())
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
        torch.testing.assert_close(grads[name].grad, p.grad, rtol=1e-5, atol=1e-8)
