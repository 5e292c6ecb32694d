"""``predict`` on a pair study's trial: the file's protein column feeds the model's protein encoder.

A pair model scores (peptide, protein); a file without the protein column has no
input for half of the model, so it is refused, naming the column, before any
molecule is featurised. The column is the one the study trained with (its
``pair.protein``), unless ``--protein-col`` names another (a file of new pairs
with its own header). A binder threshold of the study turns the file's labels
into binder / non-binder exactly as in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pepland_hpo.errors import UserInputError


def pair_of(spec: dict, meta: dict) -> dict | None:
    """The study's ``pair`` section (or the checkpoint's record of it); None for a one-molecule study."""
    pair = spec.get("pair") or None
    if pair:
        return dict(pair)
    if meta.get("protein_col"):
        return {"protein": meta["protein_col"], "binder_threshold": meta.get("binder_threshold")}
    return None


def check_protein_column(data_path: str, column: str, smiles_col: str | None, from_study: bool) -> None:
    """Exit 2 naming the column when the file lacks it."""
    from pepland_hpo.data.formats import read_layout

    layout = read_layout(data_path, smiles_col=smiles_col)
    if column.lower() in (c.lower() for c in layout.columns):
        return
    whose = "the study's protein column (pair.protein)" if from_study else "the protein column given"
    raise UserInputError(f"{data_path}: no column {column!r}, {whose}: a pair model needs the protein of each "
                         f"row (--protein-col NAME names another); columns found: {', '.join(layout.columns)}")


def load_pair_data(data_path: str, spec: dict, pair: dict, task: str | None, names: list[str],
                   protein_input: str, protein_col: str | None = None,
                   protein_embeddings: str | None = None) -> tuple[Any, bool]:
    """The pairs of ``data_path`` as training read them; ``(dataset, labelled)``."""
    from pepland_hpo.data.pairs import load_pair_dataset

    column = protein_col or pair.get("protein")
    if not column:
        raise UserInputError("this trial's model reads a protein but the study names no protein column; "
                             "give --protein-col NAME")
    check_protein_column(data_path, column, spec.get("smiles_col"), from_study=protein_col is None)
    threshold = pair.get("binder_threshold")
    kwargs: dict[str, Any] = {"smiles_col": spec.get("smiles_col"), "protein_input": protein_input,
                              "protein_embeddings": protein_embeddings or pair.get("embeddings"),
                              "binder_threshold": threshold,
                              "task": None if threshold is not None else task}
    first_error: UserInputError | None = None
    for target in dict.fromkeys([spec.get("target"), ",".join(names) if names else None]):
        if not target:
            continue
        try:
            ds = load_pair_dataset(data_path, column, target=target, **kwargs)
        except UserInputError as exc:
            first_error = first_error or exc
            continue
        if np.asarray(ds.targets).reshape(len(ds), -1).shape[1] == len(names) > 0:
            return ds, True
    try:
        # new pairs without labels: a task needs labels, so leave it (and the threshold) out
        return load_pair_dataset(data_path, column, **{**kwargs, "binder_threshold": None, "task": None}), False
    except UserInputError:
        if first_error is not None:
            raise first_error from None
        raise


__all__ = ["check_protein_column", "load_pair_data", "pair_of"]
