"""File → rows → RDKit molecules and labels: the one place that knows input formats.

Accepted inputs (layouts in :mod:`.formats`):

* CSV, TSV or ``;``-separated text with a header and a SMILES column
  (``smiles``, ``SMILES``, ``*_SMILES``, case-insensitive) or a sequence
  column (``sequence``, ``seq``, ``seq2``, ...), plus numeric target columns;
* headerless ``sequence,label`` files (PepLand's ``c-CPP.txt``, modlamp's
  files after their count line) and one sequence (or SMILES) per line;
* FASTA, the label in the header (``>p1|1`` or ``>p1 label=1``);
* ``builtin:amp`` / ``builtin:amp-uniprot`` (see :mod:`.builtin`).

Molecules and labels are read separately (:func:`read_molecules`,
:func:`read_labels`): the featurised molecules are cached by the molecules
alone, and the labels of whichever target is asked for are attached after.

Row numbers are 1-based *line numbers of the file* (the header is line 1), so
a user can jump straight to a reported row in an editor.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem

from pepland_hpo.data.featurize import quiet_rdkit
from pepland_hpo.data.formats import (  # noqa: F401  (re-exported: the readers' public names)
    SEQUENCE_COLUMNS,
    Layout,
    file_bytes,
    find_column,
    is_number,
    looks_like_sequence,
    read_layout,
)
from pepland_hpo.data.limits import too_large
from pepland_hpo.errors import UserInputError

TASKS = ("classification", "regression")
_MAX_TEXT = 200  # longest row text kept in an InvalidRow


@dataclass(frozen=True)
class InvalidRow:
    row: int  # 1-based line number in the file
    text: str
    reason: str


@dataclass
class Labels:
    """The targets of the valid molecules, and what was inferred about them."""

    values: np.ndarray  # float32 [n_molecules, T]; NaN where a row's label is missing or bad
    keep: np.ndarray  # bool [n_molecules]: every target present and usable
    names: list[str]
    invalid: list[InvalidRow]
    task: str | None
    task_reason: str = ""
    label_map: dict[str, float] = field(default_factory=dict)  # file value -> stored value, when relabelled
    class_names: dict[str, str] = field(default_factory=dict)  # stored value -> name, when the file says


@dataclass
class MoleculeTable:
    """Valid molecules of one file, in file order (contract: docs/ARCHITECTURE.md)."""

    smiles: list[str]
    targets: np.ndarray  # float32 [n, T]
    target_names: list[str]
    rows: list[int]
    invalid: list[InvalidRow]
    content_hash: str
    source: str
    task: str | None
    smiles_col: str = ""  # the column the molecules came from
    kind: str = "smiles"  # "smiles" | "sequence"
    columns: list[str] = field(default_factory=list)
    num_atoms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_rows: int = 0  # data rows read, valid or not
    notes: list[str] = field(default_factory=list)  # how the file was read (delimiter, header, ...)
    task_reason: str = ""
    label_map: dict[str, float] = field(default_factory=dict)
    class_names: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.smiles)


def content_hash(source: str | Path) -> str:
    """sha256 of the file's bytes (for builtins, of the packaged file)."""
    return hashlib.sha256(file_bytes(source)[0]).hexdigest()


# ------------------------------------------------------------------ one molecule


def mol_from_text(text: str, kind: str) -> tuple[Chem.Mol | None, str]:
    """Parse one field; returns ``(mol, "")`` or ``(None, reason)``.

    Size and whitespace are checked on the text first, so RDKit never sees a
    field that would take it minutes (or crash it).
    """
    if not text:
        return None, f"empty {kind}"
    space = re.search(r"\s", text)
    if space:
        return None, (f"{kind} contains a space at position {space.start() + 1}; "
                      "it would become disconnected pieces (remove the space or split the row)")
    why = too_large(text, kind)
    if why:
        return None, why
    with quiet_rdkit():
        if kind == "sequence":
            mol = Chem.MolFromSequence(text)
            if mol is None:
                bad = sorted(set(re.sub(r"[ACDEFGHIKLMNPQRSTVWYacdefghiklmnpqrstvwy]", "", text)))
                why = f"unknown residue letter(s) {''.join(bad)!r}" if bad else "RDKit rejected it"
                return None, f"not a peptide sequence: {why}"
        else:
            mol = Chem.MolFromSmiles(text)
            if mol is None:
                return None, _smiles_error(text)
    if mol.GetNumAtoms() == 0:
        return None, f"{kind} has no atoms"
    return mol, ""


def _smiles_error(text: str) -> str:
    """Why RDKit refused a SMILES: syntax, or the sanitizer's own message (valence, kekulisation)."""
    raw = Chem.MolFromSmiles(text, sanitize=False)
    if raw is None:
        return "invalid SMILES syntax"
    try:
        Chem.SanitizeMol(raw)
    except Exception as exc:  # RDKit raises several exception types here
        return f"invalid SMILES: {str(exc).strip().splitlines()[0]}"
    return "invalid SMILES"


# ------------------------------------------------------------------ molecules


@dataclass
class Molecules:
    """The valid molecules of a layout, in file order, and the rows that were not."""

    smiles: list[str]
    rows: list[int]
    mols: list[Chem.Mol]
    num_atoms: list[int]
    invalid: list[InvalidRow]


def _row_text(fields: list[str], text_field: str) -> str:
    # the molecule field is what a user recognises; the whole row when that is empty
    return (text_field or ",".join(fields))[:_MAX_TEXT]


def molecule_fields(layout: Layout):
    """``(line, row text, molecule field, reason)`` per record, in file order, without RDKit.

    ``reason`` is non-empty for a row that is invalid before parsing (more fields than
    the header); the parallel featuriser sends the rest to its workers in chunks."""
    width = len(layout.columns)
    for line, fields in layout.records:
        text_field = fields[layout.mol_idx] if layout.mol_idx < len(fields) else ""
        raw = _row_text(fields, text_field)
        why = ""
        if layout.fmt == "csv" and len(fields) > width:
            extra = ", ".join(repr(f) for f in fields[width:][:3])
            why = (f"row has {len(fields)} fields, {'the header has' if layout.header else 'other rows have'} "
                   f"{width} (extra: {extra}); check the delimiter and quoting")
        yield line, raw, text_field, why


def parse_fields(fields, kind: str, out: Molecules | None = None) -> Molecules:
    """Parse ``(line, row text, molecule field, reason)`` records into ``out`` (a new one if None)."""
    out = Molecules([], [], [], [], []) if out is None else out
    for line, raw, text_field, why in fields:
        if not why:
            mol, why = mol_from_text(text_field, kind)
        if why:
            out.invalid.append(InvalidRow(line, raw, why))
            continue
        out.smiles.append(Chem.MolToSmiles(mol))
        out.rows.append(line)
        out.mols.append(mol)
        out.num_atoms.append(mol.GetNumAtoms())
    return out


def read_molecules(layout: Layout, progress: bool = False) -> Molecules:
    """Parse every record's molecule (rows with extra fields, too large or unparsable are listed)."""
    fields = molecule_fields(layout)
    if progress and len(layout.records) > 1000:
        from rich.progress import track

        fields = track(fields, description="parsing", total=len(layout.records))
    return parse_fields(fields, layout.kind)


def no_valid_row(layout: Layout, invalid: list[InvalidRow]) -> UserInputError:
    reasons = "; ".join(f"line {r.row}: {r.reason}" for r in invalid[:3])
    return UserInputError(
        f"{layout.path}: no valid row among {len(layout.records)} (column {layout.mol_column!r}; {reasons}); "
        f"columns found: {', '.join(layout.columns)}"
    )


# ------------------------------------------------------------------ labels


def _target_names(target) -> list[str]:
    if target is None:
        return []
    items = target.split(",") if isinstance(target, str) else list(target)
    return [t.strip() for t in items if t and t.strip()]


def _check_numeric(records, col: int, name: str, path: str, columns) -> None:
    values = [(line, f[col]) for line, f in records if col < len(f) and f[col]]
    if not values:
        raise UserInputError(f"{path}: target column {name!r} is empty; columns found: {', '.join(columns)}")
    if not any(is_number(v) for _, v in values):
        line, v = values[0]
        raise UserInputError(
            f"{path}: target column {name!r} is not numeric (line {line}: {v!r}); "
            f"columns found: {', '.join(columns)}"
        )


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


# Integer labels with this many distinct values or fewer look like classes, not measurements.
_MAX_CLASS_LIKE = 10


def infer_task(values: np.ndarray, names: list[str], task: str | None, path: str,
               hint: str = "--task") -> tuple[str | None, str, dict[str, float]]:
    """``(task, why, label map)``; when ``task`` is given and inference agrees, the inference's reason."""
    found = _infer_task(values, names, task, path, hint)
    if task is not None and values.shape[1]:
        try:
            guess = _infer_task(values, names, None, path, hint)
        except UserInputError:
            guess = (None, "", {})
        if guess[0] == found[0] and guess[2] == found[2]:
            return guess
    return found


def _infer_task(values: np.ndarray, names: list[str], task: str | None, path: str,
                hint: str = "--task") -> tuple[str | None, str, dict[str, float]]:
    """``(task, why, label map)`` for the kept labels ``values`` [n, T].

    {0, 1} is classification; {-1, +1} is classification with -1 → 0, +1 → 1;
    3 to 10 integer classes are refused without a task (the models are binary:
    one sigmoid output per target); anything else is regression.
    """
    if task is not None and task not in TASKS:
        raise UserInputError(f"unknown task {task!r}; use one of: {', '.join(TASKS)}")
    if values.shape[1] == 0:
        if task is not None:
            raise UserInputError(f"{path}: task {task!r} needs a target column (--target)")
        return None, "", {}
    if task == "regression":
        return task, "regression, as asked", {}
    uniq = [np.unique(values[:, k]) for k in range(values.shape[1])]
    sets = [set(u.tolist()) for u in uniq]
    if all(s <= {0.0, 1.0} for s in sets) and (task or all(len(s) == 2 for s in sets)):
        return "classification", ("classification, as asked" if task else "labels are 0/1: classification"), {}
    if all(s == {-1.0, 1.0} for s in sets):
        return ("classification", "labels are -1/+1: binary classification, stored as -1 → 0, +1 → 1",
                {"-1": 0.0, "1": 1.0})
    if task == "classification":
        k = next(k for k, s in enumerate(sets) if not s <= {0.0, 1.0})
        found = ", ".join(_fmt(v) for v in uniq[k][:6])
        raise UserInputError(
            f"{path}: classification needs two classes labelled 0/1 (or -1/+1); target {names[k]!r} "
            f"has values {found}{', ...' if len(uniq[k]) > 6 else ''} (multi-class is not supported: the models "
            "have one sigmoid output per target; binarise the labels or use --task regression)"
        )
    for k, u in enumerate(uniq):
        integral = bool(np.all(np.equal(np.mod(u, 1), 0)))
        if integral and 3 <= len(u) <= _MAX_CLASS_LIKE:
            found = ", ".join(_fmt(v) for v in u)
            raise UserInputError(
                f"{path}: target {names[k]!r} has {len(u)} integer values ({found}): classes or a measurement? "
                f"Multi-class classification is not supported; say {hint} regression to treat them as numbers, "
                "or binarise them to 0/1"
            )
    distinct = ", ".join(f"{n!r}: {len(u)} distinct values" for n, u in zip(names, uniq))
    if all(len(u) == 1 for u in uniq):
        return "regression", f"every label is the same ({distinct}): regression", {}
    return "regression", f"labels are not two classes ({distinct}): regression", {}


def read_labels(layout: Layout, rows: list[int], target=None, task=None) -> Labels:
    """The labels of the molecules on lines ``rows``; rows with a missing or bad label are listed."""
    path, columns = layout.path, layout.columns
    names = _target_names(target if target is not None else layout.default_target)
    tcols = [find_column(n, columns, path, "target") for n in names]
    names = [columns[c] for c in tcols]
    for c, n in zip(tcols, names):
        if c == layout.mol_idx:
            raise UserInputError(f"{path}: column {n!r} holds the molecules; it cannot also be a target")
        _check_numeric(layout.records, c, n, path, columns)
    by_line = dict(layout.records)
    values = np.full((len(rows), len(names)), np.nan, dtype=np.float32)
    keep = np.ones(len(rows), dtype=bool)
    invalid = []
    for i, line in enumerate(rows):
        fields = by_line[line]
        for k, (c, n) in enumerate(zip(tcols, names)):
            v = fields[c] if c < len(fields) else ""
            if not v or v.lower() in ("nan", "na", "n/a", "none", "null", "?"):
                why = f"missing target {n!r}" + (f" ({v!r})" if v else "")
            elif not is_number(v):
                why = f"target {n!r} is not a number: {v!r}"
            else:
                values[i, k] = float(v)
                continue
            keep[i] = False
            mol_text = fields[layout.mol_idx] if layout.mol_idx < len(fields) else ""
            invalid.append(InvalidRow(line, _row_text(fields, mol_text), why))
            break
    inferred, why, mapping = infer_task(values[keep], names, task, path)
    if mapping:
        for old, new in mapping.items():
            values[values == float(old)] = new
    class_names = {}
    if inferred == "classification" and layout.class_names and len(layout.class_names) == 2 and not mapping:
        class_names = {"0": layout.class_names[0], "1": layout.class_names[1]}
    return Labels(values, keep, names, invalid, inferred, why, mapping, class_names)


# ------------------------------------------------------------------ the reader


def read_table(source, target=None, task=None, smiles_col=None) -> tuple[MoleculeTable, list[Chem.Mol]]:
    """:func:`load_table` plus the parsed molecules (so featurising need not parse again)."""
    layout = read_layout(source, smiles_col=smiles_col)
    mols = read_molecules(layout)
    if not mols.smiles:
        raise no_valid_row(layout, mols.invalid)
    labels = read_labels(layout, mols.rows, target=target, task=task)
    keep = np.flatnonzero(labels.keep)
    if keep.size == 0:
        raise no_valid_row(layout, sorted(mols.invalid + labels.invalid, key=lambda r: r.row))
    table = MoleculeTable(
        smiles=[mols.smiles[i] for i in keep], targets=labels.values[keep], target_names=labels.names,
        rows=[mols.rows[i] for i in keep], invalid=sorted(mols.invalid + labels.invalid, key=lambda r: r.row),
        content_hash=layout.digest, source=str(source), task=labels.task,
        smiles_col=layout.mol_column, kind=layout.kind, columns=list(layout.columns),
        num_atoms=np.asarray([mols.num_atoms[i] for i in keep], dtype=np.int64), n_rows=len(layout.records),
        notes=list(layout.notes), task_reason=labels.task_reason, label_map=labels.label_map,
        class_names=labels.class_names,
    )
    return table, [mols.mols[i] for i in keep]


def load_table(source, target=None, task=None, smiles_col=None) -> MoleculeTable:
    """Read a data file (or ``builtin:...``) into valid canonical SMILES plus targets.

    ``target`` is a column name or a comma list of names (multi-target); when
    not given it is the file's only label-named column (``label``, ``target``,
    ``y``, ``class``; headerless ``sequence,label`` files, FASTA with labels and
    the builtins: ``label``). ``task`` is inferred when not given (see
    :func:`infer_task`; ``table.task_reason`` says why).

    Example::

        >>> t = load_table("builtin:amp")
        >>> len(t), t.task, t.target_names
        (412, 'classification', ['label'])
    """
    return read_table(source, target=target, task=task, smiles_col=smiles_col)[0]
