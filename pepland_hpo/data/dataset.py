"""Cached, featurised datasets: ``load_dataset(source) -> PeptideDataset``.

A file's molecules are featurised once per (file content, molecule column,
featuriser version) and shared through the cache by every worker, trial and
target; labels are attached on load. Molecules are kept as flat, memory-mapped
tensors in shards (:mod:`.cache`); ``ds[i]`` slices one into a
:class:`PeptideGraph` on demand and recomputes its dense distances from the
bonds (the cache does not keep them), so nothing is materialised up front and
a loader's worker processes do that work in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pepland_hpo.data import cache
from pepland_hpo.data.features import ATOM_DIM
from pepland_hpo.data.fragments import dense_fingerprint
from pepland_hpo.data.graph import PeptideGraph
from pepland_hpo.data.readers import InvalidRow, no_valid_row, read_labels, read_layout
from pepland_hpo.errors import UserInputError


class PeptideDataset(Dataset):
    """Indexable featurised molecules; a ``subset`` is a view on the same tensors.

    Works with ``torch_geometric.loader.DataLoader`` directly.
    """

    def __init__(self, shards: cache.Shards, meta: dict, y: torch.Tensor, indices: np.ndarray | None = None,
                 path: Path | None = None):
        self._shards = shards
        self._meta = meta
        self._y = y
        self._idx = np.arange(len(shards)) if indices is None else np.asarray(indices, dtype=np.int64)
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
        return self._y.numpy()[self._idx]

    @property
    def num_atoms(self) -> np.ndarray:
        return np.asarray(self._meta["num_atoms"], dtype=np.int64)[self._idx]

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
        return PeptideDataset(self._shards, self._meta, self._y, self._idx[idx], self.cache_path)

    @property
    def cache_bytes(self) -> int:
        """Bytes on disk of the cache entry this dataset reads (all of it, not only this view)."""
        return cache.entry_bytes(self.cache_path) if self.cache_path is not None else 0

    def _graph(self, j: int) -> PeptideGraph:
        # Slice and convert in numpy: torch's copy kernels go multi-threaded above
        # ~32k elements, and on a busy machine waking the threads costs milliseconds.
        k, i = self._shards.locate(j)
        a, p = self._shards.arrays(k)
        n0, n1 = p["node_ptr"][i], p["node_ptr"][i + 1]
        e0, e1 = p["edge_ptr"][i], p["edge_ptr"][i + 1]
        q0, q1 = p["pair_ptr"][i], p["pair_ptr"][i + 1]
        f0, f1 = p["frag_ptr"][i], p["frag_ptr"][i + 1]
        g0, g1 = p["fedge_ptr"][i], p["fedge_ptr"][i + 1]
        h0, h1 = p["fp_ptr"][i], p["fp_ptr"][i + 1]
        x = np.empty((n1 - n0, ATOM_DIM), dtype=np.float32)
        x[:, : ATOM_DIM - 1] = a["x_bits"][n0:n1]
        x[:, ATOM_DIM - 1] = a["x_mass"][n0:n1]
        edge_index = a["edge_index"][:, e0:e1].astype(np.int64)
        t = torch.from_numpy
        return PeptideGraph.from_fields(dict(
            x=t(x),
            edge_index=t(edge_index),
            edge_attr=t(a["edge_attr"][e0:e1].astype(np.float32)),
            degree=t(a["degree"][n0:n1].astype(np.int64)),
            spd=t(self._shards.spd(j, edge_index, n1 - n0)),
            pair_index=t(a["pair_index"][:, q0:q1].astype(np.int64)),
            pair_dist=t(a["pair_dist"][q0:q1].astype(np.int64)),
            pair_path=t(a["pair_path"][q0:q1].astype(np.int64)),
            atom_frag=t(a["atom_frag"][n0:n1].astype(np.int64)),
            frag_x=t(a["frag_x"][f0:f1].astype(np.float32)),
            frag_edge_index=t(a["frag_edge_index"][:, g0:g1].astype(np.int64)),
            fp=t(dense_fingerprint(a["fp_index"][h0:h1].astype(np.int64), a["fp_count"][h0:h1])),
            y=t(self._y.numpy()[j : j + 1].copy()),
        ))


def _molecule_store(layout, progress: bool, jobs: int | None) -> tuple[cache.Shards, Path]:
    """The cached featurised molecules of a layout (built on a miss), and its folder."""
    from pepland_hpo.data.build import build_entry
    from pepland_hpo.data.limits import max_heavy_atoms

    key = cache.cache_key(layout.digest, molecules=layout.molecule_key(), max_atoms=max_heavy_atoms())
    folder = cache.entry_dir(layout.digest, key)
    shards = cache.load(folder)
    if shards is None:
        meta = {"content_hash": layout.digest, "smiles_col": layout.mol_column, "kind": layout.kind}
        build_entry(layout, folder, meta, jobs=jobs, progress=progress)
        shards = cache.load(folder)
        if shards is None:  # removed under us between the write and the read
            raise OSError(f"cache entry {folder} vanished while it was being built")
    if not shards.manifest["smiles"]:
        raise no_valid_row(layout, [InvalidRow(*r) for r in shards.manifest["invalid"]])
    return shards, folder


def load_dataset(source, target=None, task=None, smiles_col=None, progress: bool = False,
                 jobs: int | None = None) -> PeptideDataset:
    """Featurised dataset of a file or ``builtin:...``, from the cache when possible.

    A miss featurises the file with ``jobs`` processes (default: the CPUs, see
    :mod:`.build`) straight into the cache's shards. The cache holds the
    molecules only, keyed by the file's sha256, the molecule column (as
    resolved, not as typed), the featuriser version and the atom limit, under ``paths.cache_dir()``: ``data featurize``, ``create``,
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
    shards, path = _molecule_store(layout, progress, jobs)
    meta = {k: v for k, v in shards.manifest.items() if k not in ("shards", "format")}
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
    # the molecule tensors stay shared (memory-mapped); labels and metadata are this load's
    y = torch.from_numpy(np.ascontiguousarray(labels.values, dtype=np.float32))
    indices = None if keep.size == len(meta["rows"]) else keep
    return PeptideDataset(shards, meta, y, indices=indices, path=path)
