"""A pretraining corpus from several files: merged, deduplicated, without held-out molecules.

:func:`build_corpus` streams each input (CSV/TSV with a SMILES or sequence
column, a headerless ``smiles[,label]`` / ``sequence[,label]`` file, or one
molecule a line) record by record, canonicalises every molecule with RDKit as
the data loader does, and writes one ``smiles`` column. It never holds the
corpus: what it keeps per distinct molecule is a 16-byte digest of its
canonical SMILES (about 100 bytes with Python's set overhead, ~100 MB for a
million molecules), plus the same for the molecules to leave out -- a study's
validation and test rows, or any ``--exclude`` file -- so that pretraining never
sees a molecule the study scores models on.

The output is written to a temporary file beside the target and renamed when
complete: a failed or interrupted build leaves nothing half-written.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from rdkit import Chem

from pepland_hpo.errors import UserInputError
from pepland_hpo.data.formats import _header_decision, _pick_molecule_column, molecule_kind
from pepland_hpo.data.readers import mol_from_text

SAMPLE_RECORDS = 50  # records looked at to pick the molecule column, as the loader does


@dataclass
class FileCounts:
    path: str
    rows: int = 0
    invalid: int = 0
    duplicates: int = 0
    held_out: int = 0
    written: int = 0


@dataclass
class CorpusReport:
    out: str
    files: list[FileCounts] = field(default_factory=list)
    excluded_molecules: int = 0  # distinct canonical SMILES to leave out

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def to_dict(self) -> dict:
        return {"out": self.out, "excluded_molecules": self.excluded_molecules,
                "files": [asdict(f) for f in self.files],
                **{k: self.total(k) for k in ("rows", "invalid", "duplicates", "held_out", "written")}}


def digest(smiles: str) -> bytes:
    return hashlib.blake2b(smiles.encode(), digest_size=16).digest()


def canonical_smiles(text: str, kind: str) -> str | None:
    mol, _ = mol_from_text(text, kind)
    return None if mol is None else Chem.MolToSmiles(mol)


def _lines(path: Path, on_bytes: Callable[[int], None] | None) -> Iterator[str]:
    with open(path, "rb") as fh:
        first = True
        for raw in fh:
            if on_bytes is not None:
                on_bytes(len(raw))
            if first:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
                first = False
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                yield raw.decode("latin-1")


def molecule_texts(path: str | os.PathLike, smiles_col: str | None = None,
                   on_bytes: Callable[[int], None] | None = None) -> Iterator[tuple[str, str]]:
    """``(text, kind)`` of every molecule field of a file, streamed; ``kind`` is smiles or sequence."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file")
    lines = _lines(path, on_bytes)
    head: list[list[str]] = []
    for line in lines:  # the first non-blank line decides the delimiter
        if line.strip():
            delimiter = max(("\t", ";", ","), key=line.count) if any(d in line for d in "\t;,") else ","
            head.append(next(csv.reader([line], delimiter=delimiter)))
            break
    if not head:
        raise UserInputError(f"{path}: file is empty")
    records = csv.reader(lines, delimiter=delimiter)
    rows = ([f.strip() for f in fields] for fields in records if any(f.strip() for f in fields))
    first = [f.strip() for f in head[0]]
    header, _why = _header_decision(first)
    if not header:
        col, pending, kind = 0, [first], molecule_kind(first[0]) or "smiles"
    else:
        sample = []
        for fields in rows:
            sample.append(fields)
            if len(sample) >= SAMPLE_RECORDS:
                break
        col, kind = _pick_molecule_column(first, [(0, f) for f in sample], str(path), smiles_col)
        pending = sample
    for fields in _chain(pending, rows):
        yield (fields[col] if col < len(fields) else ""), kind


def _chain(first: list, rest: Iterable) -> Iterator:
    yield from first
    yield from rest


def canonical_set(paths: Iterable[str | os.PathLike], smiles_col: str | None = None) -> set[bytes]:
    """Digests of the canonical SMILES of every valid molecule in ``paths`` (streamed)."""
    out: set[bytes] = set()
    for path in paths:
        for text, kind in molecule_texts(path, smiles_col):
            smi = canonical_smiles(text, kind)
            if smi is not None:
                out.add(digest(smi))
    return out


def build_corpus(
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    exclude: set[bytes] | None = None,
    smiles_col: str | None = None,
    progress: bool = False,
) -> CorpusReport:
    """Merge ``inputs`` into ``out`` (one ``smiles`` column), deduplicated by canonical SMILES,
    without any molecule whose digest is in ``exclude``. Returns per-file counts."""
    if not inputs:
        raise UserInputError("data corpus: give at least one input file")
    out = Path(out)
    for src in inputs:
        if Path(src).resolve() == out.resolve():
            raise UserInputError(f"{out}: the output is also an input; write the corpus elsewhere")
        if not Path(src).is_file():
            raise UserInputError(f"{src}: no such file")
    exclude = exclude or set()
    report = CorpusReport(out=str(out), excluded_molecules=len(exclude))
    seen: set[bytes] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh, _bytes_progress(inputs, progress) as advance:
            writer = csv.writer(fh)
            writer.writerow(["smiles"])
            for src in inputs:
                counts = FileCounts(str(src))
                report.files.append(counts)
                for text, kind in molecule_texts(src, smiles_col, on_bytes=advance):
                    counts.rows += 1
                    smi = canonical_smiles(text, kind)
                    if smi is None:
                        counts.invalid += 1
                        continue
                    key = digest(smi)
                    if key in exclude:
                        counts.held_out += 1
                    elif key in seen:
                        counts.duplicates += 1
                    else:
                        seen.add(key)
                        writer.writerow([smi])
                        counts.written += 1
        if report.total("written") == 0:
            raise UserInputError(
                f"data corpus: no molecule left out of {report.total('rows')} rows "
                f"({report.total('invalid')} invalid, {report.total('held_out')} held out)"
            )
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


class _bytes_progress:
    """A progress bar over the bytes of all inputs (rich), or a no-op."""

    def __init__(self, inputs, enabled: bool):
        self.enabled = enabled
        self.total = sum(Path(p).stat().st_size for p in inputs) if enabled else 0

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.bar = Progress("building corpus", BarColumn(), DownloadColumn(), TimeRemainingColumn(), transient=True)
        self.bar.start()
        task = self.bar.add_task("corpus", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()
        return False
