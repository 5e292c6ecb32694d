"""The trial queue: atomic claiming, stale-trial reaping, retries and hand-backs.

Why not ``Study.ask()`` / ``optuna.storages.fail_stale_trials`` as they are:
both do "read the state, then write the new state" (``_pop_waiting_trial_id``
and ``set_trial_state_values`` with ``SELECT ... FOR UPDATE``). On SQLite
``FOR UPDATE`` is a no-op, so two workers can both see a trial WAITING and
both run it, and two reapers can both fail a stale trial and both queue a
retry. Every state transition here is instead one conditional statement,
``UPDATE trials SET state=new WHERE trial_id=? AND state=old``, whose row count
says who won; that is atomic on SQLite and on PostgreSQL (where a concurrent
updater re-checks the WHERE clause after the first commits).

What is reused from Optuna: the heartbeat table and ``record_heartbeat``, its
stale query ``_get_stale_trial_ids`` (database clock, grace period), and
:class:`optuna.storages.RetryHeartbeatStaleTrialCallback` to queue the retry
with its lineage (``failed_trial`` / ``retry_history`` system attributes,
mirrored as user attributes so the dashboard shows them).
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging
import warnings
from typing import Iterable

log = logging.getLogger(__name__)

# User attributes a queued trial keeps when it is re-queued; everything else
# described the failed attempt.
_KEEP_ON_REQUEUE = ("variant", "seed", "split_repeat", "retry_history", "handback_history")


def _tables():
    from optuna.storages._rdb import models

    return models.TrialModel.__table__, models.TrialHeartbeatModel.__table__


def _utcnow() -> _dt.datetime:
    # RDBStorage stores naive UTC datetimes.
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def transition(rdb, trial_id: int, old, new) -> bool:
    """Move one trial from state ``old`` to ``new`` iff it is still ``old``; True if we won."""
    import sqlalchemy as sa

    trials, _ = _tables()
    values = {"state": new}
    if new.is_finished():
        values["datetime_complete"] = _utcnow()
    with rdb.engine.begin() as conn:
        res = conn.execute(
            sa.update(trials).where(trials.c.trial_id == trial_id, trials.c.state == old).values(**values)
        )
        return res.rowcount == 1


def claim_waiting(rdb, study_id: int) -> int | None:
    """Claim the oldest WAITING trial of the study: WAITING → RUNNING plus its first heartbeat, atomically.

    The heartbeat row is written in the same transaction as the claim, so a
    worker killed right after claiming still leaves a trial that goes stale
    (Optuna ignores RUNNING trials that never had a heartbeat).
    """
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials, beats = _tables()
    with rdb.engine.connect() as conn:
        candidates = [
            row[0]
            for row in conn.execute(
                sa.select(trials.c.trial_id)
                .where(trials.c.study_id == study_id, trials.c.state == TrialState.WAITING)
                .order_by(trials.c.trial_id)
                .limit(64)
            )
        ]
        conn.rollback()
    for trial_id in candidates:
        with rdb.engine.begin() as conn:
            res = conn.execute(
                sa.update(trials)
                .where(trials.c.trial_id == trial_id, trials.c.state == TrialState.WAITING)
                .values(state=TrialState.RUNNING, datetime_start=_utcnow())
            )
            if res.rowcount != 1:
                continue  # another worker won this one
            conn.execute(sa.delete(beats).where(beats.c.trial_id == trial_id))
            conn.execute(sa.insert(beats).values(trial_id=trial_id, heartbeat=sa.func.current_timestamp()))
            return trial_id
    return None


def count_states(rdb, study_id: int) -> dict[str, int]:
    import sqlalchemy as sa

    trials, _ = _tables()
    with rdb.engine.connect() as conn:
        rows = conn.execute(
            sa.select(trials.c.state, sa.func.count()).where(trials.c.study_id == study_id).group_by(trials.c.state)
        ).all()
        conn.rollback()
    return {state.name: int(n) for state, n in rows}


def _requeue_template(frozen, history_key: str):
    """A copy of ``frozen`` with the attempt's results stripped and the lineage added."""
    trial = copy.deepcopy(frozen)
    user = {k: v for k, v in frozen.user_attrs.items() if k in _KEEP_ON_REQUEUE}
    history = list(user.get(history_key, [])) + [frozen.number]
    user[history_key] = history
    user["requeued_from"] = frozen.number
    trial.user_attrs = user
    return trial


def handback(study, frozen, reason: str) -> None:
    """Queue a copy of an interrupted trial (SIGTERM / Ctrl-C); it does not count as a retry."""
    import optuna

    trial = _requeue_template(frozen, "handback_history")
    system = dict(frozen.system_attrs)
    system["handback_history"] = list(system.get("handback_history", [])) + [frozen.number]
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=trial.user_attrs,
            system_attrs=system,
        )
    )
    log.info("trial %d handed back to the queue (%s)", frozen.number, reason)


def retry_stale(study, frozen, max_retries: int) -> bool:
    """Queue a retry of a stale trial through Optuna's callback; False when retries are used up."""
    import optuna

    history = list(frozen.system_attrs.get("retry_history", []))
    if len(history) >= max_retries:
        return False
    trial = _requeue_template(frozen, "retry_history")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retries)(study, trial)
    return True


def reap_stale(study, rdb, max_retries: int) -> list[int]:
    """Fail trials whose worker stopped sending heartbeats and queue their retries.

    Safe to run from any number of workers (and ``status``) at once: only the
    process that wins the RUNNING → FAIL transition queues the retry.
    Returns the numbers of the trials it failed.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    if rdb.get_heartbeat_interval() is None:
        return []
    reaped: list[int] = []
    grace = rdb.grace_period or 2 * rdb.get_heartbeat_interval()
    for trial_id in rdb._get_stale_trial_ids(study._study_id):
        frozen = rdb.get_trial(trial_id)
        will_retry = len(frozen.system_attrs.get("retry_history", [])) < max_retries
        try:
            # Say why while it is still RUNNING (finished trials are read-only).
            rdb.set_trial_user_attr(trial_id, "failure_reason", f"crashed: worker lost (no heartbeat for {grace}s)")
            rdb.set_trial_user_attr(trial_id, "requeued", will_retry)
        except UpdateFinishedTrialError:
            continue
        if not transition(rdb, trial_id, TrialState.RUNNING, TrialState.FAIL):
            continue
        frozen = rdb.get_trial(trial_id)
        reaped.append(frozen.number)
        if will_retry:
            retry_stale(study, frozen, max_retries)
            log.warning("trial %d: worker lost; retry queued", frozen.number)
        else:
            log.warning("trial %d: worker lost; retries used up (%d)", frozen.number, max_retries)
    return reaped


def budget_used(trials: Iterable) -> int:
    """Trials that count against a search budget: all but failed attempts that were re-queued."""
    from optuna.trial import TrialState

    return sum(
        1 for t in trials if not (t.state == TrialState.FAIL and t.user_attrs.get("requeued"))
    )


__all__ = ["budget_used", "claim_waiting", "count_states", "handback", "reap_stale", "retry_stale", "transition"]


def set_user_attrs(rdb, trial_id: int, attrs: dict) -> None:
    """Several trial user attributes in one transaction and one statement.

    Optuna's ``set_user_attr`` costs a transaction with two statements per
    attribute; a trial records about fifteen, which on a busy database server
    is what delays heartbeats. Same rows as Optuna writes (JSON in
    ``value_json``), same refusal on finished trials.
    """
    if not attrs:
        return
    import json

    import sqlalchemy as sa
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages._rdb import models

    trials, _ = _tables()
    table = models.TrialUserAttributeModel.__table__
    rows = [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]
    if rdb.engine.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif rdb.engine.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other databases: Optuna's own path
        for key, value in attrs.items():
            rdb.set_trial_user_attr(trial_id, key, value)
        return
    stmt = insert(table).values(rows)
    stmt = stmt.on_conflict_do_update(index_elements=["trial_id", "key"],
                                      set_={"value_json": stmt.excluded.value_json})
    with rdb.engine.begin() as conn:
        state = conn.execute(sa.select(trials.c.state).where(trials.c.trial_id == trial_id)).scalar_one()
        if state.is_finished():
            raise UpdateFinishedTrialError(f"trial {trial_id} is already finished ({state.name})")
        conn.execute(stmt)
