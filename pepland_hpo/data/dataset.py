"""Cached, featurised datasets: ``load_dataset(source) -> PeptideDataset``.

A dataset is featurised once per (file content, featuriser version, column
choice) and shared through the cache by every worker and trial. Molecules are
kept as flat tensors; ``ds[i]`` slices them into a :class:`PeptideGraph` on
demand, which is cheap, so nothing is materialised up front.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pepland_hpo.atomic import atomic_torch_save
from pepland_hpo.data import cache
from pepland_hpo.data.featurize import ATOM_DIM, mol_arrays
from pepland_hpo.data.fragments import dense_fingerprint
from pepland_hpo.data.graph import PeptideGraph
from pepland_hpo.data.readers import InvalidRow, content_hash, read_table
from pepland_hpo.errors import UserInputError


class PeptideDataset(Dataset):
    """Indexable featurised molecules; a ``subset`` is a view on the same tensors.

    Works with ``torch_geometric.loader.DataLoader`` directly.
    """

    def __init__(self, store: dict, indices: np.ndarray | None = None, path: Path | None = None):
        self._store = store
        self._meta = json.loads(store["meta"]) if isinstance(store["meta"], str) else store["meta"]
        store["meta"] = self._meta
        # plain Python ints: slicing a tensor with numpy scalars takes a slow indexing path
        self._ptr = {k: store[k].tolist() for k in ("node_ptr", "edge_ptr", "spd_ptr", "pair_ptr", "frag_ptr", "fedge_ptr", "fp_ptr")}
        self._np = {k: v.numpy() for k, v in store.items() if isinstance(v, torch.Tensor)}
        total = len(self._ptr["node_ptr"]) - 1
        self._idx = np.arange(total) if indices is None else np.asarray(indices, dtype=np.int64)
        self.cache_path = path

    # -- metadata -------------------------------------------------------------
    @property
    def smiles(self) -> list[str]:
        all_smiles = self._meta["smiles"]
        return [all_smiles[i] for i in self._idx]

    @property
    def rows(self) -> list[int]:
        return [self._meta["rows"][i] for i in self._idx]

    @property
    def targets(self) -> np.ndarray:
        return self._store["y"].numpy()[self._idx]

    @property
    def num_atoms(self) -> np.ndarray:
        return np.diff(self._store["node_ptr"].numpy())[self._idx]

    @property
    def target_names(self) -> list[str]:
        return list(self._meta["target_names"])

    @property
    def task(self) -> str | None:
        return self._meta["task"]

    @property
    def content_hash(self) -> str:
        return self._meta["content_hash"]

    @property
    def source(self) -> str:
        return self._meta["source"]

    @property
    def smiles_col(self) -> str:
        return self._meta["smiles_col"]

    @property
    def invalid(self) -> list[InvalidRow]:
        return [InvalidRow(*r) for r in self._meta["invalid"]]

    @property
    def indices(self) -> np.ndarray:
        """Positions of this view's molecules in the full dataset."""
        return self._idx.copy()

    # -- access ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._idx)

    def __getitem__(self, i):
        if isinstance(i, (slice, Sequence, np.ndarray, torch.Tensor)) and not np.isscalar(i):
            idx = np.arange(len(self))[i] if isinstance(i, slice) else np.asarray(i, dtype=np.int64)
            return self.subset(idx)
        return self._graph(int(self._idx[i]))

    def subset(self, indices) -> "PeptideDataset":
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"subset index out of range for a dataset of {len(self)}")
        return PeptideDataset(self._store, self._idx[idx], self.cache_path)

    def _graph(self, j: int) -> PeptideGraph:
        # Slice and convert in numpy: torch's copy kernels go multi-threaded above
        # ~32k elements, and on a busy machine waking the threads costs milliseconds.
        a, p = self._np, self._ptr
        n0, n1 = p["node_ptr"][j], p["node_ptr"][j + 1]
        e0, e1 = p["edge_ptr"][j], p["edge_ptr"][j + 1]
        d0, d1 = p["spd_ptr"][j], p["spd_ptr"][j + 1]
        q0, q1 = p["pair_ptr"][j], p["pair_ptr"][j + 1]
        f0, f1 = p["frag_ptr"][j], p["frag_ptr"][j + 1]
        g0, g1 = p["fedge_ptr"][j], p["fedge_ptr"][j + 1]
        h0, h1 = p["fp_ptr"][j], p["fp_ptr"][j + 1]
        x = np.empty((n1 - n0, ATOM_DIM), dtype=np.float32)
        x[:, : ATOM_DIM - 1] = a["x_bits"][n0:n1]
        x[:, ATOM_DIM - 1] = a["x_mass"][n0:n1]
        t = torch.from_numpy
        return PeptideGraph(
            x=t(x),
            edge_index=t(a["edge_index"][:, e0:e1].astype(np.int64)),
            edge_attr=t(a["edge_attr"][e0:e1].astype(np.float32)),
            degree=t(a["degree"][n0:n1].astype(np.int64)),
            spd=t(a["spd"][d0:d1].copy()),
            pair_index=t(a["pair_index"][:, q0:q1].astype(np.int64)),
            pair_dist=t(a["pair_dist"][q0:q1].astype(np.int64)),
            pair_path=t(a["pair_path"][q0:q1].astype(np.int64)),
            atom_frag=t(a["atom_frag"][n0:n1].astype(np.int64)),
            frag_x=t(a["frag_x"][f0:f1].astype(np.float32)),
            frag_edge_index=t(a["frag_edge_index"][:, g0:g1].astype(np.int64)),
            fp=t(dense_fingerprint(a["fp_index"][h0:h1].astype(np.int64), a["fp_count"][h0:h1])),
            y=t(a["y"][j : j + 1].copy()),
        )


def _featurize_all(mols, progress: bool) -> list[dict[str, np.ndarray]]:
    """Featurise every molecule (tests count calls to this to prove cache hits)."""
    if not progress:
        return [mol_arrays(m) for m in mols]
    from rich.progress import track

    return [mol_arrays(m) for m in track(mols, description="featurising", total=len(mols))]


def load_dataset(source, target=None, task=None, smiles_col=None, progress: bool = False) -> PeptideDataset:
    """Featurised dataset of a file or ``builtin:...``, from the cache when possible.

    The cache file is keyed by the file's sha256, the featuriser version and
    the ``target``/``task``/``smiles_col`` choices, under ``paths.cache_dir()``.

    Example::

        >>> ds = load_dataset("builtin:amp")
        >>> len(ds), ds.task, ds[0].x.shape[1]
        (412, 'classification', 38)
    """
    digest = content_hash(source)
    targets = target if target is None or isinstance(target, str) else ",".join(target)
    key = cache.cache_key(digest, target=targets, task=task, smiles_col=smiles_col)
    path = cache.cache_path(digest, key)
    store = cache.load(path)
    if store is None:
        table, mols = read_table(source, target=target, task=task, smiles_col=smiles_col)
        if table.content_hash != digest:  # the file changed between hashing and reading
            raise UserInputError(f"{source}: file changed while it was being read; try again")
        meta = {
            "smiles": table.smiles, "rows": table.rows, "target_names": table.target_names,
            "task": table.task, "content_hash": table.content_hash, "source": table.source,
            "smiles_col": table.smiles_col, "kind": table.kind,
            "invalid": [[r.row, r.text, r.reason] for r in table.invalid],
        }
        store = cache.pack(_featurize_all(mols, progress), table.targets, meta)
        atomic_torch_save(store, path)
    ds = PeptideDataset(store, path=path)
    ds._meta["source"] = str(source)  # the cache may have been built from a copy elsewhere
    return ds
