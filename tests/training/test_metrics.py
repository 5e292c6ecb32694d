"""compute_metrics against direct scikit-learn / scipy calls, and its degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from pepland_hpo.errors import UserInputError
from pepland_hpo.training.metrics import (
    CLASSIFICATION_METRICS,
    METRIC_DIRECTION,
    REGRESSION_METRICS,
    check_metric,
    compute_metrics,
    default_metric,
    is_better,
)


def test_regression_matches_sklearn_and_scipy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    p = y + rng.normal(scale=0.5, size=200)
    m = compute_metrics("regression", y, p)
    assert set(m) == set(REGRESSION_METRICS)
    assert m["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert m["r2"] == pytest.approx(skm.r2_score(y, p))
    assert m["pearson"] == pytest.approx(stats.pearsonr(y, p)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(y, p)[0])


def test_classification_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=300)
    p = np.clip(0.3 * y + rng.uniform(size=300) * 0.7, 0, 1)
    m = compute_metrics("classification", y, p)
    hard = (p >= 0.5).astype(int)
    assert set(m) == set(CLASSIFICATION_METRICS)
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["auprc"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, hard))
    assert m["f1"] == pytest.approx(skm.f1_score(y, hard))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, hard))


def test_single_class_gives_nan_ranking_metrics_not_a_crash():
    m = compute_metrics("classification", [1, 1, 1, 1], [0.2, 0.9, 0.6, 0.7])
    assert math.isnan(m["auroc"]) and math.isnan(m["auprc"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert math.isfinite(m["mcc"]) and math.isfinite(m["f1"])


def test_constant_predictions_and_constant_targets():
    m = compute_metrics("regression", [1.0, 2.0, 3.0, 4.0], [2.5, 2.5, 2.5, 2.5])
    assert math.isnan(m["pearson"]) and math.isnan(m["spearman"])
    assert m["rmse"] == pytest.approx(math.sqrt(1.25))
    m = compute_metrics("regression", [3.0, 3.0, 3.0], [1.0, 2.0, 3.0])
    assert math.isnan(m["r2"]) and math.isnan(m["pearson"])
    m = compute_metrics("regression", [1.0], [1.5])  # one sample: only errors are defined
    assert m["mae"] == pytest.approx(0.5) and math.isnan(m["spearman"])


def test_non_finite_predictions_give_nan():
    m = compute_metrics("classification", [0, 1, 0, 1], [0.1, float("nan"), 0.3, 0.9])
    assert all(math.isnan(v) for v in m.values())
    m = compute_metrics("regression", [0.0, 1.0], [float("inf"), 1.0])
    assert math.isnan(m["rmse"])


def test_multi_target_mean_ignores_missing_labels():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(50, 3))
    p = y + rng.normal(scale=0.3, size=(50, 3))
    y[::4, 0] = np.nan
    y[:, 2] = np.nan  # a target without any label leaves the mean
    m = compute_metrics("regression", y, p)
    known = ~np.isnan(y[:, 0])
    expect = np.mean([
        skm.mean_absolute_error(y[known, 0], p[known, 0]),
        skm.mean_absolute_error(y[:, 1], p[:, 1]),
    ])
    assert m["mae"] == pytest.approx(expect)
    all_missing = compute_metrics("regression", np.full((4, 1), np.nan), np.zeros((4, 1)))
    assert all(math.isnan(v) for v in all_missing.values())


def test_shapes_tasks_and_directions():
    with pytest.raises(ValueError, match="shape"):
        compute_metrics("regression", [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(UserInputError, match="task"):
        compute_metrics("ranking", [1.0], [1.0])
    with pytest.raises(ValueError, match="0/1"):
        compute_metrics("classification", [0, 2], [0.1, 0.9])
    assert default_metric("classification") == "auroc"
    assert default_metric("regression") == "rmse"
    assert METRIC_DIRECTION["rmse"] == "minimize" and METRIC_DIRECTION["auroc"] == "maximize"
    assert all(name in METRIC_DIRECTION for name in REGRESSION_METRICS + CLASSIFICATION_METRICS)
    with pytest.raises(UserInputError, match="auroc"):
        check_metric("regression", "auroc")
    with pytest.raises(UserInputError, match="unknown metric"):
        check_metric("regression", "bogus")
    assert is_better(0.5, float("nan"), "maximize") and not is_better(float("nan"), 0.5, "maximize")
    assert is_better(0.4, 0.5, "minimize") and not is_better(0.5, 0.5, "minimize")
