"""The size-aware readout: mean pooling cannot count, the scaled sum beside it can."""

from __future__ import annotations

import pytest
import torch
from model_helpers import batch_of, tiny_model

from pepland_hpo.models.synthetic import chain_graph, graph_from_edges


def _doubled(g):
    """Two disjoint copies of ``g`` as one graph (twice every residue count, same mean)."""
    n = g.num_nodes
    bonds = [tuple(e) for e in g.edge_index[:, ::2].t().tolist()]
    bonds2 = bonds + [(u + n, v + n) for u, v in bonds]
    return graph_from_edges(2 * n, bonds2, x=torch.cat([g.x, g.x]),
                            bond_attr=torch.cat([g.edge_attr[::2], g.edge_attr[::2]]))


@pytest.mark.parametrize("variant", ["gcn", "hierpool"])
def test_sum_readout_separates_a_molecule_from_two_copies(variant):
    g = chain_graph(8, ring=False, seed=2)
    two = _doubled(g)
    with torch.no_grad():
        mean_only = tiny_model("gcn", sum_readout=False).eval()
        a, b = mean_only.encode(batch_of(g)), mean_only.encode(batch_of(two))
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)  # the mean cannot tell them apart
        counting = tiny_model(variant, sum_readout=True).eval()
        a, b = counting.encode(batch_of(g)), counting.encode(batch_of(two))
    assert (a - b).abs().max() > 1e-3
