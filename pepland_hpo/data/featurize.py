"""Molecule → graph tensors: the fields of one molecule, assembled.

The pieces live in one module each:

* atom and bond feature rows (38 and 14 columns, the tables): :mod:`.features`;
* hop distances and near pairs' shortest paths (``degree``, ``spd``,
  ``pair_*``): :mod:`.topology`;
* the fragment view (``atom_frag``, ``frag_x``, ``frag_edge_index``) and the
  Morgan count fingerprint (``fp_index``, ``fp_count``): :mod:`.fragments`.

Edges: bond ``b`` gives edge ``2b`` (begin→end) and ``2b+1`` (end→begin), both
with the bond's features, so ``edge_id // 2`` is the bond index.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from pepland_hpo.data.features import (  # noqa: F401  (ATOM_DIM, BOND_DIM: re-exported)
    ATOM_DIM, BOND_DIM, atom_features, bond_features, bond_lists, ensure_stereo, small_ring_bonds,
)
from pepland_hpo.data.fragments import Fragmentation, dense_fingerprint, fragment_arrays, residue_labels
from pepland_hpo.data.graph import PeptideGraph
from pepland_hpo.data.topology import (  # noqa: F401  (re-exported: older import paths)
    PAIR_HOPS, SPD_UNREACHABLE, _edge_ids, _paths, spd_from_edges, topology_arrays,
)
from pepland_hpo.errors import UserInputError

# Bump whenever the output of featurize_mol or the cache layout changes: it is part of
# the cache key. 4: no dense distances in the cache (recomputed from the bonds on read).
FEATURIZER_VERSION = "4"


def mol_arrays(mol: Chem.Mol, hops: int = PAIR_HOPS, dense: bool = True) -> dict[str, np.ndarray]:
    """Every graph field of one molecule as numpy arrays (full dtypes).

    The cache stores these in compact dtypes; :func:`featurize_mol` wraps them in
    a :class:`PeptideGraph`. Atom order is the molecule's own order. Runs RDKit's
    stereo perception on ``mol`` if it has not run yet (for the R/S labels).
    ``dense=False`` leaves out ``spd`` (the ``N*N`` distances), which the cache does
    not keep (:func:`.topology.spd_from_edges` rebuilds it from the bonds).
    """
    ensure_stereo(mol)
    n = mol.GetNumAtoms()
    b = bond_lists(mol)
    nb = len(b)
    edge_id = _edge_ids(n, b.begin, b.end)
    x, degree = atom_features(mol, n, b.begin, b.end, b.code == 12)
    battr = bond_features(mol, nb, b.code, b.conj, b.stereo, edge_id)
    edge_index = np.empty((2, 2 * nb), dtype=np.int64)
    edge_index[0, 0::2], edge_index[1, 0::2] = b.begin, b.end
    edge_index[0, 1::2], edge_index[1, 1::2] = b.end, b.begin
    spd, pair_index, pair_dist, pair_path = _paths(n, b.begin, b.end, edge_id, hops)
    frags = fragment_arrays(mol, x, b.begin, b.end, b.code, small_ring_bonds(battr))
    out = {
        "x": x,
        "edge_index": edge_index,
        "edge_attr": np.repeat(battr, 2, axis=0),
        "degree": degree,
        "spd": spd,
        "pair_index": pair_index,
        "pair_dist": pair_dist,
        "pair_path": pair_path,
        # the fragment view (data/fragments.py) and the molecule's Morgan counts, sparse
        "atom_frag": frags.atom_frag,
        "frag_x": frags.frag_x,
        "frag_edge_index": frags.frag_edge_index,
        "fp_index": frags.fp_index,
        "fp_count": frags.fp_count,
    }
    if not dense:
        del out["spd"]
    return out


def graph_from_arrays(arrays: dict[str, np.ndarray], y: np.ndarray | None = None) -> PeptideGraph:
    arrays = dict(arrays)
    if "fp_index" in arrays:  # the graph carries the fingerprint dense, one row per molecule
        arrays["fp"] = dense_fingerprint(arrays.pop("fp_index"), arrays.pop("fp_count"))
    fields = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    if y is not None:
        fields["y"] = torch.as_tensor(y, dtype=torch.float32).reshape(1, -1)
    return PeptideGraph.from_fields(fields)


def featurize_mol(mol: Chem.Mol) -> PeptideGraph:
    """Graph of an RDKit molecule (as parsed: hydrogens implicit unless given as atoms)."""
    return graph_from_arrays(mol_arrays(mol))


def featurize_smiles(smiles: str) -> PeptideGraph:
    """Parse a SMILES string with RDKit and featurise it.

    Raises :class:`UserInputError` when RDKit cannot parse it (reading whole
    files goes through ``data.readers``, which skips and reports such rows).
    """
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise UserInputError(f"RDKit cannot parse SMILES {smiles!r}")
    return featurize_mol(mol)


@contextmanager
def quiet_rdkit():
    """Silence RDKit's parse warnings for a block (the readers report reasons themselves)."""
    block = BlockLogs()
    try:
        yield
    finally:
        del block



def fragment_mol(mol: Chem.Mol) -> Fragmentation:
    """The fragment view of an RDKit molecule (featurises its atoms first)."""
    arrays = mol_arrays(mol)
    residue, d_residue = residue_labels(arrays["frag_x"])
    return Fragmentation(
        atom_frag=arrays["atom_frag"], frag_x=arrays["frag_x"], frag_edge_index=arrays["frag_edge_index"],
        residue=residue, d_residue=d_residue, fp_index=arrays["fp_index"], fp_count=arrays["fp_count"],
    )


def fragment_smiles(smiles: str) -> Fragmentation:
    """The fragment view of a SMILES string (``ValueError`` when RDKit cannot parse it)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return fragment_mol(mol)

__all__ = [  # the featuriser's public names, older import paths of its parts included
    "ATOM_DIM", "BOND_DIM", "FEATURIZER_VERSION", "PAIR_HOPS", "SPD_UNREACHABLE", "featurize_mol", "featurize_smiles",
    "fragment_mol", "fragment_smiles",
    "graph_from_arrays", "mol_arrays", "quiet_rdkit", "spd_from_edges", "topology_arrays",
]
