"""The sampler and pruner of a search, as its spec names them.

A staged ablation (``tune``) wraps these per variant (:mod:`._tuning`), and
:func:`pepland_hpo.hpo.study.build_sampler` chooses between the two; keeping the
plain ones here lets the tuning stage build them without importing the spec
module that imports it.
"""

from __future__ import annotations

import warnings

import optuna

from pepland_hpo.training.config import TrainConfig


def search_sampler(spec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    cfg = spec.sampler
    if cfg.kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=cfg.multivariate,
            group=cfg.group,
            constant_liar=cfg.constant_liar,  # parallel workers must not pile onto one point
            n_startup_trials=cfg.n_startup_trials,
        )


def search_pruner(spec) -> optuna.pruners.BasePruner:
    cfg = spec.pruner
    if cfg.kind == "none":
        return optuna.pruners.NopPruner()
    if cfg.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=cfg.n_startup_trials, n_warmup_steps=cfg.n_warmup_steps)
    epochs = int(spec.settings.get("epochs", TrainConfig().epochs))
    return optuna.pruners.HyperbandPruner(
        min_resource=cfg.min_resource, max_resource=epochs, reduction_factor=cfg.reduction_factor,
    )


__all__ = ["search_pruner", "search_sampler"]
