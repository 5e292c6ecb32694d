"""Build small ablation studies directly through Optuna, shaped like the worker's output.

The report must work on what workers write (the contract in docs/ARCHITECTURE.md),
not on what a running worker happens to do today, so these tests create
trials with exactly those attributes and no worker in the loop.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

VARIANTS = ["gcn", "graphormer", "performer"]
SEEDS = [0, 1, 2]
PARAM_COUNTS = {"gcn": 12_345, "graphormer": 23_456, "performer": 23_999}


def make_ablation_study(
    storage_url: str,
    name: str = "abl",
    variants=VARIANTS,
    seeds=SEEDS,
    fail: dict[tuple[str, int], str] | None = None,
    data: str = "data.csv",
    split: dict | None = None,
    rng_seed: int = 0,
    target: str | None = "label",
) -> optuna.Study:
    """One COMPLETE trial per (variant, seed) unless listed in ``fail`` (then FAIL with that reason)."""
    fail = fail or {}
    rng = np.random.default_rng(rng_seed)
    study = optuna.create_study(study_name=name, storage=storage_url, direction="maximize")
    spec = {
        "kind": "ablation",
        "metric": "auroc",
        "direction": "maximize",
        "task": "classification",
        "target": target,
        "data": data,
        "split": {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0},
        "variants": list(variants),
        "seeds": list(seeds),
    }
    study.set_user_attr("kind", "ablation")
    study.set_user_attr("spec", spec)
    study.set_user_attr("data_hash", "0" * 64)
    study.set_user_attr("split", split or {"train": [0, 1], "valid": [2], "test": [3]})
    dists = {
        "variant": CategoricalDistribution(list(variants)),
        "seed": IntDistribution(min(seeds), max(seeds)),
    }
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    for i, variant in enumerate(variants):
        for seed in seeds:
            base = 0.70 + 0.03 * i
            val = {m: float(base + rng.normal(0, 0.02)) for m in ("auroc", "mcc", "auprc")}
            test = {m: float(base - 0.01 + rng.normal(0, 0.02)) for m in ("auroc", "mcc", "auprc")}
            attrs = {"variant": variant, "seed": seed, "param_count": PARAM_COUNTS.get(variant, 1000)}
            params = {"variant": variant, "seed": seed}
            t0 = start + dt.timedelta(minutes=10 * (i * len(seeds) + seed))
            reason = fail.get((variant, seed))
            if reason:
                study.add_trial(
                    create_trial(
                        state=TrialState.FAIL, params=params, distributions=dists,
                        user_attrs={**attrs, "failure_reason": reason},
                    )
                )
                continue
            attrs.update(
                epochs_run=5,
                seconds_per_epoch=2.0 + i,
                epoch_seconds=[2.0 + i] * 5,
                val_metrics=val,
                test_metrics=test,
            )
            trial = create_trial(
                state=TrialState.COMPLETE, value=val["auroc"], params=params, distributions=dists,
                user_attrs=attrs, intermediate_values={e: val["auroc"] - 0.01 * (5 - e) for e in range(5)},
            )
            trial.datetime_start = t0
            trial.datetime_complete = t0 + dt.timedelta(seconds=60 * (i + 1))
            study.add_trial(trial)
    return study
