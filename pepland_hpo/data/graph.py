"""The per-molecule graph type and its batching rules.

PyG concatenates every attribute of a ``Data`` along a dimension and shifts
index-like attributes by an increment. The defaults are right for ``x``,
``edge_index`` and ``edge_attr`` but wrong for the Graphormer extras, so they
are spelled out here:

* ``spd`` (flattened ``N*N`` distances) holds distances, not node ids: no shift.
* ``pair_index`` holds node ids: shifted by the number of nodes.
* ``pair_path`` holds edge ids: shifted by the number of edges. Padding entries
  (beyond ``pair_dist``) are shifted too; consumers mask them by ``pair_dist``.
* ``pair_dist`` and ``degree`` are counts: no shift, concatenated along dim 0.
* ``atom_frag`` (fragment of each atom) and ``frag_edge_index`` hold fragment ids:
  shifted by the number of fragments (rows of ``frag_x``). ``frag_x`` and ``fp``
  (one row per molecule) concatenate along dim 0 unshifted.
"""

from __future__ import annotations

from typing import Any

from torch_geometric.data import Data

# attributes that are concatenated along dim 0 and never shifted
_PLAIN = frozenset({"spd", "pair_dist", "degree", "y"})


class PeptideGraph(Data):
    """One featurised molecule (field layout: docs/ARCHITECTURE.md, ``data/``).

    Example::

        >>> from pepland_hpo.data.featurize import featurize_smiles
        >>> g = featurize_smiles("NCC(=O)NCC(=O)O")   # Gly-Gly
        >>> g.x.shape, g.edge_index.shape, g.spd.shape
        (torch.Size([9, 38]), torch.Size([2, 16]), torch.Size([81]))
    """

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "PeptideGraph":
        """``PeptideGraph(**fields)`` (fields not None), without its per-field cost.

        ``Data.__init__`` sends every field through ``Data.__setattr__`` and the storage's
        own ``__setattr__`` (~7 µs a field, 13 fields: a few percent of featurising a
        molecule and of building one from the cache); the storage is a plain mapping,
        filled here in one update (tests/data/test_featurize.py checks both agree)."""
        g = cls()
        g._store._mapping.update(fields)
        return g

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key == "pair_path":
            return self.edge_index.size(1)
        if key == "pair_index":
            return self.num_nodes
        if key in ("atom_frag", "frag_edge_index"):
            return self.frag_x.size(0)
        if key in _PLAIN:
            return 0
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key in ("pair_index", "frag_edge_index"):
            return 1
        if key == "atom_frag":
            return 0
        if key in _PLAIN or key == "pair_path":
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)
