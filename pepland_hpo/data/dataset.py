"""Cached, featurised datasets: ``load_dataset(source) -> PeptideDataset``.

A file's molecules are featurised once per (file content, molecule column,
featuriser version) and shared through the cache by every worker, trial and
target; labels are attached on load. Molecules are
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
from pepland_hpo.data.readers import InvalidRow, no_valid_row, read_labels, read_layout, read_molecules
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
    def task_reason(self) -> str:
        """Why the task is what it is (e.g. "labels are 0/1: classification")."""
        return self._meta.get("task_reason", "")

    @property
    def label_map(self) -> dict[str, float]:
        """File label -> stored label, when labels were mapped (-1/+1 -> 0/1)."""
        return dict(self._meta.get("label_map") or {})

    @property
    def class_names(self) -> dict[str, str]:
        """Stored label -> class name, when the file names its classes."""
        return dict(self._meta.get("class_names") or {})

    @property
    def notes(self) -> list[str]:
        """How the file was read: delimiter, header or not, skipped count line."""
        return list(self._meta.get("notes") or [])

    @property
    def n_rows(self) -> int:
        """Data rows in the file, valid or not."""
        return int(self._meta.get("n_rows", len(self._meta["rows"])))

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


def _molecule_store(layout, progress: bool) -> tuple[dict, "Path"]:
    """The cached featurised molecules of a layout (built and saved on a miss); no labels in it."""
    from pepland_hpo.data.limits import max_heavy_atoms

    key = cache.cache_key(layout.digest, molecules=layout.molecule_key(), max_atoms=max_heavy_atoms())
    path = cache.cache_path(layout.digest, key)
    store = cache.load(path)
    if store is None:
        mols = read_molecules(layout, progress=progress)
        if not mols.smiles:
            raise no_valid_row(layout, mols.invalid)
        meta = {
            "smiles": mols.smiles, "rows": mols.rows, "content_hash": layout.digest,
            "smiles_col": layout.mol_column, "kind": layout.kind,
            "invalid": [[r.row, r.text, r.reason] for r in mols.invalid],
        }
        no_labels = np.zeros((len(mols.smiles), 0), dtype=np.float32)
        store = cache.pack(_featurize_all(mols.mols, progress), no_labels, meta)
        atomic_torch_save(store, path)
    return store, path


def load_dataset(source, target=None, task=None, smiles_col=None, progress: bool = False) -> PeptideDataset:
    """Featurised dataset of a file or ``builtin:...``, from the cache when possible.

    The cache holds the molecules only, keyed by the file's sha256, the
    molecule column (as resolved, not as typed), the featuriser version and the
    atom limit, under ``paths.cache_dir()``: ``data featurize``, ``create``,
    every worker and every target of one file share one entry. The labels of
    ``target`` are read from the file on each load (cheap: no RDKit) and
    attached; a molecule whose label is missing or bad is left out of the
    returned view and listed in ``ds.invalid``.

    Example::

        >>> ds = load_dataset("builtin:amp")
        >>> len(ds), ds.task, ds[0].x.shape[1]
        (412, 'classification', 38)
    """
    layout = read_layout(source, smiles_col=smiles_col)
    store, path = _molecule_store(layout, progress)
    meta = json.loads(store["meta"]) if isinstance(store["meta"], str) else dict(store["meta"])
    if meta.get("content_hash") != layout.digest:  # the file changed between two reads
        raise UserInputError(f"{source}: file changed while it was being read; try again")
    labels = read_labels(layout, meta["rows"], target=target, task=task)
    keep = np.flatnonzero(labels.keep)
    mol_invalid = [InvalidRow(*r) for r in meta["invalid"]]
    if keep.size == 0:
        raise no_valid_row(layout, sorted(mol_invalid + labels.invalid, key=lambda r: r.row))
    meta.update(
        target_names=labels.names, task=labels.task, task_reason=labels.task_reason,
        label_map=labels.label_map, class_names=labels.class_names, notes=list(layout.notes),
        source=str(source), n_rows=len(layout.records),
        invalid=[[r.row, r.text, r.reason] for r in sorted(mol_invalid + labels.invalid, key=lambda r: r.row)],
    )
    # a shallow copy: the molecule tensors stay shared (memory-mapped), labels and metadata are this load's
    view = {k: v for k, v in store.items() if k not in ("y", "meta")}
    view["y"] = torch.from_numpy(np.ascontiguousarray(labels.values, dtype=np.float32))
    view["meta"] = meta
    indices = None if keep.size == len(meta["rows"]) else keep
    return PeptideDataset(view, indices=indices, path=path)
