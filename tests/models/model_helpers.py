"""Small graphs and configs shared by the model tests."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch

from pepland_hpo.models import build_model, variant_model_config
from pepland_hpo.models.synthetic import chain_graph, graph_from_edges, peptide_like_graph

TINY = dict(hidden_dim=32, num_layers=2, num_heads=4, dropout=0.0, pool_seeds=2)


def tiny_model(variant: str, **over):
    torch.manual_seed(0)
    return build_model(variant_model_config(variant, **{**TINY, **over}))


def batch_of(*graphs):
    return Batch.from_data_list(list(graphs))


def permuted(graph_seed: int = 3, n: int = 14):
    """A peptide-like graph and the same molecule with its atoms renumbered."""
    g = peptide_like_graph(n, seed=graph_seed)
    bonds = [tuple(e) for e in g.edge_index[:, ::2].t().tolist()]
    battr = g.edge_attr[::2]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    new_of_old = torch.empty(n, dtype=torch.long)
    new_of_old[perm] = torch.arange(n)
    bonds_p = [(int(new_of_old[u]), int(new_of_old[v])) for u, v in bonds]
    g2 = graph_from_edges(n, bonds_p, x=g.x[perm], bond_attr=battr)
    return g, g2


__all__ = ["TINY", "tiny_model", "batch_of", "permuted", "chain_graph", "peptide_like_graph"]
