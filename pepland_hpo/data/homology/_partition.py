"""One homology partition: whole groups of similar molecules go to test, so none leaks.

At threshold ``t`` two molecules are linked when their similarity is **above**
``t``; the connected components of that graph are the groups. Groups are taken
in a seeded random order and each joins test while it fits the test size, then
valid the same way; the rest is train. No test molecule is then linked to a
train molecule: every test molecule has similarity ≤ ``t`` to every train
molecule (and so does every valid one). Validation being a held-out group too
makes model selection face the same kind of novelty the test does.

A partition that comes out degenerate is dropped, with the reason: at a low
threshold most molecules chain into one group, and the test part that fits
beside it is empty or tiny; a classification test part with one class cannot
be scored by AUROC or MCC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

MIN_TEST_SHARE = 0.5  # of the test size asked for: below this a partition is degenerate
MIN_TEST = 10  # molecules, whatever the share


@dataclass
class HomologyPartition:
    name: str
    split: dict[str, list[int]]  # dataset positions, sorted, like every stored split
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Dropped:
    name: str
    reason: str


def groups(n: int, pairs: np.ndarray, sims: np.ndarray, threshold: float) -> np.ndarray:
    """Component label of each of ``n`` molecules in the graph of pairs with similarity > ``threshold``."""
    linked = pairs[sims > threshold]
    graph = coo_matrix((np.ones(len(linked)), (linked[:, 0], linked[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _fill(members: list[np.ndarray], order: np.ndarray, taken: np.ndarray, size: int) -> list[int]:
    """Whole groups, in ``order``, while they fit in ``size``; marks them ``taken``."""
    out: list[int] = []
    for g in order:
        if taken[g] or len(out) + len(members[g]) > size:
            continue
        out.extend(members[g].tolist())
        taken[g] = True
        if len(out) == size:
            break
    return out


def _sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    return max(1, int(round(n * fractions[1]))), max(1, int(round(n * fractions[2])))


def _max_cross(pairs: np.ndarray, sims: np.ndarray, part_of: np.ndarray, a: str, b: str) -> float:
    pa, pb = part_of[pairs[:, 0]], part_of[pairs[:, 1]]
    cross = ((pa == a) & (pb == b)) | ((pa == b) & (pb == a))
    return float(sims[cross].max()) if cross.any() else 0.0


def partition_at(n: int, pairs: np.ndarray, sims: np.ndarray, threshold: float,
                 fractions: tuple[float, float, float], seed: int, labels: np.ndarray | None = None,
                 floor: float | None = None, measure: str = "similarity") -> HomologyPartition | Dropped:
    """The partition at ``threshold`` (named like hestia-good's, ``0.3``), or why it was dropped.

    ``pairs``/``sims``: every pair with similarity above ``floor`` (≤ ``threshold``), see
    :func:`.identity_edges` / :func:`.tanimoto_edges`.
    """
    name = f"{threshold:g}"
    comp = groups(n, pairs, sims, threshold)
    members = [np.flatnonzero(comp == g) for g in range(comp.max() + 1)] if n else []
    n_valid, n_test = _sizes(n, fractions)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(members))
    taken = np.zeros(len(members), dtype=bool)
    test = _fill(members, order, taken, n_test)
    largest = max((len(m) for m in members), default=0)
    why_small = (f"the largest group linked at {measure} > {threshold:g} holds {largest} of {n} molecules, "
                 f"{len(members)} groups in all")
    if len(test) < max(MIN_TEST, MIN_TEST_SHARE * n_test):
        return Dropped(name, f"test part has {len(test)} molecule(s) of the {n_test} asked "
                             f"(under {MIN_TEST_SHARE:.0%} or {MIN_TEST}): {why_small}")
    valid = _fill(members, order, taken, n_valid)
    notes = [f"{len(members)} groups at {measure} > {threshold:g}; largest {largest} of {n}"]
    if len(valid) < max(1, MIN_TEST_SHARE * n_valid):
        # the groups left are too big for validation: draw it from train (valid may then resemble train)
        rest = np.flatnonzero(~np.isin(np.arange(n), test))
        valid = rng.choice(rest, size=min(n_valid, len(rest) - 1), replace=False).tolist()
        notes.append(f"valid: no groups small enough; {len(valid)} molecule(s) drawn at random from train "
                     "(validation is not homology-separated from train in this partition)")
    in_test, in_valid = set(test), set(valid)
    train = [i for i in range(n) if i not in in_test and i not in in_valid]
    if not train:
        return Dropped(name, "train part is empty")
    split = {"train": sorted(train), "valid": sorted(valid), "test": sorted(test)}
    if labels is not None:
        classes = np.unique(labels[split["test"]][np.isfinite(labels[split["test"]])])
        if len(classes) < 2:
            return Dropped(name, f"test part has one class only ({len(test)} molecule(s)); it cannot be scored")
    part_of = np.full(n, "train", dtype=object)
    part_of[split["valid"]] = "valid"
    part_of[split["test"]] = "test"
    worst = _max_cross(pairs, sims, part_of, "test", "train")
    if worst > threshold:  # by construction impossible; a guard, since a leak must never pass silently
        raise AssertionError(f"partition {name}: a test molecule has {measure} {worst:.3f} to train")
    bound = f"≤ {threshold:g}" if floor is None or worst > floor else f"≤ {floor:g}"
    notes.append(f"max test-train {measure} {worst:.3f}" if worst > 0 else f"max test-train {measure} {bound}")
    return HomologyPartition(name, split, notes)


def random_partition(n: int, fractions: tuple[float, float, float], seed: int) -> HomologyPartition:
    """The ``random`` partition benchmarks set beside their thresholds (no homology control)."""
    n_valid, n_test = _sizes(n, fractions)
    perm = np.random.default_rng(seed).permutation(n)
    split = {"test": sorted(perm[:n_test].tolist()), "valid": sorted(perm[n_test:n_test + n_valid].tolist()),
             "train": sorted(perm[n_test + n_valid:].tolist())}
    return HomologyPartition("random", split, ["random: no similarity control (the reference point)"])


__all__ = ["Dropped", "HomologyPartition", "MIN_TEST", "MIN_TEST_SHARE", "groups", "partition_at",
           "random_partition"]
