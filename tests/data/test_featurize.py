"""Featuriser: dimensions, hand-checked values, distances/paths against RDKit, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch_geometric.loader import DataLoader

from pepland_hpo.data.featurize import (
    ATOM_DIM, BOND_DIM, FEATURIZER_VERSION, PAIR_HOPS, featurize_mol, featurize_smiles, mol_arrays,
)
from pepland_hpo.errors import UserInputError

GLY_GLY = "NCC(=O)NCC(=O)O"  # atoms: N0 C1 C2 O3 N4 C5 C6 O7 O8


def test_dimensions_and_dtypes(pretrained_slice):
    smi = pretrained_slice.read_text().splitlines()[1]
    g = featurize_smiles(smi)
    n, e = g.num_nodes, g.edge_index.size(1)
    assert ATOM_DIM == 38 and BOND_DIM == 14 and PAIR_HOPS == 5
    assert g.x.shape == (n, 38) and g.x.dtype == torch.float32
    assert g.edge_attr.shape == (e, 14) and g.edge_attr.dtype == torch.float32
    assert g.edge_index.dtype == torch.long and g.degree.dtype == torch.long
    assert g.spd.shape == (n * n,) and g.spd.dtype == torch.uint8
    p = g.pair_index.size(1)
    assert g.pair_dist.shape == (p,) and g.pair_path.shape == (p, PAIR_HOPS)
    # every block of the atom one-hots has exactly one 1
    for lo, hi in [(0, 11), (11, 17), (17, 21), (21, 25), (25, 30), (30, 36)]:
        assert torch.all(g.x[:, lo:hi].sum(1) == 1)


def test_glycine_dipeptide_by_hand():
    g = featurize_smiles(GLY_GLY)
    x = g.x.numpy()
    assert g.num_nodes == 9 and g.edge_index.size(1) == 16  # 8 bonds, both directions
    # N-terminal nitrogen: element N, heavy degree 1, charge 0, no chirality, 2 H, sp3
    assert np.flatnonzero(x[0, :36]).tolist() == [1, 12, 18, 21, 27, 32]
    # carbonyl carbon C2: C, degree 3, 0 H, sp2; mass 12.011/100
    assert np.flatnonzero(x[2, :36]).tolist() == [0, 14, 18, 21, 25, 31]
    assert x[2, 37] == pytest.approx(0.12011, abs=1e-4)
    assert g.degree.tolist() == [1, 2, 3, 1, 2, 2, 3, 1, 1]
    ea, ei = g.edge_attr.numpy(), g.edge_index.numpy()
    # edges 2b and 2b+1 are the two directions of bond b
    assert (ei[:, 0::2] == ei[::-1, 1::2]).all() and (ea[0::2] == ea[1::2]).all()
    peptide = {tuple(sorted(ei[:, k])) for k in np.flatnonzero(ea[:, 12])}
    assert peptide == {(2, 4)}  # only the backbone C(=O)-N; the C-terminal acid is not one
    c_o = [k for k in range(16) if tuple(ei[:, k]) == (2, 3)][0]
    assert ea[c_o, :4].tolist() == [0, 1, 0, 0] and ea[c_o, 4] == 1  # double, conjugated
    assert ea[:, 5].sum() == 0 and ea[:, 13].sum() == 0  # no rings


def test_side_chain_amide_is_not_backbone():
    g = featurize_smiles(Chem.MolToSmiles(Chem.MolFromSequence("GN")))  # Asn side chain C(=O)NH2
    assert int(g.edge_attr[:, 12].sum()) == 2  # one backbone bond, two directions


def _check_paths(mol):
    arr = mol_arrays(mol)
    n = mol.GetNumAtoms()
    ref = Chem.GetDistanceMatrix(mol).astype(int)
    spd = arr["spd"].reshape(n, n).astype(int)
    assert (spd == ref).all()
    want = {(i, j) for i in range(n) for j in range(n) if 1 <= ref[i, j] <= PAIR_HOPS}
    got = list(zip(*arr["pair_index"].tolist()))
    assert set(got) == want and len(got) == len(want)
    ei = arr["edge_index"]
    for (i, j), d, path in zip(got, arr["pair_dist"], arr["pair_path"]):
        assert d == ref[i, j]
        hops = path[:d]
        assert (path[d:] == 0).all()
        # consecutive edges chain from i to j
        assert ei[0, hops[0]] == i and ei[1, hops[-1]] == j
        assert (ei[1, hops[:-1]] == ei[0, hops[1:]]).all()


def test_spd_and_paths_match_rdkit_on_cyclic_peptides(cyclic_smiles):
    for smi in cyclic_smiles[:3]:
        mol = Chem.MolFromSmiles(smi)
        _check_paths(mol)
        g = featurize_mol(mol)
        assert g.edge_attr[:, 13].sum() > 0  # macrocycle bonds flagged
        assert g.edge_attr[:, 12].sum() >= 8  # backbone amides found in the ring


def test_disconnected_fragments_are_unreachable():
    g = featurize_smiles("CC(=O)[O-].[Na+]")
    n = g.num_nodes
    spd = g.spd.view(n, n)
    assert spd[0, 4] == 255 and spd[4, 4] == 0
    assert g.x[3, 17] == 1 and g.x[4, 19] == 1  # charges -1 and +1


def test_bad_smiles_is_user_error():
    with pytest.raises(UserInputError):
        featurize_smiles("not-a-smiles")


def test_batching_increments_indices(cyclic_smiles):
    graphs = [featurize_smiles(s) for s in cyclic_smiles[:3]]
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    n = [g.num_nodes for g in graphs]
    e = [g.edge_index.size(1) for g in graphs]
    p = [g.pair_dist.numel() for g in graphs]
    assert batch.spd.numel() == sum(k * k for k in n)
    assert torch.equal(batch.spd[n[0] ** 2 : n[0] ** 2 + n[1] ** 2], graphs[1].spd)  # not shifted
    second = slice(p[0], p[0] + p[1])
    assert torch.equal(batch.pair_index[:, second], graphs[1].pair_index + n[0])
    assert torch.equal(batch.pair_path[second], graphs[1].pair_path + e[0])
    assert torch.equal(batch.pair_dist[second], graphs[1].pair_dist)
    assert torch.equal(batch.degree[n[0] : n[0] + n[1]], graphs[1].degree)
    # a batched path still walks from its pair's source to its target
    k = p[0] + 5
    d = int(batch.pair_dist[k])
    hops = batch.pair_path[k, :d]
    assert batch.edge_index[0, hops[0]] == batch.pair_index[0, k]
    assert batch.edge_index[1, hops[-1]] == batch.pair_index[1, k]


def test_aromatic_ring_flags_atoms_and_bonds():
    g = featurize_smiles("N[C@@H](Cc1ccccc1)C(=O)O")  # phenylalanine
    assert int(g.x[:, 36].sum()) == 6  # six aromatic atoms
    assert int(g.edge_attr[:, 3].sum()) == 12 and int(g.edge_attr[:, 5].sum()) == 12  # 6 ring bonds x 2
    assert g.edge_attr[:, 13].sum() == 0  # a 6-ring is no macrocycle
    assert g.x[1, 23] == 1 and g.x[1, 21:25].sum() == 1  # the alpha carbon of L-Phe is S


def test_spd_matches_rdkit_on_linear_peptides(pretrained_slice):
    for smi in pretrained_slice.read_text().splitlines()[1:6]:
        _check_paths(Chem.MolFromSmiles(smi))


def _rows(a: np.ndarray) -> list[tuple]:
    return sorted(map(tuple, a.tolist()))


@pytest.mark.parametrize("seq", ["KIAKLKAK", "ACDEFGHIKLMNPQRSTVWY", "CPWRHYTG"])
def test_sequence_and_its_smiles_give_the_same_rows(seq):
    """Chirality is the CIP label, not RDKit's neighbour-order-relative CW/CCW tag."""
    from_seq = Chem.MolFromSequence(seq)  # no stereo perception has run on it
    from_smi = Chem.MolFromSmiles(Chem.MolToSmiles(from_seq))
    a, b = mol_arrays(from_seq), mol_arrays(from_smi)
    assert _rows(a["x"]) == _rows(b["x"])
    assert _rows(a["edge_attr"]) == _rows(b["edge_attr"])
    assert sorted(a["pair_dist"].tolist()) == sorted(b["pair_dist"].tolist())
    assert a["x"][:, 22:24].sum() > 0  # R/S labels were assigned to the sequence's molecule


def test_l_and_d_alanine_differ_only_in_chirality():
    spellings = {  # two atom orders each: the CW/CCW tags differ between spellings, R/S do not
        "L": ["C[C@H](N)C(=O)O", "N[C@@H](C)C(=O)O"],
        "D": ["C[C@@H](N)C(=O)O", "N[C@H](C)C(=O)O"],
    }
    chiral = {}
    for form, smiles in spellings.items():
        rows = {tuple(map(tuple, np.array(_rows(mol_arrays(Chem.MolFromSmiles(s))["x"])))) for s in smiles}
        assert len(rows) == 1
        chiral[form] = np.array(next(iter(rows)))
    l_x, d_x = chiral["L"], chiral["D"]
    assert l_x[:, 23].sum() == 1 and l_x[:, 22].sum() == 0  # L-Ala is S
    assert d_x[:, 22].sum() == 1 and d_x[:, 23].sum() == 0  # D-Ala is R
    assert not np.array_equal(_rows(l_x), _rows(d_x))
    other = np.setdiff1d(np.arange(ATOM_DIM), [22, 23])
    assert _rows(l_x[:, other]) == _rows(d_x[:, other])
    assert FEATURIZER_VERSION != "1"  # cached graphs with CW/CCW columns must not be reused


def _x_by_getters(mol) -> np.ndarray:
    """Reference atom rows from one getter per property (the slow, obvious way)."""
    elements = {6: 0, 7: 1, 8: 2, 16: 3, 15: 4, 9: 5, 17: 6, 35: 7, 53: 8, 34: 9}
    hybrid = {Chem.HybridizationType.SP: 0, Chem.HybridizationType.SP2: 1, Chem.HybridizationType.SP3: 2,
              Chem.HybridizationType.SP3D: 3, Chem.HybridizationType.SP3D2: 4}
    x = np.zeros((mol.GetNumAtoms(), ATOM_DIM), dtype=np.float32)
    for a in mol.GetAtoms():
        i, charge = a.GetIdx(), a.GetFormalCharge()
        cip = a.GetProp("_CIPCode") if a.HasProp("_CIPCode") else ""
        chiral = {"R": 1, "S": 2}.get(cip, 3 if a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED else 0)
        heavy = sum(n.GetAtomicNum() > 1 for n in a.GetNeighbors())
        for col in (elements.get(a.GetAtomicNum(), 10), 11 + min(heavy, 5),
                    17 + (charge + 1 if -1 <= charge <= 1 else 3), 21 + chiral, 25 + min(a.GetTotalNumHs(), 4),
                    30 + hybrid.get(a.GetHybridization(), 5)):
            x[i, col] = 1.0
        x[i, 36] = a.GetIsAromatic()
        x[i, 37] = Chem.GetPeriodicTable().GetAtomicWeight(a.GetAtomicNum()) / 100
    return x


@pytest.mark.parametrize("smiles", [
    "[H]N([H])[C@@H](C)C(=O)O",  # explicit H atoms: H counts must not include H neighbours
    "C[NH3+].[O-]C(=O)CS",  # charges, sulfur, two fragments
    "F[S](F)(F)(F)(F)F",  # sp3d2
    "F[P](F)(F)(F)F",  # sp3d
    "C#N",  # sp
    "[NH4+]",  # 4 H
    "C[Se]Cc1ccc(Br)cc1I",  # rarer elements
    "C[S@](=O)CC",  # a chiral sulfur
    "C[C@@H]1CC[C@H](C)CC1",  # tagged, but cis/trans rather than R/S
    "[Fe+3]",
    "*CC",  # dummy atom
])
def test_atom_queries_match_getters(smiles):
    """The one-query-per-value shortcut gives what per-atom getters give."""
    mol = Chem.MolFromSmiles(smiles)
    assert np.allclose(mol_arrays(mol)["x"], _x_by_getters(mol), atol=1e-6)


def test_atom_queries_match_getters_on_peptides(pretrained_slice):
    for smi in pretrained_slice.read_text().splitlines()[1:11]:
        mol = Chem.MolFromSmiles(smi)
        assert np.allclose(mol_arrays(mol)["x"], _x_by_getters(mol), atol=1e-6)


def test_spd_and_paths_match_rdkit_when_atom_order_is_not_a_dfs_order():
    # a sequence's atoms come residue by residue, and shuffling breaks any order
    mol = Chem.MolFromSequence("KWPFGHR")
    _check_paths(mol)
    rng = np.random.default_rng(0)
    _check_paths(Chem.RenumberAtoms(mol, rng.permutation(mol.GetNumAtoms()).tolist()))
    _check_paths(Chem.MolFromSmiles("C(C1)C1CC2CCC2"))  # ring closures across branches
