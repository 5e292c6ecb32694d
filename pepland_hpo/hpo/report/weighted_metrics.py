"""The report's metrics, computed for many bootstrap resamples at once.

A bootstrap resample of ``n`` molecules is a vector of counts (how often each
molecule was drawn), so ``B`` resamples are a ``[B, n]`` weight matrix ``W``
and every metric is a weighted statistic of the fixed predictions. Sorting the
predictions once and summing weights per tied group gives AUROC, average
precision and Spearman's rank correlation for all ``B`` resamples in
O(B·n) after one O(n log n) sort - exactly (ties included) what
scikit-learn / scipy return on the materialised resample, which the tests
check. A row of ones is the original sample.

Classification metrics take P(class 1); MCC and F1 binarise at ``threshold``
(the report picks it on validation). Undefined values are ``nan`` (one class
only, constant predictions), matching :func:`pepland_hpo.training.metrics.compute_metrics`,
except that MCC and F1 are 0 where their denominator vanishes (scikit-learn's
convention).
"""

from __future__ import annotations

import numpy as np

CLASSIFICATION = ("auroc", "auprc", "mcc", "f1")
REGRESSION = ("rmse", "mae", "r2", "spearman")
# the range each metric lives in: intervals and chance lines are drawn inside it
BOUNDS = {"auroc": (0.0, 1.0), "auprc": (0.0, 1.0), "mcc": (-1.0, 1.0), "f1": (0.0, 1.0),
          "spearman": (-1.0, 1.0), "r2": (-np.inf, 1.0), "rmse": (0.0, np.inf), "mae": (0.0, np.inf)}


def metric_names(task: str) -> tuple[str, ...]:
    return REGRESSION if task == "regression" else CLASSIFICATION


def _groups(values: np.ndarray, descending: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, starts, group_of_sorted)``: a stable sort and where each run of equal values starts."""
    order = np.argsort(-values if descending else values, kind="stable")
    sv = values[order]
    starts = np.concatenate(([0], np.flatnonzero(sv[1:] != sv[:-1]) + 1))
    group = np.zeros(len(sv), dtype=np.int64)
    group[starts[1:]] = 1
    return order, starts, np.cumsum(group)


def _group_sums(W: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    sw = W[:, order]
    if len(starts) == sw.shape[1]:  # no ties: every molecule is its own group
        return sw
    # a cumulative sum read at each group's end (np.add.reduceat along rows is ~10x slower)
    ends = np.concatenate((starts[1:], [sw.shape[1]])) - 1
    cs = np.cumsum(sw, axis=1)[:, ends]
    cs[:, 1:] -= cs[:, :-1].copy()
    return cs


def _divide(num: np.ndarray, den: np.ndarray, empty: float = np.nan) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _ranking(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of positives and negatives per group of equal predictions, ascending: ``[B, g]`` each."""
    order, starts, _ = _groups(p)
    if len(starts) == len(p):  # no ties (the usual case): no group sums needed
        wo = W[:, order]
        pos = wo * y[order]
        return pos, wo - pos
    pos = _group_sums(W * y, order, starts)
    return pos, _group_sums(W, order, starts) - pos


def ranking_metrics(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(auroc, average precision)`` from :func:`_ranking`'s group weights, sharing the cumulative sums."""
    cp, cn = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    n_pos, n_neg = cp[:, -1], cn[:, -1]
    # AUROC: each positive beats the negatives strictly below it and ties half of its own group
    u = np.einsum("ij,ij->i", pos, cn) - 0.5 * np.einsum("ij,ij->i", pos, neg)
    auroc = _divide(u, n_pos * n_neg)
    # AP = Σ_k pos_k · precision_k / P; counts at or above threshold k = total − strictly below
    tp = n_pos[:, None] - cp + pos
    predicted = tp + (n_neg[:, None] - cn + neg)
    ap = _divide(np.einsum("ij,ij->i", pos, _divide(tp, predicted, 0.0)), n_pos)
    return auroc, ap


def auroc_from(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    return ranking_metrics(pos, neg)[0]


def auprc_from(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision as scikit-learn defines it: Σ (R_k − R_{k−1}) P_k, thresholds from the top."""
    return ranking_metrics(pos, neg)[1]


def auroc(y, p, W) -> np.ndarray:
    return auroc_from(*_ranking(y, p, W))


def auprc(y, p, W) -> np.ndarray:
    return auprc_from(*_ranking(y, p, W))


def _confusion(y, p, W, threshold):
    hard = (p >= threshold).astype(np.float64)
    tp, fp, fn, tn = (W @ np.stack([y * hard, (1 - y) * hard, y * (1 - hard), (1 - y) * (1 - hard)], axis=1)).T
    return tp, fp, fn, tn


def mcc_from(tp, fp, fn, tn) -> np.ndarray:
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return _divide(tp * tn - fp * fn, den, 0.0)


def f1_from(tp, fp, fn, tn) -> np.ndarray:
    return _divide(2 * tp, 2 * tp + fp + fn, 0.0)


def mcc(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return mcc_from(*_confusion(y, p, W, threshold))


def f1(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return f1_from(*_confusion(y, p, W, threshold))


def _weighted_ranks(v: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Mid-ranks each molecule would get in each resample (duplicates are ties)."""
    order, starts, group = _groups(v)
    g = _group_sums(W, order, starts)
    mid = np.cumsum(g, axis=1) - g + (g + 1) / 2
    ranks = np.empty_like(W, dtype=np.float64)
    ranks[:, order] = mid[:, group]
    return ranks


def _weighted_pearson(a: np.ndarray, b: np.ndarray, W: np.ndarray) -> np.ndarray:
    n = W.sum(axis=1, keepdims=True)
    ma, mb = (W * a).sum(axis=1, keepdims=True) / n, (W * b).sum(axis=1, keepdims=True) / n
    da, db = a - ma, b - mb
    cov = (W * da * db).sum(axis=1)
    var = (W * da * da).sum(axis=1) * (W * db * db).sum(axis=1)
    return _divide(cov, np.sqrt(var))


def spearman(y, p, W) -> np.ndarray:
    return _weighted_pearson(_weighted_ranks(y, W), _weighted_ranks(p, W), W)


def rmse(y, p, W) -> np.ndarray:
    return np.sqrt(_divide(W @ (p - y) ** 2, W.sum(axis=1)))


def mae(y, p, W) -> np.ndarray:
    return _divide(W @ np.abs(p - y), W.sum(axis=1))


def r2(y, p, W) -> np.ndarray:
    n = W.sum(axis=1, keepdims=True)
    mean = (W * y).sum(axis=1, keepdims=True) / n
    sst = (W * (y - mean) ** 2).sum(axis=1)
    return 1.0 - _divide(W @ (p - y) ** 2, sst)


def weighted_metrics(task: str, y: np.ndarray, p: np.ndarray, W: np.ndarray, threshold: float = 0.5,
                     names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every metric of ``task`` for each row of ``W``: ``{name: [B]}``.

    ``y``, ``p``: ``[n]`` (one target, no missing label); ``W``: ``[B, n]`` counts.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    names = names or metric_names(task)
    out: dict[str, np.ndarray] = {}
    if not np.all(np.isfinite(p)):  # a diverged model: every metric undefined, as in training
        return {m: np.full(len(W), np.nan) for m in names}
    if task != "regression":
        if {"auroc", "auprc"} & set(names):
            ranked = ranking_metrics(*_ranking(y, p, W))
        if {"mcc", "f1"} & set(names):
            counts = _confusion(y, p, W, threshold)
        fns = {"auroc": lambda: ranked[0], "auprc": lambda: ranked[1],
               "mcc": lambda: mcc_from(*counts), "f1": lambda: f1_from(*counts)}
    else:
        fns = {"rmse": lambda: rmse(y, p, W), "mae": lambda: mae(y, p, W), "r2": lambda: r2(y, p, W),
               "spearman": lambda: spearman(y, p, W)}
    for m in names:
        out[m] = fns[m]()
    return out


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The decision threshold with the highest MCC on these (validation) predictions.

    Candidates are the midpoints between distinct predictions plus 0.5; an
    uncalibrated model whose probabilities all sit on one side of 0.5 gets a
    threshold where its ranking actually separates the classes.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(y)
    y, p = y[ok], p[ok]
    if len(np.unique(y)) < 2:
        return 0.5
    u = np.unique(p)
    cands = np.concatenate(([0.5], (u[1:] + u[:-1]) / 2)) if len(u) > 1 else np.array([0.5])
    hard = (p[None, :] >= cands[:, None]).astype(np.float64)  # [C, n]
    tp, fp = hard @ y, hard @ (1 - y)
    fn, tn = y.sum() - tp, (1 - y).sum() - fp
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    score = _divide(tp * tn - fp * fn, den, 0.0)
    return float(cands[int(np.argmax(score))])  # ties: the first, 0.5 when it is among the best


__all__ = ["BOUNDS", "CLASSIFICATION", "REGRESSION", "best_threshold", "metric_names", "weighted_metrics"]
