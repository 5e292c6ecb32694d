"""Given partitions: train/valid/test made by someone else (a benchmark), used as given.

A :class:`GivenSplit` says where they come from - a column of the data file
(:mod:`.partition_column`) or a partition file (:mod:`.partition_files`: JSON,
or hestia-good's, read as :mod:`.hestia_reading` decides) - and
:func:`load_given` turns them into :class:`GivenPartition` s over the loaded
dataset.

Indices in a file are **data rows, counted from 0**: row 0 is the first data
line after any header or count line (blank lines are not rows), and rows
skipped when the data was read still count - the numbering is the file's, not
the loaded data's, so a benchmark's indices mean what its authors meant. With
``id_column`` a JSON file lists values of that column instead. Every partition
passes :func:`.partitions.check_partition` on data rows (a row that was skipped
is named with its line and why), and only then becomes dataset positions, the
indices every stored split uses. A partition without ``valid`` gets a seeded
10 % of its train rows as validation, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pepland_hpo.data.formats import Layout, find_column
from pepland_hpo.data.splits._check import carve_valid, check_partition
from pepland_hpo.errors import UserInputError

VALID_FRACTION = 0.1  # of train, when a partition gives no validation rows
Reading = Literal["literal", "non-test-positions"]
ROWS_ARE = ("indices count data rows from 0: row 0 is the first data line after any header or count line, "
            "counting skipped rows (before they are removed)")


@dataclass(frozen=True)
class GivenSplit:
    """Where given partitions come from (``split: {kind: given, ...}``); exactly one of column and file."""

    column: str | None = None  # a column of the data file: train/valid/test, or fold numbers 0..k-1
    file: str | None = None  # a JSON or hestia-good partition file
    id_column: str | None = None  # JSON files: values of this column instead of row indices
    format: Literal["auto", "json", "hestia"] = "auto"
    # hestia-good files (hestia_reading): one reading for every partition, or {name: reading}
    reading: Reading | dict[str, Reading] | None = None
    partitions: tuple[str, ...] | None = None  # use only these, in this order; None: all, in file order
    seed: int = 0  # draws validation rows from train when a partition has none

    def check(self) -> None:
        if (self.column is None) == (self.file is None):
            raise UserInputError("a given split needs exactly one of column (a data column naming each row's "
                                 "part or fold) and file (a JSON or hestia-good partition file)")
        if self.column is not None and (self.id_column or self.format != "auto" or self.reading):
            raise UserInputError("id_column, format and reading apply to a partition file, not to a split column")
        if self.reading and self.format == "json":
            raise UserInputError("reading applies to hestia-good files (format: hestia), not to JSON")

    def source(self) -> str:
        return f"column {self.column!r}" if self.column is not None else f"file {self.file}"


@dataclass
class GivenPartition:
    name: str
    split: dict[str, list[int]]  # dataset positions, sorted, like every stored split
    notes: list[str] = field(default_factory=list)


@dataclass
class _Rows:
    """How the file's data rows map onto the loaded dataset."""

    lines: list[int]  # line of each data row
    position: dict[int, int]  # line -> dataset position, for the rows that were loaded
    skipped: dict[int, str]  # data row -> why it is not in the dataset

    def label(self, row: int) -> str:
        return f" (line {self.lines[row]})" if 0 <= row < len(self.lines) else ""


def _rows(dataset, layout: Layout) -> _Rows:
    lines = [line for line, _ in layout.records]
    position = {line: i for i, line in enumerate(dataset.rows)}
    why = {r.row: r.reason for r in dataset.invalid}
    skipped = {row: why.get(line, "not in the loaded data") for row, line in enumerate(lines) if line not in position}
    return _Rows(lines, position, skipped)


def _ids_to_rows(raw_parts: Mapping[str, list], id_column: str, layout: Layout, where: str,
                 name: str) -> dict[str, list[int]]:
    col = find_column(id_column, layout.columns, layout.path, "id")
    row_of: dict[str, int] = {}
    for row, (line, fields) in enumerate(layout.records):
        value = fields[col].strip() if col < len(fields) else ""
        if not value:
            continue
        if value in row_of:
            first = layout.records[row_of[value]][0]
            raise UserInputError(f"{layout.path}: id column {layout.columns[col]!r} repeats {value!r} (lines "
                                 f"{first} and {line}); ids must be unique")
        row_of[value] = row
    out = {}
    for part, values in raw_parts.items():
        ids = [str(v).strip() for v in values]
        missing = [v for v in ids if v not in row_of]
        if missing:
            raise UserInputError(f"{where}: partition {name!r}: {part} lists id {missing[0]!r}, which no row of "
                                 f"{layout.path} has in column {layout.columns[col]!r}"
                                 + (f" ({len(missing)} such ids)" if len(missing) > 1 else ""))
        out[part] = [row_of[v] for v in ids]
    return out


def _select(named: list, wanted: tuple[str, ...] | None, where: str) -> list:
    """The wanted items of ``named`` (pairs or :class:`RawPartition` s, by name), in the wanted order."""
    if wanted is None:
        return list(named)
    key = (lambda item: item.name) if named and hasattr(named[0], "name") else (lambda item: item[0])
    by_name = {key(item): item for item in named}
    missing = [w for w in wanted if w not in by_name]
    if missing:
        raise UserInputError(f"{where}: no partition {missing[0]!r}; the partitions are "
                             f"{', '.join(repr(n) for n in by_name)}")
    return [by_name[w] for w in dict.fromkeys(wanted)]


def _one(selected: list, where: str, option: str | None) -> list:
    """``selected`` when ``option`` is None or it holds one partition; else the error naming them and ``option``."""
    if option is None or len(selected) == 1:
        return selected
    names = ", ".join(repr(item.name if hasattr(item, "name") else item[0]) for item in selected)
    raise UserInputError(f"{where} holds {len(selected)} partitions ({names}); choose one with {option}")


def _from_file(given: GivenSplit, layout: Layout, n_rows: int, one: str | None) -> tuple[str, list, list[str]]:
    from pepland_hpo.data.splits._hestia import read_hestia
    from pepland_hpo.data.splits._files import read_partition_file

    pf = read_partition_file(given.file, given.format)
    where = pf.path
    # selected first: a partition that is not used needs no reading and no check
    raws = _one(_select(pf.partitions, given.partitions, where), where, one)
    if pf.format == "hestia":
        if given.id_column:
            raise UserInputError(f"{where}: hestia-good stores row positions, not ids; id_column applies to "
                                 "JSON partition files")
        named, notes = read_hestia(raws, n_rows, given.reading, where, data=layout.path)
        return where, named, [f"hestia-good partitions ({'; '.join(pf.notes)})", *notes]
    if given.reading:
        raise UserInputError(f"{where}: reading applies to hestia-good files; this one is plain JSON")
    if given.id_column:
        named = [(raw.name, _ids_to_rows(raw.parts, given.id_column, layout, where, raw.name)) for raw in raws]
        return where, named, [f"JSON partitions, ids in column {given.id_column!r}"]
    return where, [(raw.name, raw.parts) for raw in raws], [f"JSON partitions; {ROWS_ARE}"]


def load_given(given: GivenSplit, dataset, layout: Layout,
               one: str | None = None) -> tuple[list[GivenPartition], list[str]]:
    """The given partitions over ``dataset`` (loaded from ``layout``'s file), and what was read and decided.

    ``one``: exactly one partition is wanted (a single run), and this option chooses it (named in the error)."""
    from pepland_hpo.data.splits._column import column_partitions

    given.check()
    if layout.digest != dataset.content_hash:
        raise UserInputError(f"{layout.path}: file changed while it was being read; try again")
    rows = _rows(dataset, layout)
    n_rows = len(rows.lines)
    if given.column is not None:
        named, notes = column_partitions(layout, given.column, rows.skipped, dataset.target_names)
        where = f"{layout.path}: split column {given.column!r}"
        named = _one(_select(named, given.partitions, where), where, one)
    else:
        where, named, notes = _from_file(given, layout, n_rows, one)
    if len({n for n, _ in named}) != len(named):
        raise UserInputError(f"{where}: two partitions have the same name")
    out = []
    for name, parts in named:
        checked = check_partition(name, parts, n_rows, rows.skipped, source=where, row_label=rows.label,
                                  hint=f"; {ROWS_ARE}")
        part_notes = []
        if checked["valid"].size == 0:
            checked["train"], checked["valid"] = carve_valid(checked["train"], given.seed, VALID_FRACTION)
            part_notes.append(f"valid: none given; {len(checked['valid'])} row(s), a seeded {VALID_FRACTION * 100:g} % "
                              f"of train (split seed {given.seed})")
        used = sum(a.size for a in checked.values())
        unused = n_rows - len(rows.skipped) - used
        if unused:
            part_notes.append(f"{unused} loaded row(s) are in no part (not used)")
        split = {p: sorted(rows.position[rows.lines[int(r)]] for r in a) for p, a in checked.items()}
        out.append(GivenPartition(name, split, part_notes))
    return out, notes


__all__ = ["GivenPartition", "GivenSplit", "ROWS_ARE", "VALID_FRACTION", "load_given"]
