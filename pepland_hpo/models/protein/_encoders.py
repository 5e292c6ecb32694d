"""Protein encoders: a protein's input (``batch.protein_x`` or ``batch.protein_tokens``) -> ``[B, D]``.

One is chosen by ``ModelConfig.protein_encoder``, the same for every peptide variant:

* ``composition``: an MLP over the residue + dipeptide composition features;
* ``embeddings``: the same MLP over vectors the user computed elsewhere (ESM, ProtT5);
* ``cnn``: DeepDTA's protein branch (Öztürk et al. 2018): residue embeddings, three
  1D convolutions with ``F, 2F, 3F`` filters, a max over positions. Trained with the model.

``none`` builds no encoder (the control). Everything here is offline: no weights
are ever downloaded.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# residue ids 1..25 (data.pairs.TOKEN_VOCAB - 1 letters); 0 is padding. Kept here so that
# building a model does not import the data layer.
TOKEN_VOCAB = 26
RESIDUE_EMBEDDING_DIM = 32  # DeepDTA embeds each residue in 128 dims; a peptide-sized model needs fewer


class VectorProteinEncoder(nn.Module):
    """``Linear(in, D) → ReLU → Dropout → Linear(D, D)``: ``[B, in] → [B, D]``.

    A LayerNorm first: composition fractions are ~1e-3 and embedding vectors are
    O(1) per dimension with widths of 320 to 1,024, and one normalised input lets
    one learning rate suit both."""

    def __init__(self, in_dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden_dim), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden_dim, hidden_dim))

    def forward(self, batch) -> Tensor:
        x = getattr(batch, "protein_x", None)
        if x is None:
            raise ValueError("this protein encoder reads batch.protein_x (a pair dataset with the "
                             "composition or embeddings input)")
        return self.net(x.float())


class ConvProteinEncoder(nn.Module):
    """DeepDTA-style: ``[B, W]`` residue ids → embeddings → 3 × (Conv1d → ReLU) → max over residues → ``[B, D]``.

    Padding (id 0) is excluded from the max, so a protein's vector does not depend
    on the length of the longest protein in its batch or file."""

    def __init__(self, hidden_dim: int, filters: int, kernel: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(TOKEN_VOCAB, RESIDUE_EMBEDDING_DIM, padding_idx=0)
        widths = [RESIDUE_EMBEDDING_DIM, filters, 2 * filters, 3 * filters]
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size=kernel, padding=kernel // 2) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(widths[-1], hidden_dim))

    def forward(self, batch) -> Tensor:
        tokens = getattr(batch, "protein_tokens", None)
        if tokens is None:
            raise ValueError("the cnn protein encoder reads batch.protein_tokens (a pair dataset with the cnn input)")
        tokens = tokens.long()
        length = int((tokens > 0).sum(dim=1).max().clamp(min=1))
        tokens = tokens[:, :length]  # the batch's longest protein; the rest is padding everywhere
        h = self.embed(tokens).transpose(1, 2)  # [B, E, W]
        for conv in self.convs:
            h = torch.relu(conv(h))[..., : tokens.shape[1]]  # an even kernel adds one position: drop it
        h = h.masked_fill((tokens == 0).unsqueeze(1), float("-inf"))
        return self.out(h.amax(dim=2))


def build_protein_encoder(cfg) -> nn.Module | None:
    """The protein encoder ``cfg`` (a ModelConfig) asks for, or None for ``protein_encoder="none"``."""
    kind = cfg.protein_encoder
    if kind == "none":
        return None
    if kind in ("composition", "embeddings"):
        if cfg.protein_dim <= 0:
            raise ValueError(f"protein_encoder={kind} needs protein_dim (the input width, set from the data)")
        return VectorProteinEncoder(cfg.protein_dim, cfg.hidden_dim, cfg.dropout)
    if kind == "cnn":
        return ConvProteinEncoder(cfg.hidden_dim, cfg.protein_filters, cfg.protein_kernel, cfg.dropout)
    raise ValueError(f"unknown protein encoder {kind!r}")


__all__ = ["ConvProteinEncoder", "TOKEN_VOCAB", "VectorProteinEncoder", "build_protein_encoder"]
