"""Seeded train/validation/test splits and overlap detection.

* ``random``: a seeded permutation.
* ``stratified``: scikit-learn's stratified shuffle, so each side keeps the
  class balance (classification only).
* ``similarity``: Morgan fingerprints (radius 2, 2048 bits), Tanimoto
  distances and RDKit's Butina clustering; whole clusters go to one side, so a
  test peptide has no close neighbour in training. Clusters are dealt to test,
  then validation, in a seeded order; clusters too big for a held-out side go
  to training.

Overlap is measured on canonical SMILES. PepLand's upstream
train/valid/test files are byte-identical (100 % overlap), which is why
:func:`find_overlap` exists and the CLI prints its result loudly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.ML.Cluster import Butina

from pepland_hpo.data import FP_RADIUS, FP_SIZE
from pepland_hpo.data.featurize import quiet_rdkit
from pepland_hpo.errors import UserInputError

SPLIT_KINDS = ("random", "stratified", "similarity")
# Tanimoto distance under which two peptides count as neighbours in one cluster
SIMILARITY_CUTOFF = 0.4


@dataclass
class Split:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict[str, list[int]]:
        return {"train": self.train.tolist(), "valid": self.valid.tolist(), "test": self.test.tolist()}


def _sizes(n: int, fractions) -> tuple[int, int]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise UserInputError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    n_test = int(round(fr[2] * n))
    n_valid = int(round(fr[1] * n))
    if n_test + n_valid > n:
        raise UserInputError(f"split fractions {fractions} leave no training data for {n} molecules")
    return n_valid, n_test


def _as_split(train, valid, test) -> Split:
    return Split(*(np.sort(np.asarray(part, dtype=np.int64)) for part in (train, valid, test)))


def _random(n, fractions, seed) -> Split:
    n_valid, n_test = _sizes(n, fractions)
    perm = np.random.default_rng(seed).permutation(n)
    return _as_split(perm[n_test + n_valid:], perm[n_test:n_test + n_valid], perm[:n_test])


def _stratified(labels, fractions, seed) -> Split:
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels)
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise UserInputError("a stratified split needs exactly one label column")
        y = y[:, 0]
    n = y.shape[0]
    n_valid, n_test = _sizes(n, fractions)
    idx = np.arange(n)
    try:
        rest, test = (idx, idx[:0]) if n_test == 0 else train_test_split(
            idx, test_size=n_test, stratify=y, random_state=seed)
        train, valid = (rest, rest[:0]) if n_valid == 0 else train_test_split(
            rest, test_size=n_valid, stratify=y[rest], random_state=seed + 1)
    except ValueError as exc:  # e.g. a class with a single member
        raise UserInputError(f"cannot stratify these labels: {exc}") from None
    return _as_split(train, valid, test)


def fingerprints(smiles: list[str]):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_SIZE)
    with quiet_rdkit():
        mols = [Chem.MolFromSmiles(s) for s in smiles]
    bad = [i for i, m in enumerate(mols) if m is None]
    if bad:
        raise UserInputError(f"similarity split: unparsable SMILES at positions {bad[:5]}")
    return [gen.GetFingerprint(m) for m in mols]


def similarity_clusters(smiles: list[str], cutoff: float = SIMILARITY_CUTOFF) -> list[tuple[int, ...]]:
    """Butina clusters (each a tuple of indices, centroid first) at Tanimoto distance ``cutoff``."""
    fps = fingerprints(smiles)
    # Butina wants the lower triangle as a flat list of distances, row by row
    dists: list[float] = []
    for i in range(1, len(fps)):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])
        dists.extend(1.0 - s for s in sims)
    return list(Butina.ClusterData(dists, len(fps), cutoff, isDistData=True))


def _similarity(smiles, fractions, seed, clusters=None) -> Split:
    n = len(smiles)
    n_valid, n_test = _sizes(n, fractions)
    clusters = clusters if clusters is not None else similarity_clusters(list(smiles))
    order = np.random.default_rng(seed).permutation(len(clusters))
    train, valid, test = [], [], []
    for k in order:
        members = list(clusters[k])
        if len(test) + len(members) <= n_test:
            test += members
        elif len(valid) + len(members) <= n_valid:
            valid += members
        else:
            train += members
    return _as_split(train, valid, test)


def make_split(smiles, labels=None, kind: str = "random", fractions=(0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Indices of train/valid/test. Same inputs and seed → same split.

    Example::

        >>> s = make_split(["C"] * 10, kind="random", seed=0)
        >>> len(s.train), len(s.valid), len(s.test)
        (8, 1, 1)
    """
    n = len(smiles)
    if n == 0:
        raise UserInputError("cannot split an empty dataset")
    if kind == "random":
        return _random(n, fractions, seed)
    if kind == "stratified":
        if labels is None:
            raise UserInputError("a stratified split needs labels (a classification target)")
        return _stratified(labels, fractions, seed)
    if kind == "similarity":
        return _similarity(smiles, fractions, seed)
    raise UserInputError(f"unknown split kind {kind!r}; use one of: {', '.join(SPLIT_KINDS)}")


def make_splits(smiles, labels=None, kind: str = "random", fractions=(0.8, 0.1, 0.1), seed: int = 0,
                repeats: int = 1) -> list[Split]:
    """``repeats`` splits of one kind: repeat ``r`` is :func:`make_split` with seed ``seed + r``.

    A random or stratified split repeats with a new permutation; a similarity
    split deals the same Butina clusters (computed once) to the parts in a new
    order, so each repeat holds out different clusters. Repeat 0 is exactly
    the single split of ``make_split(..., seed=seed)``.

        >>> [s.test.tolist() for s in make_splits(["C"] * 10, seed=0, repeats=2)] != [[0], [0]]
        True
    """
    if int(repeats) < 1:
        raise UserInputError(f"split repeats must be at least 1, got {repeats}")
    if kind == "similarity" and len(smiles):
        clusters = similarity_clusters(list(smiles))
        return [_similarity(smiles, fractions, seed + r, clusters) for r in range(int(repeats))]
    return [make_split(smiles, labels, kind=kind, fractions=fractions, seed=seed + r) for r in range(int(repeats))]


# ------------------------------------------------------------------ overlap


@dataclass
class OverlapPair:
    a: str
    b: str
    shared: int  # distinct canonical SMILES present in both
    frac_a: float  # fraction of a's molecules (rows) whose SMILES also occurs in b
    frac_b: float


@dataclass
class OverlapReport:
    pairs: list[OverlapPair] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)  # repeated SMILES inside one set

    @property
    def has_overlap(self) -> bool:
        return any(p.shared for p in self.pairs)

    @property
    def max_fraction(self) -> float:
        return max((max(p.frac_a, p.frac_b) for p in self.pairs), default=0.0)

    def messages(self) -> list[str]:
        """One warning line per overlapping pair (empty when the sets are disjoint)."""
        return [
            f"OVERLAP {p.a}/{p.b}: {p.shared} shared molecules — {p.frac_a:.0%} of {p.a}, "
            f"{p.frac_b:.0%} of {p.b}"
            for p in self.pairs if p.shared
        ]

    def to_dict(self) -> dict:
        return {
            "pairs": [vars(p) for p in self.pairs],
            "duplicates": dict(self.duplicates),
            "max_fraction": self.max_fraction,
        }


def find_overlap(named_smiles: dict[str, list[str]]) -> OverlapReport:
    """Pairwise overlap of named molecule lists by (already canonical) SMILES."""
    sets = {name: set(smis) for name, smis in named_smiles.items()}
    report = OverlapReport(duplicates={k: len(v) - len(sets[k]) for k, v in named_smiles.items()})
    for a, b in combinations(named_smiles, 2):
        shared = sets[a] & sets[b]
        frac = lambda name: (  # noqa: E731 - tiny local helper
            sum(s in shared for s in named_smiles[name]) / max(len(named_smiles[name]), 1)
        )
        report.pairs.append(OverlapPair(a, b, len(shared), frac(a), frac(b)))
    return report
