"""The pair's label as a binder / non-binder class: ``--binder-threshold 6.0`` on an affinity.

Affinities in PepLand's binding sets are -log10 molar (6.0 = 1 µM); a pair at or
above the threshold is a binder (1), below it a non-binder (0). Regression on the
affinity stays the default; this is for the training plan's AUROC target.
"""

from __future__ import annotations

import math

import numpy as np

from pepland_hpo.errors import UserInputError


def binarise(values: np.ndarray, threshold: float, names: list[str], source: str) -> tuple[np.ndarray, str]:
    """``(labels 0/1 [n, T] float32, why)``: ``values >= threshold`` is 1; both classes must occur."""
    if not math.isfinite(float(threshold)):
        raise UserInputError(f"binder threshold must be a finite number, got {threshold!r}")
    values = np.asarray(values, dtype=np.float64)
    labels = (values >= float(threshold)).astype(np.float32)
    labels[np.isnan(values)] = np.nan
    for k, name in enumerate(names):
        column = labels[:, k][~np.isnan(labels[:, k])]
        n_binders = int(column.sum())
        if n_binders in (0, column.size):
            side = "at or above" if n_binders else "below"
            raise UserInputError(
                f"{source}: binder threshold {threshold:g} puts every {name!r} value {side} it "
                f"(range {np.nanmin(values[:, k]):g} to {np.nanmax(values[:, k]):g}); one class only")
    share = float(np.nanmean(labels))
    why = (f"{', '.join(map(repr, names))} >= {threshold:g} is a binder (1), below is a non-binder (0): "
           f"classification ({share:.0%} binders)")
    return labels, why


__all__ = ["binarise"]
