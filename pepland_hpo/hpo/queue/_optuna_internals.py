"""Every place pepland-hpo relies on Optuna's internals, and why the public API cannot do it.

An Optuna upgrade may change any of these without notice;
``tests/hpo/test_optuna_internals.py`` checks each one (names, signatures,
columns and the behaviour used, on a real SQLite storage) and fails with a
message naming the contact. Everything else goes through Optuna's public API.

1. **The ORM tables** (``optuna.storages._rdb.models``: trials, heartbeats,
   trial user / system attributes, params, studies) — :func:`tables`.
   Used by :mod:`.queue` for the three writes that must be one transaction:

   * the claim: ``UPDATE trials SET state=RUNNING WHERE trial_id=? AND
     state=WAITING`` plus the first heartbeat row. ``Study.ask()`` pops a
     waiting trial by reading then writing (``SELECT ... FOR UPDATE``, a no-op
     on SQLite), so two workers can run the same trial; and a trial that is
     RUNNING without a heartbeat row is never seen as stale by Optuna;
   * fail-and-requeue: RUNNING → FAIL and the WAITING copy with the same
     params and lineage. ``fail_stale_trials`` plus
     ``RetryFailedTrialCallback`` are two transactions: a kill between them
     loses the trial for good;
   * the queue order: re-queued trials (those with a ``requeued_from`` user
     attribute) are claimed first, which needs a join on the attribute table;
   * enqueue-missing (a tuned ablation's stage 2): "which of these trials does
     the study lack" and their inserts, under the study's lock, so racing
     workers queue each once. ``Study.enqueue_trial`` commits on its own.

2. **``RDBStorage._get_stale_trial_ids(study_id)``** — :func:`stale_trial_ids`.
   Which RUNNING trials have outlived the heartbeat grace period, measured by
   the database's clock. The public ``optuna.storages.fail_stale_trials``
   fails them itself, in its own transaction, so the retry could not be
   written together with the failure (1. above).

3. **``RDBStorage.engine``** (a public name, but undocumented) — :func:`engine`:
   the SQLAlchemy engine the writes in 1. run their transactions on.

4. **A study's storage and id** (``Study._storage``, ``Study._study_id``) —
   :func:`study_storage`. Artifact metadata lives in the study's system
   attributes; replacing a report figure blanks the old entry, and Optuna 5
   has no public way to read or write a study's system attributes from a
   ``Study`` (``Study.system_attrs`` / ``set_system_attr`` were removed).

Not internals, but kept in view by the same test: the worker builds
``optuna.Trial(study, trial_id)`` for a trial it claimed itself, and makes
Optuna's cached storage see that trial with the public
``study.get_trials(deepcopy=False, states=(RUNNING,))`` before suggesting
parameters (the cache maps a trial id to its study only for trials it has read).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

# ORM class in optuna.storages._rdb.models → the columns pepland-hpo reads or writes.
ORM_COLUMNS: dict[str, tuple[str, ...]] = {
    "TrialModel": ("trial_id", "number", "study_id", "state", "datetime_start", "datetime_complete"),
    "TrialHeartbeatModel": ("trial_id", "heartbeat"),
    "TrialUserAttributeModel": ("trial_id", "key", "value_json"),
    "TrialSystemAttributeModel": ("trial_id", "key", "value_json"),
    "TrialParamModel": ("trial_id", "param_name", "param_value", "distribution_json"),
    "StudyModel": ("study_id",),
}


@dataclass(frozen=True)
class Tables:
    """The SQLAlchemy ``Table`` objects of Optuna's schema that :mod:`.queue` writes."""

    trials: Any
    heartbeats: Any
    user_attrs: Any
    system_attrs: Any
    params: Any
    studies: Any


@functools.cache
def tables() -> Tables:
    from optuna.storages._rdb import models

    return Tables(
        trials=models.TrialModel.__table__,
        heartbeats=models.TrialHeartbeatModel.__table__,
        user_attrs=models.TrialUserAttributeModel.__table__,
        system_attrs=models.TrialSystemAttributeModel.__table__,
        params=models.TrialParamModel.__table__,
        studies=models.StudyModel.__table__,
    )


def engine(rdb) -> Any:
    """The SQLAlchemy engine of an ``optuna.storages.RDBStorage``."""
    return rdb.engine


def stale_trial_ids(rdb, study_id: int) -> list[int]:
    """Ids of the study's RUNNING trials whose last heartbeat is older than the grace period."""
    return list(rdb._get_stale_trial_ids(study_id))


def study_storage(study) -> tuple[Any, int]:
    """``(storage, study_id)`` of a loaded ``optuna.Study``."""
    return study._storage, study._study_id


__all__ = ["ORM_COLUMNS", "Tables", "engine", "stale_trial_ids", "study_storage", "tables"]
