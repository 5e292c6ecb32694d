"""Baselines every generated set is compared with, in the same table.

* **real positives**: the ceiling for distribution match (their distance to themselves is 0);
* **random**: sequences with the positives' lengths (drawn from their empirical
  distribution) and residues drawn independently from their pooled composition —
  what modlamp's ``Random`` generator does with a probability table of its own,
  here with the positives' table, so a generator must beat composition alone;
* **single-point mutants**: a random positive with one residue substituted — the
  nearest thing to "novel" that needs no model at all.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from pepland_hpo.generation._tokens import residues_of


def random_like(positives, n: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    bodies = [residues_of(list(p)) for p in positives]
    lengths = np.array([len(b) for b in bodies])
    counts = Counter(t for b in bodies for t in b)
    alphabet = sorted(counts)
    prob = np.array([counts[a] for a in alphabet], dtype=np.float64)
    prob /= prob.sum()
    out = []
    for length in rng.choice(lengths, size=n):
        out.append([alphabet[k] for k in rng.choice(len(alphabet), size=int(length), p=prob)])
    return out


def point_mutants(positives, n: int, alphabet, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    alphabet = list(alphabet)
    out = []
    for k in rng.integers(len(positives), size=n):
        body = list(residues_of(list(positives[k])))
        i = int(rng.integers(len(body)))
        choices = [a for a in alphabet if a != body[i]]
        body[i] = choices[rng.integers(len(choices))]
        out.append(body)
    return out


__all__ = ["point_mutants", "random_like"]
