"""Every metric a study can select on or a report can show: one entry each.

An entry says what the metric is - its task, direction, the range it lives in
(intervals and plot axes stay inside it), its chance level (the line a plot
draws, ``None`` when it depends on the class balance), and how it binarises -
and carries two implementations of the same number:

* ``plain(y, p, threshold)``: one target, no missing label, a float;
* ``resampled(y, p, W, threshold)``: the same for each row of a ``[B, n]``
  matrix of bootstrap counts (:mod:`.resampled_metrics`), so any metric a
  study selects on gets bootstrap intervals in the report.

Thresholds, as benchmarks report them: ``mcc``, ``f1`` and ``accuracy``
binarise at the **decision threshold chosen on validation** (the report picks
the one that maximises validation MCC per run and applies it to test; where
there is nothing to choose on - the validation scores during training - it is
0.5); ``mcc@0.5`` always binarises at 0.5, as benchmarks that do not tune a
threshold report MCC (the IBM peptide leaderboards among them).

>>> get("auroc").direction, get("rmse").direction, get("mcc@0.5").threshold
('maximize', 'minimize', 'fixed')
>>> names("classification")
('auroc', 'auprc', 'mcc', 'mcc@0.5', 'f1', 'accuracy')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from pepland_hpo.errors import UserInputError
from pepland_hpo.training import resampled_metrics as rm

Direction = Literal["maximize", "minimize"]
# "chosen": at the threshold the caller picked on validation (0.5 when it has none);
# "fixed": always at FIXED_THRESHOLD; None: no threshold (ranking or regression metrics)
ThresholdRule = Literal["chosen", "fixed"] | None
FIXED_THRESHOLD = 0.5
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Metric:
    name: str
    task: str  # "classification" or "regression"
    direction: Direction
    bounds: tuple[float, float]
    chance: float | None  # the value of an uninformative model, where it does not depend on the data
    plain: Callable[[np.ndarray, np.ndarray, float], float]
    resampled: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]
    threshold: ThresholdRule = None
    about: str = ""

    def at(self, chosen: float | None) -> float:
        """The threshold this metric binarises at, given the one chosen on validation (or None)."""
        if self.threshold == "fixed" or chosen is None or not math.isfinite(chosen):
            return FIXED_THRESHOLD
        return float(chosen)

    def better(self, value: float, best: float) -> bool:
        """Whether ``value`` improves on ``best``; NaN never improves, anything beats NaN."""
        if not math.isfinite(value):
            return False
        if not math.isfinite(best):
            return True
        return value < best if self.direction == "minimize" else value > best


# ----------------------------------------------------------------- plain implementations
# one target, labels known; degenerate data gives nan, never an exception (see training.metrics)


def _two_classes(y) -> bool:
    return len(np.unique(y)) == 2


def _auroc(y, p, threshold):
    return float(skm.roc_auc_score(y.astype(int), p)) if _two_classes(y) else math.nan


def _auprc(y, p, threshold):
    return float(skm.average_precision_score(y.astype(int), p)) if _two_classes(y) else math.nan


def _hard(p, threshold):
    return (p >= threshold).astype(int)


def _mcc(y, p, threshold):
    # both classes' counts enter MCC; sklearn returns 0 where it is undefined
    return float(skm.matthews_corrcoef(y.astype(int), _hard(p, threshold)))


def _f1(y, p, threshold):
    return float(skm.f1_score(y.astype(int), _hard(p, threshold), zero_division=0))


def _accuracy(y, p, threshold):
    return float(skm.accuracy_score(y.astype(int), _hard(p, threshold)))


def _varies(y, p) -> bool:
    return len(y) >= 2 and np.ptp(y) > 0 and np.ptp(p) > 0


def _pearson(y, p, threshold):
    return float(stats.pearsonr(y, p)[0]) if _varies(y, p) else math.nan


def _spearman(y, p, threshold):
    return float(stats.spearmanr(y, p)[0]) if _varies(y, p) else math.nan


def _rmse(y, p, threshold):
    return float(np.sqrt(np.mean((p - y) ** 2)))


def _mae(y, p, threshold):
    return float(np.mean(np.abs(p - y)))


def _r2(y, p, threshold):
    return float(skm.r2_score(y, p)) if len(y) >= 2 and np.ptp(y) > 0 else math.nan


_C, _R = "classification", "regression"
UNIT, CORR = (0.0, 1.0), (-1.0, 1.0)
REGISTRY: dict[str, Metric] = {m.name: m for m in (
    Metric("auroc", _C, "maximize", UNIT, 0.5, _auroc, rm.auroc, about="area under the ROC curve"),
    Metric("auprc", _C, "maximize", UNIT, None, _auprc, rm.auprc,
           about="average precision (chance is the positive share)"),
    Metric("mcc", _C, "maximize", CORR, 0.0, _mcc, rm.mcc, "chosen",
           about="Matthews correlation at the threshold chosen on validation"),
    Metric("mcc@0.5", _C, "maximize", CORR, 0.0, _mcc, rm.mcc, "fixed",
           about="Matthews correlation at 0.5, as benchmarks without a tuned threshold report it"),
    Metric("f1", _C, "maximize", UNIT, None, _f1, rm.f1, "chosen", about="F1 at the threshold chosen on validation"),
    Metric("accuracy", _C, "maximize", UNIT, None, _accuracy, rm.accuracy, "chosen",
           about="accuracy at the threshold chosen on validation (chance depends on the balance)"),
    Metric("rmse", _R, "minimize", (0.0, math.inf), None, _rmse, rm.rmse, about="root mean squared error"),
    Metric("mae", _R, "minimize", (0.0, math.inf), None, _mae, rm.mae, about="mean absolute error"),
    Metric("r2", _R, "maximize", (-math.inf, 1.0), 0.0, _r2, rm.r2, about="coefficient of determination"),
    Metric("pearson", _R, "maximize", CORR, 0.0, _pearson, rm.pearson, about="Pearson correlation"),
    Metric("spearman", _R, "maximize", CORR, 0.0, _spearman, rm.spearman, about="Spearman rank correlation"),
)}
# the validation loss the loop reports: a selection metric, not a test metric (no entry to score with)
LOSS = "loss"


def check_task(task: str | None) -> str:
    if task not in TASKS:
        raise UserInputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def names(task: str) -> tuple[str, ...]:
    """The metrics of ``task``, in the order tables show them."""
    task = check_task(task)
    return tuple(n for n, m in REGISTRY.items() if m.task == task)


def get(name: str) -> Metric:
    """The entry for ``name``; an unknown name is a user error listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserInputError(f"unknown metric {name!r}; known: {', '.join([*REGISTRY, LOSS])}") from None


def direction(name: str) -> Direction:
    return "minimize" if name == LOSS else get(name).direction


def bounds(name: str) -> tuple[float, float]:
    return REGISTRY[name].bounds if name in REGISTRY else (-math.inf, math.inf)


def chance(name: str) -> float | None:
    return REGISTRY[name].chance if name in REGISTRY else None


def check(task: str, name: str) -> str:
    """``name`` after checking it applies to ``task`` (``loss`` applies to both)."""
    if name == LOSS:
        return name
    metric = get(name)
    if metric.task != check_task(task):
        raise UserInputError(f"metric {name!r} does not apply to {task}; use one of "
                             f"{', '.join([*names(task), LOSS])}")
    return name


def score(name: str, y, p, threshold: float | None = None) -> float:
    """The plain value of one metric on one target (``threshold``: chosen on validation, or None)."""
    metric = get(name)
    return metric.plain(np.asarray(y, np.float64), np.asarray(p, np.float64), metric.at(threshold))


def score_resampled(task: str, y, p, W, threshold: float | None = None,
                    which: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every metric of ``task`` (or ``which``) for each row of ``W``: ``{name: [B]}``.

    ``y``, ``p``: ``[n]`` (one target, no missing label); ``W``: ``[B, n]`` counts; ``threshold``:
    the one chosen on validation for the "chosen" metrics. The ranking sums and the confusion
    counts are computed once and shared by the metrics that need them.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    which = which or names(task)
    if not np.all(np.isfinite(p)):  # a diverged model: every metric undefined, as in training
        return {m: np.full(len(W), np.nan) for m in which}
    shared: dict = {}
    out: dict[str, np.ndarray] = {}
    for name in which:
        metric = get(name)
        if name in ("auroc", "auprc"):
            if "ranking" not in shared:
                shared["ranking"] = rm.ranking_metrics(*rm.ranking_weights(y, p, W))
            out[name] = shared["ranking"][0 if name == "auroc" else 1]
        elif metric.threshold is not None:
            t = metric.at(threshold)
            if t not in shared:
                shared[t] = rm.confusion(y, p, W, t)
            counts = shared[t]
            out[name] = {"f1": rm.f1_from, "accuracy": rm.accuracy_from}.get(name, rm.mcc_from)(*counts)
        else:
            out[name] = metric.resampled(y, p, W, FIXED_THRESHOLD)
    return out


best_threshold = rm.best_threshold

__all__ = ["FIXED_THRESHOLD", "LOSS", "REGISTRY", "TASKS", "Metric", "best_threshold", "bounds", "chance", "check",
           "check_task", "direction", "get", "names", "score", "score_resampled"]
