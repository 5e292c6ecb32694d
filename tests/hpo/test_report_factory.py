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


def make_evidence_study(
    storage_url: str,
    labels: np.ndarray,
    splits: list[dict],
    name: str = "ev",
    variants=VARIANTS,
    seeds=(0, 1),
    signal: dict[str, float] | None = None,
    data: str = "data.csv",
    same_predictions: tuple[str, str] | None = None,
    rng_seed: int = 0,
    task: str = "classification",
) -> optuna.Study:
    """A study shaped like today's workers write it: identity in user attrs, per-molecule predictions.

    ``labels[i]`` is molecule i's class; a variant's predicted probability is a logistic of
    ``signal[variant] * (2y - 1) + noise``. ``same_predictions=(a, b)``: b copies a's predictions.
    """
    from pepland_hpo.hpo.analysis import encode_predictions
    from pepland_hpo.training.metrics import compute_metrics

    rng = np.random.default_rng(rng_seed)
    signal = signal or {v: 0.5 + 0.5 * i for i, v in enumerate(variants)}
    study = optuna.create_study(study_name=name, storage=storage_url, direction="maximize")
    spec = {
        "kind": "ablation", "metric": "auroc" if task == "classification" else "rmse",
        "direction": "maximize" if task == "classification" else "minimize", "task": task,
        "target": "label", "data": data,
        "split": {"kind": "random", "fractions": [0.6, 0.2, 0.2], "seed": 0,
                  **({"repeats": len(splits)} if len(splits) > 1 else {})},
        "variants": list(variants), "seeds": list(seeds), "settings": {"epochs": 5},
    }
    study.set_user_attr("kind", "ablation")
    study.set_user_attr("spec", spec)
    study.set_user_attr("data_hash", "0" * 64)
    study.set_user_attr("split", splits[0])
    if len(splits) > 1:
        study.set_user_attr("splits", splits)
    y = np.asarray(labels, dtype=float)
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    stored: dict[tuple, dict] = {}
    for i, variant in enumerate(variants):
        for r, split in enumerate(splits):
            for seed in seeds:
                if same_predictions and variant == same_predictions[1]:
                    parts = stored[(same_predictions[0], r, seed)]
                else:
                    parts = {}
                    for part in ("valid", "test"):
                        idx = np.asarray(split[part])
                        if task == "regression":  # a prediction that improves with the signal
                            parts[part] = (idx, y[idx], y[idx] + rng.normal(0, 1 / signal[variant], len(idx)))
                            continue
                        z = signal[variant] * (2 * y[idx] - 1) + rng.normal(0, 1, len(idx))
                        parts[part] = (idx, y[idx], 1 / (1 + np.exp(-z)))
                stored[(variant, r, seed)] = parts
                val = compute_metrics(task, parts["valid"][1], parts["valid"][2])
                test = compute_metrics(task, parts["test"][1], parts["test"][2])
                t0 = start + dt.timedelta(minutes=len(stored))
                trial = create_trial(
                    state=TrialState.COMPLETE, value=val[spec["metric"]],
                    user_attrs={"variant": variant, "seed": seed, "split_repeat": r, "param_count": 1000 * (i + 1),
                                "epochs_run": 5, "best_epoch": 5 if variant == variants[0] else 3,
                                "val_metrics": val, "test_metrics": test,
                                "predictions": encode_predictions(parts)},
                    intermediate_values={e: val[spec["metric"]] for e in range(5)},
                )
                trial.datetime_start = t0
                trial.datetime_complete = t0 + dt.timedelta(seconds=30 * (i + 1))
                study.add_trial(trial)
    return study


def random_splits(n: int, repeats: int, seed: int = 0) -> list[dict]:
    out = []
    for r in range(repeats):
        perm = np.random.default_rng(seed + r).permutation(n)
        a, b = int(0.6 * n), int(0.8 * n)
        out.append({"train": sorted(perm[:a].tolist()), "valid": sorted(perm[a:b].tolist()),
                    "test": sorted(perm[b:].tolist())})
    return out
