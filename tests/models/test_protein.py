"""Protein encoders and the pair model on real c-binding pairs: shapes, the control, the peptide side unchanged."""

from __future__ import annotations

import csv

import pytest
import torch
from torch_geometric.loader import DataLoader

from pepland_hpo.data.pairs import load_pair_dataset
from pepland_hpo.models import build_model, variant_model_config
from pepland_hpo.models.model import PeptideModel
from pepland_hpo.models.protein import ConvProteinEncoder, PairModel

SMALL = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2}


@pytest.fixture(scope="module")
def pairs(pepland_dir, tmp_path_factory):
    with open(pepland_dir / "c-binding.csv", newline="") as fh:
        rows = [row for _, row in zip(range(25), csv.reader(fh))]
    path = tmp_path_factory.mktemp("pairs") / "b24.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return load_pair_dataset(path, "seq1", target="affinity", smiles_col="seq2")


def _batch(ds, n=6):
    return next(iter(DataLoader(ds.subset(range(n)), batch_size=n)))


@pytest.mark.parametrize("kind", ["composition", "cnn"])
@pytest.mark.parametrize("variant", ["gcn", "fragments"])
def test_every_variant_meets_the_protein_in_the_head(pairs, variant, kind):
    ds = pairs.with_protein_input(kind)
    cfg = variant_model_config(variant, **SMALL, protein_encoder=kind,
                               protein_dim=ds.protein_table.input_dim(kind))
    torch.manual_seed(0)
    model = build_model(cfg)
    assert isinstance(model, PairModel)
    batch = _batch(ds)
    out = model(batch)
    assert out.shape == (6, 1) and torch.isfinite(out).all()
    out.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.protein.parameters())
    # the head reads [g | t | g*t]
    assert model.head.mlp[0].in_features == 3 * SMALL["hidden_dim"]
    # the peptide encoder is the variant's, unchanged: same parameters, same initial weights
    torch.manual_seed(0)
    plain = build_model(variant_model_config(variant, **SMALL))
    assert type(plain) is PeptideModel
    mine, theirs = model.encoder.state_dict(), plain.encoder.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_the_control_is_the_one_molecule_model(pairs):
    model = build_model(variant_model_config("gcn", **SMALL, protein_encoder="none"))
    assert type(model) is PeptideModel
    assert model(_batch(pairs.with_protein_input("none"))).shape == (6, 1)


def test_the_product_term_lets_the_protein_change_a_peptides_score(pairs):
    """Two pairs with their proteins swapped: the pair model's scores move (the protein is an input)."""
    ds = pairs.with_protein_input("composition")
    torch.manual_seed(0)
    model = build_model(variant_model_config("gcn", **SMALL, protein_encoder="composition",
                                             protein_dim=ds.protein_table.input_dim("composition"))).eval()
    first = ds.proteins[0]
    other = next(i for i, p in enumerate(ds.proteins) if p != first)
    batch = next(iter(DataLoader(ds.subset([0, other]), batch_size=2)))
    swapped = batch.clone()
    swapped.protein_x = batch.protein_x.flip(0)
    assert not torch.allclose(model(batch), model(swapped))


def test_cnn_ignores_padding(pairs):
    ds = pairs.with_protein_input("cnn")
    torch.manual_seed(0)
    enc = ConvProteinEncoder(hidden_dim=8, filters=4, kernel=8, dropout=0.0).eval()
    batch = _batch(ds, 3)
    wider = batch.clone()
    wider.protein_tokens = torch.nn.functional.pad(batch.protein_tokens, (0, 50))
    assert torch.allclose(enc(batch), enc(wider), atol=1e-6)


def test_a_vector_encoder_needs_its_width():
    with pytest.raises(ValueError, match="protein_dim"):
        build_model(variant_model_config("gcn", **SMALL, protein_encoder="composition"))
