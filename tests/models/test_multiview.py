"""The multi-view (atoms + fragments) encoder on real featurised peptides."""

from __future__ import annotations

import pytest
import torch
from model_helpers import TINY
from rdkit import Chem
from torch_geometric.data import Batch

from pepland_hpo.data.featurize import featurize_mol
from pepland_hpo.models import build_model, variant_model_config

SEQS = ("GAVKRW", "RRRRRRRR", "CKP")


def _graph(seq: str, perm_seed: int | None = None):
    mol = Chem.MolFromSmiles(Chem.MolToSmiles(Chem.MolFromSequence(seq)))
    if perm_seed is not None:
        order = torch.randperm(mol.GetNumAtoms(), generator=torch.Generator().manual_seed(perm_seed)).tolist()
        mol = Chem.RenumberAtoms(mol, order)
    return featurize_mol(mol)


def _model(variant, **over):
    torch.manual_seed(0)
    # edge_encoding off: with tied shortest paths (rings) the featuriser's choice of path
    # depends on atom numbering, which is the atom view's business, not the fragments'
    return build_model(variant_model_config(variant, **{**TINY, "fragments": True, "sum_readout": True,
                                                        **over})).eval()


KINDS = [("gcn", {}), ("graphormer", {"edge_encoding": False}), ("performer", {"edge_encoding": False}),
         ("hierpool", {"edge_encoding": False, "attention": "auto", "auto_crossover_atoms": 60})]


@pytest.mark.parametrize("variant,over", KINDS)
def test_invariant_to_atom_order(variant, over):
    model = _model(variant, **over)
    with torch.no_grad():
        a = model.encode(Batch.from_data_list([_graph(s) for s in SEQS]))
        b = model.encode(Batch.from_data_list([_graph(s, perm_seed=7) for s in SEQS]))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("variant,over", KINDS)
def test_padded_batch_gives_the_same_embedding(variant, over):
    model = _model(variant, **over)
    graphs = [_graph(s) for s in SEQS]
    with torch.no_grad():
        together = model.encode(Batch.from_data_list(graphs))
        for i, g in enumerate(graphs):
            torch.testing.assert_close(model.encode(Batch.from_data_list([g])), together[i : i + 1],
                                       atol=1e-5, rtol=1e-4)


def test_fragment_states_reach_the_embedding_and_every_parameter_trains():
    model = _model("hierpool")
    batch = Batch.from_data_list([_graph(s) for s in SEQS])
    model.train()
    model(batch).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    model.eval()
    with torch.no_grad():
        before = model.encode(batch)
        batch.frag_x = batch.frag_x.flip(1)  # other fragment features, same atoms
        assert (model.encode(batch) - before).abs().max() > 1e-4


def test_fusion_reads_the_fingerprint():
    torch.manual_seed(0)
    model = build_model(variant_model_config("fusion", **TINY)).eval()
    batch = Batch.from_data_list([_graph(s) for s in SEQS])
    with torch.no_grad():
        before = model(batch)
        batch.fp = batch.fp * 3
        assert (model(batch) - before).abs().max() > 1e-4
