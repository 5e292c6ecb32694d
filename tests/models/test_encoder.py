"""Invariances and wiring of the encoder: permutation, batching, encodings, gradients, bf16."""

from __future__ import annotations

import pytest
import torch
from model_helpers import batch_of, chain_graph, peptide_like_graph, permuted, tiny_model

from pepland_hpo.models import VARIANTS, count_parameters

ALL = list(VARIANTS)
TRANSFORMERS = [v for v in VARIANTS if v != "gcn"]


@pytest.mark.parametrize("variant", ALL)
def test_embedding_invariant_to_atom_order(variant):
    # The molecule has unique shortest paths (odd rings only): with ties, which path the
    # featuriser stores depends on atom numbering, and so does Graphormer's edge encoding.
    model = tiny_model(variant).eval()
    g, g_perm = permuted()
    with torch.no_grad():
        a = model.encode(batch_of(g))
        b = model.encode(batch_of(g_perm))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", ALL + ["auto"])
def test_same_embedding_alone_and_in_padded_batch(variant):
    if variant == "auto":  # mixed batch: small graphs exact, large ones FAVOR+
        model = tiny_model("performer", attention="auto", auto_crossover_atoms=12).eval()
    else:
        model = tiny_model(variant).eval()
    small = chain_graph(6, ring=True, seed=5)
    big = [peptide_like_graph(30, seed=1), peptide_like_graph(45, seed=2)]
    with torch.no_grad():
        alone = model.encode(batch_of(small))
        for pos in range(3):  # first, middle and last in the batch
            graphs = big[:pos] + [small] + big[pos:]
            together = model.encode(batch_of(*graphs))[pos : pos + 1]
            torch.testing.assert_close(alone, together, atol=1e-5, rtol=1e-4)
        # the big ones too (auto: they run FAVOR+ beside a softmax graph)
        b_alone = model.encode(batch_of(big[1]))
        b_in = model.encode(batch_of(small, big[0], big[1]))[2:]
        torch.testing.assert_close(b_alone, b_in, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", ["graphormer", "performer"])
@pytest.mark.parametrize("part", ["spatial", "edge_encoding", "centrality", "token_bias"])
def test_structure_encodings_are_wired(variant, part):
    model = tiny_model(variant).eval()
    batch = batch_of(peptide_like_graph(20, seed=3), chain_graph(9, ring=True))
    with torch.no_grad():
        before = model.encode(batch)
        module = getattr(model.encoder, part)
        params = [module] if isinstance(module, torch.nn.Parameter) else list(module.parameters())
        for p in params:
            p.add_(torch.randn_like(p))
        after = model.encode(batch)
    assert (before - after).abs().max() > 1e-3, f"{part} does not change the output of {variant}"


def test_far_pairs_are_not_masked_out():
    """A chain longer than max_distance: the far bucket's bias still shapes attention."""
    model = tiny_model("graphormer", max_distance=3).eval()
    batch = batch_of(chain_graph(20))
    with torch.no_grad():
        before = model.encode(batch)
        model.encoder.spatial.embedding.weight[3].add_(3.0)  # the ">= 3 hops" bucket
        after = model.encode(batch)
    assert (before - after).abs().max() > 1e-3


@pytest.mark.parametrize("variant", ALL)
def test_gradients_reach_every_parameter(variant):
    model = tiny_model(variant).train()
    batch = batch_of(peptide_like_graph(18, seed=1), chain_graph(7, ring=True), chain_graph(3))
    model(batch).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("variant", ALL)
def test_bf16_autocast_large_inputs_stay_finite(variant):
    model = tiny_model(variant).train()
    batch = batch_of(peptide_like_graph(40, seed=1), chain_graph(9, ring=True))
    batch.x = batch.x * 100
    batch.edge_attr = batch.edge_attr * 100
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    loss = out.float().pow(2).mean()
    loss.backward()
    assert torch.isfinite(out.float()).all()
    for n, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), n


def test_gcn_rejects_attention_encodings():
    from pepland_hpo.errors import UserInputError
    from pepland_hpo.models import variant_model_config

    with pytest.raises(UserInputError, match="transformer"):
        variant_model_config("gcn", spatial=True)
