"""Graphormer structure encodings (Ying et al., NeurIPS 2021), computed sparsely.

* :class:`CentralityEncoding` — ``h_i ← h_i + z[min(deg_i, max_degree)]``, ``z ∈ R^{(max_degree+1)×D}``.
* :class:`SpatialEncoding` — a learned bias per head per distance bucket,
  ``b_h(i, j) = β[bucket(spd_ij), h]``. ``bucket(d) = min(d, cap)`` for reachable pairs,
  so every pair farther than ``cap`` shares the last distance bucket (never masked out:
  peptides have mean distances ~20 hops); unreachable pairs (255, several fragments) get
  their own bucket ``cap + 1`` unless ``unreachable_is_far`` folds them into ``cap``.
* :class:`EdgePathEncoding` — for a pair at distance ``d ≤ hops`` with shortest path
  edges ``e_1..e_d``: ``c_h(i, j) = (1/d) Σ_{n=1..d} ⟨x_{e_n}, w_{n,h}⟩``, with
  ``w ∈ R^{hops×F×H}``. Evaluated from ``pair_index``/``pair_path`` only, as
  ``[E, hops, H]`` per-edge projections gathered to ``[P, hops, H]`` — never an
  ``N×N×hops×F`` tensor (Graphormer's reference ``edge_input``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

UNREACHABLE = 255


class CentralityEncoding(nn.Module):
    """Degree embedding added to the atom input. ``degree`` long ``[N]`` → ``[N, D]``.

    Degrees above ``max_degree`` are clamped into the last row (an index error otherwise)."""

    def __init__(self, max_degree: int, hidden_dim: int):
        super().__init__()
        self.max_degree = max_degree
        self.embedding = nn.Embedding(max_degree + 1, hidden_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, degree: Tensor) -> Tensor:
        return self.embedding(degree.long().clamp(0, self.max_degree))


class SpatialEncoding(nn.Module):
    """Per-head bias per shortest-path-distance bucket. ``spd`` (uint8/long, any shape) →
    ``[..., H]``. Buckets ``0..cap`` (``cap`` = "cap hops or farther") and, unless
    ``unreachable_is_far``, ``cap + 1`` for unreachable pairs."""

    def __init__(self, cap: int, num_heads: int, unreachable_is_far: bool = False):
        super().__init__()
        self.cap = cap
        self.unreachable_is_far = unreachable_is_far
        self.unreachable_bucket = cap if unreachable_is_far else cap + 1
        self.embedding = nn.Embedding(cap + (1 if unreachable_is_far else 2), num_heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.02)

    def bucket(self, spd: Tensor) -> Tensor:
        d = spd.long()
        return torch.where(d == UNREACHABLE, self.unreachable_bucket, d.clamp(0, self.cap))

    def forward(self, spd: Tensor) -> Tensor:
        return self.embedding(self.bucket(spd))

    def far_bias(self) -> Tensor:
        """``[H]`` bias of the last distance bucket (pairs ``cap`` or more hops apart)."""
        return self.embedding.weight[self.cap]


class EdgePathEncoding(nn.Module):
    """Mean over the shortest path of per-hop projections of the bond features.

    ``edge_attr [E, F]``, ``pair_path [P, ≥hops]`` (edge ids), ``pair_dist [P]`` (1..hops)
    → ``[P, H]``. Pairs with ``pair_dist > hops`` must be filtered out by the caller."""

    def __init__(self, bond_dim: int, num_heads: int, hops: int):
        super().__init__()
        self.hops = hops
        self.weight = nn.Parameter(torch.empty(hops, bond_dim, num_heads))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, edge_attr: Tensor, pair_path: Tensor, pair_dist: Tensor) -> Tensor:
        hops = self.hops
        # project every edge once per hop position: [E, hops, H] (E ~ 2N, cheap)
        per_edge = torch.einsum("ef,nfh->enh", edge_attr.to(self.weight.dtype), self.weight)
        path = pair_path[:, :hops]
        hop = torch.arange(hops, device=path.device)
        gathered = per_edge[path, hop]  # [P, hops, H]: edge path[p, n] seen at hop n
        valid = (hop.unsqueeze(0) < pair_dist.unsqueeze(1)).unsqueeze(-1)
        total = (gathered * valid).sum(1)
        return total / pair_dist.clamp(min=1).unsqueeze(-1).to(total.dtype)
