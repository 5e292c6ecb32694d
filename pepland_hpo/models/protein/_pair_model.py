"""``PairModel``: the peptide encoder of any variant, a protein encoder, and a head where they meet.

The head reads ``[g ‖ t ‖ g ⊙ t]`` (plus the Morgan counts for ``fusion``), where
``g`` is the peptide's graph embedding (the variant's encoder, unchanged) and ``t``
the protein's (``protein_encoder``), both ``hidden_dim`` wide.

Why the elementwise product beside the concatenation: with ``[g ‖ t]`` alone the
first head layer is additive (``W₁g + W₂t``), so it scores "strong binder" and
"binding protein" separately, and only the ReLU layers after it can learn which
peptide features matter *for which protein*, which is what binding is. ``g ⊙ t``
feeding a linear layer is a rank-``hidden_dim`` bilinear form ``gᵀ W t``
(low-rank bilinear pooling, Kim et al. 2017, as in DTI models): the interaction
in one layer for ``hidden_dim`` inputs, where a full bilinear term would cost
``hidden_dim²`` parameters per output. ``t`` is already a learned projection, so
the product needs no extra weights.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pepland_hpo.models.config import FP_SIZE, ModelConfig
from pepland_hpo.models.model import PeptideModel, PredictionHead
from pepland_hpo.models.protein._encoders import build_protein_encoder


class PairModel(PeptideModel):
    """``model.encode(batch) → [B, hidden_dim]`` (the peptide); ``model(batch) → [B, out_dim]`` (the pair).

    ``model.encoder`` is the peptide encoder, so contrastive pretraining and
    fine-tuning treat it exactly as in a one-molecule model; ``model.protein`` is
    the protein encoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)  # the peptide encoder is drawn first, as in every variant
        protein = build_protein_encoder(cfg)
        if protein is None:
            raise ValueError("PairModel needs a protein encoder (protein_encoder is 'none')")
        self.protein = protein
        extra = (FP_SIZE if cfg.fingerprint else 0) + 2 * cfg.hidden_dim
        self.head = PredictionHead(cfg.hidden_dim, cfg.out_dim, cfg.head_layers, cfg.dropout, extra)

    def encode_protein(self, batch) -> Tensor:
        return self.protein(batch)

    def forward(self, batch) -> Tensor:
        g = self.encoder(batch)
        parts = [g]
        if self.config.fingerprint:
            fp = getattr(batch, "fp", None)
            if fp is None:
                raise ValueError("fingerprint=true needs graphs with fp (featuriser version 3 or later)")
            parts.append(torch.log1p(fp.to(g.dtype)))
        t = self.protein(batch).to(g.dtype)
        parts += [t, g * t]
        return self.head(torch.cat(parts, dim=-1))


__all__ = ["PairModel"]
