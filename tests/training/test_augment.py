"""Augmentations keep the Graphormer inputs consistent with the graph they produce."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch

from pepland_hpo.training.augment import (
    AUGMENTATION_FNS,
    Augmenter,
    drop_bonds,
    drop_nodes,
    drop_subgraph,
    mask_atoms,
    noise_atoms,
    structure_from_edge_index,
)


def _featurize(smiles: str):
    from pepland_hpo.data.featurize import featurize_smiles

    return featurize_smiles(smiles)


@pytest.fixture(scope="module")
def graphs(pepland_dir):
    lines = (pepland_dir / "pretrained" / "train.csv").read_text().splitlines()[1:7]
    return [_featurize(s.strip()) for s in lines]


def _independent_check(g):
    """Compare every topology-derived field with networkx on the graph's own edge_index."""
    n = g.num_nodes
    ei = g.edge_index
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from(ei.t().tolist())
    assert g.x.shape[0] == n and g.degree.shape == (n,)
    assert torch.equal(g.degree, torch.bincount(ei[0], minlength=n))
    assert g.edge_attr.shape[0] == ei.shape[1]
    # edges stay symmetric
    fwd = set(map(tuple, ei.t().tolist()))
    assert fwd == {(v, u) for u, v in fwd}
    lengths = dict(nx.all_pairs_shortest_path_length(G))
    spd = g.spd.view(n, n)
    hops = g.pair_path.shape[1]
    expected_pairs = {}
    for i in range(n):
        for j in range(n):
            d = lengths[i].get(j)
            assert int(spd[i, j]) == (255 if d is None else min(d, 254)), (i, j)
            if d is not None and 1 <= d <= hops:
                expected_pairs[(i, j)] = d
    got = {(int(a), int(b)): int(d) for (a, b), d in zip(g.pair_index.t().tolist(), g.pair_dist)}
    assert got == expected_pairs
    # each stored path is a walk of pair_dist edges from i to j
    for (i, j), d, path in zip(g.pair_index.t().tolist(), g.pair_dist.tolist(), g.pair_path.tolist()):
        cur = i
        for e in path[:d]:
            assert int(ei[0, e]) == cur
            cur = int(ei[1, e])
        assert cur == j
        assert all(e == 0 for e in path[d:])


def test_recompute_reproduces_featurizer(graphs):
    for g in graphs:
        s = structure_from_edge_index(g.edge_index, g.num_nodes, g.pair_path.shape[1])
        assert torch.equal(s["degree"], g.degree)
        assert torch.equal(s["spd"], g.spd)
        ref = {(int(a), int(b)): int(d) for (a, b), d in zip(g.pair_index.t().tolist(), g.pair_dist)}
        got = {(int(a), int(b)): int(d) for (a, b), d in zip(s["pair_index"].t().tolist(), s["pair_dist"])}
        assert got == ref
        _independent_check(g)


@pytest.mark.parametrize("name", ["bond", "subgraph", "node"])
def test_topology_augmentations_are_consistent(graphs, name):
    gen = torch.Generator().manual_seed(3)
    for g in graphs:
        out = AUGMENTATION_FNS[name](g, 0.25, gen)
        assert type(out) is type(g)
        _independent_check(out)


def test_drop_bonds_counts_and_keeps_edge_features(graphs):
    g = graphs[0]
    gen = torch.Generator().manual_seed(0)
    out = drop_bonds(g, 0.25, gen)
    bonds = g.edge_index.shape[1] // 2
    assert out.edge_index.shape[1] == 2 * (bonds - int(0.25 * bonds))
    feat = {tuple(e): a for e, a in zip(g.edge_index.t().tolist(), g.edge_attr)}
    for e, a in zip(out.edge_index.t().tolist(), out.edge_attr):
        assert torch.equal(feat[tuple(e)], a)
    assert torch.equal(out.x, g.x) and out.num_nodes == g.num_nodes


@pytest.mark.parametrize("fn", [drop_subgraph, drop_nodes])
def test_node_removal_counts_and_features(graphs, fn):
    g = graphs[1]
    n = g.num_nodes
    out = fn(g, 0.25, torch.Generator().manual_seed(1))
    assert out.num_nodes == n - int(0.25 * n)
    # surviving atoms keep their features (each row of out.x is a row of g.x)
    rows = {tuple(r) for r in g.x.tolist()}
    assert all(tuple(r) in rows for r in out.x.tolist())


def test_subgraph_removes_a_connected_ball(graphs):
    g = graphs[2]
    n = g.num_nodes
    # tag atoms through a feature column so we can map survivors back
    tagged = g.clone()
    tagged.x = torch.cat([g.x, torch.arange(n, dtype=torch.float32)[:, None]], 1)
    out = drop_subgraph(tagged, 0.25, torch.Generator().manual_seed(5))
    kept = set(int(v) for v in out.x[:, -1].tolist())
    removed = sorted(set(range(n)) - kept)
    G = nx.Graph(g.edge_index.t().tolist())
    assert nx.is_connected(G.subgraph(removed))


def test_attribute_augmentations(graphs):
    g = graphs[0]
    n = g.num_nodes
    m = mask_atoms(g, 0.25, torch.Generator().manual_seed(0))
    zero_rows = int((m.x.abs().sum(1) == 0).sum())
    assert zero_rows == int(0.25 * n)
    assert torch.equal(m.spd, g.spd) and torch.equal(m.edge_index, g.edge_index)
    z = noise_atoms(g, 0.25, torch.Generator().manual_seed(0), std=0.1)
    changed = int((z.x != g.x).any(1).sum())
    assert changed == int(0.25 * n)
    assert torch.equal(g.x, graphs[0].x)  # the input is never modified in place


def test_augmenter_composes_two_different_and_is_seeded(graphs):
    aug = Augmenter(seed=7)
    picks = [aug.choose() for _ in range(50)]
    assert all(len(p) == 2 and p[0] != p[1] for p in picks)
    assert len({tuple(p) for p in picks}) > 3
    a1, b1 = Augmenter(seed=11).views(graphs[:3])
    a2, b2 = Augmenter(seed=11).views(graphs[:3])
    for u, v in zip(a1 + b1, a2 + b2):
        assert torch.equal(u.x, v.x) and torch.equal(u.edge_index, v.edge_index)


def test_augmented_views_batch_consistently(graphs):
    aug = Augmenter(seed=2, pool=("bond", "subgraph"))
    views, _ = aug.views(graphs)
    batch = Batch.from_data_list(views)
    assert batch.spd.numel() == sum(v.num_nodes**2 for v in views)
    assert int(batch.pair_index.max()) < batch.num_nodes
    assert int(batch.pair_path.max()) < batch.edge_index.shape[1]
    # paths still walk from i to j in the batched numbering
    ei = batch.edge_index
    for (i, j), d, path in zip(batch.pair_index.t().tolist(), batch.pair_dist.tolist(), batch.pair_path.tolist()):
        cur = i
        for e in path[:d]:
            assert int(ei[0, e]) == cur
            cur = int(ei[1, e])
        assert cur == j
    again = aug.augment_batch(Batch.from_data_list(graphs[:2]))
    assert again.num_graphs == 2


def test_augmentations_keep_the_fragment_view_consistent():
    from rdkit import Chem
    from torch_geometric.data import Batch

    from pepland_hpo.data.featurize import featurize_smiles
    from pepland_hpo.data.fragments import fragment_edges
    from pepland_hpo.training.augment import drop_bonds, drop_nodes, drop_subgraph

    g = featurize_smiles(Chem.MolToSmiles(Chem.MolFromSequence("GAVKRWCC")))
    gen = torch.Generator().manual_seed(0)
    for fn in (drop_bonds, drop_subgraph, drop_nodes):
        for _ in range(3):
            v = fn(g, 0.3, gen)
            n, nf = v.num_nodes, v.frag_x.shape[0]
            assert v.atom_frag.shape == (n,)
            assert sorted(set(v.atom_frag.tolist())) == list(range(nf))  # no empty fragment
            expected = fragment_edges(v.edge_index.numpy(), v.atom_frag.numpy())
            assert torch.equal(v.frag_edge_index, torch.from_numpy(expected))
            Batch.from_data_list([v, g])  # still batches
    # dropping bonds only removes fragment edges, never adds
    v = drop_bonds(g, 0.5, gen)
    assert v.frag_edge_index.shape[1] <= g.frag_edge_index.shape[1]
