"""Edges of the structure encodings: degree clamp, distance cap, unreachable pairs, paths."""

from __future__ import annotations

import torch
from model_helpers import batch_of, chain_graph, tiny_model

from pepland_hpo.models.encodings import CentralityEncoding, EdgePathEncoding, SpatialEncoding
from pepland_hpo.models.synthetic import graph_from_edges


def test_degree_clamped_into_last_embedding():
    enc = CentralityEncoding(max_degree=4, hidden_dim=8)
    out = enc(torch.tensor([0, 3, 4, 5, 17]))
    torch.testing.assert_close(out[3], enc.embedding.weight[4])
    torch.testing.assert_close(out[4], enc.embedding.weight[4])
    torch.testing.assert_close(out[0], enc.embedding.weight[0])


def test_high_degree_atom_runs_through_model():
    star = graph_from_edges(12, [(0, i) for i in range(1, 12)])  # degree 11 > max_degree 8
    model = tiny_model("graphormer").eval()
    assert torch.isfinite(model.encode(batch_of(star))).all()


def test_distance_buckets_cap_and_unreachable():
    enc = SpatialEncoding(cap=5, num_heads=2)
    spd = torch.tensor([0, 1, 5, 6, 254, 255], dtype=torch.uint8)
    assert enc.bucket(spd).tolist() == [0, 1, 5, 5, 5, 6]
    folded = SpatialEncoding(cap=5, num_heads=2, unreachable_is_far=True)
    assert folded.bucket(spd).tolist() == [0, 1, 5, 5, 5, 5]
    assert folded.embedding.num_embeddings == 6


def test_disconnected_graph_runs_softmax_and_favor():
    two = graph_from_edges(8, [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7)])
    assert (two.spd == 255).any()
    for v in ("graphormer", "performer"):
        out = tiny_model(v).eval().encode(batch_of(two, chain_graph(30)))
        assert torch.isfinite(out).all()


def test_edge_path_mean_over_hops():
    enc = EdgePathEncoding(bond_dim=3, num_heads=1, hops=3)
    with torch.no_grad():
        enc.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]).unsqueeze(-1))
    edge_attr = torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    path = torch.tensor([[0, 1, 0], [1, 0, 0]])
    dist = torch.tensor([2, 1])
    out = enc(edge_attr, path, dist)
    # pair 0: hop0 edge0 -> 1.0, hop1 edge1 -> 20.0, mean 10.5; pair 1: hop0 edge1 -> 10
    torch.testing.assert_close(out.squeeze(-1), torch.tensor([10.5, 10.0]))


def test_dense_batch_keeps_every_atom():
    """to_dense_batch drops atoms past max_num_nodes; the largest graph anywhere must fit."""
    model = tiny_model("graphormer").eval()
    graphs = [chain_graph(5), chain_graph(40), chain_graph(7)]
    with torch.no_grad():
        nodes, _, _, _ = model.encoder.node_states(batch_of(*graphs))
        alone, _, _, _ = model.encoder.node_states(batch_of(graphs[1]))
    assert nodes.shape[0] == 52
    torch.testing.assert_close(nodes[5:45], alone, atol=1e-5, rtol=1e-4)
