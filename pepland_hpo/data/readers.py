"""File → rows → RDKit molecules: the one place that knows input formats.

Accepted inputs (DESIGN.md §3):

* CSV/TSV with a header and a SMILES column (``smiles``, ``SMILES``, ``*_SMILES``,
  case-insensitive) or a sequence column (``sequence``, ``seq``, ``seq2``, ...),
  plus any number of numeric target columns;
* headerless ``sequence,label`` files (PepLand's ``c-CPP.txt``) and one
  sequence (or SMILES) per line: a file is headerless when its first field is a
  molecule and its second, if any, a number;
* ``builtin:amp`` / ``builtin:amp-uniprot`` (see :mod:`.builtin`).

Row numbers are 1-based *line numbers of the file* (the header is line 1), so
a user can jump straight to a reported row in an editor.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem

from pepland_hpo.data import builtin
from pepland_hpo.data.featurize import quiet_rdkit
from pepland_hpo.errors import UserInputError

TASKS = ("classification", "regression")
SEQUENCE_COLUMNS = ("sequence", "sequences", "seq", "seq2", "peptide", "peptide_sequence", "aa_seq")
# Header words that are never data, even though e.g. "SMILES" spells a valid peptide.
_HEADER_WORDS = frozenset(("smiles", "label", "labels", "target", "y", "name", "id") + SEQUENCE_COLUMNS)
_SEQUENCE_RE = re.compile(r"^[ACDEFGHIKLMNPQRSTVWY]+$")
_MAX_TEXT = 200  # longest row text kept in an InvalidRow


@dataclass(frozen=True)
class InvalidRow:
    row: int  # 1-based line number in the file
    text: str
    reason: str


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

    def __len__(self) -> int:
        return len(self.smiles)


# ------------------------------------------------------------------ source


def file_bytes(source: str | Path) -> tuple[bytes, str, "builtin.Builtin | None"]:
    """Raw bytes, a display name, and the builtin spec (if any) of a source."""
    if builtin.is_builtin(source):
        spec = builtin.builtin_spec(str(source))
        return builtin.builtin_path(spec).read_bytes(), str(source), spec
    path = Path(source).expanduser()
    if not path.exists():
        raise UserInputError(f"data file not found: {path}")
    if not path.is_file():
        raise UserInputError(f"data source is not a file: {path}")
    return path.read_bytes(), str(path), None


def content_hash(source: str | Path) -> str:
    """sha256 of the file's bytes (for builtins, of the packaged file)."""
    return hashlib.sha256(file_bytes(source)[0]).hexdigest()


# ------------------------------------------------------------------ parsing helpers


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def looks_like_sequence(text: str) -> bool:
    return bool(_SEQUENCE_RE.match(text))


def _parses_as_smiles(text: str) -> bool:
    if not text or text.lower() in _HEADER_WORDS:
        return False
    with quiet_rdkit():
        return Chem.MolFromSmiles(text, sanitize=False) is not None


def mol_from_text(text: str, kind: str) -> tuple[Chem.Mol | None, str]:
    """Parse one field; returns ``(mol, "")`` or ``(None, reason)``."""
    if not text:
        return None, f"empty {kind}"
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


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped fields) of each non-blank record."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out = []
    start = 1
    for fields in reader:
        if any(f.strip() for f in fields):
            out.append((start, [f.strip() for f in fields]))
        start = reader.line_num + 1
    return out


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _is_headerless(first: list[str]) -> str | None:
    """The molecule kind if the first record is data, else None (it is a header)."""
    head = first[0]
    if head.lower() in _HEADER_WORDS:
        return None
    if len(first) > 1 and not _is_number(first[1]):
        return None
    if looks_like_sequence(head):
        return "sequence"
    if _parses_as_smiles(head):
        return "smiles"
    return None


def _find_column(name: str, columns: list[str], path: str, what: str) -> int:
    if name in columns:
        return columns.index(name)
    lowered = [c.lower() for c in columns]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    raise UserInputError(f"{path}: no {what} column {name!r}; columns found: {', '.join(columns)}")


def _filled(records, col: int) -> int:
    return sum(1 for _, f in records if col < len(f) and f[col])


def _pick_molecule_column(columns, records, path, smiles_col) -> tuple[int, str]:
    """Index and kind ("smiles" | "sequence") of the molecule column."""
    lowered = [c.lower() for c in columns]
    if smiles_col:
        idx = _find_column(smiles_col, columns, path, "SMILES/sequence")
        name = lowered[idx]
        if name.endswith("smiles"):
            return idx, "smiles"
        if name in SEQUENCE_COLUMNS:
            return idx, "sequence"
        sample = [f[idx] for _, f in records[:50] if idx < len(f) and f[idx]]
        return idx, "sequence" if sample and all(map(looks_like_sequence, sample)) else "smiles"
    smiles_like = [i for i, c in enumerate(lowered) if c == "smiles" or c.endswith("_smiles")]
    if smiles_like:
        if "smiles" in lowered:
            return lowered.index("smiles"), "smiles"
        # several (nc-binding.csv: ligand_SMILES, REACT_SMILES, Merge_SMILES): the fullest
        # wins; on a tie the later one, since merged/cleaned columns tend to be appended
        return max(smiles_like, key=lambda i: (_filled(records, i), i)), "smiles"
    for name in SEQUENCE_COLUMNS:
        if name in lowered:
            return lowered.index(name), "sequence"
    raise UserInputError(
        f"{path}: no SMILES or sequence column (expected 'smiles', '*_SMILES', 'sequence' or 'seq'); "
        f"columns found: {', '.join(columns)}; pick one with smiles_col / --smiles-col"
    )


def _target_names(target) -> list[str]:
    if target is None:
        return []
    items = target.split(",") if isinstance(target, str) else list(target)
    return [t.strip() for t in items if t and t.strip()]


def _check_numeric(records, col: int, name: str, path: str, columns) -> None:
    values = [(line, f[col]) for line, f in records if col < len(f) and f[col]]
    if not values:
        raise UserInputError(f"{path}: target column {name!r} is empty; columns found: {', '.join(columns)}")
    if not any(_is_number(v) for _, v in values):
        line, v = values[0]
        raise UserInputError(
            f"{path}: target column {name!r} is not numeric (line {line}: {v!r}); "
            f"columns found: {', '.join(columns)}"
        )


def _infer_task(targets: np.ndarray, names: list[str], task: str | None, path: str) -> str | None:
    if task is not None and task not in TASKS:
        raise UserInputError(f"unknown task {task!r}; use one of: {', '.join(TASKS)}")
    if targets.shape[1] == 0:
        if task is not None:
            raise UserInputError(f"{path}: task {task!r} needs a target column (--target)")
        return None
    binary = [set(np.unique(targets[:, k]).tolist()) <= {0.0, 1.0} for k in range(targets.shape[1])]
    if task == "classification":
        for k, ok in enumerate(binary):
            if not ok:
                found = np.unique(targets[:, k])[:6].tolist()
                raise UserInputError(
                    f"{path}: classification needs 0/1 labels; target {names[k]!r} has values {found}"
                )
        return task
    if task == "regression":
        return task
    two = all(ok and len(np.unique(targets[:, k])) == 2 for k, ok in enumerate(binary))
    return "classification" if two else "regression"


# ------------------------------------------------------------------ the reader


def read_table(source, target=None, task=None, smiles_col=None) -> tuple[MoleculeTable, list[Chem.Mol]]:
    """:func:`load_table` plus the parsed molecules (so featurising need not parse again)."""
    data, path, spec = file_bytes(source)
    digest = hashlib.sha256(data).hexdigest()
    text = _decode(data)
    if not text.strip():
        raise UserInputError(f"{path}: file is empty")
    if spec is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[spec.skip_lines:])
    delimiter = "\t" if (path.endswith(".tsv") or ("\t" in text.split("\n", 1)[0] and "," not in text.split("\n", 1)[0])) else ","
    records = _records(text, delimiter)
    if spec is not None:  # line numbers of the original file
        records = [(line + spec.skip_lines, f) for line, f in records]
    if not records:
        raise UserInputError(f"{path}: file has no rows")

    kind_headerless = _is_headerless(records[0][1]) if spec is None else "sequence"
    if kind_headerless:
        width = max(len(f) for _, f in records)
        columns = ["sequence" if kind_headerless == "sequence" else "smiles", "label"][:width]
        columns += [f"col{k + 1}" for k in range(len(columns), width)]
        mol_idx, kind = 0, kind_headerless
        if target is None and width >= 2:
            target = spec.default_target if spec else "label"
    else:
        columns, records = records[0][1], records[1:]
        if not records:
            raise UserInputError(f"{path}: file has a header but no rows; columns found: {', '.join(columns)}")
        mol_idx, kind = _pick_molecule_column(columns, records, path, smiles_col)

    names = _target_names(target)
    tcols = [_find_column(n, columns, path, "target") for n in names]
    names = [columns[c] for c in tcols]
    for c, n in zip(tcols, names):
        if c == mol_idx:
            raise UserInputError(f"{path}: column {n!r} holds the molecules; it cannot also be a target")
        _check_numeric(records, c, n, path, columns)

    smiles, rows, targets, invalid, mols, atoms = [], [], [], [], [], []
    for line, fields in records:
        text_field = fields[mol_idx] if mol_idx < len(fields) else ""
        # the molecule field is what a user recognises; the whole row when that is empty
        raw = (text_field or ",".join(fields))[:_MAX_TEXT]
        values, why = [], ""
        for c, n in zip(tcols, names):
            v = fields[c] if c < len(fields) else ""
            if not v:
                why = f"missing target {n!r}"
                break
            if not _is_number(v):
                why = f"target {n!r} is not a number: {v!r}"
                break
            values.append(float(v))
        if why:
            invalid.append(InvalidRow(line, raw, why))
            continue
        mol, why = mol_from_text(text_field, kind)
        if mol is None:
            invalid.append(InvalidRow(line, raw, why))
            continue
        smiles.append(Chem.MolToSmiles(mol))
        rows.append(line)
        targets.append(values)
        mols.append(mol)
        atoms.append(mol.GetNumAtoms())

    if not smiles:
        reasons = "; ".join(f"line {r.row}: {r.reason}" for r in invalid[:3])
        raise UserInputError(
            f"{path}: no valid row among {len(records)} (column {columns[mol_idx]!r}; {reasons}); "
            f"columns found: {', '.join(columns)}"
        )
    y = np.asarray(targets, dtype=np.float32).reshape(len(smiles), len(names))
    table = MoleculeTable(
        smiles=smiles, targets=y, target_names=names, rows=rows, invalid=invalid,
        content_hash=digest, source=str(source), task=_infer_task(y, names, task, path),
        smiles_col=columns[mol_idx], kind=kind, columns=list(columns),
        num_atoms=np.asarray(atoms, dtype=np.int64), n_rows=len(records),
    )
    return table, mols


def load_table(source, target=None, task=None, smiles_col=None) -> MoleculeTable:
    """Read a data file (or ``builtin:...``) into valid canonical SMILES plus targets.

    ``target`` is a column name or a comma list of names (multi-target); for
    headerless ``sequence,label`` files and the builtins it defaults to
    ``label``. ``task`` is inferred when not given: every target 0/1 with both
    values present → classification, else regression.

    Example::

        >>> t = load_table("builtin:amp")
        >>> len(t), t.task, t.target_names
        (412, 'classification', ['label'])
    """
    return read_table(source, target=target, task=task, smiles_col=smiles_col)[0]
