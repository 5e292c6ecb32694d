"""Residue composition of molecules, from the fragment view: the first baseline a peptide
researcher tries, and the one a fragment-aware model must beat.

``composition_features(smiles) → [n, 22]`` float64: counts of the 20 canonical residues
(``fragments.RESIDUES`` order; a D-residue counts as its residue), the number of
non-canonical fragments (modified residues, caps, pieces of large side chains), and the
length (number of fragments). It works on any SMILES, sequences read through RDKit
included, because residues are recognised on the molecule itself, not on a sequence.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem

from pepland_hpo.data.featurize import fragment_mol
from pepland_hpo.data.fragments import NONCANONICAL, RESIDUES

COMPOSITION_COLUMNS = [*RESIDUES, "noncanonical", "length"]


def composition_of_mol(mol: Chem.Mol) -> np.ndarray:
    """``[22]`` counts of one RDKit molecule (see the module docstring)."""
    residue = fragment_mol(mol).residue
    counts = np.bincount(residue, minlength=NONCANONICAL + 1).astype(np.float64)
    return np.append(counts, float(residue.size))


def composition_features(smiles: list[str]) -> np.ndarray:
    """``[len(smiles), 22]``: residue counts, non-canonical count, length, per SMILES.

    Raises ``ValueError`` naming the position of a SMILES RDKit cannot parse."""
    out = np.zeros((len(smiles), len(COMPOSITION_COLUMNS)), dtype=np.float64)
    for i, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(smi)
        if mol is None or mol.GetNumAtoms() == 0:
            raise ValueError(f"composition_features: SMILES {i} ({smi!r}) cannot be parsed")
        out[i] = composition_of_mol(mol)
    return out


__all__ = ["COMPOSITION_COLUMNS", "composition_features", "composition_of_mol"]
