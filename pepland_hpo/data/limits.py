"""Size limits checked on the raw text, before RDKit sees a molecule.

RDKit's cost grows fast with molecule size (a 20,000-residue sequence crashed
inside ``MolToSmiles``; an 18,000-atom SMILES ran for minutes at 5 GB), and the
featuriser's all-pairs distances are quadratic in atoms. So every field is
measured from its text first: a sequence's heavy atoms follow exactly from its
residues, a SMILES's from its atom tokens. A field over the limit is skipped
and listed like an unparsable row; it never reaches RDKit.

The limit is ``PEPLAND_HPO_MAX_ATOMS`` heavy atoms (default 2,000: PepLand's
largest peptide has 253, a 200-residue protein about 1,600).
"""

from __future__ import annotations

import re

from pepland_hpo.envsettings import positive_from_env

DEFAULT_MAX_HEAVY_ATOMS = 2000
ENV_MAX_ATOMS = "PEPLAND_HPO_MAX_ATOMS"

# Heavy atoms of each residue inside a chain (C, N, O, S of the residue; the
# chain's terminal OH adds one oxygen): what Chem.MolFromSequence builds.
RESIDUE_HEAVY_ATOMS = {
    "G": 4, "A": 5, "S": 6, "C": 6, "P": 7, "V": 7, "T": 7, "L": 8, "I": 8, "N": 8,
    "D": 8, "M": 8, "Q": 9, "K": 9, "E": 9, "H": 10, "F": 11, "R": 11, "Y": 12, "W": 14,
}
_LARGEST_RESIDUE = max(RESIDUE_HEAVY_ATOMS.values())

# Atom tokens of SMILES: a bracket atom, or an organic-subset atom outside brackets.
_SMILES_ATOM_RE = re.compile(r"\[([^\]]*)\]|Cl|Br|[BCNOSPFI]|[bcnops]")
_BRACKET_H_RE = re.compile(r"^\d*H[^a-z]|^\d*H$")  # [H], [2H], [H+]: hydrogen, not heavy


def max_heavy_atoms() -> int:
    return positive_from_env(ENV_MAX_ATOMS, DEFAULT_MAX_HEAVY_ATOMS, int, "heavy atoms")


def sequence_heavy_atoms(sequence: str) -> int:
    """Heavy atoms of the linear peptide ``Chem.MolFromSequence`` would build (unknown letters count as the largest)."""
    return sum(RESIDUE_HEAVY_ATOMS.get(c.upper(), _LARGEST_RESIDUE) for c in sequence) + 1


def smiles_heavy_atoms(smiles: str) -> int:
    """Heavy atoms counted from a SMILES's atom tokens (no parsing, linear in its length)."""
    count = 0
    for m in _SMILES_ATOM_RE.finditer(smiles):
        inner = m.group(1)
        if inner is None or not _BRACKET_H_RE.match(inner):
            count += 1
    return count


def too_large(text: str, kind: str, limit: int | None = None) -> str:
    """Why ``text`` is too large to parse, or "" when it is within the limit."""
    limit = limit or max_heavy_atoms()
    if kind == "sequence":
        atoms = sequence_heavy_atoms(text)
        what = f"sequence of {len(text):,} residues has {atoms:,} heavy atoms"
    else:
        atoms = smiles_heavy_atoms(text)
        what = f"SMILES has {atoms:,} heavy atoms"
    if atoms > limit:
        return f"{what}, over the limit of {limit:,} ({ENV_MAX_ATOMS})"
    return ""
