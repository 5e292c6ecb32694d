"""The protein column of a pair file: one sequence per row, checked on its text.

A protein is an input beside the peptide, not a molecule: it never goes through
RDKit (a 1,000-residue chain would be 8,000 atoms of graph for a sequence model
to ignore). A row whose protein cannot be used is skipped and listed exactly as
a peptide is (line, text, reason):

* an empty field, a space inside the sequence, or a character that is no
  amino-acid letter (a digit, ``*``, ``-``);
* a sequence longer than ``PEPLAND_HPO_MAX_PROTEIN_RESIDUES`` (default 2,000:
  PepLand's c-binding proteins reach 1,287 residues).

Letters are the 20 canonical residues plus IUPAC's ``X`` (unknown), ``B``, ``Z``,
``U`` (selenocysteine) and ``O`` (pyrrolysine): structure-derived sequences spell
gaps and modified residues ``X`` (three c-binding proteins do). Lower case is
read as upper case, as FASTA tools do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pepland_hpo.data.formats import Layout, find_column
from pepland_hpo.data.readers import InvalidRow
from pepland_hpo.envsettings import positive_from_env
from pepland_hpo.errors import UserInputError

CANONICAL = "ACDEFGHIKLMNPQRSTVWY"
EXTRA_LETTERS = "XBZUO"
PROTEIN_LETTERS = CANONICAL + EXTRA_LETTERS
DEFAULT_MAX_RESIDUES = 2000
ENV_MAX_RESIDUES = "PEPLAND_HPO_MAX_PROTEIN_RESIDUES"
_NOT_A_LETTER = re.compile(f"[^{PROTEIN_LETTERS}]")
_MAX_TEXT = 200  # longest row text kept in an InvalidRow, as the peptide reader keeps


def max_protein_residues() -> int:
    return positive_from_env(ENV_MAX_RESIDUES, DEFAULT_MAX_RESIDUES, int, "residues")


def protein_problem(text: str, limit: int | None = None) -> str:
    """Why ``text`` is not a usable protein sequence, or "" when it is (``text`` upper-cased)."""
    if not text:
        return "empty protein sequence"
    limit = limit or max_protein_residues()
    if len(text) > limit:
        return (f"protein of {len(text):,} residues is over the limit of {limit:,} "
                f"({ENV_MAX_RESIDUES} raises it)")
    bad = _NOT_A_LETTER.search(text)
    if bad:
        where = bad.start() + 1
        if bad.group().isspace():
            return f"protein sequence contains a space at position {where}"
        return (f"protein sequence has {bad.group()!r} at position {where}: not an amino-acid letter "
                f"(allowed: {CANONICAL} and {EXTRA_LETTERS})")
    return ""


@dataclass
class ProteinColumn:
    """The protein of each requested row (``None`` where it was skipped) and the skipped rows."""

    column: str
    sequences: list[str | None]
    invalid: list[InvalidRow]


def read_protein_column(layout: Layout, rows: list[int], column: str) -> ProteinColumn:
    """The proteins in ``column`` on the file lines ``rows`` (the peptide reader's row numbers).

    The column must exist and be neither the molecule column nor a label; a row
    with an unusable protein is listed in ``invalid`` with its reason."""
    idx = find_column(column, layout.columns, layout.path, "protein")
    name = layout.columns[idx]
    if idx == layout.mol_idx:
        raise UserInputError(f"{layout.path}: column {name!r} holds the peptides; the protein column must be another "
                             f"one (columns found: {', '.join(layout.columns)})")
    by_line = dict(layout.records)
    sequences: list[str | None] = []
    invalid: list[InvalidRow] = []
    limit = max_protein_residues()
    for line in rows:
        fields = by_line[line]
        text = (fields[idx] if idx < len(fields) else "").strip().upper()
        why = protein_problem(text, limit)
        if why:
            sequences.append(None)
            invalid.append(InvalidRow(line, (text or ",".join(fields))[:_MAX_TEXT], why))
        else:
            sequences.append(text)
    if all(s is None for s in sequences) and rows:
        reasons = "; ".join(f"line {r.row}: {r.reason}" for r in invalid[:3])
        raise UserInputError(f"{layout.path}: protein column {name!r} has no usable sequence ({reasons})")
    return ProteinColumn(name, sequences, invalid)


__all__ = ["CANONICAL", "PROTEIN_LETTERS", "ProteinColumn", "max_protein_residues", "protein_problem",
           "read_protein_column"]
