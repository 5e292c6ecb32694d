"""Pairwise sequence identity of every pair of peptides, by global alignment, computed here.

Identity of two sequences = identical aligned positions / length of the
shorter one, in an optimal alignment under EMBOSS needle's defaults: BLOSUM62,
gap open −10, gap extend −0.5, and end gaps free (a peptide contained in
another is identical to it, 1.0). Where several alignments share the optimal
score, the one with the most identical positions counts, so the number is
well defined and never below what any optimal alignment shows - a split that
keeps it at or under a threshold keeps every optimal alignment's identity
there too.

Why not MMseqs2 for this: its prefilter (k-mer matches) and its e-value and
coverage cut-offs drop most pairs of short peptides, so "no test peptide above
t to any train peptide" would hold only for the pairs it reported. Every pair
is aligned here instead: the dynamic programme runs over all pairs at once
(numpy, pairs along the vector axis, lengths bucketed so padding stays small),
which takes seconds for a few thousand peptides.

Scores are kept as one integer per cell, ``2·score·128 + identities``: a
larger value is a higher score, or the same score with more identities, and
both parts add along a path, so a plain max-plus recurrence (Gotoh's three
states) maximises score first and identities second.
"""

from __future__ import annotations

import numpy as np

from pepland_hpo.errors import UserInputError

GAP_OPEN, GAP_EXTEND = -10.0, -0.5
_ID_BASE = 128  # identities per alignment stay below this (sequences up to 127 residues per side are exact)
MAX_LENGTH = _ID_BASE - 1
_NEG = np.int64(-(2**50))
BLOCK = 128  # sequences per bucket: pairs of buckets are aligned together


def _blosum62() -> tuple[np.ndarray, dict[str, int]]:
    from Bio.Align import substitution_matrices

    m = substitution_matrices.load("BLOSUM62")
    alphabet = m.alphabet
    return np.asarray(m, dtype=np.float64), {c: i for i, c in enumerate(alphabet)}


def encode(sequences: list[str], where: str = "sequences") -> tuple[list[np.ndarray], np.ndarray]:
    """Each sequence as BLOSUM62 alphabet indices, and the matrix in doubled integer units."""
    matrix, index = _blosum62()
    out = []
    for k, seq in enumerate(sequences):
        s = seq.strip().upper()
        bad = sorted({c for c in s if c not in index})
        if bad or not s:
            raise UserInputError(f"{where}: sequence {k} ({seq[:30]!r}) has letter(s) {''.join(bad) or '(empty)'} "
                                 "outside the amino-acid alphabet; sequence identity needs one-letter sequences "
                                 "(use similarity: tanimoto for SMILES)")
        if len(s) > MAX_LENGTH:
            raise UserInputError(f"{where}: sequence {k} has {len(s)} residues; identity is computed up to "
                                 f"{MAX_LENGTH}")
        out.append(np.fromiter((index[c] for c in s), dtype=np.int64, count=len(s)))
    return out, np.rint(matrix * 2).astype(np.int64)


def _align_block(qa: np.ndarray, la: np.ndarray, tb: np.ndarray, lb: np.ndarray,
                 sub2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal (score, identities) of pairs ``qa[p]`` x ``tb[p]``: padded codes ``[P, La]``, ``[P, Lb]``.

    Free end gaps: row 0 and column 0 start at 0 and the answer is the best cell of the
    last row or last column of each pair's own (unpadded) matrix.
    """
    P, La = qa.shape
    Lb = tb.shape[1]
    o2, e2 = int(round(GAP_OPEN * 2)) * _ID_BASE, int(round(GAP_EXTEND * 2)) * _ID_BASE
    H_prev = np.zeros((Lb + 1, P), dtype=np.int64)  # row i-1, j-major so one column is contiguous
    F = np.full((Lb + 1, P), _NEG)
    best = np.full(P, _NEG)
    cols = np.arange(Lb + 1)[:, None]
    past_b = cols > lb[None, :]  # cells beyond a pair's own target length
    tbT = tb.T  # [Lb, P]
    for i in range(1, La + 1):
        a = qa[:, i - 1]
        # diagonal moves and vertical gaps depend on the previous row only: whole row at once
        diag = sub2[a[None, :], tbT] * _ID_BASE + (a[None, :] == tbT)
        D = H_prev[:-1] + diag
        F[1:] = np.maximum(H_prev[1:] + o2, F[1:] + e2)
        H = np.empty_like(H_prev)
        H[0] = 0  # a free leading gap in the target
        E = np.full(P, _NEG)
        for j in range(1, Lb + 1):
            E = np.maximum(H[j - 1] + o2, E + e2)
            H[j] = np.maximum(np.maximum(D[j - 1], F[j]), E)
        # a free trailing gap in the query: the pair's last column, at every row of its own
        in_a = i <= la
        best = np.where(in_a, np.maximum(best, H[lb, np.arange(P)]), best)
        # a free trailing gap in the target: the pair's last row, every column of its own
        last = i == la
        if last.any():
            row_best = np.where(past_b, _NEG, H).max(axis=0)
            best = np.where(last, np.maximum(best, row_best), best)
        H_prev = H
    score2, ident = np.divmod(best, _ID_BASE)
    return score2 / 2.0, ident


def _padded(codes: list[np.ndarray], members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(codes[m]) for m in members], dtype=np.int64)
    out = np.zeros((len(members), int(lengths.max())), dtype=np.int64)
    for r, m in enumerate(members):
        out[r, :lengths[r]] = codes[m]
    return out, lengths


def align_pairs(codes: list[np.ndarray], sub2: np.ndarray, pairs: np.ndarray,
                block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(score, identities) of each ``pairs[k] = (i, j)``, in chunks of ``block`` pairs."""
    scores = np.empty(len(pairs))
    idents = np.empty(len(pairs), dtype=np.int64)
    for start in range(0, len(pairs), block):
        chunk = pairs[start:start + block]
        qa, la = _padded(codes, chunk[:, 0])
        tb, lb = _padded(codes, chunk[:, 1])
        scores[start:start + block], idents[start:start + block] = _align_block(qa, la, tb, lb, sub2)
    return scores, idents


def identity_pairs(codes: list[np.ndarray], sub2: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Identity (identical positions / shorter length) of each pair."""
    if len(pairs) == 0:
        return np.empty(0)
    _, ident = align_pairs(codes, sub2, pairs)
    shorter = np.minimum([len(codes[i]) for i in pairs[:, 0]], [len(codes[j]) for j in pairs[:, 1]])
    return ident / shorter


def identity_edges(sequences: list[str], floor: float, where: str = "sequences") -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` with identity > ``floor``: ``(pairs [E, 2], identity [E])``.

    Sequences are sorted by length and cut into buckets of :data:`BLOCK`, and each pair of
    buckets is aligned as one batch, so the padded matrix of a batch is close to its pairs' own.
    """
    codes, sub2 = encode(sequences, where)
    order = np.argsort([len(c) for c in codes], kind="stable")
    buckets = [order[s:s + BLOCK] for s in range(0, len(order), BLOCK)]
    keep_pairs, keep_ident = [], []
    for bi, a in enumerate(buckets):
        for b in buckets[bi:]:
            ii, jj = np.meshgrid(a, b, indexing="ij")
            pairs = np.stack([ii.ravel(), jj.ravel()], axis=1)
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            pairs = np.sort(pairs, axis=1)
            pairs = np.unique(pairs, axis=0) if b is a else pairs
            ident = identity_pairs(codes, sub2, pairs)
            hit = ident > floor
            keep_pairs.append(pairs[hit])
            keep_ident.append(ident[hit])
    if not keep_pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    return np.concatenate(keep_pairs), np.concatenate(keep_ident)


__all__ = ["GAP_EXTEND", "GAP_OPEN", "MAX_LENGTH", "align_pairs", "encode", "identity_edges", "identity_pairs"]
