"""What a protein encoder reads: composition features and residue tokens, once per distinct protein.

* ``composition_features(sequences) -> [P, 422]`` float32: the fraction of each
  canonical residue (20), of the other letters (X, B, Z, U, O: 1), of each
  ordered canonical dipeptide among the sequence's neighbouring pairs (400;
  pairs with another letter are left out), and ``log(1 + length) / log(1 + 2000)``
  (1), so a model also sees the size the fractions hide. Residue plus dipeptide
  composition is the classic alignment-free protein descriptor (Bhasin and
  Raghava 2004) and the one the issue's fingerprint reference was measured with.
* ``residue_tokens(sequences, width) -> [P, width]`` uint8: residue ids
  ``1..25`` (``PROTEIN_LETTERS`` order), 0 pads; the 1D CNN embeds them.

Both are computed once per distinct sequence (a pair file repeats its proteins:
c-binding has 1,806 pairs of 1,227 proteins) and memoised per process by the
sequence itself, so the trials of one worker and the references share them.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from pepland_hpo.data.pairs._proteins import CANONICAL, PROTEIN_LETTERS

COMPOSITION_DIM = len(CANONICAL) + 1 + len(CANONICAL) ** 2 + 1
TOKEN_VOCAB = len(PROTEIN_LETTERS) + 1  # 0 is padding
_LENGTH_SCALE = math.log1p(2000)
_CANONICAL_ID = {c: i for i, c in enumerate(CANONICAL)}
_TOKEN_ID = {c: i + 1 for i, c in enumerate(PROTEIN_LETTERS)}


@lru_cache(maxsize=65536)
def _composition_one(sequence: str) -> np.ndarray:
    ids = np.fromiter((_CANONICAL_ID.get(c, -1) for c in sequence), dtype=np.int64, count=len(sequence))
    n = len(ids)
    out = np.zeros(COMPOSITION_DIM, dtype=np.float32)
    canonical = ids[ids >= 0]
    out[: len(CANONICAL)] = np.bincount(canonical, minlength=len(CANONICAL)) / n
    out[len(CANONICAL)] = (n - canonical.size) / n
    if n > 1:
        a, b = ids[:-1], ids[1:]
        both = (a >= 0) & (b >= 0)
        pairs = np.bincount(a[both] * len(CANONICAL) + b[both], minlength=len(CANONICAL) ** 2)
        start = len(CANONICAL) + 1
        out[start : start + pairs.size] = pairs / (n - 1)
    out[-1] = math.log1p(n) / _LENGTH_SCALE
    out.setflags(write=False)  # shared by the memo: nobody may change it in place
    return out


def composition_features(sequences: list[str]) -> np.ndarray:
    """``[len(sequences), COMPOSITION_DIM]`` float32 (see the module docstring)."""
    if not sequences:
        return np.zeros((0, COMPOSITION_DIM), dtype=np.float32)
    return np.stack([_composition_one(s) for s in sequences])


def residue_tokens(sequences: list[str], width: int | None = None) -> np.ndarray:
    """``[len(sequences), width]`` uint8 residue ids, 0-padded; ``width`` defaults to the longest sequence."""
    width = max((len(s) for s in sequences), default=1) if width is None else int(width)
    out = np.zeros((len(sequences), max(width, 1)), dtype=np.uint8)
    for i, s in enumerate(sequences):
        ids = [_TOKEN_ID[c] for c in s[:width]]
        out[i, : len(ids)] = ids
    return out


def composition_column_names() -> list[str]:
    """Names of the composition features, in order (for tables and references)."""
    dipeptides = [f"{a}{b}" for a in CANONICAL for b in CANONICAL]
    return [f"frac_{c}" for c in CANONICAL] + ["frac_other"] + [f"di_{d}" for d in dipeptides] + ["log_length"]


__all__ = ["COMPOSITION_DIM", "TOKEN_VOCAB", "composition_column_names", "composition_features", "residue_tokens"]
