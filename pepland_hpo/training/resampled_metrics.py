"""Metrics for many bootstrap resamples at once: one value per row of a weight matrix.

A bootstrap resample of ``n`` molecules is a vector of counts (how often each
molecule was drawn), so ``B`` resamples are a ``[B, n]`` weight matrix ``W``
and every metric is a weighted statistic of the fixed predictions. Sorting the
predictions once and summing weights per tied group gives AUROC, average
precision and Spearman's rank correlation for all ``B`` resamples in
O(B·n) after one O(n log n) sort - exactly (ties included) what
scikit-learn / scipy return on the materialised resample, which the tests
check. A row of ones is the original sample.

Every function takes ``(y, p, W)`` - labels ``[n]``, predictions ``[n]``
(P(class 1) for classification), counts ``[B, n]`` - plus ``threshold`` for
the ones that binarise, and returns ``[B]``. Undefined values are ``nan``
(one class only, constant predictions), except that MCC and F1 are 0 where
their denominator vanishes (scikit-learn's convention).

The registry (:mod:`pepland_hpo.training.metric_registry`) names these beside
the plain implementations; the report's bootstrap calls them through it.
"""

from __future__ import annotations

import numpy as np


def _groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, starts, group_of_sorted)``: a stable sort and where each run of equal values starts."""
    order = np.argsort(values, kind="stable")
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


def divide(num: np.ndarray, den: np.ndarray, empty: float = np.nan) -> np.ndarray:
    """``num / den`` with ``empty`` where ``den`` is 0 (no warning)."""
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def ranking_weights(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of positives and negatives per group of equal predictions, ascending: ``[B, g]`` each."""
    order, starts, _ = _groups(p)
    if len(starts) == len(p):  # no ties (the usual case): no group sums needed
        wo = W[:, order]
        pos = wo * y[order]
        return pos, wo - pos
    pos = _group_sums(W * y, order, starts)
    return pos, _group_sums(W, order, starts) - pos


def ranking_metrics(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(auroc, average precision)`` from :func:`ranking_weights`, sharing the cumulative sums."""
    cp, cn = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    n_pos, n_neg = cp[:, -1], cn[:, -1]
    # AUROC: each positive beats the negatives strictly below it and ties half of its own group
    u = np.einsum("ij,ij->i", pos, cn) - 0.5 * np.einsum("ij,ij->i", pos, neg)
    auroc = divide(u, n_pos * n_neg)
    # AP = Σ_k pos_k · precision_k / P; counts at or above threshold k = total − strictly below
    tp = n_pos[:, None] - cp + pos
    predicted = tp + (n_neg[:, None] - cn + neg)
    ap = divide(np.einsum("ij,ij->i", pos, divide(tp, predicted, 0.0)), n_pos)
    return auroc, ap


def auroc(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return ranking_metrics(*ranking_weights(y, p, W))[0]


def auprc(y, p, W, threshold: float = 0.5) -> np.ndarray:
    """Average precision as scikit-learn defines it: Σ (R_k − R_{k−1}) P_k, thresholds from the top."""
    return ranking_metrics(*ranking_weights(y, p, W))[1]


def confusion(y, p, W, threshold: float) -> tuple[np.ndarray, ...]:
    """``(tp, fp, fn, tn)`` weights per resample, predicting class 1 where ``p >= threshold``."""
    hard = (p >= threshold).astype(np.float64)
    tp, fp, fn, tn = (W @ np.stack([y * hard, (1 - y) * hard, y * (1 - hard), (1 - y) * (1 - hard)], axis=1)).T
    return tp, fp, fn, tn


def mcc_from(tp, fp, fn, tn) -> np.ndarray:
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return divide(tp * tn - fp * fn, den, 0.0)


def f1_from(tp, fp, fn, tn) -> np.ndarray:
    return divide(2 * tp, 2 * tp + fp + fn, 0.0)


def accuracy_from(tp, fp, fn, tn) -> np.ndarray:
    return divide(tp + tn, tp + fp + fn + tn)


def mcc(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return mcc_from(*confusion(y, p, W, threshold))


def f1(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return f1_from(*confusion(y, p, W, threshold))


def accuracy(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return accuracy_from(*confusion(y, p, W, threshold))


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
    va, vb = (W * da * da).sum(axis=1), (W * db * db).sum(axis=1)
    # a side that is constant (its variance is rounding noise) has no correlation, as scipy says
    flat = (va <= 1e-12 * (W * a * a).sum(axis=1)) | (vb <= 1e-12 * (W * b * b).sum(axis=1))
    return np.where(flat, np.nan, divide(cov, np.sqrt(va * vb)))


def pearson(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return _weighted_pearson(np.broadcast_to(y, W.shape), np.broadcast_to(p, W.shape), W)


def spearman(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return _weighted_pearson(_weighted_ranks(y, W), _weighted_ranks(p, W), W)


def rmse(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return np.sqrt(divide(W @ (p - y) ** 2, W.sum(axis=1)))


def mae(y, p, W, threshold: float = 0.5) -> np.ndarray:
    return divide(W @ np.abs(p - y), W.sum(axis=1))


def r2(y, p, W, threshold: float = 0.5) -> np.ndarray:
    n = W.sum(axis=1, keepdims=True)
    mean = (W * y).sum(axis=1, keepdims=True) / n
    sst = (W * (y - mean) ** 2).sum(axis=1)
    return 1.0 - divide(W @ (p - y) ** 2, sst)


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
    score = mcc_from(tp, fp, fn, tn)
    return float(cands[int(np.argmax(score))])  # ties: the first, 0.5 when it is among the best


__all__ = ["accuracy", "auprc", "auroc", "best_threshold", "confusion", "divide", "f1", "mae", "mcc",
           "pearson", "r2", "ranking_metrics", "ranking_weights", "rmse", "spearman"]
