"""The fragment view: hand-checked peptides, every atom in one fragment, batching, cache."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from pepland_hpo.data.featurize import featurize_smiles, fragment_smiles, mol_arrays
from pepland_hpo.data.fragments import (
    FRAG_DIM,
    _candidate_bonds,
    _candidate_bonds_smarts,
)

KVR = Chem.MolToSmiles(Chem.MolFromSequence("GAVKRW"))


def _edges(f):
    return sorted({tuple(sorted(e)) for e in f.frag_edge_index.T.tolist()})


def test_linear_peptide_one_fragment_per_residue():
    f = fragment_smiles(KVR)
    assert sorted(f.labels()) == sorted("GAVKRW")
    assert f.num_fragments == 6 and f.frag_x.shape == (6, FRAG_DIM)
    # a chain: 5 peptide bonds, each fragment has one or two neighbours
    assert len(_edges(f)) == 5
    assert sorted(Counter(np.ravel(_edges(f))).values()) == [1, 1, 2, 2, 2, 2]


def test_every_atom_in_exactly_one_fragment():
    for smi in (KVR, "CCO", "CN[C@@H](C)C(=O)N(C)[C@@H](C)C(=O)O", "c1ccccc1CCOCCN"):
        mol = Chem.MolFromSmiles(smi)
        f = fragment_smiles(smi)
        assert f.atom_frag.shape == (mol.GetNumAtoms(),)
        assert set(f.atom_frag.tolist()) == set(range(f.num_fragments))  # no empty fragment


def test_n_methylated_and_d_residues():
    # N-Me-Ala–N-Me-Ala: no canonical residue, still cut at the tertiary amide
    f = fragment_smiles("CN[C@@H](C)C(=O)N(C)[C@@H](C)C(=O)O")
    assert f.labels() == ["X", "X"] and _edges(f) == [(0, 1)]
    # D-Ala–L-Ala: the constitution of alanine, the D one flagged
    f = fragment_smiles("N[C@H](C)C(=O)N[C@@H](C)C(=O)O")
    assert sorted(f.labels()) == ["A", "dA"]
    # acetyl cap and C-terminal amide: cap is its own (non-canonical) fragment, the
    # primary amide stays with its residue
    f = fragment_smiles("CC(=O)N[C@@H](C)C(=O)N[C@@H](CCCNC(=N)N)C(N)=O")
    assert sorted(f.labels()) == ["A", "R", "X"]


def test_head_to_tail_cycle_is_a_ring_of_residues():
    f = fragment_smiles("C1C(=O)N[C@@H](C)C(=O)N[C@@H](CCCCN)C(=O)NCC(=O)N[C@@H](C)C(=O)N1")
    assert sorted(f.labels()) == sorted("GAKGA")
    edges = _edges(f)
    assert len(edges) == 5 and all(d == 2 for d in Counter(np.ravel(edges)).values())  # a cycle


def test_disulfide_bridge_is_a_fragment_edge():
    # Cys-Cys with the second cysteine bridged to a free cysteine
    f = fragment_smiles("N[C@@H](CS)C(=O)N[C@@H](CSSC[C@H](N)C(=O)O)C(=O)O")
    assert f.labels() == ["C", "C", "C"]
    assert _edges(f) == [(0, 1), (1, 2)]


def test_non_peptide_small_molecule_is_one_fragment():
    for smi in ("CC(=O)Oc1ccccc1C(=O)O", "CCO", "CC(=O)Nc1ccc(O)cc1"):  # aspirin, ethanol, paracetamol
        f = fragment_smiles(smi)
        assert f.num_fragments == 1 and f.frag_edge_index.shape == (2, 0)
        assert f.labels() == ["X"]


def test_large_fragment_is_split():
    # an N-palmitoyl cap (17 atoms) stays whole; a 27-atom aryl-ether acyl cap is cut at BRICS bonds
    smi = "CCCCCCCCCCCCCCCC(=O)N[C@@H](C)C(=O)O"
    assert sorted(fragment_smiles(smi).labels()) == ["A", "X"]
    big = "CCCCCCCCCCOc1ccc(cc1)CCCCCCCCCC(=O)N[C@@H](C)C(=O)O"
    f = fragment_smiles(big)
    assert f.num_fragments >= 3 and np.bincount(f.atom_frag).max() <= 20


def test_array_rule_matches_smarts_on_cpp(pepland_dir):
    seqs = [line.split(",")[0] for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[:40]]
    smiles = [Chem.MolToSmiles(Chem.MolFromSequence(s)) for s in seqs] + [
        "CC(=O)N[C@@H](C)C(=O)NC(C)C(N)=O", "CC(=O)Nc1ccc(O)cc1", "NC(=O)NCC(=O)O",
        "N[C@@H](CS)C(=O)N[C@@H](CSSC[C@H](N)C(=O)O)C(=O)O", "O=C1CCCN1C(=O)C"]
    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        a = mol_arrays(mol)
        begin, end = a["edge_index"][0, 0::2], a["edge_index"][1, 0::2]
        code = np.array([int(b.GetBondType()) for b in mol.GetBonds()])
        np.testing.assert_array_equal(_candidate_bonds(a["x"], begin, end, code),
                                      _candidate_bonds_smarts(mol, begin, end), err_msg=smi)


def test_cpp_composition_matches_sequences(pepland_dir):
    seqs = [line.split(",")[0] for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[:64]]
    for s in seqs:
        f = fragment_smiles(Chem.MolToSmiles(Chem.MolFromSequence(s)))
        assert Counter(f.labels()) == Counter(s), s


def test_fragment_fields_batch_with_offsets():
    g1, g2 = featurize_smiles(KVR), featurize_smiles("CCO")
    b = Batch.from_data_list([g1, g2, g1])
    F1 = g1.frag_x.shape[0]
    assert b.frag_x.shape[0] == 2 * F1 + 1
    torch.testing.assert_close(b.atom_frag[g1.num_nodes: g1.num_nodes + 3], torch.full((3,), F1))
    assert int(b.frag_edge_index.max()) == 2 * F1  # last graph's fragments shifted past the first two
    assert b.fp.shape == (3, 2048) and torch.equal(b.fp[0], b.fp[2]) and b.fp[1].sum() > 0


def _reference_keys(x, src, dst, btype, frag, num_frags):
    """The fragment keys and environments computed the plain way, with ``np.add.at``."""
    from pepland_hpo.data.fragments import _BITS, _mix

    n = x.shape[0]
    label = _mix((x[:, :37].astype(np.float64) @ _BITS).astype(np.uint64)
                 ^ (np.bincount(src, minlength=n).astype(np.uint64) << np.uint64(40)))
    bt = btype.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    rounds = [label]
    with np.errstate(over="ignore"):
        for _ in range(2):
            agg = np.zeros(n, dtype=np.uint64)
            np.add.at(agg, src, _mix(label[dst] + bt))
            label = _mix(label * np.uint64(31) + agg)
            rounds.append(label)
        keys = np.zeros(num_frags, dtype=np.uint64)
        np.add.at(keys, frag, _mix(label + np.uint64(7)))
        keys += np.bincount(frag, minlength=num_frags).astype(np.uint64) * np.uint64(0x632BE59BD9B4E019)
    return keys, np.stack(rounds)


def test_fast_fragment_features_equal_the_plain_computation(pepland_dir, cyclic_smiles):
    """Segment sums (instead of np.add.at) and bincounted Morgan bins change no bit of the output."""
    from pepland_hpo.data import fragments as fr
    from pepland_hpo.data.featurize import mol_arrays

    seqs = [line.split(",")[0] for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[:12]]
    mols = [Chem.MolFromSequence(s) for s in seqs] + [Chem.MolFromSmiles(s) for s in cyclic_smiles]
    mols.append(Chem.MolFromSmiles("C"))  # one atom, no bond
    seen = []
    real = fr._fragment_keys

    def spy(*args):
        out = real(*args)
        seen.append((args, out))
        return out

    fr._fragment_keys = spy
    try:
        arrays = [mol_arrays(m) for m in mols]
    finally:
        fr._fragment_keys = real
    assert len(seen) == len(mols)
    for (args, (keys, envs)), arr in zip(seen, arrays):
        ref_keys, ref_envs = _reference_keys(*args)
        assert np.array_equal(keys, ref_keys) and np.array_equal(envs, ref_envs)
        frag, num_frags = args[4], args[5]
        morgan = np.zeros((num_frags, fr.MORGAN_BINS), dtype=np.float32)
        np.add.at(morgan, (np.tile(frag, 3), (ref_envs % np.uint64(fr.MORGAN_BINS)).astype(np.int64).reshape(-1)), 1.0)
        want = np.log1p(morgan).astype(np.float16).astype(np.float32)
        assert np.array_equal(arr["frag_x"][:, fr._F_MORGAN:], want)


def test_graph_from_fields_equals_the_pyg_constructor():
    from torch_geometric.data import Batch

    from pepland_hpo.data.featurize import featurize_smiles
    from pepland_hpo.data.graph import PeptideGraph

    fast = featurize_smiles("CC(C)C[C@H](NC(=O)CN)C(=O)O")
    slow = PeptideGraph(**{k: v for k, v in fast.items()})
    assert sorted(fast.keys()) == sorted(slow.keys()) and fast.num_nodes == slow.num_nodes == 13
    for k in fast.keys():
        assert torch.equal(fast[k], slow[k])
    a, b = Batch.from_data_list([fast, fast]), Batch.from_data_list([slow, slow])
    for k in a.keys():
        assert torch.equal(a[k], b[k]), k


def test_fragment_row_layout_matches_the_shared_dimension():
    from pepland_hpo.data import FRAG_DIM
    from pepland_hpo.data.featurize import featurize_smiles
    from pepland_hpo.data.fragments import MORGAN_BINS, RESIDUES

    assert len(RESIDUES) + 5 + MORGAN_BINS == FRAG_DIM  # residue one-hot, 5 properties, Morgan bins
    assert featurize_smiles("NCC(=O)NCC(=O)O").frag_x.shape[1] == FRAG_DIM
