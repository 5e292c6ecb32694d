"""Proteins grouped by sequence identity, so a target split keeps point mutants and fragments together.

Identity is the homology split's (``data.homology``): identical aligned positions /
length of the shorter sequence, in an optimal global alignment under EMBOSS
needle's defaults (BLOSUM62, gap open -10, extend -0.5, end gaps free, so a
domain contained in a longer construct is identical to it), the most identities
where several alignments share the best score. Two proteins are linked at
identity >= ``threshold``; groups are the connected components.

Why Biopython's aligner and not ``data.homology``'s own: that one packs identities
into 7 bits (peptides up to 127 residues) and loops over the cells in Python,
fine for peptides, minutes per batch for proteins of 1,000 residues. Biopython's
C aligner computes the same number, score only, in about 0.2 ms per pair of
c-binding proteins: the identity rides in the low digits of the score (the
substitution score of each cell is ``2·score·B + [same letter]``, B above any
length, the same packing ``data.homology`` uses), so maximising the packed score
maximises the alignment score first and the identities second, with no traceback.

Only pairs that pass CD-HIT's short-word filter are aligned: at identity t over a
shorter length L, at most ``(1 - t)·L`` positions differ and each breaks at most
``k`` of the shorter's ``L - k + 1`` k-mers, so fewer shared k-mers than that
cannot reach t (an alignment with many internal gaps could, in principle; such
pairs score below the ones the filter keeps). On c-binding's 1,227 proteins
the filter leaves a few thousand of 752,000 pairs.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

DEFAULT_IDENTITY = 0.9
WORD = 3  # k-mer length of the prefilter: 3-mers of c-binding proteins barely overlap by chance
GAP_OPEN, GAP_EXTEND = -10.0, -0.5  # EMBOSS needle's defaults, as data.homology aligns peptides


def aligner_available() -> bool:
    try:
        import Bio.Align  # noqa: F401
    except ImportError:
        return False
    return True


def _aligner(longest: int):
    """A score-only aligner whose score is ``2·score·B + identities``; B a power of two above ``longest``."""
    from Bio.Align import PairwiseAligner, substitution_matrices

    blosum = substitution_matrices.load("BLOSUM62")
    base = 2 ** math.ceil(math.log2(longest + 1))
    packed = np.asarray(blosum) * 2 * base + np.eye(len(blosum.alphabet))
    al = PairwiseAligner(mode="global")
    al.substitution_matrix = substitution_matrices.Array(alphabet=blosum.alphabet, dims=2, data=packed)
    al.open_gap_score, al.extend_gap_score = GAP_OPEN * 2 * base, GAP_EXTEND * 2 * base
    al.end_gap_score = 0.0
    return al, base, set(blosum.alphabet)


def _for_blosum(seq: str, alphabet: set[str]) -> str:
    # selenocysteine and pyrrolysine have no BLOSUM62 row: unknown residue, as in the matrix's X
    return "".join(c if c in alphabet else "X" for c in seq.upper())


def _word_counts(seqs: list[str]) -> csr_matrix:
    """Counts of each k-mer (rows: sequences)."""
    rows, cols = [], []
    for r, s in enumerate(seqs):
        codes = np.frombuffer(s.upper().encode("ascii"), dtype=np.uint8).astype(np.int64) - 65  # A..Z -> 0..25
        if len(codes) < WORD:
            continue
        words = sum(codes[i:len(codes) - WORD + 1 + i] * 26 ** (WORD - 1 - i) for i in range(WORD))
        rows.append(np.full(len(words), r))
        cols.append(words)
    if not rows:
        return csr_matrix((len(seqs), 26 ** WORD))
    r, c = np.concatenate(rows), np.concatenate(cols)
    return coo_matrix((np.ones(len(r)), (r, c)), shape=(len(seqs), 26 ** WORD)).tocsr()


def candidate_pairs(seqs: list[str], threshold: float) -> np.ndarray:
    """Pairs ``i < j`` that pass the short-word filter at identity ``threshold`` (``[E, 2]``)."""
    counts = _word_counts(seqs)
    present = counts.copy()
    present.data[:] = 1.0
    shared = (counts @ present.T).toarray()  # [a, b]: k-mer positions of a whose k-mer occurs in b
    lengths = np.array([len(s) for s in seqs])
    i, j = np.triu_indices(len(seqs), k=1)
    a_shorter = lengths[i] <= lengths[j]
    short, long_ = np.where(a_shorter, i, j), np.where(a_shorter, j, i)
    ls = lengths[short]
    need = (ls - WORD + 1) - WORD * np.floor((1.0 - threshold) * ls)
    keep = shared[short, long_] >= need
    return np.stack([i[keep], j[keep]], axis=1)


def pair_identities(seqs: list[str], pairs: np.ndarray) -> np.ndarray:
    """Identity (identical positions / shorter length) of each ``pairs[k] = (i, j)``."""
    if len(pairs) == 0:
        return np.empty(0)
    al, base, alphabet = _aligner(max(len(s) for s in seqs))
    ready = [_for_blosum(s, alphabet) for s in seqs]
    out = np.empty(len(pairs))
    for k, (i, j) in enumerate(pairs):
        same = int(al.score(ready[i], ready[j])) % base  # exact: every packed score is an integer
        out[k] = same / min(len(seqs[i]), len(seqs[j]))
    return out


@lru_cache(maxsize=4)
def _components(distinct: tuple[str, ...], threshold: float) -> tuple[np.ndarray, int]:
    seqs = list(distinct)
    pairs = candidate_pairs(seqs, threshold)
    linked = pairs[pair_identities(seqs, pairs) >= threshold]
    graph = coo_matrix((np.ones(len(linked)), (linked[:, 0], linked[:, 1])), shape=(len(seqs),) * 2)
    return connected_components(graph, directed=False)[1], len(pairs)


def identity_components(distinct: list[str], threshold: float) -> np.ndarray:
    """Group label of each distinct protein: linked at identity >= ``threshold``, chained."""
    return _components(tuple(distinct), float(threshold))[0]


__all__ = ["DEFAULT_IDENTITY", "aligner_available", "candidate_pairs", "identity_components", "pair_identities"]
