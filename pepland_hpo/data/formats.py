"""A data file's layout: text, delimiter, header or not, records, the molecule column.

Everything here is cheap (no RDKit beyond a syntax check of one field), so the
cache key can be computed from it before any molecule is parsed. Every
decision that could surprise a user is written into :attr:`Layout.notes`
(``create`` and ``data inspect`` print them):

* text: UTF-8 (a BOM is fine). A binary file (NUL bytes, a gzip/zip/xlsx
  signature) or one that is not UTF-8 is refused, naming the file.
* FASTA: the first non-blank line starts with ``>``. A record's sequence is
  its lines joined; its label comes from the header, either as ``label=VALUE``
  anywhere in it (``>p1 label=1``) or as the last ``|``-separated field when
  that is a number (``>p1|1``). Columns: ``id, sequence, label``.
* delimited text: ``,``, ``;`` or tab, whichever splits the first lines into
  the same number (> 1) of fields; a single column otherwise. ``.tsv`` is tab.
* the first line is a header when it names a known column (``smiles``,
  ``sequence``, ``label``, ...) or is not a molecule followed by numbers;
  it is data when its first field is a molecule and the others are numbers.
  A count line as in scikit-learn's and modlamp's CSV files (``826,1,TM,ACP``:
  rows, features, then class names) is neither: it is skipped, and its class
  names give the meaning of labels 0, 1, ...
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from rdkit import Chem

from pepland_hpo.data import builtin
from pepland_hpo.data.featurize import quiet_rdkit
from pepland_hpo.errors import UserInputError

SEQUENCE_COLUMNS = ("sequence", "sequences", "seq", "seq2", "peptide", "peptide_sequence", "aa_seq")
LABEL_COLUMNS = ("label", "labels", "target", "y", "class")
# Header words that are never data, even though e.g. "SMILES" spells a valid peptide.
HEADER_WORDS = frozenset(("smiles", "name", "id") + LABEL_COLUMNS + SEQUENCE_COLUMNS)
_SEQUENCE_RE = re.compile(r"^[ACDEFGHIKLMNPQRSTVWY]+$")
_DELIMITERS = (",", "\t", ";")
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon"}
_BINARY_SIGNATURES = {b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive (an .xlsx workbook?)",
                      b"\xd0\xcf\x11\xe0": "an old Excel/Office file", b"%PDF": "a PDF"}
_FASTA_LABEL_RE = re.compile(r"(?:^|[\s|;])label=([^\s|;]+)", re.IGNORECASE)


@dataclass
class Layout:
    """What a file holds, before any molecule is parsed."""

    path: str  # display name
    digest: str  # sha256 of the bytes
    records: list[tuple[int, list[str]]]  # data records: (1-based line number, stripped fields)
    columns: list[str]
    mol_idx: int
    kind: str  # "smiles" | "sequence"
    fmt: str  # "csv" | "fasta"
    delimiter: str = ","
    header: bool = True
    default_target: str | None = None  # the label column used when no target is given
    class_names: list[str] | None = None  # from a count line: names of labels 0, 1, ...
    notes: list[str] = field(default_factory=list)

    @property
    def mol_column(self) -> str:
        return self.columns[self.mol_idx]

    def molecule_key(self) -> dict:
        """What identifies the molecules (not the labels) of this file, for the cache key."""
        return {"fmt": self.fmt, "delimiter": self.delimiter, "column": self.mol_idx, "kind": self.kind,
                "header": self.header}


# ------------------------------------------------------------------ small helpers


def is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _is_int(text: str) -> bool:
    return text.isdigit()


def looks_like_sequence(text: str) -> bool:
    return bool(_SEQUENCE_RE.match(text))


def parses_as_smiles(text: str) -> bool:
    if not text or text.lower() in HEADER_WORDS or " " in text:
        return False
    if len(text) > 2000:  # no column name is this long; parsing it would only cost time
        return True
    with quiet_rdkit():
        return Chem.MolFromSmiles(text, sanitize=False) is not None


def molecule_kind(text: str) -> str | None:
    if not text or text.lower() in HEADER_WORDS:
        return None
    if looks_like_sequence(text):
        return "sequence"
    return "smiles" if parses_as_smiles(text) else None


# ------------------------------------------------------------------ bytes -> text


def file_bytes(source) -> tuple[bytes, str, "builtin.Builtin | None"]:
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


def decode(data: bytes, path: str) -> str:
    """UTF-8 text, or a one-line error naming the file."""
    for magic, what in _BINARY_SIGNATURES.items():
        if data.startswith(magic):
            raise UserInputError(f"{path}: not a text file ({what}); save it as CSV, TXT or FASTA text")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserInputError(f"{path}: text is UTF-16; save it as UTF-8")
    if b"\x00" in data[:65536]:
        raise UserInputError(f"{path}: not a text file (NUL bytes, binary data); expected CSV, TXT or FASTA text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserInputError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None


# ------------------------------------------------------------------ delimited text


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped fields) of each non-blank record."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out = []
    start = 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                out.append((start, [f.strip() for f in fields]))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UserInputError(f"line {reader.line_num}: {exc}") from None
    return out


def sniff_delimiter(text: str, path: str) -> str:
    """The delimiter that splits the first lines into one consistent number (> 1) of fields."""
    if path.endswith(".tsv"):
        return "\t"
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    best, best_score = ",", (0.0, 0)
    for delim in _DELIMITERS:
        widths = [len(next(csv.reader([ln], delimiter=delim))) for ln in lines]
        if not widths:
            continue
        modal = max(set(widths), key=widths.count)
        if modal < 2:
            continue
        score = (widths.count(modal) / len(widths), modal)
        if score > best_score:
            best, best_score = delim, score
    return best


def count_line(first: list[str], second: list[str] | None) -> tuple[int, list[str]] | None:
    """(rows, class names) when ``first`` is a scikit-learn/modlamp count line, e.g. ``826,1,TM,ACP``."""
    if len(first) < 3 or not (_is_int(first[0]) and _is_int(first[1])):
        return None
    names = first[2:]
    if any(is_number(n) or not n for n in names):
        return None
    if second is not None and len(second) != int(first[1]) + 1:
        return None  # the data rows do not have the announced number of features + label
    return int(first[0]), names


def _header_decision(first: list[str]) -> tuple[bool, str]:
    """(is a header, why) for the first record of a delimited file."""
    named = [f for f in first if f.lower() in HEADER_WORDS or f.lower().endswith("_smiles")]
    if named:
        return True, f"line 1 is a header (it names the column {named[0]!r})"
    kind = molecule_kind(first[0])
    rest_numeric = all(is_number(f) for f in first[1:])
    if kind and rest_numeric:
        what = "a peptide sequence" if kind == "sequence" else "a SMILES"
        tail = " followed by numbers" if len(first) > 1 else ""
        return False, f"no header: line 1 is data ({what}{tail})"
    if any(is_number(f) for f in first):
        return True, "line 1 is a header (taken as one: its first field is no molecule)"
    return True, "line 1 is a header (no field is a molecule or a number)"


def _fasta(text: str, path: str) -> tuple[list[tuple[int, list[str]]], bool]:
    """Records ``[id, sequence, label]`` of a FASTA file, and whether any header carried a label."""
    records, current, any_label = [], None, False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith(">"):
            head = stripped[1:].strip()
            m = _FASTA_LABEL_RE.search(head)
            label = m.group(1) if m else ""
            if not m and "|" in head and is_number(head.rsplit("|", 1)[1].strip()):
                label = head.rsplit("|", 1)[1].strip()
            any_label = any_label or bool(label)
            ident = re.split(r"[\s|]", head, maxsplit=1)[0] if head else ""
            current = [ident, "", label]
            records.append((number, current))
        elif current is None:
            raise UserInputError(f"{path}: line {number}: sequence before the first '>' header")
        else:
            # wrapped sequences are joined; a space *inside* a line stays and is reported later
            current[1] += stripped
    return records, any_label


# ------------------------------------------------------------------ the layout


def _filled(records, col: int) -> int:
    return sum(1 for _, f in records if col < len(f) and f[col])


def find_column(name: str, columns: list[str], path: str, what: str) -> int:
    if name in columns:
        return columns.index(name)
    lowered = [c.lower() for c in columns]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    raise UserInputError(f"{path}: no {what} column {name!r}; columns found: {', '.join(columns)}")


def _pick_molecule_column(columns, records, path, smiles_col) -> tuple[int, str]:
    """Index and kind ("smiles" | "sequence") of the molecule column."""
    lowered = [c.lower() for c in columns]
    if smiles_col:
        idx = find_column(smiles_col, columns, path, "SMILES/sequence")
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


def _default_label(columns: list[str], mol_idx: int) -> str | None:
    """The file's only label-named column (``label``, ``target``, ``y``, ``class``), if exactly one."""
    found = [c for i, c in enumerate(columns) if i != mol_idx and c.lower() in LABEL_COLUMNS]
    return found[0] if len(found) == 1 else None


def read_layout(source, smiles_col: str | None = None) -> Layout:
    """Decode, split and classify a file or ``builtin:...`` without parsing any molecule."""
    data, path, spec = file_bytes(source)
    digest = hashlib.sha256(data).hexdigest()
    text = decode(data, path)
    if not text.strip():
        raise UserInputError(f"{path}: file is empty")
    notes: list[str] = []

    if text.lstrip().startswith(">"):
        records, any_label = _fasta(text, path)
        columns = ["id", "sequence", "label"]
        idx = find_column(smiles_col, columns, path, "SMILES/sequence") if smiles_col else 1
        notes.append("FASTA: sequences from the records, labels from 'label=V' or a last '|V' header field"
                     + ("" if any_label else " (none found)"))
        return Layout(path, digest, records, columns, idx, "sequence", "fasta", header=False,
                      default_target="label" if any_label else None, notes=notes)

    skip = spec.skip_lines if spec is not None else 0
    if skip:
        text = "".join(text.splitlines(keepends=True)[skip:])
    delimiter = sniff_delimiter(text, path)
    if delimiter != ",":
        notes.append(f"delimiter: {_DELIMITER_NAMES[delimiter]}")
    try:
        records = [(line + skip, f) for line, f in _records(text, delimiter)]
    except UserInputError as exc:
        raise UserInputError(f"{path}: {exc}") from None
    if not records:
        raise UserInputError(f"{path}: file has no rows")

    class_names = None
    meta = count_line(records[0][1], records[1][1] if len(records) > 1 else None) if spec is None else None
    if meta is not None:
        line, fields = records[0]
        class_names = meta[1]
        names = ", ".join(f"{k}={n}" for k, n in enumerate(class_names))
        notes.append(f"line {line} {','.join(fields)!r} is a count line ({meta[0]} rows; classes {names}); skipped")
        records = records[1:]
        if not records:
            raise UserInputError(f"{path}: file has a count line but no rows")
    if spec is not None:
        header, why = False, f"builtin:{spec.name}: {spec.description}"
        class_names = None
    elif meta is not None:
        header, why = False, "no header after the count line"
    else:
        header, why = _header_decision(records[0][1])
    notes.append(why)

    if header:
        columns, records = records[0][1], records[1:]
        if not records:
            raise UserInputError(f"{path}: file has a header but no rows; columns found: {', '.join(columns)}")
        mol_idx, kind = _pick_molecule_column(columns, records, path, smiles_col)
        default = _default_label(columns, mol_idx)
    else:
        first = records[0][1][0]
        kind = molecule_kind(first) or ("sequence" if spec is not None else "smiles")
        widths = [len(f) for _, f in records]
        width = max(set(widths), key=widths.count)  # the usual width; longer rows are reported
        columns = ["sequence" if kind == "sequence" else "smiles", "label"][:width]
        columns += [f"col{k + 1}" for k in range(len(columns), width)]
        mol_idx = 0
        if smiles_col:
            mol_idx = find_column(smiles_col, columns, path, "SMILES/sequence")
        default = (spec.default_target if spec else "label") if width >= 2 else None
    return Layout(path, digest, records, list(columns), mol_idx, kind, "csv", delimiter=delimiter,
                  header=header, default_target=default, class_names=class_names, notes=notes)
