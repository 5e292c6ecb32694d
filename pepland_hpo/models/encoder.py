"""The one peptide encoder, assembled from a :class:`ModelConfig`.

``PeptideEncoder(cfg)(batch) → [B, hidden_dim]`` for a PyG batch of ``PeptideGraph`` s.

* input: ``h⁰_i = W_in x_i (+ z[min(deg_i, max_degree)] if centrality)``;
* ``layer="gcn"``: ``h ← h + Dropout(ReLU(LayerNorm(GCNConv(h))))`` per layer
  (PyG ``GCNConv`` with self-loops and symmetric normalisation; bond features do not
  enter, unweighted edges — the baseline is the plain GCN);
* ``layer="transformer"``: pre-LayerNorm blocks
  ``h ← h + Dropout(W_o Attn(LN(h)))``, ``h ← h + Dropout(FFN(LN(h)))``, final LN.
  Attention logits ``q_i·k_j/√d + b_ij`` with ``b_ij`` = spatial bias (per head, per
  distance bucket) + edge-path encoding (pairs within ``near_hops``) + graph-token bias;
  the bias is computed once per forward pass and shared by all layers (as in Graphormer).
  Per graph, exact softmax (dense ``[B, H, T, T]`` bias via ``to_dense_batch``, or with
  ``attention_backend="flex"`` the same bias looked up inside FlexAttention,
  :mod:`pepland_hpo.models.flex_bias`) or the
  structure-aware FAVOR+ of :mod:`pepland_hpo.models.performer` (``attention="auto"``:
  softmax up to ``auto_crossover_atoms`` atoms, FAVOR+ above — decided per graph, so a
  graph's embedding never depends on its batch-mates);
* graph token: a learned vector appended to each graph as a virtual atom, with its own
  learned bias per head to and from every atom; its final state is added to the pooled
  embedding;
* ``fragments``: a second view, one node per fragment (residue), exchanging messages with
  its atoms after every ``fragment_every`` layers (:mod:`pepland_hpo.models.fragments`);
* readout: mean pooling or :class:`~pepland_hpo.models.pooling.HierarchicalPool`, with
  ``sum_readout`` a scaled sum beside it (:class:`~pepland_hpo.models.pooling.SizeAwareReadout`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_dense_batch

from pepland_hpo.models.config import ModelConfig
from pepland_hpo.models.fragments import FragmentView
from pepland_hpo.models.encodings import CentralityEncoding, EdgePathEncoding, SpatialEncoding
from pepland_hpo.models.flex_bias import FlexBias, PairCodes, pair_codes, resolve_backend
from pepland_hpo.models.performer import FavorFeatures, PairPattern, favor_attention
from pepland_hpo.models.pooling import HierarchicalPool, MeanPool, SizeAwareReadout


@dataclass
class AttentionGroup:
    """The graphs of a batch that share one attention kind, laid out densely.

    ``node_idx``/``graph_idx`` select the group's atoms/graphs (None = all), ``batch`` is
    the local graph id of each selected atom, dense length ``T = max atoms (+1 token)``.
    Softmax groups carry ``bias [Bg, H, T, T]`` (−inf on padded keys), or with the flex
    backend ``flex`` (the same bias as a lookup, never dense); FAVOR+ groups carry
    ``far_bias [H]`` and listed pairs (flat positions ``b*T + t``) with ``pair_bias [P, H]``.
    """

    kind: str
    node_idx: Tensor | None
    graph_idx: Tensor | None
    batch: Tensor
    num_graphs: int
    T: int
    key_mask: Tensor
    bias: Tensor | None = None
    far_bias: Tensor | None = None
    pattern: PairPattern | None = None
    pair_bias: Tensor | None = None
    flex: FlexBias | None = None


class GCNBlock(nn.Module):
    """``h ← h + Dropout(ReLU(LayerNorm(GCNConv(h, edge_index))))``, ``[N, D] → [N, D]``."""

    def __init__(self, hidden_dim: int, dropout: float):
        super().__init__()
        self.conv = GCNConv(hidden_dim, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
        return h + self.dropout(F.relu(self.norm(self.conv(h, edge_index))))


class TransformerBlock(nn.Module):
    """Pre-LN transformer block over atoms and graph tokens: ``[R, D] → [R, D]``."""

    def __init__(self, cfg: ModelConfig, use_favor: bool):
        super().__init__()
        D, H = cfg.hidden_dim, cfg.num_heads
        self.num_heads, self.head_dim = H, D // H
        self.norm1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)
        self.norm2 = nn.LayerNorm(D)
        self.ffn = nn.Sequential(
            nn.Linear(D, cfg.ffn_multiplier * D),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.ffn_multiplier * D, D),
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.features = (
            FavorFeatures(self.head_dim, cfg.num_random_features, cfg.redraw_interval) if use_favor else None
        )

    def forward(self, h: Tensor, num_nodes: int, groups: list[AttentionGroup]) -> Tensor:
        if self.training and self.features is not None:
            self.features.step()
        h = h + self.dropout(self.out(self.attend(self.norm1(h), num_nodes, groups)))
        return h + self.dropout(self.ffn(self.norm2(h)))

    def attend(self, x: Tensor, num_nodes: int, groups: list[AttentionGroup]) -> Tensor:
        R = x.shape[0]
        q, k, v = self.qkv(x).view(R, 3, self.num_heads, self.head_dim).unbind(1)
        has_token = R > num_nodes
        out = None
        for g in groups:
            dense = [self._densify(t, num_nodes, g, has_token) for t in (q, k, v)]
            if g.kind == "softmax":
                qd, kd, vd = (t.transpose(1, 2) for t in dense)  # [Bg, H, T, d]
                if g.flex is not None:
                    res = g.flex.attend(qd, kd, vd)
                else:
                    res = F.scaled_dot_product_attention(qd, kd, vd, attn_mask=g.bias.to(qd.dtype))
                res = res.transpose(1, 2)
            else:
                favor_args = (*dense, g.key_mask, self.features.omega, g.far_bias, g.pattern, g.pair_bias)
                if torch.is_grad_enabled() and self.training:
                    # recompute the random-feature maps in backward instead of keeping
                    # [T, H, m] tensors per layer: m ≈ 4d, they would dominate activation memory
                    res = checkpoint(favor_attention, *favor_args, use_reentrant=False)
                else:
                    res = favor_attention(*favor_args)
                res = res.to(q.dtype)
            o = 1 if has_token else 0
            nodes = res[:, o:][g.key_mask[:, o:]]
            part = torch.cat([nodes, res[:, 0]]) if has_token else nodes
            if len(groups) == 1:
                return part.reshape(R, -1)
            rows = g.node_idx
            if has_token:
                rows = torch.cat([g.node_idx, num_nodes + g.graph_idx])
            out = (x.new_zeros(R, self.num_heads, self.head_dim) if out is None else out).index_copy(
                0, rows, part.to(x.dtype)
            )
        return out.reshape(R, -1)

    @staticmethod
    def _densify(t: Tensor, num_nodes: int, g: AttentionGroup, has_token: bool) -> Tensor:
        nodes = t[:num_nodes] if g.node_idx is None else t[g.node_idx]
        dense, _ = to_dense_batch(nodes, g.batch, batch_size=g.num_graphs, max_num_nodes=g.T - has_token)
        if not has_token:
            return dense
        tok = t[num_nodes:] if g.graph_idx is None else t[num_nodes + g.graph_idx]
        return torch.cat([tok.unsqueeze(1), dense], dim=1)


class PeptideEncoder(nn.Module):
    """Atoms → graph embeddings ``[B, hidden_dim]`` (see module docstring)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg  # validated once, by build_model (or ModelConfig.from_dict when read)
        D, H = cfg.hidden_dim, cfg.num_heads
        self.atom_in = nn.Linear(cfg.atom_dim, D)
        self.centrality = CentralityEncoding(cfg.max_degree, D) if cfg.centrality else None
        self.crossover = {"softmax": None, "favor": -1, "auto": cfg.auto_crossover_atoms}[cfg.attention]
        self.spatial = self.edge_encoding = None
        self.graph_token = self.token_bias = None
        if cfg.layer == "gcn":
            self.layers = nn.ModuleList(GCNBlock(D, cfg.dropout) for _ in range(cfg.num_layers))
            self.final_norm = None
        else:
            if cfg.spatial:
                if cfg.attention == "favor":
                    # FAVOR+ only sees distances 0..near_hops exactly; everything farther,
                    # unreachable included, shares the far bucket near_hops + 1.
                    self.spatial = SpatialEncoding(cfg.near_hops + 1, H, unreachable_is_far=True)
                else:
                    self.spatial = SpatialEncoding(cfg.max_distance, H)
            if cfg.edge_encoding:
                self.edge_encoding = EdgePathEncoding(cfg.bond_dim, H, cfg.near_hops)
            if cfg.graph_token:
                self.graph_token = nn.Parameter(torch.randn(D) * 0.02)
                self.token_bias = nn.Parameter(torch.zeros(H))
            use_favor = cfg.attention in ("favor", "auto")
            self.layers = nn.ModuleList(TransformerBlock(cfg, use_favor) for _ in range(cfg.num_layers))
            self.final_norm = nn.LayerNorm(D)
        if cfg.pooling == "hierarchical":
            self.pool = HierarchicalPool(D, cfg.pool_seeds, H, cfg.dropout)
        else:
            self.pool = MeanPool()
        if cfg.sum_readout:
            self.pool = SizeAwareReadout(self.pool, D, cfg.sum_scale)
        self.fragments = FragmentView(cfg) if cfg.fragments else None

    # -- public ---------------------------------------------------------------------------
    def forward(self, batch) -> Tensor:
        nodes, token, batch_vec, num_graphs, frags = self._states(batch)
        g = self.pool(nodes, batch_vec, num_graphs)
        if frags is not None:
            g = g + self.fragments.pool(*frags, num_graphs)
        return g + token if token is not None else g

    def node_states(self, batch) -> tuple[Tensor, Tensor | None, Tensor, int]:
        """``(atoms [N, D], graph tokens [B, D] or None, batch [N], B)`` after the last layer."""
        return self._states(batch)[:4]

    def _states(self, batch):
        """:meth:`node_states` plus ``(fragment states [F, D], FragmentContext)`` or None."""
        x = batch.x
        N = x.shape[0]
        batch_vec = getattr(batch, "batch", None)
        if batch_vec is None:
            batch_vec = torch.zeros(N, dtype=torch.long, device=x.device)
        num_graphs = int(getattr(batch, "num_graphs", 1) or 1)
        h = self.atom_in(x)
        if self.centrality is not None:
            h = h + self.centrality(batch.degree)
        f = ctx = None
        if self.fragments is not None:
            with torch.autocast(device_type=h.device.type, enabled=False):
                f, ctx = self.fragments.prepare(batch, batch_vec, num_graphs)
        if self.cfg.layer == "gcn":
            for i, layer in enumerate(self.layers):
                h = layer(h, batch.edge_index)
                if ctx is not None and (k := self.fragments.exchanges_after(i)) is not None:
                    h, f = self.fragments.exchange(k, h, f, ctx)
            return h, None, batch_vec, num_graphs, (None if ctx is None else (f, ctx))
        # biases in float32 even under autocast: they are small tensors, and exp(b) of the
        # FAVOR+ correction must not see bf16 rounding
        with torch.autocast(device_type=h.device.type, enabled=False):
            groups = self.attention_groups(batch, batch_vec, num_graphs)
        if self.graph_token is not None:
            h = torch.cat([h, self.graph_token.to(h.dtype).expand(num_graphs, -1)])
        for i, layer in enumerate(self.layers):
            h = layer(h, N, groups)
            if ctx is not None and (k := self.fragments.exchanges_after(i)) is not None:
                atoms, f = self.fragments.exchange(k, h[:N], f, ctx)  # graph tokens stay as they are
                h = torch.cat([atoms, h[N:]]) if h.shape[0] > N else atoms
        h = self.final_norm(h)
        token = h[N:] if self.graph_token is not None else None
        return h[:N], token, batch_vec, num_graphs, (None if ctx is None else (f, ctx))

    # -- structure biases, once per forward ---------------------------------------------------
    def attention_groups(self, batch, batch_vec: Tensor, num_graphs: int) -> list[AttentionGroup]:
        device = batch_vec.device
        counts = torch.bincount(batch_vec, minlength=num_graphs)
        if self.crossover is None:
            favor = torch.zeros(num_graphs, dtype=torch.bool, device=device)
        else:
            favor = counts > self.crossover
        near_i = near_j = near_bias = near_dist = None  # near_bias: (spatial, edge) parts
        if self.spatial is not None or self.edge_encoding is not None:
            keep = batch.pair_dist <= self.cfg.near_hops
            if batch.pair_path.shape[1] < self.cfg.near_hops:
                raise ValueError(
                    f"near_hops={self.cfg.near_hops} but the graphs store paths of "
                    f"{batch.pair_path.shape[1]} hops"
                )
            near_i, near_j = batch.pair_index[0, keep], batch.pair_index[1, keep]
            near_dist = batch.pair_dist[keep]
            near_spatial = self.spatial(near_dist) if self.spatial is not None else 0
            near_edge = None
            if self.edge_encoding is not None:
                near_edge = self.edge_encoding(batch.edge_attr, batch.pair_path[keep], near_dist)
            near_bias = (near_spatial, near_edge)
        codes = None
        if not bool(favor.all()) and resolve_backend(
            self.cfg.attention_backend, device, torch.is_grad_enabled(),
            self.cfg.hidden_dim // self.cfg.num_heads,
        ) == "flex":
            near_rows = None
            if near_bias is not None and near_bias[1] is not None:
                sp, ed = near_bias
                near_rows = ed + sp if torch.is_tensor(sp) else ed
            codes = pair_codes(getattr(batch, "spd", None), self.spatial, counts, batch_vec,
                               near_i, near_j, near_rows, self.cfg.num_heads)
        groups = []
        for kind, sel in (("softmax", ~favor), ("favor", favor)):
            if not bool(sel.any()):
                continue
            groups.append(
                self._group(kind, sel, batch, batch_vec, counts, num_graphs, near_i, near_j, near_bias, codes)
            )
        return groups

    def _group(self, kind, sel, batch, batch_vec, counts, num_graphs, near_i, near_j, near_bias,
               codes: PairCodes | None = None):
        device = batch_vec.device
        H = self.cfg.num_heads
        N = batch_vec.numel()
        tok = 1 if self.graph_token is not None else 0
        if bool(sel.all()):
            node_idx = graph_idx = None
            local_batch, local_counts, Bg = batch_vec, counts, num_graphs
            node_local = torch.arange(N, device=device)
        else:
            graph_idx = sel.nonzero().squeeze(1)
            node_idx = sel[batch_vec].nonzero().squeeze(1)
            g2l = torch.full((num_graphs,), -1, dtype=torch.long, device=device)
            g2l[graph_idx] = torch.arange(graph_idx.numel(), device=device)
            local_batch = g2l[batch_vec[node_idx]]
            local_counts, Bg = counts[graph_idx], graph_idx.numel()
            node_local = torch.full((N,), -1, dtype=torch.long, device=device)
            node_local[node_idx] = torch.arange(node_idx.numel(), device=device)
        Tn = int(local_counts.max())
        T = Tn + tok
        ptr = torch.cumsum(local_counts, 0) - local_counts
        n_local = local_batch.numel()
        pos = torch.arange(n_local, device=device) - ptr[local_batch] + tok  # position inside the graph's row
        node_flat = local_batch * T + pos
        key_mask = torch.zeros(Bg * T, dtype=torch.bool, device=device)
        key_mask[node_flat] = True
        tok_flat = torch.arange(Bg, device=device) * T
        if tok:
            key_mask[tok_flat] = True
        key_mask = key_mask.view(Bg, T)
        group = AttentionGroup(kind, node_idx, graph_idx, local_batch, Bg, T, key_mask)

        # near pairs of this group, in flat dense positions
        pq = pk = None
        near_sp = near_ed = None
        if near_i is not None:
            in_group = node_local[near_i] >= 0
            li, lj = node_local[near_i[in_group]], node_local[near_j[in_group]]
            pq, pk = node_flat[li], node_flat[lj]
            sp, ed = near_bias
            near_sp = sp[in_group] if torch.is_tensor(sp) else None
            near_ed = ed[in_group] if ed is not None else None

        if kind == "softmax" and codes is not None:
            offsets = codes.spd_offsets if graph_idx is None else codes.spd_offsets[graph_idx]
            group.flex = FlexBias(codes, offsets, local_counts, T, self.token_bias)
            return group
        if kind == "softmax":
            bias = torch.zeros(Bg, T, T, H, device=device)
            if self.spatial is not None:
                # spd is flattened per graph, graphs concatenated: offsets are cumsum(n²)
                sq = counts * counts
                spd_off = (torch.cumsum(sq, 0) - sq)
                if graph_idx is not None:
                    spd_off = spd_off[graph_idx]
                if batch.spd.numel() != int(sq.sum()):
                    raise ValueError("spd does not hold N*N distances per graph")
                ar = torch.arange(Tn, device=device)
                n_b = local_counts.view(-1, 1, 1)
                valid = (ar.view(1, -1, 1) < n_b) & (ar.view(1, 1, -1) < n_b)
                idx = spd_off.view(-1, 1, 1) + ar.view(1, -1, 1) * n_b + ar.view(1, 1, -1)
                d = batch.spd[torch.where(valid, idx, torch.zeros_like(idx))]
                bias[:, tok:, tok:] = self.spatial(d) * valid.unsqueeze(-1)
            if near_ed is not None:
                # spatial biases of all pairs are in the grid already; near pairs add their
                # edge-path encoding at (b, t_i, t_j) = flat q position * T + t_j
                flat_pair = pq * T + (pk % T)
                bias = bias.view(Bg * T * T, H).index_add(0, flat_pair, near_ed).view(Bg, T, T, H)
            if self.graph_token is not None:
                bias[:, 0, :] = self.token_bias
                bias[:, :, 0] = self.token_bias
            group.bias = bias.permute(0, 3, 1, 2).masked_fill(~key_mask.view(Bg, 1, 1, T), float("-inf"))
            return group

        # FAVOR+: far bias for all pairs, listed pairs carry their exact bias
        qs, ks, bs = [], [], []
        if pq is not None:
            pb = 0
            if near_sp is not None:
                pb = near_sp
            if near_ed is not None:
                pb = pb + near_ed
            if torch.is_tensor(pb):
                qs.append(pq), ks.append(pk), bs.append(pb)
        if self.spatial is not None:
            group.far_bias = self.spatial.far_bias()
            self_bias = self.spatial.embedding.weight[0].expand(n_local, H)
            qs.append(node_flat), ks.append(node_flat), bs.append(self_bias)
        if tok:
            tb = self.token_bias.expand(n_local, H)
            node_tok = tok_flat[local_batch]
            qs += [tok_flat, node_tok, node_flat]
            ks += [tok_flat, node_flat, node_tok]
            bs += [self.token_bias.expand(Bg, H), tb, tb]
        if qs:
            group.pattern = PairPattern(torch.cat(qs), torch.cat(ks), Bg * T, H)
            group.pair_bias = torch.cat(bs)[group.pattern.order]
        return group
