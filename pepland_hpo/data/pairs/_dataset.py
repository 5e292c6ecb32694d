"""Peptide-protein pairs as a dataset: the peptide's cached graph plus its protein, per row.

``load_pair_dataset(source, protein_col="seq1", smiles_col="seq2", target="affinity")``
reads the peptides exactly as a one-molecule file is read (``data.dataset.load_dataset``:
same featuriser, same cache entry, same skip rules), then the protein beside each
one (:mod:`._proteins`); a row whose protein is unusable is skipped and listed with
the peptide's skipped rows. The label is the pair's.

``ds[i]`` is the peptide's :class:`~pepland_hpo.data.graph.PeptideGraph` with the
protein input the chosen encoder reads (``protein_input``), one row per graph so
PyG's batching stacks them to ``[B, ...]``:

* ``composition``: ``protein_x`` float32 ``[1, 422]`` (:func:`._features.composition_features`);
* ``embeddings``: ``protein_x`` float32 ``[1, E]``, the user's vectors;
* ``cnn``: ``protein_tokens`` uint8 ``[1, W]``, residue ids padded to this file's longest protein;
* ``none``: nothing (the control: same pairs, same splits, the protein unseen).

Every protein input is computed once per distinct protein (``ProteinTable``); a
pair holds its protein's row number (``protein_ids``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from pepland_hpo.data.formats import read_layout
from pepland_hpo.data.pairs._embeddings import load_protein_embeddings
from pepland_hpo.data.pairs._features import composition_features, residue_tokens
from pepland_hpo.data.pairs._labels import binarise
from pepland_hpo.data.pairs._proteins import read_protein_column
from pepland_hpo.data.readers import InvalidRow
from pepland_hpo.errors import UserInputError

PROTEIN_INPUTS = ("composition", "cnn", "embeddings", "none")


@dataclass(frozen=True)
class ProteinTable:
    """One row per distinct protein: its sequence and every input an encoder may read."""

    sequences: list[str]
    features: np.ndarray  # [P, COMPOSITION_DIM] float32
    tokens: np.ndarray  # [P, W] uint8
    embeddings: np.ndarray | None = None  # [P, E] float32, when a file was given

    def input_dim(self, protein_input: str) -> int:
        """Width of what the encoder reads: features, embedding length, or the token width."""
        if protein_input == "composition":
            return int(self.features.shape[1])
        if protein_input == "embeddings":
            if self.embeddings is None:
                raise UserInputError("protein encoder 'embeddings' needs an embeddings file (--protein-embeddings)")
            return int(self.embeddings.shape[1])
        if protein_input == "cnn":
            return int(self.tokens.shape[1])
        return 0


def build_protein_table(sequences: list[str], embeddings_file=None) -> ProteinTable:
    """Features, tokens (and the user's embeddings) of distinct ``sequences``."""
    vectors = load_protein_embeddings(embeddings_file, sequences) if embeddings_file else None
    return ProteinTable(list(sequences), composition_features(sequences), residue_tokens(sequences), vectors)


class PairDataset(Dataset):
    """Pairs (peptide graph, protein input, the pair's label); a ``subset`` is a view.

    Has the attributes of a :class:`~pepland_hpo.data.dataset.PeptideDataset` that
    training, splitting and reporting read (``smiles``, ``targets``, ``task``,
    ``invalid``, ``num_atoms``, ...), plus ``proteins``, ``protein_ids``,
    ``protein_table``, ``protein_input`` and ``protein_col``."""

    def __init__(self, peptides, protein_ids: np.ndarray, table: ProteinTable, protein_input: str,
                 y: np.ndarray, meta: dict, indices: np.ndarray | None = None):
        if protein_input not in PROTEIN_INPUTS:
            raise UserInputError(f"unknown protein encoder {protein_input!r}; use one of: {', '.join(PROTEIN_INPUTS)}")
        table.input_dim(protein_input)  # an encoder without its input fails here, not in the first batch
        self._peptides = peptides
        self._protein_ids = np.asarray(protein_ids, dtype=np.int64)
        self._table = table
        self._y = np.ascontiguousarray(y, dtype=np.float32)
        self._meta = meta
        self._idx = np.arange(len(self._protein_ids)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.protein_input = protein_input

    # -- what the peptide side knows ------------------------------------------
    def __getattr__(self, name):
        # metadata that is the peptide file's (source, content_hash, smiles_col, label_map, ...)
        if name.startswith("_") or name in ("protein_input",):
            raise AttributeError(name)
        return getattr(self._peptides, name)

    @property
    def smiles(self) -> list[str]:
        every = self._meta.setdefault("_smiles", self._peptides.smiles)
        return [every[i] for i in self._idx]

    @property
    def rows(self) -> list[int]:
        every = self._meta.setdefault("_rows", self._peptides.rows)
        return [every[i] for i in self._idx]

    @property
    def num_atoms(self) -> np.ndarray:
        return np.asarray(self._peptides.num_atoms)[self._idx]

    # -- what the pairs add ---------------------------------------------------
    @property
    def targets(self) -> np.ndarray:
        return self._y[self._idx]

    @property
    def task(self) -> str | None:
        return self._meta["task"]

    @property
    def task_reason(self) -> str:
        return self._meta["task_reason"]

    @property
    def label_map(self) -> dict[str, float]:
        return {} if self._meta.get("binder_threshold") is not None else self._peptides.label_map

    @property
    def binder_threshold(self) -> float | None:
        return self._meta.get("binder_threshold")

    @property
    def protein_col(self) -> str:
        return self._meta["protein_col"]

    @property
    def invalid(self) -> list[InvalidRow]:
        return sorted(self._peptides.invalid + self._meta["protein_invalid"], key=lambda r: r.row)

    @property
    def notes(self) -> list[str]:
        return [*self._peptides.notes, *self._meta["notes"]]

    @property
    def protein_table(self) -> ProteinTable:
        return self._table

    @property
    def protein_ids(self) -> np.ndarray:
        return self._protein_ids[self._idx]

    @property
    def proteins(self) -> list[str]:
        return [self._table.sequences[p] for p in self.protein_ids]

    @property
    def protein_features(self) -> np.ndarray:
        """``[n, COMPOSITION_DIM]`` composition features of each pair's protein (for references)."""
        return self._table.features[self.protein_ids]

    @property
    def indices(self) -> np.ndarray:
        return self._idx.copy()

    def with_protein_input(self, protein_input: str) -> "PairDataset":
        """The same pairs feeding another encoder's input (the tables are shared)."""
        return PairDataset(self._peptides, self._protein_ids, self._table, protein_input, self._y, self._meta,
                           self._idx)

    # -- access ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._idx)

    def __getitem__(self, i):
        if not np.isscalar(i) and not (isinstance(i, torch.Tensor) and i.dim() == 0):
            idx = np.arange(len(self))[i] if isinstance(i, slice) else np.asarray(i, dtype=np.int64)
            return self.subset(idx)
        j = int(self._idx[int(i)])
        graph = self._peptides[j]
        graph.y = torch.from_numpy(self._y[j : j + 1].copy())
        p = int(self._protein_ids[j])
        if self.protein_input == "composition":
            graph.protein_x = torch.from_numpy(self._table.features[p : p + 1].copy())
        elif self.protein_input == "embeddings":
            graph.protein_x = torch.from_numpy(self._table.embeddings[p : p + 1].copy())
        elif self.protein_input == "cnn":
            graph.protein_tokens = torch.from_numpy(self._table.tokens[p : p + 1].copy())
        return graph

    def subset(self, indices) -> "PairDataset":
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"subset index out of range for a dataset of {len(self)}")
        return PairDataset(self._peptides, self._protein_ids, self._table, self.protein_input, self._y,
                           self._meta, self._idx[idx])


def load_pair_dataset(source, protein_col: str, target=None, task=None, smiles_col=None,
                      protein_input: str = "composition", protein_embeddings=None,
                      binder_threshold: float | None = None, progress: bool = False,
                      jobs: int | None = None) -> PairDataset:
    """Pairs of a file: peptides from ``smiles_col`` (cached graphs), proteins from ``protein_col``.

    ``binder_threshold`` turns the label into binder (>= threshold) / non-binder;
    ``protein_embeddings`` (an ``.npz``/``.parquet`` file) is needed by the
    ``embeddings`` input and read whenever given (a missing protein is exit 2).

        >>> ds = load_pair_dataset("c-binding.csv", "seq1", target="affinity", smiles_col="seq2")  # doctest: +SKIP
        >>> ds[0].protein_x.shape
        torch.Size([1, 422])
    """
    from pepland_hpo.data.dataset import load_dataset

    if protein_input not in PROTEIN_INPUTS:
        raise UserInputError(f"unknown protein encoder {protein_input!r}; use one of: {', '.join(PROTEIN_INPUTS)}")
    if binder_threshold is not None and task == "regression":
        raise UserInputError("a binder threshold makes the task classification; drop task=regression")
    label_task = "regression" if binder_threshold is not None else task
    peptides = load_dataset(source, target=target, task=label_task, smiles_col=smiles_col, progress=progress,
                            jobs=jobs)
    layout = read_layout(source, smiles_col=smiles_col)
    if protein_col and protein_col.lower() in (n.lower() for n in peptides.target_names):
        raise UserInputError(f"{layout.path}: column {protein_col!r} is the target; the protein column must be another")
    column = read_protein_column(layout, peptides.rows, protein_col)
    keep = np.flatnonzero([s is not None for s in column.sequences])
    sequences = [column.sequences[i] for i in keep]
    distinct = list(dict.fromkeys(sequences))
    position = {s: k for k, s in enumerate(distinct)}
    table = build_protein_table(distinct, protein_embeddings)
    values = np.asarray(peptides.targets, dtype=np.float32)[keep]
    task_now, task_reason = peptides.task, peptides.task_reason
    if binder_threshold is not None:
        values, task_reason = binarise(values, binder_threshold, peptides.target_names, layout.path)
        task_now = "classification"
    notes = [f"proteins: column {column.column!r}, {len(distinct)} distinct in {len(keep)} pair(s)"]
    meta = {"task": task_now, "task_reason": task_reason, "protein_col": column.column,
            "protein_invalid": column.invalid, "binder_threshold": binder_threshold, "notes": notes}
    return PairDataset(peptides.subset(keep), [position[s] for s in sequences], table, protein_input, values, meta)


__all__ = ["PROTEIN_INPUTS", "PairDataset", "ProteinTable", "build_protein_table", "load_pair_dataset"]
