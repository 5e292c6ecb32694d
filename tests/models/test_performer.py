"""FAVOR+: convergence to softmax with the same biases, redraw policy, sparse correction."""

from __future__ import annotations

import math

import torch
from model_helpers import batch_of, chain_graph, peptide_like_graph, tiny_model

from pepland_hpo.models.performer import FavorFeatures, PairCorrection, PairPattern, orthogonal_gaussian


def test_orthogonal_features_are_orthogonal_within_blocks():
    omega = orthogonal_gaussian(8, 8)
    unit = omega / omega.norm(dim=1, keepdim=True)
    torch.testing.assert_close(unit @ unit.t(), torch.eye(8), atol=1e-5, rtol=0)


def test_favor_approaches_softmax_as_features_grow():
    """Same weights, exact softmax vs FAVOR+; with max_distance = near_hops + 1 both use the
    same bias for every pair, so only the random-feature error is left."""
    torch.manual_seed(0)
    model = tiny_model("performer", attention="auto", max_distance=5, near_hops=4).eval()
    enc = model.encoder
    batch = batch_of(peptide_like_graph(40, seed=4), chain_graph(12, ring=True))
    with torch.no_grad():
        enc.crossover = 10_000  # all exact
        exact, _, _, _ = enc.node_states(batch)
        enc.crossover = -1  # all FAVOR+
        errors = {}
        for m in (16, 256, 1024):
            errs = []
            for seed in range(3):
                torch.manual_seed(seed)
                for layer in enc.layers:
                    layer.features.redraw(m)
                approx, _, _, _ = enc.node_states(batch)
                errs.append(((approx - exact).norm() / exact.norm()).item())
            errors[m] = sum(errs) / len(errs)
    assert errors[16] > errors[256] > errors[1024], errors
    assert errors[1024] < 0.05, errors


def test_redraw_in_training_only():
    model = tiny_model("performer", redraw_interval=2).train()
    batch = batch_of(chain_graph(10))
    feats = model.encoder.layers[0].features
    first = feats.omega.clone()
    model(batch)
    model(batch)
    assert torch.equal(feats.omega, first)
    model(batch)  # third training step: redrawn
    assert not torch.equal(feats.omega, first)
    model.eval()
    fixed = feats.omega.clone()
    for _ in range(4):
        model(batch)
    assert torch.equal(feats.omega, fixed)
    assert "encoder.layers.0.features.omega" in model.state_dict()


def test_default_feature_count():
    f = FavorFeatures(head_dim=32)
    assert f.num_features == 32 * math.ceil(math.log(32))


def test_pair_correction_gradcheck():
    torch.manual_seed(0)
    R, H, m, d, P = 7, 2, 5, 3, 20
    key = torch.unique(torch.randint(0, R * R, (P,)))
    pattern = PairPattern(key // R, key % R, R, H)
    args = [
        torch.rand(H, R, m, dtype=torch.double, requires_grad=True),
        torch.rand(H, R, m, dtype=torch.double, requires_grad=True),
        torch.randn(H, R, d + 1, dtype=torch.double, requires_grad=True),
        torch.randn(H, key.numel(), dtype=torch.double, requires_grad=True),
    ]
    assert torch.autograd.gradcheck(lambda a, b, c, e: PairCorrection.apply(a, b, c, e, pattern), args)
