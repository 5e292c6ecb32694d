"""The one check every split passes before anything trains or scores on it.

A partition is ``{"train": rows, "valid": rows, "test": rows}``. Whether it
comes from a benchmark's file, a data column, a study's stored split or the
reference models' cells, :func:`check_partition` refuses the same problems
with the same words, naming where it came from and the partition:

* an index outside ``0 .. n_rows - 1``;
* a row listed twice in one part, or in two parts (the count and examples:
  a leak makes a test score meaningless, so it is never silently dropped);
* an empty part among ``required`` (train and test by default);
* a row that was skipped when the data was read (``skipped_rows`` maps its
  index to why), since no molecule stands for it.

The part names a file may use are normalised by :func:`part_name`
(``val``/``validation`` are ``valid``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from pepland_hpo.errors import UserInputError

PARTS = ("train", "valid", "test")
_ALIASES = {"train": "train", "training": "train", "valid": "valid", "val": "valid", "validation": "valid",
            "test": "test", "testing": "test"}
SHOW = 5  # examples named in a message


def part_name(key) -> str | None:
    """``train`` / ``valid`` / ``test`` for a key a file uses (any case, ``val``/``validation``); None otherwise."""
    return _ALIASES.get(str(key).strip().lower())


def _prefix(source: str | None, name: str | None) -> str:
    bits = [b for b in (source, f"partition {name!r}" if name is not None else None) if b]
    return ": ".join(bits) + ": " if bits else ""


def _examples(values: Iterable[int]) -> str:
    values = [int(v) for v in values]
    shown = ", ".join(map(str, values[:SHOW]))
    return f"[{shown}{', ...' if len(values) > SHOW else ''}]"


def as_indices(values, label: str) -> np.ndarray:
    """Whole numbers as an int64 array; anything else (text, fractions, booleans) is refused."""
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    bad = [v for v in items if isinstance(v, bool) or not isinstance(v, (int, np.integer))
           and not (isinstance(v, float) and v.is_integer())]
    if bad:
        raise UserInputError(f"{label}: indices must be whole numbers, got {bad[0]!r}")
    return np.asarray([int(v) for v in items], dtype=np.int64)


def check_partition(name: str | None, parts: Mapping[str, Iterable[int]], n_rows: int,
                    skipped_rows: Mapping[int, str] | None = None, *, source: str | None = None,
                    required: tuple[str, ...] = ("train", "test"), unit: str = "row",
                    row_label=None, hint: str = "") -> dict[str, np.ndarray]:
    """The parts as int64 arrays, or :class:`UserInputError` for the first problem (see the module).

    ``unit`` names what an index counts ("row" of the file, "molecule" of the loaded data);
    ``row_label(i)`` adds where index ``i`` is (e.g. its line in the file); ``hint`` ends
    an out-of-range message (why indices could be wrong).
    """
    where = _prefix(source, name)
    label = row_label or (lambda i: "")
    unknown = sorted(str(k) for k in parts if k not in PARTS)
    if unknown:
        raise UserInputError(f"{where}unknown part(s) {', '.join(unknown)}; use train, valid, test")
    arrays = {p: as_indices(parts[p] if parts.get(p) is not None else [], f"{where}{p}") for p in PARTS}
    for p, arr in arrays.items():
        if arr.size and (arr.min() < 0 or arr.max() >= n_rows):
            bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
            raise UserInputError(
                f"{where}{p} refers to {unit} {bad}, but the data has {n_rows} {unit}s "
                f"(0..{n_rows - 1}){hint}")
    for p, arr in arrays.items():
        values, counts = np.unique(arr, return_counts=True)
        twice = values[counts > 1]
        if twice.size:
            raise UserInputError(f"{where}{p} lists {twice.size} {unit}(s) more than once, e.g. {_examples(twice)}")
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        both = np.intersect1d(arrays[a], arrays[b])
        if both.size:
            raise UserInputError(f"{where}{a} and {b} share {both.size} {unit}(s), e.g. {_examples(both)}; "
                                 "a row may be in one part only")
    for p in required:
        if arrays[p].size == 0:
            raise UserInputError(f"{where}the {p} split is empty")
    if skipped_rows:
        for p, arr in arrays.items():
            hit = [int(i) for i in arr if int(i) in skipped_rows]
            if hit:
                i = hit[0]
                more = f" ({len(hit)} such {unit}s in {p})" if len(hit) > 1 else ""
                raise UserInputError(f"{where}{p} lists {unit} {i}{label(i)}, which was skipped when the data "
                                     f"was read: {skipped_rows[i]}{more}")
    return arrays


def overlap_counts(parts: Mapping[str, np.ndarray]) -> dict[tuple[str, str], int]:
    """Rows shared by each pair of parts (0 when disjoint)."""
    return {(a, b): int(np.intersect1d(parts.get(a, []), parts.get(b, [])).size)
            for a, b in (("train", "valid"), ("train", "test"), ("valid", "test"))}


def carve_valid(train: np.ndarray, seed: int, fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``(train, valid)``: a seeded ``fraction`` of ``train`` (at least one row) set aside for validation."""
    train = np.sort(np.asarray(train, dtype=np.int64))
    n_valid = max(1, int(round(fraction * len(train)))) if len(train) > 1 else 0
    chosen = np.random.default_rng(seed).permutation(len(train))[:n_valid]
    mask = np.zeros(len(train), dtype=bool)
    mask[chosen] = True
    return train[~mask], train[mask]


__all__ = ["PARTS", "as_indices", "carve_valid", "check_partition", "overlap_counts", "part_name"]
