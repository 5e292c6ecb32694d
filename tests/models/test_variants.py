"""Variant presets, leave-one-out, and a few real training steps per variant on c-CPP."""

from __future__ import annotations

import functools

import pytest
import torch
from model_helpers import TINY
from torch_geometric.data import Batch

from pepland_hpo.errors import UserInputError
from pepland_hpo.models import (
    VARIANTS,
    build_model,
    leave_one_out_variants,
    variant_model_config,
    variant_needs_pretraining,
)


def test_variant_order_and_switches():
    assert VARIANTS == ("gcn", "graphormer", "performer", "hierpool", "fragments", "full")
    g = variant_model_config("graphormer")
    assert (g.layer, g.attention, g.spatial, g.edge_encoding, g.centrality) == (
        "transformer", "softmax", True, True, True,
    )
    assert variant_model_config("performer").attention == "favor"
    assert variant_model_config("hierpool").pooling == "hierarchical"
    def diff(a, b):
        a, b = variant_model_config(a).to_dict(), variant_model_config(b).to_dict()
        return {k for k in a if a[k] != b[k]}

    # each step adds one thing; fusion is fragments plus the fingerprint, never inside full
    assert diff("fragments", "hierpool") == {"fragments"}
    assert diff("full", "fragments") == {"pretraining"}
    assert diff("fusion", "fragments") == {"fingerprint"}
    assert "fusion" not in VARIANTS and not variant_model_config("full").fingerprint
    assert variant_needs_pretraining("full") and not variant_needs_pretraining("fragments")


def test_unknown_variant_lists_known_names():
    with pytest.raises(UserInputError, match="gcn, graphormer, performer, hierpool, fragments, full, fusion"):
        variant_model_config("transformer")
    with pytest.raises(UserInputError, match="hidden_size"):
        variant_model_config("gcn", hidden_size=3)


def test_leave_one_out_from_full():
    loo = leave_one_out_variants()
    assert all(name.startswith("full-minus-") for name in loo)
    for name, overrides in loo.items():
        cfg = variant_model_config(name)
        full = variant_model_config("full").to_dict()
        changed = {k for k, v in cfg.to_dict().items() if full[k] != v}
        assert changed == set(overrides), name
    assert not variant_needs_pretraining("full-minus-pretraining")


@functools.lru_cache(maxsize=1)
def _cpp_slice(pepland_dir, n=12):
    from rdkit import Chem

    from pepland_hpo.data.featurize import featurize_mol

    graphs = []
    for line in (pepland_dir / "c-CPP.txt").read_text().splitlines():
        seq, label = line.strip().split(",")
        mol = Chem.MolFromSequence(seq)
        if mol is None or mol.GetNumAtoms() > 160:
            continue
        g = featurize_mol(mol)
        g.y = torch.tensor([[float(label)]])
        graphs.append(g)
        if len(graphs) == n:
            break
    return Batch.from_data_list(graphs)


@pytest.mark.parametrize("variant", [*VARIANTS, "fusion"])
def test_each_variant_trains_on_cpp(variant, pepland_dir):
    batch = _cpp_slice(pepland_dir)
    assert 0 < batch.y.mean() < 1
    torch.manual_seed(0)
    model = build_model(variant_model_config(variant, **TINY))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(model(batch), batch.y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # tiny models on 12 molecules: the loss must clearly fall, not reach zero
    assert min(losses[-3:]) < losses[0] - 0.02, losses
