"""A data-file column that says which part each row belongs to: part names or fold numbers.

The column is read from the file's records the way labels are (same layout,
same column lookup by name, any case), and is neither a feature nor a target.
Its values are either

* part names, any case: ``train``, ``valid`` (or ``val``, ``validation``),
  ``test``: one partition, named after the column; or
* fold numbers ``0 .. k-1`` (k >= 3): k partitions ``fold-0`` .. ``fold-{k-1}``,
  where partition ``fold-f`` tests on fold f, validates on fold (f + 1) mod k
  and trains on the other folds.

Rows skipped when the data was read (bad molecule, missing label) carry a value
too; they are left out, counted in a note. Any other value, or a usable row
without one, is an error naming the line.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pepland_hpo.data.formats import Layout, find_column
from pepland_hpo.data.splits._check import part_name
from pepland_hpo.errors import UserInputError

MIN_FOLDS = 3  # with 2, fold f's train would be empty (test f, valid the other)


def column_partitions(layout: Layout, column: str, skipped_rows: Mapping[int, str],
                      target_names=()) -> tuple[list[tuple[str, dict[str, np.ndarray]]], list[str]]:
    """``[(name, {part: data rows})]`` from ``column``, and notes (see the module)."""
    path = layout.path
    col = find_column(column, layout.columns, path, "split")
    name = layout.columns[col]
    if col == layout.mol_idx:
        raise UserInputError(f"{path}: column {name!r} holds the molecules; it cannot also be the split column")
    if name in target_names:
        raise UserInputError(f"{path}: column {name!r} is the target; it cannot also be the split column")
    values: list[tuple[int, str]] = []  # (data row, value) of the usable rows
    for row, (line, fields) in enumerate(layout.records):
        if row in skipped_rows:
            continue
        value = fields[col].strip() if col < len(fields) else ""
        if not value:
            raise UserInputError(f"{path}: line {line}: no value in split column {name!r}")
        values.append((row, value))
    notes = [f"{len(skipped_rows)} skipped row(s) left out"] if skipped_rows else []
    by_name = any(part_name(v) is not None for _, v in values)
    bad = next(((r, v) for r, v in values if (part_name(v) is None if by_name else not v.isdigit())), None)
    if bad is not None:
        line = layout.records[bad[0]][0]
        raise UserInputError(
            f"{path}: line {line}: split column {name!r} has {bad[1]!r}; expected train, valid (val, "
            "validation) or test, or fold numbers 0..k-1, one kind for the whole column")
    if by_name:
        parts = {p: np.asarray([r for r, v in values if part_name(v) == p], dtype=np.int64)
                 for p in ("train", "valid", "test")}
        return [(name, {p: a for p, a in parts.items() if p != "valid" or a.size})], notes
    return _folds(values, name, path), notes


def _folds(values, name: str, path: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    fold = np.asarray([int(v) for _, v in values], dtype=np.int64)
    rows = np.asarray([r for r, _ in values], dtype=np.int64)
    found = sorted(set(fold.tolist()))
    k = len(found)
    if found != list(range(k)):
        raise UserInputError(f"{path}: split column {name!r}: fold numbers must be 0..k-1 with none missing, "
                             f"found {', '.join(map(str, found[:12]))}")
    if k < MIN_FOLDS:
        raise UserInputError(f"{path}: split column {name!r}: {k} fold(s); folds need at least {MIN_FOLDS} "
                             "(test one, validate the next, train on the rest)")
    return [(f"fold-{f}", {"test": rows[fold == f], "valid": rows[fold == (f + 1) % k],
                           "train": rows[(fold != f) & (fold != (f + 1) % k)]}) for f in range(k)]


__all__ = ["MIN_FOLDS", "column_partitions"]
