"""Data layer: file → rows → RDKit molecule → graph tensors → cached dataset → splits.

Public names are re-exported lazily (importing this package does not load
RDKit or torch until one is used).
"""

from __future__ import annotations

import importlib

# Shapes every layer agrees on, defined here so that reading them imports nothing
# (models/config.py sizes its layers from them without loading RDKit or torch).
ATOM_DIM = 38  # atom feature row (data.features)
BOND_DIM = 14  # bond feature row (data.features)
PAIR_HOPS = 5  # hops stored per near atom pair (data.topology)
FRAG_DIM = 57  # fragment feature row: 20 residues + 5 properties + 32 Morgan bins (data.fragments)
# The one molecule-level Morgan fingerprint (ECFP4 counts or bits): the model's fingerprint
# input, the fingerprint references, similarity and Tanimoto splits, the generation oracle.
FP_RADIUS = 2
FP_SIZE = 2048

_EXPORTS = {
    "load_table": "readers", "MoleculeTable": "readers", "InvalidRow": "readers",
    "featurize_smiles": "featurize", "featurize_mol": "featurize", "FEATURIZER_VERSION": "featurize",
    "PeptideGraph": "graph",
    "load_dataset": "dataset", "PeptideDataset": "dataset",
    "make_split": "splits", "Split": "splits", "find_overlap": "splits", "OverlapReport": "splits",
    "inspect_files": "inspect", "inspect_table": "inspect", "render_inspection": "inspect",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
