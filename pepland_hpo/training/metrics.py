"""Evaluation metrics for regression and binary classification.

``compute_metrics`` never raises on data that is merely degenerate: a
validation fold with one class, constant predictions or a diverged model
(NaN predictions) give ``nan`` for the metrics that are undefined, so a trial
reports a value the pruner can act on instead of crashing a worker.

Multi-target data (``[n, T]``) is scored target by target on the rows where
that target is known (NaN labels are "missing"), then averaged over targets.

>>> m = compute_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
>>> round(m["mae"], 4), round(m["spearman"], 4)
(0.3333, 1.0)
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from pepland_hpo.training import metric_registry as registry

Task = Literal["classification", "regression"]
TASKS = registry.TASKS

# the names, directions and implementations live in the registry (training.metric_registry)
REGRESSION_METRICS = registry.names("regression")
CLASSIFICATION_METRICS = registry.names("classification")
METRIC_DIRECTION: dict[str, str] = {
    **{name: m.direction for name, m in registry.REGISTRY.items()},
    # the validation loss the loop also reports; usable as a selection metric
    registry.LOSS: "minimize",
}

THRESHOLD = registry.FIXED_THRESHOLD


def check_task(task: str | None) -> Task:
    return registry.check_task(task)  # type: ignore[return-value]


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics :func:`compute_metrics` returns for ``task``."""
    return registry.names(task)


def default_metric(task: str) -> str:
    """The selection metric when a study names none: AUROC or RMSE."""
    return "auroc" if check_task(task) == "classification" else "rmse"


def metric_direction(metric: str) -> str:
    """``"minimize"`` or ``"maximize"``; unknown names are a user error listing the known ones."""
    return registry.direction(metric)


def check_metric(task: str, metric: str | None) -> str:
    """Return ``metric`` (or the task's default) after checking it fits the task."""
    if metric is None:
        return default_metric(task)
    return registry.check(task, metric)


def is_better(value: float, best: float, direction: str) -> bool:
    """Whether ``value`` improves on ``best``; NaN never improves, anything beats NaN."""
    if not np.isfinite(value):
        return False
    if not np.isfinite(best):
        return True
    return value < best if direction == "minimize" else value > best


def _as_2d(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D [n] or 2-D [n, targets], got shape {arr.shape}")
    return arr


def _score_one(task: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if task == "classification":
        labels = set(np.unique(y).tolist())
        if not labels <= {0.0, 1.0}:
            raise ValueError(f"binary classification needs labels 0/1, found {sorted(labels)[:5]}")
    # no validation-chosen threshold here: the threshold metrics binarise at 0.5 (see the registry)
    return {name: registry.score(name, y, p) for name in registry.names(task)}


def compute_metrics(task: str, y_true, y_pred) -> dict[str, float]:
    """Score predictions: ``y_pred`` holds probabilities (classification) or values.

    Returns every metric of :func:`metric_names` (``nan`` where undefined).
    Rows whose label is NaN are ignored per target; targets without any
    defined value are left out of the mean over targets.
    """
    task = check_task(task)
    names = metric_names(task)
    y = _as_2d("y_true", y_true)
    p = _as_2d("y_pred", y_pred)
    if y.shape != p.shape:
        raise ValueError(f"y_true {y.shape} and y_pred {p.shape} differ in shape")
    per_target: list[dict[str, float]] = []
    for t in range(y.shape[1]):
        known = ~np.isnan(y[:, t])
        yt, pt = y[known, t], p[known, t]
        if len(yt) == 0:
            continue
        if not np.all(np.isfinite(pt)):
            # a diverged model: every metric is undefined, but the run should see nan, not a crash
            per_target.append({n: float("nan") for n in names})
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate folds are handled above
            per_target.append(_score_one(task, yt, pt))
    if not per_target:
        return {n: float("nan") for n in names}
    out: dict[str, float] = {}
    for n in names:
        vals = np.array([d[n] for d in per_target], dtype=np.float64)
        finite = vals[~np.isnan(vals)]
        out[n] = float(finite.mean()) if len(finite) else float("nan")
    return out


__all__ = [
    "CLASSIFICATION_METRICS",
    "METRIC_DIRECTION",
    "REGRESSION_METRICS",
    "TASKS",
    "check_metric",
    "check_task",
    "compute_metrics",
    "default_metric",
    "is_better",
    "metric_direction",
    "metric_names",
]
