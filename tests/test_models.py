"""audiofx.models: shapes, masked pooling (padding never reaches the logits; a padded batch gives
each clip its logits alone), config round trip, build_model, a short fit, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiofx import models
from audiofx.models import MODELS, build_model, masked_max, masked_mean

F_IN, N_CLASSES, T = 20, 5, 37
LENGTHS = [37, 20, 9, 1]
NAMES = sorted(MODELS)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one intra-op thread is faster than two, and much faster on a busy
    machine, where OpenMP threads waiting for a core stall every op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(len(LENGTHS), F_IN, T, generator=g)
    mask = torch.arange(T) < torch.tensor(LENGTHS)[:, None]
    return feats, mask


# Small widths keep the suite fast; the masking logic does not depend on them.
SMALL = {"cnn": dict(channels=(4, 8, 8)), "gru": dict(hidden_size=8, num_layers=2),
         "attention": dict(d_model=16, n_heads=2, n_layers=2, dim_feedforward=32)}


def _model(name, **kw):
    torch.manual_seed(0)
    return build_model(name, in_features=F_IN, n_classes=N_CLASSES, **{**SMALL[name], **kw})


def test_masked_pooling_helpers_by_hand():
    h = torch.tensor([[[1.0, 5.0, -2.0, 100.0], [-1.0, -3.0, -7.0, 50.0]]])  # (1, 2, 4)
    mask = torch.tensor([[True, True, True, False]])
    torch.testing.assert_close(masked_mean(h, mask), torch.tensor([[4.0 / 3, -11.0 / 3]]))
    torch.testing.assert_close(masked_max(h, mask), torch.tensor([[5.0, -1.0]]))
    none = torch.zeros(1, 4, dtype=torch.bool)
    assert masked_mean(h, none).tolist() == [[0.0, 0.0]]
    assert masked_max(h, none).tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_mask_none_means_all_valid(name):
    m = _model(name).eval()
    feats, _ = _batch()
    logits = m(feats)
    assert logits.shape == (len(LENGTHS), N_CLASSES) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(m(feats, torch.ones(len(LENGTHS), T, dtype=torch.bool)), logits,
                               rtol=0, atol=0)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", NAMES)
def test_padded_frames_do_not_change_the_logits(name, train):
    m = _model(name, dropout=0.0).train(train)
    feats, mask = _batch()
    ref = m(feats, mask)
    pad = ~mask.unsqueeze(1).expand_as(feats)
    for fill in (torch.randn(feats.shape) * 1e3, torch.full(feats.shape, float("nan"))):
        changed = torch.where(pad, fill, feats)
        got = m(changed, mask)
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
    # The padding does matter when it is declared valid: the test above can fail.
    assert not torch.allclose(m(torch.where(pad, 3.0, feats), None), m(feats, None))


@pytest.mark.parametrize("name", NAMES)
def test_a_padded_batch_gives_each_clip_its_logits_alone(name):
    m = _model(name).eval()
    feats, mask = _batch(1)
    batch = m(feats, mask)
    for b, L in enumerate(LENGTHS):
        alone = m(feats[b: b + 1, :, :L].contiguous())
        torch.testing.assert_close(batch[b: b + 1], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_and_build_model(name):
    m = _model(name)
    cfg = m.config()
    assert cfg["in_features"] == F_IN and cfg["n_classes"] == N_CLASSES
    fresh = MODELS[name](**cfg)
    assert type(fresh) is type(m)
    fresh.load_state_dict(m.state_dict())
    feats, mask = _batch()
    torch.testing.assert_close(fresh.eval()(feats, mask), m.eval()(feats, mask), rtol=0, atol=0)
    assert build_model(name, **cfg).config() == cfg


def test_models_registry():
    assert MODELS == {"cnn": models.SpectrogramCNN, "gru": models.FeatureGRU,
                      "attention": models.AttentionClassifier}
    with pytest.raises(ValueError, match="'cnn'"):
        build_model("resnet", in_features=4, n_classes=2)


@pytest.mark.parametrize("name", NAMES)
def test_learns_a_separable_problem(name):
    """Class = which feature row carries a bump, over variable-length clips; a few dozen Adam
    steps must fit it (a broken mask or pooling would not)."""
    g = torch.Generator().manual_seed(0)
    n, f, t = 16, 8, 16
    labels = torch.arange(n) % 2
    lengths = torch.randint(4, t + 1, (n,), generator=g)
    mask = torch.arange(t) < lengths[:, None]
    feats = 0.3 * torch.randn(n, f, t, generator=g)
    feats[labels == 0, 1] += 1.0
    feats[labels == 1, 5] += 1.0
    feats = torch.where(mask.unsqueeze(1), feats, torch.randn(n, f, t, generator=g) * 5)
    torch.manual_seed(0)
    m = build_model(name, in_features=f, n_classes=2, dropout=0.0, **SMALL[name])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    loss_fn = torch.nn.CrossEntropyLoss()
    first = None
    for _ in range(25):
        loss = loss_fn(m(feats, mask), labels)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        acc = float((m(feats, mask).argmax(1) == labels).float().mean())
    last = float(loss.detach())
    assert last < 0.5 * first and acc == 1.0, (first, last, acc)


def _packed_gru_reference(m, feats, mask):
    """What FeatureGRU computes, the textbook way: ``m.gru`` over a packed sequence of each
    clip's valid frames (CPU lengths), padded back with zeros, then m's pooling and head."""
    lengths = mask.sum(-1).clamp_min(1)
    packed = torch.nn.utils.rnn.pack_padded_sequence(feats.transpose(1, 2), lengths,
                                                     batch_first=True, enforce_sorted=False)
    out, _ = m.gru(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                    total_length=feats.shape[-1])
    h = out.transpose(1, 2)
    pooled = torch.cat([masked_mean(h, mask), masked_max(h, mask)], dim=1)
    return m.head(m.dropout(pooled))


@pytest.mark.parametrize("layers,bidirectional", [(1, True), (2, True), (2, False)])
def test_gru_equals_the_packed_sequence_reference(layers, bidirectional):
    """FeatureGRU runs each clip's frames without packing (no host-side lengths, so no device
    sync per step); values and gradients equal nn.GRU over the packed valid frames."""
    torch.manual_seed(0)
    m = models.FeatureGRU(F_IN, N_CLASSES, hidden_size=6, num_layers=layers,
                          bidirectional=bidirectional, dropout=0.0).double()
    feats, mask = _batch(2)
    feats = feats.double()
    a = feats.clone().requires_grad_(True)
    b = feats.clone().requires_grad_(True)
    got = m(a, mask)
    want = _packed_gru_reference(m, b, mask)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn(got.shape, dtype=torch.float64)
    got_grads = torch.autograd.grad((got * w).sum(), [a, *m.parameters()])
    want_grads = torch.autograd.grad((want * w).sum(), [b, *m.parameters()])
    for g1, g2 in zip(got_grads, want_grads):
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_cnn_mask_pooling_is_ceil_mode_max_pooling():
    for T in (1, 2, 7, 10):
        m = torch.arange(T) < torch.tensor([T, 1, (T + 1) // 2])[:, None]
        want = torch.nn.functional.max_pool1d(m[:, None].double(), 2, ceil_mode=True)[:, 0] > 0
        assert torch.equal(models._pool_mask(m), want)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs(name):
    m = _model(name)
    feats, mask = _batch()
    with pytest.raises(ValueError, match="in_features"):
        m(feats[:, :5])
    with pytest.raises(ValueError, match="mask"):
        m(feats, mask[:, :5])
    with pytest.raises(ValueError, match="feats"):
        m(feats[0])
    with pytest.raises(ValueError, match="n_classes"):
        MODELS[name](in_features=4, n_classes=0)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="n_heads"):
        models.AttentionClassifier(4, 2, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="dropout"):
        models.FeatureGRU(4, 2, dropout=1.5)
    with pytest.raises(ValueError, match="channels"):
        models.SpectrogramCNN(4, 2, channels=())


@pytest.mark.cuda
@pytest.mark.parametrize("name", NAMES)
def test_on_cuda_matches_cpu(name):
    m = _model(name).eval()
    feats, mask = _batch()
    ref = m(feats, mask)
    got = m.to("cuda")(feats.cuda(), mask.cuda())
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), ref, rtol=1e-4, atol=1e-4)


def test_featurestack_to_model_on_a_padded_batch():
    """Front end to logits on a real padded batch. Needs the functional layer's ``lengths=``
    (issue 4, engineer A2)."""
    from audiofx.nn import FeatureStack

    rng = np.random.default_rng(0)
    lengths = torch.tensor([4000, 2500, 900])
    x = torch.from_numpy(rng.standard_normal((3, 4000)).astype(np.float32))
    fs = FeatureStack(("rms", "zcr", "centroid", "mel", "mfcc"), sr=16000, frame_length=400,
                      hop_length=160, n_mels=32, n_mfcc=13, standardize=True)
    fs(x, lengths)  # training mode: sets the running statistics
    fs.eval()
    feats, mask = fs(x, lengths)
    m = build_model("cnn", in_features=fs.feature_dim, n_classes=3, **SMALL["cnn"]).eval()
    logits = m(feats, mask)
    alone = [m(fs(x[b: b + 1, :int(L)], lengths[b: b + 1])[0][..., :int(mask[b].sum())])
             for b, L in enumerate(lengths)]
    torch.testing.assert_close(logits, torch.cat(alone), rtol=1e-4, atol=1e-4)
