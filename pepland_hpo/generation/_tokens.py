"""Residue tokens of generated peptides, and how a token sequence becomes a molecule.

The vocabulary is what the fragment view (:mod:`pepland_hpo.data.fragments`)
tells apart on a molecule: the 20 canonical L-residues (``RESIDUES``), their
D-forms (``dA`` ... ; glycine has none), their N-methyl forms (``meA`` ... ;
``meG`` is sarcosine; proline has no N-H to methylate) and the two terminal
caps, an N-terminal acetyl (``Ac``) and a C-terminal primary amide (``NH2``).

Text form (what files and reports hold): a peptide of canonical residues only is
written as its one-letter sequence (``KLAKLAK``), exactly as the data layer reads
sequence files; any other is its tokens joined by ``-`` (``Ac-K-dL-meA-NH2``).

A token sequence becomes a molecule through the data layer's own parser
(:func:`pepland_hpo.data.readers.mol_from_text`): a canonical sequence is parsed as a
sequence (RDKit's ``MolFromSequence``, the path every input sequence takes); any
other is assembled into a SMILES from per-residue templates and parsed as a SMILES
(the path every input SMILES takes, size limits included). The templates are
checked against ``MolFromSequence`` residue by residue in the tests, so both paths
give the same molecule for a canonical peptide.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem

from pepland_hpo.data.fragments import RESIDUES
from pepland_hpo.errors import UserInputError

N_CAP = "Ac"
C_CAP = "NH2"
CAPS = (N_CAP, C_CAP)
D_RESIDUES = tuple("d" + a for a in RESIDUES if a != "G")
N_METHYL_RESIDUES = tuple("me" + a for a in RESIDUES if a != "P")
TOKENS: tuple[str, ...] = (*RESIDUES, *D_RESIDUES, *N_METHYL_RESIDUES, *CAPS)
RESIDUE_TOKENS: tuple[str, ...] = tuple(t for t in TOKENS if t not in CAPS)
_TOKEN_SET = frozenset(TOKENS)

# Side chains written from the alpha carbon; stereo tags are geometric (SMILES), not CIP labels.
_SIDE_CHAINS = {
    "A": "C", "C": "CS", "D": "CC(=O)O", "E": "CCC(=O)O", "F": "Cc1ccccc1", "H": "Cc1c[nH]cn1",
    "I": "[C@@H](C)CC", "K": "CCCCN", "L": "CC(C)C", "M": "CCSC", "N": "CC(N)=O", "Q": "CCC(N)=O",
    "R": "CCCNC(=N)N", "S": "CO", "T": "[C@@H](C)O", "V": "C(C)C", "W": "Cc1c[nH]c2ccccc12",
    "Y": "Cc1ccc(O)cc1",
}


def base_residue(token: str) -> str:
    """The canonical letter of a residue token (``dK`` → ``K``, ``meA`` → ``A``); caps return themselves."""
    if token in CAPS:
        return token
    return token[-1]


def is_d(token: str) -> bool:
    return token.startswith("d")


def d_swap(token: str) -> str | None:
    """The other chirality of a residue token (``K`` ↔ ``dK``); None where there is none (G, caps, N-methyl)."""
    if token in D_RESIDUES:
        return token[1:]
    if token in RESIDUES and token != "G":
        return "d" + token
    return None


def _mirror(smiles: str) -> str:
    """Every stereo tag inverted: the enantiomer (a D-residue is the mirror image of its L-residue)."""
    return smiles.replace("@@", "\0").replace("@", "@@").replace("\0", "@")


def residue_smiles(token: str) -> str:
    """``N...C(=O)`` of one residue token, ready to be joined to its neighbours."""
    letter = base_residue(token)
    if letter == "G":
        core = "NCC(=O)"
    elif letter == "P":
        core = "N1[C@@H](CCC1)C(=O)"
    else:
        core = f"N[C@@H]({_SIDE_CHAINS[letter]})C(=O)"
    if token.startswith("d"):
        core = _mirror(core)
    elif token.startswith("me"):
        core = "N(C)" + core[1:]
    return core


# ---------------------------------------------------------------- grammar and text


def grammar_error(tokens: list[str]) -> str:
    """Why ``tokens`` is not a peptide ('' when it is): unknown tokens, caps out of place, no residue."""
    unknown = [t for t in tokens if t not in _TOKEN_SET]
    if unknown:
        return f"unknown token(s) {', '.join(repr(t) for t in unknown[:3])}"
    residues = [t for t in tokens if t not in CAPS]
    if not residues:
        return "no residue"
    if N_CAP in tokens[1:]:
        return f"{N_CAP} is an N-terminal cap and can only come first"
    if C_CAP in tokens[:-1]:
        return f"{C_CAP} is a C-terminal cap and can only come last"
    return ""


def residues_of(tokens: list[str]) -> list[str]:
    """The residue tokens, caps left out (what length, identity and composition count)."""
    return [t for t in tokens if t not in CAPS]


def is_canonical(tokens: list[str]) -> bool:
    return all(t in RESIDUES for t in tokens)


def format_tokens(tokens: list[str]) -> str:
    """The text form (module docstring): one-letter when canonical, ``-``-joined tokens otherwise."""
    return "".join(tokens) if is_canonical(tokens) else "-".join(tokens)


def parse_sequence(text: str, where: str = "sequence") -> list[str]:
    """Tokens of a text form; ``UserInputError`` naming ``where`` for anything else."""
    text = text.strip()
    tokens = text.split("-") if "-" in text else list(text)
    why = grammar_error(tokens)
    if why:
        raise UserInputError(f"{where}: {text[:60]!r} is not a peptide of known tokens: {why} "
                             f"(tokens: one-letter residues, dX, meX, {N_CAP}, {C_CAP})")
    return tokens


# ---------------------------------------------------------------- molecules


def tokens_to_smiles(tokens: list[str]) -> str:
    """The SMILES assembled from residue templates (no canonicalisation; see :func:`tokens_to_mol`)."""
    why = grammar_error(tokens)
    if why:
        raise ValueError(f"not a peptide: {why}")
    body = "".join(residue_smiles(t) for t in residues_of(tokens))
    start = "CC(=O)" if tokens[0] == N_CAP else ""
    end = "N" if tokens[-1] == C_CAP else "O"
    return start + body + end


@dataclass(frozen=True)
class Decoded:
    """One token sequence as a molecule: ``smiles`` canonical, ``mol`` None and ``reason`` set when invalid."""

    tokens: tuple[str, ...]
    mol: Chem.Mol | None
    smiles: str
    reason: str

    @property
    def valid(self) -> bool:
        return self.mol is not None


def tokens_to_mol(tokens: list[str]) -> Decoded:
    """Parse a token sequence through the data layer's parser (module docstring); never raises."""
    from pepland_hpo.data.readers import mol_from_text

    tokens = list(tokens)
    why = grammar_error(tokens)
    if why:
        return Decoded(tuple(tokens), None, "", why)
    if is_canonical(tokens):
        mol, why = mol_from_text("".join(tokens), "sequence")
    else:
        mol, why = mol_from_text(tokens_to_smiles(tokens), "smiles")
    if mol is None:
        return Decoded(tuple(tokens), None, "", why)
    return Decoded(tuple(tokens), mol, Chem.MolToSmiles(mol), "")


__all__ = [
    "CAPS", "C_CAP", "D_RESIDUES", "Decoded", "N_CAP", "N_METHYL_RESIDUES", "RESIDUE_TOKENS", "TOKENS",
    "base_residue", "d_swap", "format_tokens", "grammar_error", "is_canonical", "is_d", "parse_sequence",
    "residue_smiles", "residues_of", "tokens_to_mol", "tokens_to_smiles",
]
