"""Residue composition from the fragment view."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from pepland_hpo.data.composition import COMPOSITION_COLUMNS, composition_features
from pepland_hpo.data.fragments import RESIDUES


def test_cpp_sequences_give_their_residue_counts(pepland_dir):
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()[:48]
    seqs = [line.split(",")[0] for line in lines]
    feats = composition_features([Chem.MolToSmiles(Chem.MolFromSequence(s)) for s in seqs])
    assert feats.shape == (len(seqs), 22) and len(COMPOSITION_COLUMNS) == 22
    for s, row in zip(seqs, feats):
        expected = [s.count(aa) for aa in RESIDUES]
        np.testing.assert_array_equal(row[:20], expected, err_msg=s)
        assert row[20] == 0 and row[21] == len(s)


def test_non_canonical_residues_and_caps_are_counted():
    # Ac-Ala-(N-Me-Ala)-D-Arg-NH2: acetyl cap and N-methyl-alanine are non-canonical
    smi = "CC(=O)N[C@@H](C)C(=O)N(C)[C@@H](C)C(=O)N[C@H](CCCNC(=N)N)C(N)=O"
    row = composition_features([smi])[0]
    assert row[RESIDUES.index("A")] == 1 and row[RESIDUES.index("R")] == 1
    assert row[20] == 2 and row[21] == 4


def test_unparsable_smiles_names_its_position():
    with pytest.raises(ValueError, match="SMILES 1"):
        composition_features(["CCO", "C1CC"])
