"""Reading a study for its report: trials by identity, their evidence, the data behind them.

The report is a reader: it never changes a trial's state, so it is safe to run
while workers are busy (rows then show n < planned).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.analysis._evidence import Part, trial_predictions
from pepland_hpo.hpo.study import study_splits, trial_identity

NAN = float("nan")
Cell = tuple[int, int]  # (split repeat, seed)


def open_study(storage_url: str | None, study_name: str) -> optuna.Study:
    from pepland_hpo.hpo.queue import open_storage

    # heartbeat off: a report is a reader and must not look like a worker
    storage = open_storage(storage_url, heartbeat=False)
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise UserInputError(
            f"no study named {study_name!r} in the storage; studies: {', '.join(names) or '(none)'}"
        ) from None


def trials_by_variant(trials: list[FrozenTrial], spec_variants: list[str]) -> dict[str, list[FrozenTrial]]:
    """Trials grouped by variant, in spec order, then variants the spec no longer lists."""
    by_variant: dict[str, list[FrozenTrial]] = defaultdict(list)
    for t in trials:
        ident = trial_identity(t)
        if ident is not None:
            by_variant[ident.variant].append(t)
    order = [str(v) for v in spec_variants]
    order += sorted(v for v in by_variant if v not in order)
    return {v: by_variant.get(v, []) for v in order}


def completed_cells(trials: list[FrozenTrial]) -> dict[Cell, FrozenTrial]:
    """The completed trial of each (split, seed); a re-run's latest completed attempt counts."""
    done: dict[Cell, FrozenTrial] = {}
    for t in sorted(trials, key=lambda t: t.number):
        ident = trial_identity(t)
        if t.state == TrialState.COMPLETE and ident is not None:
            done[(ident.split_repeat, ident.seed)] = t
    return done


def cell_parts(done: dict[Cell, FrozenTrial]) -> dict[Cell, dict[str, Part]]:
    """Stored per-molecule predictions of each completed cell (cells without them are left out)."""
    out = {}
    for cell, t in done.items():
        parts = trial_predictions(t.user_attrs)
        if parts and "test" in parts:
            out[cell] = parts
    return out


def planned_seeds(spec: dict, trials: list[FrozenTrial]) -> list[int]:
    seeds = spec.get("seeds")
    if isinstance(seeds, int):
        return list(range(seeds))
    if isinstance(seeds, (list, tuple)) and seeds:
        return [int(s) for s in seeds]
    return sorted({i.seed for t in trials if (i := trial_identity(t)) is not None})


def splits_of(study: optuna.Study) -> list[dict[str, list[int]]]:
    splits = study_splits(study.user_attrs)
    if not splits:
        raise UserInputError(f"study {study.study_name!r} has no stored split (user attribute 'split')")
    return splits


def metric_value(trial: FrozenTrial, key: str, metric: str, study_metric: str) -> float:
    metrics = trial.user_attrs.get(key) or {}
    value = metrics.get(metric) if isinstance(metrics, dict) else None
    if value is None and key == "val_metrics" and metric == study_metric and trial.value is not None:
        value = trial.value  # the trial value is the validation metric at the best epoch
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN


def duration_s(trial: FrozenTrial) -> float:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return NAN
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def short_reason(reason: str, width: int = 80) -> str:
    reason = " ".join(str(reason).split())
    return reason if len(reason) <= width else reason[: width - 1] + "…"


def recorded_metrics(trials: list[FrozenTrial]) -> set[str]:
    recorded: set[str] = set()
    for t in trials:
        if t.state == TrialState.COMPLETE:
            for key in ("val_metrics", "test_metrics"):
                recorded.update((t.user_attrs.get(key) or {}).keys())
    return recorded


def load_study_data(study: optuna.Study, spec: dict, task: str) -> tuple[Any | None, str]:
    """The study's dataset (for references and the overlap check), or None and why not."""
    data = spec.get("data")
    try:
        from pepland_hpo.data.dataset import load_dataset

        # the same arguments the study's creation used (hpo.spec.load_spec_data), so rows and indices agree
        kwargs = {k: spec[k] for k in ("target", "smiles_col") if spec.get(k) is not None}
        pair = spec.get("pair")
        if pair:  # pairs: the same rows as create's (a row with an unusable protein is out), protein unseen
            from pepland_hpo.data.pairs import load_pair_dataset

            threshold = pair.get("binder_threshold")
            ds = load_pair_dataset(data, pair["protein"], task=None if threshold is not None else task,
                                   protein_input="none", binder_threshold=threshold, **kwargs)
        else:
            ds = load_dataset(data, task=task, **kwargs)
    except Exception as exc:  # missing file, unreadable...: the report says so
        return None, f"{type(exc).__name__}: {exc}"
    expected = study.user_attrs.get("data_hash")
    if expected and getattr(ds, "content_hash", expected) != expected:
        return None, (f"{data} changed since the study was created "
                      f"(hash {str(ds.content_hash)[:12]} != {str(expected)[:12]})")
    return ds, ""


def mean_finite(values) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else NAN


__all__ = ["cell_parts", "completed_cells", "duration_s", "load_study_data", "metric_value", "open_study",
           "planned_seeds", "recorded_metrics", "short_reason", "splits_of", "trials_by_variant"]
