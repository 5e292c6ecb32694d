"""Tuned ablations: every variant gets its own search before the seeds are run.

``tune: N`` (``create ablation --tune N``) turns an ablation into two stages
held by one study:

* **stage 1, tuning** - ``create`` queues N trials per variant, marked
  ``stage: "tune"`` (user attribute, beside the identity of
  :mod:`.identity`: the variant, the study's first seed, split repeat 0).
  Workers sample their configuration from the spec's ``space`` (the training
  plan's grid when none is given) with the spec's sampler and pruner, on the
  validation metric of the one split - the test part is never read.
* **stage 2, the seeds** - once a variant has no stage-1 trial queued or
  running, the first worker (or ``create``/``status``) that notices picks the
  variant's best COMPLETE stage-1 trial (best validation value, the earlier
  trial on a tie) and queues one trial per split repeat x seed, marked
  ``stage: "final"`` with the chosen configuration in ``tuned_params``: exactly
  the trials an untuned ablation runs, at that configuration. The queueing is
  one database transaction under the study's write lock that inserts only the
  (variant, seed, split) cells still missing (:func:`.queue.enqueue_missing`),
  so any number of workers racing on SQLite or PostgreSQL queue each cell
  once, and a kill between two inserts leaves nothing half-queued.

**The sampler and pruner see one variant's history only.** A learning rate
that suits a GCN says little about a transformer, and a median pruner would
otherwise stop a slow-starting variant's trials for being worse than another
variant's. :class:`VariantSampler` therefore plans each stage-1 trial's
configuration in a throwaway in-memory study that holds only the same
variant's stage-1 trials (complete, pruned and running ones, so TPE's
constant liar still spreads parallel workers apart) and runs the spec's
sampler there; :class:`VariantPruner` does the same for the spec's pruner.
Both use Optuna's public API only (``BaseSampler``/``BasePruner``,
``create_study``, ``add_trials``, ``ask``). Hyperband is refused: its brackets
are keyed by trial number, which the per-variant copies renumber.

The report compares stage-2 trials only; stage-1 trials never enter a verdict
(:func:`final_trials`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

from pepland_hpo.hpo.study._identity import identity_attrs, trial_identity
from pepland_hpo.hpo.study._samplers import search_sampler

STAGE = "stage"
TUNE = "tune"
FINAL = "final"
TUNED_PARAMS = "tuned_params"
# User attributes a re-queued copy of a tuned-ablation trial must keep (see queue._KEEP_ON_REQUEUE).
KEEP_ON_REQUEUE = (STAGE, "tune_index", TUNED_PARAMS, "tuned_from")

# The default search grid: the space of a tuned ablation whose spec gives none
# (studies/search.yaml ships the same grid for `create search`).
PLAN_GRID: dict[str, list[Any]] = {
    "hidden_dim": [128, 256, 512],
    "num_layers": [4, 6, 8, 12],
    "num_heads": [4, 8, 16],
    "dropout": [0.0, 0.1, 0.2],
    "lr": [1e-5, 5e-5, 1e-4, 5e-4],
    "temperature": [0.05, 0.07, 0.1, 0.2],
}


# --------------------------------------------------------------------------- the spec


def default_space(settings) -> dict[str, list[Any]]:
    """A tuned ablation's space when its spec gives none: :data:`PLAN_GRID` less the fixed settings."""
    return {k: list(v) for k, v in PLAN_GRID.items() if k not in settings}


def suggest_for(spec) -> Callable[[Any, str], dict[str, Any]]:
    """What the worker asks a stage-1 trial for: the spec's space, suggested for ``variant`` (conditional
    parameters included, :func:`.space.suggest`)."""
    from pepland_hpo.hpo.study._space import suggest

    fixed = spec.training_settings()
    return lambda trial, variant: suggest(trial, spec.space, variant, fixed)


# --------------------------------------------------------------------------- trial roles


def stage_of(trial) -> str | None:
    return (getattr(trial, "user_attrs", None) or {}).get(STAGE)


def is_tuning(trial) -> bool:
    return stage_of(trial) == TUNE


def final_trials(trials: Iterable) -> list:
    """The trials a report compares: everything but stage-1 (tuning) trials."""
    return [t for t in trials if not is_tuning(t)]


def tuned_params(trial) -> dict[str, Any]:
    """The configuration a stage-2 trial runs at (empty for any other trial)."""
    return dict((getattr(trial, "user_attrs", None) or {}).get(TUNED_PARAMS) or {})


def tuning_attrs(variant: str, seed: int, index: int) -> dict[str, Any]:
    return {**identity_attrs(variant, seed, 0), STAGE: TUNE, "tune_index": int(index)}


def final_attrs(variant: str, seed: int, repeat: int, params: dict[str, Any], source: int) -> dict[str, Any]:
    return {**identity_attrs(variant, seed, repeat), STAGE: FINAL, TUNED_PARAMS: dict(params),
            "tuned_from": int(source)}


def _variant(trial) -> str | None:
    ident = trial_identity(trial)
    return ident.variant if ident else None


def enqueue_tuning(study, spec, trials: list[FrozenTrial]) -> tuple[int, int]:
    """Queue the stage-1 trials that are missing (``tune`` per variant); ``(queued, already present)``."""
    present = {(_variant(t), t.user_attrs.get("tune_index")) for t in trials if is_tuning(t)}
    queued = already = 0
    for variant in spec.variants:
        for k in range(int(spec.tune)):
            if (variant, k) in present:
                already += 1
                continue
            study.enqueue_trial({}, user_attrs=tuning_attrs(variant, spec.seeds[0], k))
            queued += 1
    return queued, already


# --------------------------------------------------------------------------- progress and the switch


def _open(trial) -> bool:
    return trial.state in (TrialState.WAITING, TrialState.RUNNING)


def _counted(trial) -> bool:
    # a failed attempt whose copy went back to the queue does not use up the budget
    return not (trial.state == TrialState.FAIL and trial.user_attrs.get("requeued"))


def best_tuning_trial(trials: Iterable[FrozenTrial], variant: str, direction: str) -> FrozenTrial | None:
    """The variant's stage-1 trial with the best validation value (COMPLETE only; earlier wins a tie)."""
    done = [t for t in trials if is_tuning(t) and _variant(t) == variant and t.state == TrialState.COMPLETE
            and t.value is not None and math.isfinite(t.value)]
    if not done:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(done, key=lambda t: (sign * float(t.value), t.number))


def best_for_status(trials: Iterable[FrozenTrial], direction: str) -> tuple[FrozenTrial | None, str | None]:
    """The trial ``status`` shows as a tuned ablation's best, and its stage: the best COMPLETE stage-2
    trial once any exists (the runs the report compares), else the best stage-1 trial (``"tune"``).

    ``study.best_trial`` would mix the stages: a stage-1 value is the luckiest of N draws, chosen and
    measured on the same split and seed, so it tends to beat every stage-2 value.
    """
    sign = -1.0 if direction == "maximize" else 1.0
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    for stage in (FINAL, TUNE):
        of_stage = [t for t in done if stage_of(t) == stage]
        if of_stage:
            return min(of_stage, key=lambda t: (sign * float(t.value), t.number)), stage
    return None, None


def progress(trials: list[FrozenTrial], spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per variant: ``stage`` (``tuning``, ``seeds``, ``done`` or ``tuning failed``), the stage-1 trials
    finished of ``tune``, the stage-2 trials complete of planned, and the chosen configuration."""
    tune = int(spec.get("tune") or 0)
    out: dict[str, dict[str, Any]] = {}
    direction = spec.get("direction") or "maximize"
    for variant in spec.get("variants") or []:
        stage1 = [t for t in trials if is_tuning(t) and _variant(t) == variant]
        stage2 = [t for t in trials if stage_of(t) == FINAL and _variant(t) == variant]
        finished = sum(1 for t in stage1 if not _open(t) and _counted(t))
        best = best_tuning_trial(stage1, variant, direction)
        cells = {(i.seed, i.split_repeat) for t in stage2 if t.state == TrialState.COMPLETE
                 and (i := trial_identity(t)) is not None}
        if any(_open(t) for t in stage1) or not stage1:
            stage = "tuning"
        elif best is None:
            stage = "tuning failed"
        elif any(_open(t) for t in stage2) or not stage2:
            stage = "seeds"
        else:
            stage = "done"
        out[variant] = {
            "stage": stage, "tuned": finished, "tune": tune,
            "seeds_done": len(cells), "seeds_planned": len({(i.seed, i.split_repeat) for t in stage2
                                                            if (i := trial_identity(t)) is not None}),
            "best_trial": best.number if best else None, "best_value": best.value if best else None,
            "params": dict(best.params) if best else {},
            "complete": sum(t.state == TrialState.COMPLETE for t in stage1),
            "pruned": sum(t.state == TrialState.PRUNED for t in stage1),
            "failed": sum(t.state == TrialState.FAIL and _counted(t) for t in stage1),
        }
    return out


def describe_progress(p: dict[str, Any]) -> str:
    """One variant's stage for ``status``: ``tuning 2/3``, ``seeds 1/3`` ..."""
    if p["stage"] == "tuning":
        return f"tuning {p['tuned']}/{p['tune']}"
    if p["stage"] == "tuning failed":
        return f"tuning failed ({p['failed']} failed, {p['pruned']} pruned, none complete)"
    return f"{'seeds' if p['stage'] == 'seeds' else 'done'} {p['seeds_done']}/{p['seeds_planned']}"


def advance(study, rdb) -> dict[str, int]:
    """Queue stage 2 of every variant whose tuning is over; ``{variant: trials queued now}``.

    ``rdb``: the study's ``RDBStorage`` (the queueing is one SQL transaction).
    Safe to call from any number of processes at once (see the module docstring);
    a call that finds nothing to do costs one read of the study's trials.
    """
    from pepland_hpo.hpo.study._identity import study_splits
    from pepland_hpo.hpo.queue import enqueue_missing

    spec = study.user_attrs.get("spec") or {}
    if spec.get("kind") != "ablation" or not spec.get("tune"):
        return {}
    trials = study.get_trials(deepcopy=False)
    direction = spec.get("direction") or study.direction.name.lower()
    n_splits = max(1, len(study_splits(study.user_attrs)))
    queued: dict[str, int] = {}
    for variant, p in progress(trials, spec).items():
        if p["stage"] not in ("seeds", "done") or p["seeds_planned"] >= n_splits * len(spec["seeds"]):
            continue  # still tuning, nothing to run, or every cell already queued
        best = best_tuning_trial(trials, variant, direction)
        rows = [final_attrs(variant, seed, repeat, best.params, best.number)
                for repeat in range(n_splits) for seed in spec["seeds"]]
        n = enqueue_missing(rdb, rdb.get_study_id_from_name(study.study_name), rows,
                            (STAGE, "variant", "seed", "split_repeat"))
        if n:
            queued[variant] = n
    return queued


# --------------------------------------------------------------------------- sampler and pruner


def inner_spec(spec):
    """The spec as the search its sampler and pruner are built for (not validated: only they read it)."""
    return spec.model_copy(update={"kind": "search", "tune": None})


def variant_study(study, trial: FrozenTrial, states: tuple, sampler=None, pruner=None) -> optuna.Study:
    """An in-memory study holding the stage-1 trials of ``trial``'s variant in ``states``, ``trial`` excluded."""
    variant = _variant(trial)
    history = [t for t in study.get_trials(deepcopy=False, states=states)
               if is_tuning(t) and _variant(t) == variant and t.number != trial.number]
    tmp = optuna.create_study(direction=study.direction, sampler=sampler, pruner=pruner,
                              study_name=f"{study.study_name}:{variant}")
    tmp.add_trials(history)
    return tmp


class VariantSampler(optuna.samplers.BaseSampler):
    """The spec's sampler, run on the history of the trial's own variant only.

    The first parameter a stage-1 trial asks for plans all of them: a fresh
    inner sampler (the spec's, seeded from the worker seed and the trial
    number) runs :func:`.space.suggest` on a trial of the variant's in-memory study, and
    the real trial then receives exactly those values. Conditional spaces stay
    consistent because the same ``suggest`` runs on both. Trials of other
    stages ask for nothing.
    """

    def __init__(self, spec, seed: int | None = None) -> None:
        self._spec = inner_spec(spec)
        self._seed = seed
        self._suggest = suggest_for(spec)
        self._planned: dict[int, dict[str, Any]] = {}

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def _plan(self, study, trial: FrozenTrial) -> dict[str, Any]:
        seed = None if self._seed is None else (self._seed + trial.number) % 2**32
        tmp = variant_study(study, trial, (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING),
                             sampler=search_sampler(self._spec, seed=seed))
        ask = tmp.ask()
        self._suggest(ask, _variant(trial))
        return dict(ask.params)

    def sample_independent(self, study, trial, param_name, param_distribution):
        if trial.number not in self._planned:
            self._planned = {trial.number: self._plan(study, trial)}  # one trial at a time per worker
        plan = self._planned[trial.number]
        if param_name in plan:
            return plan[param_name]
        # a name only the real trial asked for (cannot happen with the same space): random, honestly
        return optuna.samplers.RandomSampler(seed=self._seed).sample_independent(
            study, trial, param_name, param_distribution)


class VariantPruner(optuna.pruners.BasePruner):
    """The spec's pruner, judging a stage-1 trial against its own variant's stage-1 trials only."""

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self._inner = inner

    def prune(self, study, trial) -> bool:
        if not is_tuning(trial):
            return False  # stage 2 runs every seed to its end, as an untuned ablation does
        tmp = variant_study(study, trial, (TrialState.COMPLETE, TrialState.PRUNED))
        tmp.add_trial(trial)
        return bool(self._inner.prune(tmp, tmp.get_trials(deepcopy=False)[-1]))


# --------------------------------------------------------------------------- report


def tuning_summary(trials: list[FrozenTrial], spec: dict[str, Any]) -> dict[str, Any] | None:
    """What the report says about stage 1: N, sampler, pruner, and per variant the chosen configuration."""
    if not spec.get("tune"):
        return None
    return {
        "tune": int(spec["tune"]),
        "sampler": (spec.get("sampler") or {}).get("kind", "tpe"),
        "pruner": (spec.get("pruner") or {}).get("kind", "none"),
        "space": spec.get("space") or {},
        "seed": (spec.get("seeds") or [0])[0],
        "variants": progress(trials, spec),
    }


def config_text(params: dict[str, Any]) -> str:
    """``hidden_dim=8, lr=0.0001004`` (floats to 4 significant digits; the exact values are in the study)."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def tuning_markdown(summary: dict[str, Any] | None, metric: str) -> list[str]:
    if not summary:
        return []
    out = ["## Tuning (stage 1)", "",
           f"Each variant tuned with {summary['tune']} trials ({summary['sampler']} sampler, "
           f"{summary['pruner']} pruner, each variant's own history) over "
           f"{', '.join(sorted(summary['space']))}, on validation {metric} of split 0, seed {summary['seed']}. "
           "Its best configuration was then run over every split and seed; the comparison above uses those "
           "runs only - the tuning trials never enter it.", "",
           f"| variant | stage | chosen configuration | best val {metric} | tuning trials complete / pruned / failed |",
           "| --- | --- | --- | --- | --- |"]
    for variant, p in summary["variants"].items():
        config = config_text(p["params"]) or "-"
        best = "-" if p["best_value"] is None else f"{p['best_value']:.4f} (trial {p['best_trial']})"
        out.append(f"| {variant} | {describe_progress(p)} | {config} | {best} | "
                   f"{p['complete']} / {p['pruned']} / {p['failed']} |")
    return out + [""]


__all__ = ["PLAN_GRID", "VariantPruner", "VariantSampler", "advance", "best_for_status", "best_tuning_trial",
           "config_text",
           "default_space", "describe_progress", "enqueue_tuning", "final_trials", "inner_spec", "is_tuning",
           "progress", "stage_of", "suggest_for", "tuned_params", "tuning_markdown", "tuning_summary",
           "variant_study"]
