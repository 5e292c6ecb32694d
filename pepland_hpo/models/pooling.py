"""Graph readouts: ``[N, D]`` node states + ``batch [N]`` → ``[B, D]`` graph embeddings."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_mean_pool
from torch_geometric.nn.aggr import AttentionalAggregation, SetTransformerAggregation


class MeanPool(nn.Module):
    """``g_b = mean_{i∈b} h_i``."""

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        return global_mean_pool(x, batch, num_graphs)


class HierarchicalPool(nn.Module):
    """Attention pooling, Set Transformer pooling (PMA) and mean, concatenated and projected.

    ``g_b = W [ Σ_i softmax_i(gate(h_i)) h_i ‖ PMA_S(h_b) ‖ mean_i h_i ] + c`` with ``S`` seed
    vectors (``[B, (S + 2)·D] → [B, D]``). The Set Transformer has no encoder (SAB) blocks:
    a SAB is self-attention over all atoms, quadratic in N, which would undo the linear
    attention; PMA attends from S seeds to the atoms, linear in N, and padded atoms are
    masked inside PyG's block."""

    def __init__(self, hidden_dim: int, num_seeds: int = 4, num_heads: int = 8, dropout: float = 0.0):
        super().__init__()
        self.attention = AttentionalAggregation(
            gate_nn=nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))
        )
        heads = math.gcd(hidden_dim, num_heads)  # PMA heads must divide the width
        self.set_transformer = SetTransformerAggregation(
            hidden_dim,
            num_seed_points=num_seeds,
            num_encoder_blocks=0,
            num_decoder_blocks=1,
            heads=heads,
            concat=True,
            layer_norm=True,
            dropout=dropout,
        )
        self.project = nn.Linear((num_seeds + 2) * hidden_dim, hidden_dim)

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        parts = [
            self.attention(x, batch, dim_size=num_graphs),
            self.set_transformer(x, batch, dim_size=num_graphs),
            global_mean_pool(x, batch, num_graphs),
        ]
        return self.project(torch.cat(parts, dim=-1))


class SizeAwareReadout(nn.Module):
    """Any readout plus a scaled sum: ``g_b = W [ pool(h)_b ‖ Σ_{i∈b} h_i / scale ] + c``.

    Mean and attention pooling are normalised by the number of atoms, so they cannot
    tell a peptide with three arginines from one with six; the sum can. Dividing by a
    constant (not by the size) keeps it a count while holding its scale near that of the
    mean for typical peptides (~100-150 atoms)."""

    def __init__(self, base: nn.Module, hidden_dim: int, scale: float):
        super().__init__()
        self.base = base
        self.scale = float(scale)
        self.project = nn.Linear(2 * hidden_dim, hidden_dim)

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        total = global_add_pool(x, batch, num_graphs) / self.scale
        return self.project(torch.cat([self.base(x, batch, num_graphs), total], dim=-1))
