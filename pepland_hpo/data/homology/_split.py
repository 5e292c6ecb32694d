"""Homology partitions of a loaded dataset, one per threshold: ``split: {kind: homology, ...}``.

``similarity: identity`` aligns the file's sequences (global alignment, see
:mod:`._identity`); ``tanimoto`` compares Morgan fingerprints of the loaded
molecules (SMILES inputs, non-canonical peptides). ``auto`` picks identity for
a sequence file and Tanimoto for a SMILES file. Similarities are computed once
for the lowest threshold and every partition is cut from them, so a study's
partitions at 0.3 … 0.9 come from one computation; the seed orders the groups
(see :mod:`._partition`), so the same spec and data give the same partitions,
and the study stores them like any split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pepland_hpo.data.homology._partition import Dropped, HomologyPartition, partition_at, random_partition
from pepland_hpo.errors import UserInputError

Similarity = Literal["auto", "identity", "tanimoto"]
RANDOM = "random"


@dataclass(frozen=True)
class HomologySplit:
    thresholds: tuple[float | str, ...] = (0.3, 0.5, 0.7, 0.9)  # "random" adds the unrestricted partition
    similarity: Similarity = "auto"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0

    def check(self) -> None:
        if not self.thresholds:
            raise UserInputError("split.thresholds: give at least one threshold (e.g. [0.3, 0.5, 0.7, 0.9])")
        for t in self.thresholds:
            if t == RANDOM:
                continue
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= float(t) < 1.0:
                raise UserInputError(f"split.thresholds: {t!r} is not a similarity in [0, 1) or 'random'")
        numbers = [float(t) for t in self.thresholds if t != RANDOM]
        if len(set(numbers)) != len(numbers) or list(self.thresholds).count(RANDOM) > 1:
            raise UserInputError("split.thresholds: a threshold is listed twice")


def molecule_texts(dataset, layout) -> list[str]:
    """The molecule column's text for each loaded molecule (its sequence, for a sequence file)."""
    by_line = {line: fields for line, fields in layout.records}
    return [by_line[line][layout.mol_idx] for line in dataset.rows]


def _measure(split: HomologySplit, layout) -> str:
    if split.similarity != "auto":
        if split.similarity == "identity" and layout.kind != "sequence":
            raise UserInputError(f"{layout.path}: split.similarity identity needs sequences; column "
                                 f"{layout.mol_column!r} holds SMILES (use similarity: tanimoto)")
        return split.similarity
    return "identity" if layout.kind == "sequence" else "tanimoto"


def homology_partitions(split: HomologySplit, dataset, layout) -> tuple[list[HomologyPartition], list[Dropped],
                                                                        list[str]]:
    """The partitions kept (in threshold order), the ones dropped and why, and what was decided."""
    split.check()
    measure = _measure(split, layout)
    numbers = sorted(float(t) for t in split.thresholds if t != RANDOM)
    n = len(dataset)
    floor = numbers[0] if numbers else 1.0
    if measure == "identity":
        from pepland_hpo.data.homology._identity import identity_edges

        pairs, sims = identity_edges(molecule_texts(dataset, layout), floor, where=layout.path)
        how = ("sequence identity: global alignment (BLOSUM62, gaps -10/-0.5, free end gaps), identical "
               "positions / shorter length, every pair")
    else:
        from pepland_hpo.data.homology._tanimoto import tanimoto_edges

        pairs, sims = tanimoto_edges(list(dataset.smiles), floor)
        how = "Tanimoto on Morgan fingerprints (radius 2, 2048 bits), every pair"
    labels = None
    if dataset.task == "classification" and dataset.targets.shape[1]:
        labels = np.asarray(dataset.targets[:, 0], dtype=np.float64)
    kept: list[HomologyPartition] = []
    dropped: list[Dropped] = []
    for t in split.thresholds:
        if t == RANDOM:
            kept.append(random_partition(n, split.fractions, split.seed))
            continue
        got = partition_at(n, pairs, sims, float(t), split.fractions, split.seed, labels, floor=floor,
                           measure=measure)
        (kept if isinstance(got, HomologyPartition) else dropped).append(got)
    notes = [how, f"{len(pairs)} pair(s) above {floor:g} among {n} molecules; groups ordered by seed {split.seed}"]
    if not kept:
        reasons = "; ".join(f"{d.name}: {d.reason}" for d in dropped)
        raise UserInputError(f"{layout.path}: every homology partition is degenerate ({reasons}); use higher "
                             "thresholds or more data")
    return kept, dropped, notes


__all__ = ["HomologySplit", "RANDOM", "homology_partitions", "molecule_texts"]
