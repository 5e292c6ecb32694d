"""Data layer: file → rows → RDKit molecule → graph tensors → cached dataset → splits.

Public names are re-exported lazily (importing this package does not load
RDKit or torch until one is used).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_table": "readers", "MoleculeTable": "readers", "InvalidRow": "readers",
    "featurize_smiles": "featurize", "featurize_mol": "featurize", "FEATURIZER_VERSION": "featurize",
    "ATOM_DIM": "featurize", "BOND_DIM": "featurize", "PAIR_HOPS": "featurize",
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
