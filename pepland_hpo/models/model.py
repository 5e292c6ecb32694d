"""``PeptideModel`` = encoder + the prediction head every variant shares.

A tuned GCN is a strong baseline mostly because of a multi-layer head (LRGB,
Tönshoff et al. 2023); giving every variant the same head keeps the ablation fair.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pepland_hpo.models.config import FP_SIZE, ModelConfig
from pepland_hpo.models.encoder import PeptideEncoder


class PredictionHead(nn.Module):
    """``head_layers - 1`` blocks of ``Linear(D, D) → ReLU → Dropout``, then ``Linear(D, out_dim)``:
    ``[B, D] → [B, out_dim]`` (logits for classification)."""

    def __init__(self, hidden_dim: int, out_dim: int, num_layers: int, dropout: float, extra_in: int = 0):
        super().__init__()
        blocks: list[nn.Module] = []
        width = hidden_dim + extra_in  # extra inputs (the fingerprint) enter the first layer
        for _ in range(num_layers - 1):
            blocks += [nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        blocks.append(nn.Linear(width, out_dim))
        self.mlp = nn.Sequential(*blocks)

    def forward(self, g: Tensor) -> Tensor:
        return self.mlp(g)


class PeptideModel(nn.Module):
    """``model.encode(batch) → [B, hidden_dim]``; ``model(batch) → [B, out_dim]``.

    ``model.encoder`` is what contrastive pretraining trains and fine-tuning loads.

    With ``cfg.fingerprint`` (fingerprint fusion, as Chemprop's ``morgan_count``
    molecule features) the head reads ``[g ‖ log(1 + Morgan counts)]``: the encoder
    is untouched, so the fusion variant measures what the graph adds to the counts."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.encoder = PeptideEncoder(cfg)
        extra = FP_SIZE if cfg.fingerprint else 0
        self.head = PredictionHead(cfg.hidden_dim, cfg.out_dim, cfg.head_layers, cfg.dropout, extra)

    def encode(self, batch) -> Tensor:
        return self.encoder(batch)

    def forward(self, batch) -> Tensor:
        g = self.encoder(batch)
        if self.config.fingerprint:
            fp = getattr(batch, "fp", None)
            if fp is None:
                raise ValueError("fingerprint=true needs graphs with fp (featuriser version 3 or later)")
            g = torch.cat([g, torch.log1p(fp.to(g.dtype))], dim=-1)
        return self.head(g)


def compile_layers(model: PeptideModel) -> PeptideModel:
    """``torch.compile`` each encoder layer in place (``TrainConfig.compile``); returns ``model``.

    Layers, not the whole model: the per-batch structure (groups, pair lists, dense
    lengths) is built eagerly once per forward and handed to every layer, so the compiled
    code sees the same few tensor shapes in every layer and batch (sizes marked dynamic:
    no recompilation per molecule length). In place (``nn.Module.compile``), so the
    state_dict keys — checkpoints, best-epoch copies — are those of the eager model."""
    for layer in model.encoder.layers:
        layer.compile(dynamic=True)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (random-feature buffers are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
