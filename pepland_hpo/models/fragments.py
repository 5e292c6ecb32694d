"""The fragment view of the multi-view encoder: residues as nodes beside the atoms.

With ``ModelConfig.fragments`` the encoder keeps a second set of states, one per
fragment of :mod:`pepland_hpo.data.fragments` (``frag_x``, ``atom_frag``,
``frag_edge_index`` of the batch), and after every ``fragment_every``-th atom layer

1. atoms → fragments: ``f ← f + W_af · mean_{i ∈ f} LN(h_i)`` (the junction edges);
2. fragments attend to the fragments of their own molecule: a pre-LN transformer block
   with **exact softmax** and a learned per-head bias per fragment-graph distance
   (0..``fragment_max_distance`` hops along cut bonds, farther and unreachable pairs
   sharing one bucket). A c-CPP peptide has ~19 fragments, so the dense ``[B, H, F, F]``
   attention costs little beside the atoms', whatever attention those use;
3. fragments → atoms: ``h_i ← h_i + W_fa · f_{frag(i)}``.

Fragment distances are computed per batch from ``frag_edge_index`` (a breadth-first
search as repeated boolean products of the dense fragment adjacency), so augmented
graphs whose bonds were dropped need only consistent fragment edges.
Readout: ``W [mean_f ‖ Σ_f / fragment_sum_scale]`` of the final fragment states (the
sum only with ``sum_readout``), added to the atom readout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_mean_pool
from torch_geometric.utils import scatter, to_dense_adj, to_dense_batch

from pepland_hpo.models.config import FRAG_DIM, ModelConfig


@dataclass
class FragmentContext:
    """Per-batch layout of the fragments: ``frag_batch [F]`` graph of each fragment,
    ``bias [B, H, T, T]`` (−inf on padded keys), ``mask [B, T]`` real fragments."""

    atom_frag: Tensor
    frag_batch: Tensor
    num_frags: int
    bias: Tensor
    mask: Tensor


def fragment_batch_vector(atom_frag: Tensor, batch_vec: Tensor, num_frags: int) -> Tensor:
    """Graph id of every fragment (each fragment has at least one atom)."""
    out = torch.zeros(num_frags, dtype=torch.long, device=batch_vec.device)
    return out.scatter(0, atom_frag, batch_vec)


class FragmentBlock(nn.Module):
    """Pre-LN transformer block over fragments: ``[F, D] → [F, D]``, dense exact softmax."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D = cfg.hidden_dim
        self.heads = cfg.num_heads if D % cfg.num_heads == 0 else 1
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)
        self.ffn = nn.Sequential(nn.Linear(D, cfg.ffn_multiplier * D), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.ffn_multiplier * D, D))
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, f: Tensor, ctx: FragmentContext) -> Tensor:
        x = self.norm1(f)
        dense, _ = to_dense_batch(x, ctx.frag_batch, batch_size=ctx.bias.shape[0], max_num_nodes=ctx.bias.shape[-1])
        B, T, D = dense.shape
        q, k, v = self.qkv(dense).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=ctx.bias.to(q.dtype))
        att = att.transpose(1, 2).reshape(B, T, D)[ctx.mask]
        f = f + self.dropout(self.out(att))
        return f + self.dropout(self.ffn(self.norm2(f)))


class FragmentView(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D = cfg.hidden_dim
        self.cfg = cfg
        self.frag_in = nn.Linear(FRAG_DIM, D)
        count = max(1, cfg.num_layers // cfg.fragment_every)
        self.blocks = nn.ModuleList(FragmentBlock(cfg) for _ in range(count))
        self.atom_norm = nn.ModuleList(nn.LayerNorm(D) for _ in range(count))
        self.to_frag = nn.ModuleList(nn.Linear(D, D) for _ in range(count))
        self.to_atom = nn.ModuleList(nn.Linear(D, D) for _ in range(count))
        heads = self.blocks[0].heads
        # distance buckets 0..K, then one for farther or unreachable fragments
        self.distance_bias = nn.Embedding(cfg.fragment_max_distance + 2, heads)
        self.final_norm = nn.LayerNorm(D)
        self.readout = nn.Linear(2 * D if cfg.sum_readout else D, D)

    def exchanges_after(self, layer: int) -> int | None:
        """Index of the exchange that follows atom layer ``layer`` (0-based), or None."""
        every = self.cfg.fragment_every
        k = (layer + 1) // every
        if (layer + 1) % every or k > len(self.blocks):
            return None
        return k - 1

    def prepare(self, batch, batch_vec: Tensor, num_graphs: int) -> tuple[Tensor, FragmentContext]:
        for key in ("frag_x", "atom_frag", "frag_edge_index"):
            if getattr(batch, key, None) is None:
                raise ValueError(f"fragments=true needs graphs with {key} (featuriser version 3 or later)")
        atom_frag = batch.atom_frag
        nf = batch.frag_x.shape[0]
        frag_batch = fragment_batch_vector(atom_frag, batch_vec, nf)
        counts = torch.bincount(frag_batch, minlength=num_graphs)
        T = max(1, int(counts.max()))
        adj = to_dense_adj(batch.frag_edge_index, frag_batch, max_num_nodes=T, batch_size=num_graphs) > 0
        K = self.cfg.fragment_max_distance
        dist = torch.full((num_graphs, T, T), K + 1, dtype=torch.long, device=adj.device)
        reach = torch.eye(T, dtype=torch.bool, device=adj.device).expand(num_graphs, T, T)
        dist[reach] = 0
        adj_f = adj.float()
        for hop in range(1, K + 1):
            new = (torch.bmm(reach.float(), adj_f) > 0) & ~reach
            if not bool(new.any()):
                break
            dist[new] = hop
            reach = reach | new
        _, mask = to_dense_batch(frag_batch, frag_batch, batch_size=num_graphs, max_num_nodes=T)
        bias = self.distance_bias(dist).permute(0, 3, 1, 2)
        bias = bias.masked_fill(~mask.view(num_graphs, 1, 1, T), float("-inf"))
        f = self.frag_in(batch.frag_x.to(self.frag_in.weight.dtype))
        return f, FragmentContext(atom_frag, frag_batch, nf, bias, mask)

    def exchange(self, k: int, h: Tensor, f: Tensor, ctx: FragmentContext) -> tuple[Tensor, Tensor]:
        """Exchange ``k``: atoms ``h [N, D]`` into fragments, fragment attention, fragments back."""
        pooled = scatter(self.atom_norm[k](h), ctx.atom_frag, dim=0, dim_size=ctx.num_frags, reduce="mean")
        f = f + self.to_frag[k](pooled)
        f = self.blocks[k](f, ctx)
        return h + self.to_atom[k](f)[ctx.atom_frag], f

    def pool(self, f: Tensor, ctx: FragmentContext, num_graphs: int) -> Tensor:
        f = self.final_norm(f)
        parts = [global_mean_pool(f, ctx.frag_batch, num_graphs)]
        if self.cfg.sum_readout:
            parts.append(global_add_pool(f, ctx.frag_batch, num_graphs) / self.cfg.fragment_sum_scale)
        return self.readout(torch.cat(parts, dim=-1))


__all__ = ["FragmentBlock", "FragmentContext", "FragmentView", "fragment_batch_vector"]
