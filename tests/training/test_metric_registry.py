"""The metric registry: every entry's two implementations agree, thresholds follow the entry's rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.training import metric_registry as reg
from pepland_hpo.training.metrics import compute_metrics


def _data(task: str, n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    if task == "classification":
        y = (rng.random(n) < 0.35).astype(float)
        p = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1).round(2)  # rounded: ties, as real scores have
    else:
        y = rng.normal(size=n)
        p = (y + rng.normal(scale=0.8, size=n)).round(1)
    return y, p


def _counts(n: int, b: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(b)]).astype(float)
    return np.vstack([np.ones(n), W])


@pytest.mark.parametrize("name", list(reg.REGISTRY))
def test_resampled_equals_plain_on_each_materialised_resample(name):
    metric = reg.get(name)
    y, p = _data(metric.task)
    W = _counts(len(y), 6)
    chosen = 0.62  # a validation-chosen threshold away from 0.5, so the rules differ
    fast = reg.score_resampled(metric.task, y, p, W, threshold=chosen, which=(name,))[name]
    assert fast.shape == (len(W),)
    for b, w in enumerate(W):
        rows = np.repeat(np.arange(len(y)), w.astype(int))
        slow = reg.score(name, y[rows], p[rows], threshold=chosen)
        assert fast[b] == pytest.approx(slow, abs=1e-9), (name, b)
        lo, hi = metric.bounds
        assert lo - 1e-12 <= slow <= hi + 1e-12


def test_mcc_at_half_ignores_the_chosen_threshold_and_mcc_uses_it():
    y = np.array([0, 0, 0, 1, 1, 1], float)
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.45])  # ranks perfectly, but every score is below 0.5
    assert reg.score("mcc@0.5", y, p, threshold=0.32) == 0.0
    assert reg.score("mcc", y, p, threshold=0.32) == pytest.approx(1.0)
    assert reg.score("mcc", y, p, threshold=None) == 0.0  # nothing chosen: 0.5
    assert reg.best_threshold(y, p) == pytest.approx(0.325)


def test_every_task_metric_is_in_compute_metrics_and_the_registry_agrees():
    for task in reg.TASKS:
        y, p = _data(task, seed=3)
        got = compute_metrics(task, y, p)
        assert set(got) == set(reg.names(task))
        for name in reg.names(task):
            assert got[name] == pytest.approx(reg.score(name, y, p), nan_ok=True)


def test_directions_bounds_and_chance():
    assert [reg.direction(n) for n in ("auroc", "mcc@0.5", "spearman", "rmse", "loss")] == \
        ["maximize", "maximize", "maximize", "minimize", "minimize"]
    assert reg.chance("auroc") == 0.5 and reg.chance("mcc") == 0.0 and reg.chance("auprc") is None
    assert reg.bounds("r2") == (-math.inf, 1.0)
    assert reg.get("rmse").better(0.1, 0.2) and not reg.get("auroc").better(math.nan, 0.2)


def test_unknown_or_misplaced_metric_is_a_user_error_naming_it():
    with pytest.raises(UserInputError, match="unknown metric 'aucroc'.*mcc@0.5"):
        reg.get("aucroc")
    with pytest.raises(UserInputError, match="'spearman' does not apply to classification"):
        reg.check("classification", "spearman")
    assert reg.check("regression", "loss") == "loss"


def test_degenerate_resamples_are_nan_not_errors():
    y = np.ones(5)
    p = np.full(5, 0.7)
    W = np.ones((2, 5))
    out = reg.score_resampled("classification", y, p, W)
    assert np.isnan(out["auroc"]).all() and (out["mcc"] == 0).all()
    out = reg.score_resampled("regression", np.arange(5.0), p, W)
    assert np.isnan(out["pearson"]).all() and np.isnan(out["spearman"]).all()
