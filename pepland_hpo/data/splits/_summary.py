"""One line per split for a person: each part's size and, for classification, its class balance.

``create`` and ``pepland-hpo train`` print the same line, so what a study
trains on and what a single run trained on read alike. A part whose classes
differ much from the others' is the first thing to see in a given partition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pepland_hpo.data.splits._check import PARTS


def _balance(y: np.ndarray) -> str:
    y = y[np.isfinite(y)]
    counts = [(v, int((y == v).sum())) for v in (0.0, 1.0)]
    return ", ".join(f"{v:g}: {c}" for v, c in counts)


def parts_text(split: Mapping[str, Sequence[int]], targets, task: str | None) -> str:
    """``train 24 (0: 12, 1: 12), valid 4 (0: 2, 1: 2), test 8 (0: 4, 1: 4)``; sizes only for regression."""
    y = np.asarray(targets, dtype=np.float64)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] else (y if y.ndim == 1 else None)
    out = []
    for part in PARTS:
        idx = np.asarray(split[part] if split.get(part) is not None else [], dtype=np.int64)
        text = f"{part} {len(idx)}"
        if task == "classification" and y is not None and len(idx):
            text += f" ({_balance(y[idx])})"
        out.append(text)
    return ", ".join(out)


__all__ = ["parts_text"]
