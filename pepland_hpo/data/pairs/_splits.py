"""Splits of peptide-protein pairs: ``target`` keeps every test protein out of training.

A random split of pairs puts the same protein (often the same complex) on both
sides, so a model is scored on targets it was trained on. Two kinds:

* ``target``: the pairs are grouped by their protein - proteins at sequence
  identity >= ``identity`` (default 0.9; ``._identity_groups``) are one group, so
  point mutants and a domain cut from a longer construct stay together; with
  ``identity=None`` (or without Biopython) by the exact upper-case sequence - and
  whole groups are dealt, in a seeded order, to test, then to validation; a group
  too big for what a held-out part still lacks goes to training. No protein of
  test or validation has a pair in training, nor one at that identity to one in training.
* ``pair-random``: a seeded permutation of the pairs (the data layer's
  ``random``), kept so the two can be set side by side: the gap is the finding.

The label is the pair's; nothing here reads it.
"""

from __future__ import annotations

import numpy as np

from pepland_hpo.data.pairs._identity_groups import DEFAULT_IDENTITY, aligner_available, identity_components
from pepland_hpo.data.splits import Split, make_split
from pepland_hpo.errors import UserInputError

PAIR_SPLIT_KINDS = ("target", "pair-random")
GROUPING_NOTE = ("proteins grouped by exact sequence: near-identical proteins such as point mutants can "
                 "still be on both sides")


def check_identity(identity: float | None) -> float | None:
    if identity is None:
        return None
    if isinstance(identity, bool) or not isinstance(identity, (int, float)) or not 0.0 < float(identity) <= 1.0:
        raise UserInputError(f"split identity must be a number in (0, 1] (or none: exact sequence), "
                             f"got {identity!r}")
    return float(identity)


def _grouped_by_identity(identity: float | None) -> bool:
    return identity is not None and aligner_available()


def protein_groups(proteins: list[str], identity: float | None = None) -> list[np.ndarray]:
    """Pair indices of each group of proteins, in order of first appearance.

    ``identity=None``: one group per exact sequence; a number: proteins linked at sequence
    identity >= it (chained) are one group.
    """
    identity = check_identity(identity)
    first: dict[str, list[int]] = {}
    for i, seq in enumerate(proteins):
        first.setdefault(seq, []).append(i)
    exact = [np.asarray(members, dtype=np.int64) for members in first.values()]
    if not _grouped_by_identity(identity):
        return exact
    label = identity_components(list(first), identity)
    merged: dict[int, list[np.ndarray]] = {}
    for g, members in zip(label.tolist(), exact):
        merged.setdefault(g, []).append(members)
    return [np.sort(np.concatenate(chunks)) for chunks in merged.values()]


def grouping_note(proteins: list[str], identity: float | None = DEFAULT_IDENTITY) -> str:
    """How a target split grouped these proteins, for create's and train's output and the report."""
    identity = check_identity(identity)
    distinct = len(set(proteins))
    if not _grouped_by_identity(identity):
        why = "" if identity is None else " (Biopython, the aligner, is not installed)"
        return f"{GROUPING_NOTE}{why}; {distinct} distinct proteins"
    groups = len(protein_groups(proteins, identity))
    return (f"proteins grouped by sequence identity >= {identity:g} (global alignment, BLOSUM62, end gaps free; "
            f"identical positions / shorter length): {distinct} distinct proteins in {groups} groups")


def _held_out_sizes(n: int, fractions) -> tuple[int, int]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise UserInputError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    n_valid, n_test = int(round(fr[1] * n)), int(round(fr[2] * n))
    if n_valid + n_test >= n:
        raise UserInputError(f"split fractions {fractions} leave no training pairs of {n}")
    return n_valid, n_test


def deal_groups(groups: list[np.ndarray], n: int, fractions, seed: int) -> Split:
    """Whole groups to test, then validation, in a seeded order; the rest to training."""
    n_valid, n_test = _held_out_sizes(n, fractions)
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    filled = {"valid": 0, "test": 0}
    for k in np.random.default_rng(seed).permutation(len(groups)):
        members = groups[k]
        if filled["test"] + len(members) <= n_test:
            part = "test"
        elif filled["valid"] + len(members) <= n_valid:
            part = "valid"
        else:
            part = "train"
        parts[part].append(members)
        if part != "train":
            filled[part] += len(members)
    joined = {name: np.sort(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)
              for name, chunks in parts.items()}
    return Split(joined["train"], joined["valid"], joined["test"])


def make_pair_split(proteins: list[str], kind: str = "target", fractions=(0.8, 0.1, 0.1), seed: int = 0,
                    identity: float | None = DEFAULT_IDENTITY) -> Split:
    """Train/validation/test pair indices of one kind; same proteins and seed, same split.

        >>> s = make_pair_split(["MKV", "MKV", "GAS", "LLP"] * 5, "target", (0.5, 0.25, 0.25), seed=0)
        >>> len({p for p in s.test} & {p for p in s.train})
        0
    """
    return make_pair_splits(proteins, kind, fractions, seed, repeats=1, identity=identity)[0]


def make_pair_splits(proteins: list[str], kind: str = "target", fractions=(0.8, 0.1, 0.1), seed: int = 0,
                     repeats: int = 1, identity: float | None = DEFAULT_IDENTITY) -> list[Split]:
    """``repeats`` splits; repeat ``r`` uses seed ``seed + r`` (a target split deals the same groups anew).

    ``identity``: a target split's grouping (see :func:`protein_groups`); pair-random ignores it.
    """
    if kind not in PAIR_SPLIT_KINDS:
        raise UserInputError(f"unknown pair split kind {kind!r}; use one of: {', '.join(PAIR_SPLIT_KINDS)}")
    if int(repeats) < 1:
        raise UserInputError(f"split repeats must be at least 1, got {repeats}")
    n = len(proteins)
    if n == 0:
        raise UserInputError("cannot split an empty set of pairs")
    if kind == "pair-random":
        return [make_split([""] * n, kind="random", fractions=fractions, seed=seed + r) for r in range(int(repeats))]
    groups = protein_groups(list(proteins), identity)
    if len(groups) < 3:
        raise UserInputError(f"a target split needs at least 3 groups of proteins, found {len(groups)} "
                             f"(identity grouping: {identity})")
    splits = [deal_groups(groups, n, fractions, seed + r) for r in range(int(repeats))]
    for s in splits:
        if len(s.test) == 0 or len(s.valid) == 0:
            biggest = max(len(g) for g in groups)
            raise UserInputError(f"a target split of {n} pairs left the test or validation part empty: "
                                 f"one group of proteins has {biggest} pairs; raise the held-out fractions "
                                 "or the split identity")
    return splits


def shared_proteins(split: Split, proteins: list[str]) -> dict[str, int]:
    """Distinct proteins of each held-out part that also have a pair in training (0 for a target split)."""
    train = {proteins[i] for i in split.train}
    return {name: len({proteins[i] for i in getattr(split, name)} & train) for name in ("valid", "test")}


__all__ = ["GROUPING_NOTE", "PAIR_SPLIT_KINDS", "check_identity", "deal_groups", "grouping_note",
           "make_pair_split", "make_pair_splits", "protein_groups", "shared_proteins"]
