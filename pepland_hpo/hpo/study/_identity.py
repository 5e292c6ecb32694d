"""What an ablation trial stands for, and the splits a study trains on.

A queued ablation trial carries its identity - ``variant``, ``seed`` and
``split_repeat`` (which of the study's repeated splits it trains on) - as user
attributes set when it is queued. They are deliberately *not* Optuna
parameters: a categorical parameter's choices are frozen by the first trial
that suggests it, so adding a seed or a variant to a running study would make
every later ``suggest_categorical`` fail ("dynamic value space"), and the
dashboard's importance panel would rank ``seed`` as if it were a
hyperparameter.

Studies created before this convention stored ``variant`` and ``seed`` as
parameters (and as queued ``fixed_params``); every reader goes through
:func:`trial_identity`, which falls back to those, so old studies still read.
Such studies have one split, so their ``split_repeat`` is 0.

A study's splits: the user attribute ``split`` is repeat 0 (as it always
was); a study with ``split.repeats`` > 1 also stores ``splits``, the list of
all repeats in order. A study on given partitions (``split.kind: given``)
stores them the same way, in order, and names them in ``partition_names``;
its trials' ``split_repeat`` is the partition's index.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple


class Identity(NamedTuple):
    variant: str
    seed: int
    split_repeat: int


def _lookup(trial, key: str) -> Any:
    user = getattr(trial, "user_attrs", None) or {}
    if key in user:
        return user[key]
    params = getattr(trial, "params", None) or {}
    if key in params:
        return params[key]
    system = getattr(trial, "system_attrs", None) or {}
    return (system.get("fixed_params") or {}).get(key)


def trial_identity(trial) -> Identity | None:
    """``(variant, seed, split_repeat)`` of a trial (frozen or not); None when it names none."""
    variant, seed = _lookup(trial, "variant"), _lookup(trial, "seed")
    if variant is None or seed is None:
        return None
    repeat = _lookup(trial, "split_repeat")
    try:
        return Identity(str(variant), int(seed), int(repeat or 0))
    except (TypeError, ValueError):
        return None


def lost_pairs(trials: Iterable) -> list[dict[str, Any]]:
    """The (variant, seed, split) pairs of an ablation that can no longer complete: every attempt
    failed or was pruned and none is queued or running (retries and re-queues used up).

    Stage-1 (tuning) trials are not pairs. Each entry: ``variant``, ``seed``, ``split``,
    ``trials`` (the attempts' numbers) and ``reason`` (the last attempt's failure reason).
    """
    attempts: dict[Identity, list] = {}
    for trial in trials:
        ident = trial_identity(trial)
        if ident is not None and (getattr(trial, "user_attrs", None) or {}).get("stage") != "tune":
            attempts.setdefault(ident, []).append(trial)
    lost = []
    for ident, group in attempts.items():
        if any(t.state.name in ("COMPLETE", "RUNNING", "WAITING") for t in group):
            continue
        group = sorted(group, key=lambda t: t.number)
        reason = group[-1].user_attrs.get("failure_reason") or group[-1].user_attrs.get("pruned_reason") \
            or group[-1].state.name.lower()
        lost.append({"variant": ident.variant, "seed": ident.seed, "split": ident.split_repeat,
                     "trials": [t.number for t in group], "reason": str(reason)})
    return sorted(lost, key=lambda p: (p["variant"], p["split"], p["seed"]))


def identity_attrs(variant: str, seed: int, split_repeat: int) -> dict[str, Any]:
    """The user attributes a queued ablation trial is created with."""
    return {"variant": str(variant), "seed": int(seed), "split_repeat": int(split_repeat)}


def study_splits(study_attrs: Mapping[str, Any]) -> list[dict[str, list[int]]]:
    """Every split of a study, repeat 0 first; empty when the study stores none."""
    splits = study_attrs.get("splits")
    if isinstance(splits, list) and splits:
        return [dict(s) for s in splits]
    split = study_attrs.get("split")
    if isinstance(split, Mapping) and {"train", "valid", "test"} <= set(split):
        return [dict(split)]
    return []


def partition_names(study_attrs: Mapping[str, Any]) -> list[str] | None:
    """The names of a study's given partitions, in split order; None for made splits."""
    names = study_attrs.get("partition_names")
    return [str(n) for n in names] if isinstance(names, list) else None


def split_label(study_attrs: Mapping[str, Any], repeat: int) -> str:
    """How a person names split ``repeat``: its partition's name, else its number."""
    names = partition_names(study_attrs)
    return f"partition {names[repeat]!r}" if names and 0 <= repeat < len(names) else f"split {repeat}"


__all__ = ["Identity", "identity_attrs", "lost_pairs", "partition_names", "split_label", "study_splits",
           "trial_identity"]
