"""Sequence identity between peptides, on residue tokens.

``identity(a, b) = 1 − Levenshtein(a, b) / max(len a, len b)`` over residue tokens
(caps left out; ``dK`` and ``K`` are different tokens): 1 for equal sequences, 0 for
sequences sharing nothing. It is the normalised edit distance's complement, so the
novelty table (maximum identity to any training sequence) and the diversity table
(mean pairwise normalised edit distance) measure with one ruler. An alignment
identity (matches / aligned length) would need a substitution matrix and gap costs
that nobody agrees on for D- and N-methyl residues.

Each token becomes one character, so RapidFuzz's C++ Levenshtein (multi-threaded
``cdist``) computes a 1,000 × 2,000 matrix in well under a second.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from pepland_hpo.generation._tokens import TOKENS, residues_of

_CHAR = {t: chr(0x100 + i) for i, t in enumerate(TOKENS)}


def as_string(tokens) -> str:
    """One character per residue token (caps left out), for the edit-distance kernels."""
    return "".join(_CHAR[t] for t in residues_of(list(tokens)))


def _strings(seqs) -> list[str]:
    return [s if isinstance(s, str) else as_string(s) for s in seqs]


def identity_matrix(queries, references, workers: int = -1) -> np.ndarray:
    """``[len(queries), len(references)]`` float32 identities (module docstring)."""
    q, r = _strings(queries), _strings(references)
    if not q or not r:
        return np.zeros((len(q), len(r)), dtype=np.float32)
    dist = process.cdist(q, r, scorer=Levenshtein.normalized_distance, dtype=np.float32, workers=workers)
    return 1.0 - dist


def max_identity(queries, references, workers: int = -1, chunk: int = 512) -> np.ndarray:
    """``[len(queries)]``: each query's identity to its nearest reference (chunked: bounded memory)."""
    q, r = _strings(queries), _strings(references)
    out = np.zeros(len(q), dtype=np.float32)
    if not r:  # nothing to be identical to
        return out
    for start in range(0, len(q), chunk):
        out[start:start + chunk] = identity_matrix(q[start:start + chunk], r, workers).max(axis=1)
    return out


__all__ = ["as_string", "identity_matrix", "max_identity"]
