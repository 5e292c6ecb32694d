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
from scipy import stats
from sklearn import metrics as skm

from pepland_hpo.errors import UserInputError

Task = Literal["classification", "regression"]
TASKS = ("classification", "regression")

REGRESSION_METRICS = ("rmse", "mae", "r2", "pearson", "spearman")
CLASSIFICATION_METRICS = ("auroc", "auprc", "mcc", "f1", "accuracy")

METRIC_DIRECTION: dict[str, str] = {
    "rmse": "minimize",
    "mae": "minimize",
    "r2": "maximize",
    "pearson": "maximize",
    "spearman": "maximize",
    "auroc": "maximize",
    "auprc": "maximize",
    "mcc": "maximize",
    "f1": "maximize",
    "accuracy": "maximize",
    # the validation loss the loop also reports; usable as a selection metric
    "loss": "minimize",
}

THRESHOLD = 0.5


def check_task(task: str | None) -> Task:
    if task not in TASKS:
        raise UserInputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return task  # type: ignore[return-value]


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics :func:`compute_metrics` returns for ``task``."""
    return REGRESSION_METRICS if check_task(task) == "regression" else CLASSIFICATION_METRICS


def default_metric(task: str) -> str:
    """The selection metric when a study names none: AUROC or RMSE."""
    return "auroc" if check_task(task) == "classification" else "rmse"


def metric_direction(metric: str) -> str:
    """``"minimize"`` or ``"maximize"``; unknown names are a user error listing the known ones."""
    try:
        return METRIC_DIRECTION[metric]
    except KeyError:
        raise UserInputError(
            f"unknown metric {metric!r}; known: {', '.join(METRIC_DIRECTION)}"
        ) from None


def check_metric(task: str, metric: str | None) -> str:
    """Return ``metric`` (or the task's default) after checking it fits the task."""
    if metric is None:
        return default_metric(task)
    metric_direction(metric)
    if metric != "loss" and metric not in metric_names(task):
        raise UserInputError(
            f"metric {metric!r} does not apply to {task}; use one of "
            f"{', '.join(metric_names(task) + ('loss',))}"
        )
    return metric


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


def _regression_one(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    err = p - y
    out = {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float("nan"),
        "pearson": float("nan"),
        "spearman": float("nan"),
    }
    if len(y) >= 2 and np.ptp(y) > 0:
        out["r2"] = float(skm.r2_score(y, p))
        # correlations are undefined when either side is constant (scipy warns and returns nan)
        if np.ptp(p) > 0:
            out["pearson"] = float(stats.pearsonr(y, p)[0])
            out["spearman"] = float(stats.spearmanr(y, p)[0])
    return out


def _classification_one(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    labels = set(np.unique(y).tolist())
    if not labels <= {0.0, 1.0}:
        raise ValueError(f"binary classification needs labels 0/1, found {sorted(labels)[:5]}")
    yi = y.astype(int)
    hard = (p >= THRESHOLD).astype(int)
    out = {
        "auroc": float("nan"),
        "auprc": float("nan"),
        # both classes' counts enter MCC; sklearn returns 0 when it is undefined
        "mcc": float(skm.matthews_corrcoef(yi, hard)),
        "f1": float(skm.f1_score(yi, hard, zero_division=0)),
        "accuracy": float(skm.accuracy_score(yi, hard)),
    }
    if len(labels) == 2:  # ranking metrics need both classes
        out["auroc"] = float(skm.roc_auc_score(yi, p))
        out["auprc"] = float(skm.average_precision_score(yi, p))
    return out


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
        one = _regression_one if task == "regression" else _classification_one
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate folds are handled above
            per_target.append(one(yt, pt))
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
