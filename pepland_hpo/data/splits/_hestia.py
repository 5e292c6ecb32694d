"""Which data rows a hestia-good partition's indices mean: ``literal`` or ``non-test-positions``.

hestia-good stores ``test`` as rows of the data it was given, but some of its
``train``/``valid`` lists are made by splitting ``data.iloc[non_test].reset_index()``:
their indices are *positions among the rows not in test*, not rows. Which
partitions are built that way depends on the release: 1.2 does it for the
``random`` partition only (its threshold partitions split the train rows
themselves), earlier releases for every partition - read literally, IBM's
PeptideGeneralizationBenchmarks files overlap (320 of the 464 test rows of
partition 0.3 are also in train), and a model scored that way is scored on its
training data. So each partition has one of two readings:

* ``literal``: every index is a data row;
* ``non-test-positions``: ``test`` is rows; ``train`` and ``valid`` index the
  rows not in test, in file order. Test and the part sizes are exactly
  hestia's; which non-test rows are validation is not (hestia's own order of
  those rows - cluster order, or a shuffle for ``random`` - is not in the
  file), but its validation rows are a seeded random draw from them as well.

``reading`` is one of them for every partition, or ``{name: reading}`` for some.
Nothing is guessed silently: a partition without a reading is read literally
when that is disjoint and the other reading is not a different disjoint one
(said so); otherwise it is refused, naming the partition and the overlap, and
saying whether the other reading is a clean partition of the data and which
option selects it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pepland_hpo.data.splits._files import RawPartition
from pepland_hpo.data.splits._check import as_indices, overlap_counts
from pepland_hpo.errors import UserInputError

READINGS = ("literal", "non-test-positions")
POSITIONS = "non-test-positions"
Reading = str | Mapping[str, str] | None


def parse_reading(text: str | None) -> Reading:
    """``non-test-positions``, or ``random=non-test-positions,0.3=literal`` (command line)."""
    if text is None or "=" not in text:
        return text
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserInputError(f"--split-reading: expected READING or NAME=READING,..., got {text!r}")
        out[name.strip()] = value.strip()
    return out


def _indices(raw: RawPartition, where: str) -> dict[str, np.ndarray]:
    return {p: as_indices(v, f"{where}: partition {raw.name!r}: {p}") for p, v in raw.parts.items()}


def non_test_positions(parts: dict[str, np.ndarray], n_rows: int) -> tuple[dict[str, np.ndarray] | None, str]:
    """``parts`` with train/valid read as positions among the non-test rows; ``(None, why)`` if they cannot be."""
    test = parts.get("test", np.zeros(0, dtype=np.int64))
    others = np.setdiff1d(np.arange(n_rows), test)
    out = {"test": test}
    for p in ("train", "valid"):
        if p not in parts:
            continue
        pos = parts[p]
        if pos.size and (pos.min() < 0 or pos.max() >= len(others)):
            return None, f"{p} holds position {int(pos.max())}, but only {len(others)} rows are not in test"
        out[p] = others[pos]
    return out, ""


def _not_clean(parts: dict[str, np.ndarray], n_rows: int) -> str:
    """Why ``parts`` is not a disjoint partition of every row ("" when it is)."""
    every = np.concatenate(list(parts.values())) if parts else np.zeros(0, dtype=np.int64)
    if len(np.unique(every)) != len(every):
        return "its parts overlap"
    if len(every) != n_rows:
        return f"{n_rows - len(every)} of the {n_rows} data rows are in no part"
    return ""


def _overlap(parts: dict[str, np.ndarray]) -> str:
    pairs = {k: v for k, v in overlap_counts(parts).items() if v}
    return ", ".join(f"{a} and {b} share {n} row(s)" for (a, b), n in pairs.items())


def _asked(reading: Reading, names: list[str], where: str) -> dict[str, str | None]:
    if isinstance(reading, Mapping):
        unknown = [n for n in reading if n not in names]
        if unknown:
            raise UserInputError(f"{where}: reading names partition {unknown[0]!r}, which is not used; the "
                                 f"partitions are {', '.join(repr(n) for n in names)}")
        asked = {n: reading.get(n) for n in names}
    else:
        asked = {n: reading for n in names}
    bad = next((r for r in asked.values() if r is not None and r not in READINGS), None)
    if bad is not None:
        raise UserInputError(f"{where}: reading {bad!r}: use one of {', '.join(READINGS)}")
    return asked


def _option(names: list[str], every: bool) -> str:
    if every:
        return f"`reading: {POSITIONS}` (command line: --split-reading {POSITIONS})"
    mapping = ", ".join(f"{n}: {POSITIONS}" for n in names)
    cli = ",".join(f"{n}={POSITIONS}" for n in names)
    return f"`reading: {{{mapping}}}` (command line: --split-reading {cli})"


def read_hestia(partitions: Sequence[RawPartition], n_rows: int, reading: Reading, where: str,
                data: str = "the data") -> tuple[list[tuple[str, dict[str, np.ndarray]]], list[str]]:
    """``[(name, parts in data rows)]`` under ``reading`` (see the module), and what was decided."""
    names = [raw.name for raw in partitions]
    asked = _asked(reading, names, where)
    out, decided, refused = [], {}, []
    for raw in partitions:
        literal = _indices(raw, where)
        positions, why_not = non_test_positions(literal, n_rows)
        how = asked[raw.name]
        if how == POSITIONS and positions is None:
            raise UserInputError(f"{where}: partition {raw.name!r}: cannot be read as {POSITIONS}: {why_not} "
                                 f"({data} has {n_rows} data rows; was the file made from it?)")
        if how is None:
            overlap = _overlap(literal)
            other_differs = positions is not None and any(
                not np.array_equal(np.sort(literal[p]), np.sort(positions[p])) for p in positions)
            if overlap:
                refused.append((raw.name, overlap, why_not or _not_clean(positions, n_rows)))
                continue
            if other_differs and not _overlap(positions):  # both readings disjoint: either is a guess
                raise UserInputError(
                    f"{where}: partition {raw.name!r} is disjoint read literally and read as positions among the "
                    f"rows not in test, and the two differ; say which with `reading: literal` or "
                    f"`reading: {POSITIONS}` (--split-reading, or NAME=READING for this partition)")
            how = "literal"
        decided[raw.name] = how + (" (as asked)" if asked[raw.name] else " (disjoint as stored)")
        out.append((raw.name, positions if how == POSITIONS else literal))
    if refused:
        problems = "; ".join(f"partition {n!r}: read literally (every index a data row), {o}" for n, o, _ in refused)
        unclean = [(n, w) for n, _, w in refused if w]
        if unclean:
            advice = (f"read as positions among the rows not in test ({POSITIONS}) partition {unclean[0][0]!r} is "
                      f"no clean partition either ({unclean[0][1]}); check that the file was made from {data}")
        else:
            every = len(refused) == len(partitions)
            them = "every partition of the file" if every else ", ".join(repr(n) for n, _, _ in refused)
            advice = (f"hestia-good numbers train and valid of such partitions by position among the rows not in "
                      f"test, and read that way {them} is disjoint and covers all {n_rows} data rows of {data}: "
                      f"add {_option([n for n, _, _ in refused], every)} to the split")
        raise UserInputError(f"{where}: {problems}; {advice}")
    notes = [f"reading of {', '.join(repr(n) for n, h in decided.items() if h == r)}: {r}"
             for r in dict.fromkeys(decided.values())]
    if any(h.startswith(POSITIONS) for h in decided.values()):
        notes.append(f"{POSITIONS}: test rows as stored; train and valid are positions among the rows not in test, "
                     "in file order (test and the sizes are hestia-good's; which non-test rows are validation is "
                     "not recorded in the file)")
    return out, notes


__all__ = ["POSITIONS", "READINGS", "non_test_positions", "parse_reading", "read_hestia"]
