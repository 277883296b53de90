"""Small classifiers over batched frame features ``(B, F, frames)`` (from
:class:`audiofx.nn.FeatureStack`), each with pooling over the valid frames only.

Every model is ``Model(in_features, n_classes, **hyper)`` with ``forward(feats, mask=None) ->
logits (B, n_classes)``: ``feats`` ``(B, F, frames)`` on any device, ``mask`` bool ``(B,
frames)`` True on valid frames, right-padded (valid frames first, as ``FeatureStack`` returns
it); None means every frame is valid. Padded frames never reach the logits: changing their
values (even to NaN) leaves the logits unchanged, and in eval mode a padded batch gives each clip
the logits it gets alone (to float round-off: kernels of different sizes sum in different
orders). ``config()`` returns the constructor arguments;
:func:`build_model` builds one by name from :data:`MODELS`.

The models are sized to train in minutes on two CPU cores on 1 s clips at 16 kHz (100 frames at
hop 160): roughly 30k-100k parameters with the defaults.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence

import torch
from torch import _VF, nn

__all__ = ["SpectrogramCNN", "FeatureGRU", "AttentionClassifier", "MODELS", "build_model",
           "masked_mean", "masked_max"]


def _check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} "
                        f"{value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_dropout(dropout) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
            or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


def _check_inputs(feats, mask, in_features: int) -> torch.Tensor:
    """Checks ``feats`` (B, F, frames) and returns the mask as bool (B, frames) on its device."""
    if not isinstance(feats, torch.Tensor) or feats.dim() != 3 or not feats.is_floating_point():
        raise ValueError(f"feats must be a float tensor (B, F, frames), got "
                         f"{getattr(feats, 'shape', type(feats).__name__)}")
    if feats.shape[1] != in_features:
        raise ValueError(f"feats must have in_features = {in_features} rows (dim 1), got "
                         f"shape {tuple(feats.shape)}")
    B, _, T = feats.shape
    if mask is None:
        return torch.ones(B, T, dtype=torch.bool, device=feats.device)
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (B, T):
        raise ValueError(f"mask must be a bool tensor of shape (B, frames) = {(B, T)}, got "
                         f"{getattr(mask, 'shape', type(mask).__name__)}")
    return mask.to(device=feats.device, dtype=torch.bool)


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``h`` ``(B, C, frames)`` over the frames where ``mask`` ``(B, frames)`` is True:
    ``(B, C)`` (a row without valid frames gives 0)."""
    w = mask.to(h.dtype).unsqueeze(1)
    return (h * w).sum(-1) / w.sum(-1).clamp_min(1.0)


def masked_max(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Maximum of ``h`` ``(B, C, frames)`` over the frames where ``mask`` ``(B, frames)`` is
    True: ``(B, C)`` (a row without valid frames gives 0)."""
    filled = h.masked_fill(~mask.unsqueeze(1), -math.inf)
    out = filled.amax(-1)
    return torch.where(mask.any(-1, keepdim=True), out, torch.zeros_like(out))


def _pool_mask(m: torch.Tensor) -> torch.Tensor:
    """The frame mask ``(B, frames)`` pooled as ``max_pool2d(2, ceil_mode=True)`` pools the
    frames: a pair is valid if either frame is. (Not ``max_pool1d``: its output size pins the
    frame count under ``torch.compile(dynamic=True)``, a recompile for every length.)"""
    m = nn.functional.pad(m, (0, m.shape[-1] % 2))
    return m.reshape(m.shape[0], -1, 2).any(-1)


class SpectrogramCNN(nn.Module):
    """The conv/pool stack of the tutorial's CNN on a (log-mel) spectrogram, with masked pooling.

    ``feats`` ``(B, F, frames)`` is an image ``(B, 1, F, frames)``; each block is a 3x3
    convolution (zero "same" padding), ReLU and 2x2 max pooling (``ceil_mode``, so no frame is
    dropped), with ``channels`` output channels per block. Before every convolution the padded
    frames are set to 0, and after every ReLU too, so a valid frame next to the padding sees the
    zeros it would see at the clip's end, and pooling (of values >= 0) is unaffected by them; the
    mask is pooled with the frames. The result is averaged over frequency, then its masked mean
    and maximum over the valid frames, ``(B, 2 * channels[-1])``, go through dropout to a linear
    layer.

    Args:
        in_features: rows ``F`` of ``feats`` (e.g. ``n_mels``).
        n_classes: logits per clip.
        channels: output channels of the conv blocks (one block each).
        dropout: before the linear layer.
    """

    def __init__(self, in_features: int, n_classes: int, channels: Sequence[int] = (16, 32, 64,
                                                                                   128),
                 dropout: float = 0.2):
        super().__init__()
        self.in_features = _check_int("in_features", in_features)
        self.n_classes = _check_int("n_classes", n_classes)
        self.channels = [_check_int("channels[i]", c) for c in channels]
        if not self.channels:
            raise ValueError("channels must list at least one conv block's channels")
        self.dropout_p = _check_dropout(dropout)
        self.convs = nn.ModuleList()
        c_in = 1
        for c in self.channels:
            self.convs.append(nn.Conv2d(c_in, c, kernel_size=3, padding=1))
            c_in = c
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(2 * c_in, self.n_classes)

    def config(self) -> dict:
        """The constructor arguments: ``SpectrogramCNN(**config())`` rebuilds the model."""
        return dict(in_features=self.in_features, n_classes=self.n_classes,
                    channels=list(self.channels), dropout=self.dropout_p)

    def forward(self, feats: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        mask = _check_inputs(feats, mask, self.in_features)
        h = feats.unsqueeze(1)
        m = mask
        for conv in self.convs:
            pad = ~m[:, None, None, :]
            # masked_fill, not a product: a NaN in a padded frame must not survive as NaN * 0.
            h = torch.relu(conv(h.masked_fill(pad, 0.0))).masked_fill(pad, 0.0)
            h = self.pool(h)
            m = _pool_mask(m)
        h = h.mean(dim=2)
        pooled = torch.cat([masked_mean(h, m), masked_max(h, m)], dim=1)
        return self.head(self.dropout(pooled))


class FeatureGRU(nn.Module):
    """A (bidirectional) GRU over the frame features, with masked pooling.

    Each clip's valid frames are run alone: the forward direction reads them from the first
    frame (what follows the clip cannot reach its outputs), the backward direction reads them
    reversed within each row, so it starts at the clip's true end, as a packed sequence would
    (``pack_padded_sequence``) but without its host-side lengths, so a training step does not
    wait for the device. The outputs' masked mean and maximum over the valid frames go through
    dropout to a linear layer. The parameters are those of one ``nn.GRU`` (``self.gru``,
    as in the state dicts this model has always saved).

    Args:
        in_features: rows ``F`` of ``feats`` (features per frame).
        n_classes: logits per clip.
        hidden_size: GRU units per direction.
        num_layers: stacked GRU layers.
        bidirectional: run a second GRU backwards.
        dropout: between GRU layers and before the linear layer.
    """

    def __init__(self, in_features: int, n_classes: int, hidden_size: int = 64,
                 num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.1):
        super().__init__()
        self.in_features = _check_int("in_features", in_features)
        self.n_classes = _check_int("n_classes", n_classes)
        self.hidden_size = _check_int("hidden_size", hidden_size)
        self.num_layers = _check_int("num_layers", num_layers)
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.bidirectional = bidirectional
        self.dropout_p = _check_dropout(dropout)
        self.gru = nn.GRU(self.in_features, self.hidden_size, num_layers=self.num_layers,
                          batch_first=True, bidirectional=bidirectional,
                          dropout=self.dropout_p if self.num_layers > 1 else 0.0)
        out = self.hidden_size * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(2 * out, self.n_classes)

    def config(self) -> dict:
        """The constructor arguments: ``FeatureGRU(**config())`` rebuilds the model."""
        return dict(in_features=self.in_features, n_classes=self.n_classes,
                    hidden_size=self.hidden_size, num_layers=self.num_layers,
                    bidirectional=self.bidirectional, dropout=self.dropout_p)

    def forward(self, feats: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        mask = _check_inputs(feats, mask, self.in_features)
        valid = mask.unsqueeze(-1)
        # Padded frames are zeroed so that no value of theirs (not even a NaN) enters a product.
        h = feats.transpose(1, 2).masked_fill(~valid, 0.0)  # (B, frames, F)
        T = h.shape[1]
        # Per row, frame t <-> n - 1 - t for t < n (n valid frames), padding in place: an
        # involution that reverses each clip's frames alone.
        n = mask.sum(-1, keepdim=True)
        t = torch.arange(T, device=h.device)
        order = torch.where(t < n, n - 1 - t, t).unsqueeze(-1)

        def reverse(v):
            return torch.gather(v, 1, order.expand(-1, -1, v.shape[-1]))

        gru = self.gru
        for layer in range(self.num_layers):
            out = self._direction(h, layer, "")
            if self.bidirectional:
                out = torch.cat([out, reverse(self._direction(reverse(h), layer, "_reverse"))],
                                dim=-1)
            h = out.masked_fill(~valid, 0.0)
            if layer < self.num_layers - 1 and gru.dropout > 0:
                h = nn.functional.dropout(h, gru.dropout, self.training)
        h = h.transpose(1, 2)  # (B, C, frames)
        pooled = torch.cat([masked_mean(h, mask), masked_max(h, mask)], dim=1)
        return self.head(self.dropout(pooled))

    def _direction(self, seq: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """One layer's one direction of ``self.gru`` over ``seq`` ``(B, frames, in)``, from a
        zero state, reading the frames in order: ``(B, frames, hidden_size)``. The call is the
        one ``nn.GRU.forward`` makes, on this (layer, direction)'s four weights."""
        g = self.gru
        weights = [getattr(g, f"{name}_l{layer}{suffix}")
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h0 = seq.new_zeros(1, seq.shape[0], self.hidden_size)
        out, _ = _VF.gru(seq, h0, weights, True, 1, 0.0, self.training, False, True)
        return out


def _sinusoidal_positions(n: int, d: int, device, dtype) -> torch.Tensor:
    """The Transformer's fixed positional encoding, ``(n, d)``: sin / cos of ``pos / 10000 **
    (2i / d)`` in the even / odd columns."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32)
                    * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(pos * inv)
    pe[:, 1::2] = torch.cos(pos * inv[: d // 2])
    return pe.to(dtype)


class AttentionClassifier(nn.Module):
    """A small self-attention encoder over the frames, with masked pooling.

    Each frame's features are projected to ``d_model``, given a sinusoidal position encoding,
    and passed through ``n_layers`` pre-norm Transformer encoder layers
    (``torch.nn.TransformerEncoderLayer``) whose attention ignores the padded frames (key
    padding mask); the masked mean and maximum of the normalised outputs over the valid frames
    go to a linear layer.

    Args:
        in_features: rows ``F`` of ``feats``.
        n_classes: logits per clip.
        d_model: width of the encoder (a multiple of ``n_heads``).
        n_heads: attention heads.
        n_layers: encoder layers.
        dim_feedforward: hidden units of each layer's feed-forward block.
        dropout: inside the encoder and before the linear layer.
    """

    def __init__(self, in_features: int, n_classes: int, d_model: int = 64, n_heads: int = 4,
                 n_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1):
        super().__init__()
        self.in_features = _check_int("in_features", in_features)
        self.n_classes = _check_int("n_classes", n_classes)
        self.d_model = _check_int("d_model", d_model, 2)
        self.n_heads = _check_int("n_heads", n_heads)
        if self.d_model % self.n_heads or self.d_model % 2:
            raise ValueError(f"d_model must be even and a multiple of n_heads = {self.n_heads}, "
                             f"got {self.d_model}")
        self.n_layers = _check_int("n_layers", n_layers)
        self.dim_feedforward = _check_int("dim_feedforward", dim_feedforward)
        self.dropout_p = _check_dropout(dropout)
        self.proj = nn.Linear(self.in_features, self.d_model)
        layer = nn.TransformerEncoderLayer(self.d_model, self.n_heads, self.dim_feedforward,
                                           self.dropout_p, batch_first=True, norm_first=True)
        # Nested tensors (an inference fast path) are off: they do not apply to pre-norm layers.
        self.encoder = nn.TransformerEncoder(layer, self.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(self.d_model)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(2 * self.d_model, self.n_classes)

    def config(self) -> dict:
        """The constructor arguments: ``AttentionClassifier(**config())`` rebuilds the model."""
        return dict(in_features=self.in_features, n_classes=self.n_classes,
                    d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                    dim_feedforward=self.dim_feedforward, dropout=self.dropout_p)

    def forward(self, feats: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        mask = _check_inputs(feats, mask, self.in_features)
        seq = feats.transpose(1, 2)  # (B, frames, F)
        # Padded frames are zeroed first so that no value of theirs (not even a NaN) can reach
        # the valid frames through the projection or the attention's weighted sum.
        seq = seq.masked_fill(~mask.unsqueeze(-1), 0.0)
        h = self.proj(seq)
        h = h + _sinusoidal_positions(h.shape[1], self.d_model, h.device, h.dtype)
        h = self.encoder(h, src_key_padding_mask=~mask)
        h = self.norm(h).transpose(1, 2)  # (B, d_model, frames)
        pooled = torch.cat([masked_mean(h, mask), masked_max(h, mask)], dim=1)
        return self.head(self.dropout(pooled))


#: Model classes by the name the training command uses.
MODELS = {"cnn": SpectrogramCNN, "gru": FeatureGRU, "attention": AttentionClassifier}


def build_model(name: str, **kwargs) -> nn.Module:
    """``MODELS[name](**kwargs)``, e.g. ``build_model("cnn", in_features=64, n_classes=10)``."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {', '.join(map(repr, MODELS))}, got {name!r}")
    return MODELS[name](**kwargs)
