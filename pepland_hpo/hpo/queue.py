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

What is reused from Optuna: the heartbeat table and ``record_heartbeat`` and
its stale query ``_get_stale_trial_ids`` (database clock, grace period). A
retry is written the way Optuna's ``RetryFailedTrialCallback`` writes one
(same parameters, ``failed_trial`` / ``retry_history`` system attributes,
mirrored as user attributes so the dashboard shows them), but in the same
transaction that fails the lost trial (:func:`fail_and_requeue`), because
two transactions leave a window in which a kill loses the pair for good.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Iterable

log = logging.getLogger(__name__)

# User attributes a queued trial keeps when it is re-queued; everything else
# described the failed attempt.
_KEEP_ON_REQUEUE = ("variant", "seed", "split_repeat", "retry_history", "handback_history",
                    "stage", "tune_index", "tuned_params", "tuned_from")  # hpo.tuning.KEEP_ON_REQUEUE


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
    """Claim a WAITING trial (re-queued ones first, then the oldest): WAITING → RUNNING plus its first
    heartbeat, atomically.

    The heartbeat row is written in the same transaction as the claim, so a
    worker killed right after claiming still leaves a trial that goes stale
    (Optuna ignores RUNNING trials that never had a heartbeat).
    """
    import sqlalchemy as sa
    from optuna.trial import TrialState

    from optuna.storages._rdb import models

    trials, beats = _tables()
    user_t = models.TrialUserAttributeModel.__table__
    waiting = sa.select(trials.c.trial_id).where(trials.c.study_id == study_id, trials.c.state == TrialState.WAITING)
    with rdb.engine.connect() as conn:
        # Retries and hand-backs first: they are the oldest work, and they resume from a checkpoint.
        requeued = [row[0] for row in conn.execute(
            waiting.where(trials.c.trial_id.in_(
                sa.select(user_t.c.trial_id).where(user_t.c.key == "requeued_from"))
            ).order_by(trials.c.trial_id).limit(64)
        )]
        fresh = [row[0] for row in conn.execute(waiting.order_by(trials.c.trial_id).limit(64))]
        conn.rollback()
    candidates = requeued + [t for t in fresh if t not in requeued]
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


def _upsert_attrs(conn, table, trial_id: int, attrs: dict) -> None:
    """Insert or replace trial attributes (user or system table) inside ``conn``'s transaction."""
    import json

    import sqlalchemy as sa

    for key, value in attrs.items():
        conn.execute(sa.delete(table).where(table.c.trial_id == trial_id, table.c.key == key))
        conn.execute(sa.insert(table).values(trial_id=trial_id, key=key, value_json=json.dumps(value)))


def _read_attrs(conn, table, trial_id: int) -> dict:
    import json

    import sqlalchemy as sa

    rows = conn.execute(sa.select(table.c.key, table.c.value_json).where(table.c.trial_id == trial_id))
    return {k: json.loads(v) for k, v in rows}


def fail_and_requeue(rdb, trial_id: int, attrs: dict, history_key: str | None) -> int | None:
    """RUNNING → FAIL with ``attrs`` and, when ``history_key`` is given, a WAITING copy — one transaction.

    ``history_key`` is ``"retry_history"`` (a lost worker: counts against
    ``max_retries``) or ``"handback_history"`` (a stopped worker: does not).
    Doing both in one transaction means no kill, error or outage can leave a
    failed trial marked ``requeued`` with no copy in the queue: either both
    happened or neither did (and the trial is still RUNNING, so the next
    reaper tries again). The copy has the same parameters, the attributes in
    ``_KEEP_ON_REQUEUE``, its lineage, and ``requeued_from`` (which
    :func:`claim_waiting` uses to run it before fresh trials).

    Returns the copy's trial id, ``0`` when only the failure was recorded, or
    ``None`` when another process changed the trial first.
    """
    import sqlalchemy as sa
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    trials, beats = _tables()
    user_t = models.TrialUserAttributeModel.__table__
    system_t = models.TrialSystemAttributeModel.__table__
    params_t = models.TrialParamModel.__table__
    studies_t = models.StudyModel.__table__
    with rdb.engine.begin() as conn:
        row = conn.execute(
            sa.select(trials.c.study_id, trials.c.number).where(trials.c.trial_id == trial_id)
        ).one_or_none()
        if row is None:
            return None
        study_id, number = row
        # Serialise trial numbering with Optuna's own inserts (it locks the study row the same way).
        conn.execute(sa.select(studies_t.c.study_id).where(studies_t.c.study_id == study_id).with_for_update())
        res = conn.execute(
            sa.update(trials)
            .where(trials.c.trial_id == trial_id, trials.c.state == TrialState.RUNNING)
            .values(state=TrialState.FAIL, datetime_complete=_utcnow())
        )
        if res.rowcount != 1:
            return None
        _upsert_attrs(conn, user_t, trial_id, {**attrs, "requeued": history_key is not None})
        conn.execute(sa.delete(beats).where(beats.c.trial_id == trial_id))
        if history_key is None:
            return 0
        old_user = _read_attrs(conn, user_t, trial_id)
        old_system = _read_attrs(conn, system_t, trial_id)
        new_id = conn.execute(
            sa.insert(trials).values(study_id=study_id, state=TrialState.WAITING).returning(trials.c.trial_id)
        ).scalar_one()
        count = conn.execute(
            sa.select(sa.func.count()).select_from(trials)
            .where(trials.c.study_id == study_id, trials.c.trial_id < new_id)
        ).scalar_one()
        conn.execute(sa.update(trials).where(trials.c.trial_id == new_id).values(number=count))
        conn.execute(
            sa.insert(params_t).from_select(
                ["trial_id", "param_name", "param_value", "distribution_json"],
                sa.select(sa.literal(new_id), params_t.c.param_name, params_t.c.param_value,
                          params_t.c.distribution_json).where(params_t.c.trial_id == trial_id),
            )
        )
        user = {k: v for k, v in old_user.items() if k in _KEEP_ON_REQUEUE}
        user[history_key] = list(user.get(history_key, [])) + [number]
        user["requeued_from"] = number
        system = dict(old_system)
        system[history_key] = list(system.get(history_key, [])) + [number]
        if history_key == "retry_history":
            # what Optuna's RetryFailedTrialCallback.retried_trial_number() reads
            system.setdefault("failed_trial", number)
        _upsert_attrs(conn, user_t, new_id, user)
        _upsert_attrs(conn, system_t, new_id, system)
        return int(new_id)


def handback(rdb, trial_id: int, reason: str, attrs: dict | None = None) -> bool:
    """Fail an interrupted trial (SIGTERM, a full disk...) and queue a copy; it does not count as a retry."""
    done = fail_and_requeue(rdb, trial_id, {"failure_reason": "interrupted", **(attrs or {})}, "handback_history")
    if done:
        log.info("trial (id %d) handed back to the queue (%s)", trial_id, reason)
    return bool(done)


def reap_stale(study, rdb, max_retries: int, exclude: Iterable[int] = ()) -> list[int]:
    """Fail trials whose worker stopped sending heartbeats and queue their retries.

    Safe to run from any number of workers (and ``status``) at once: the
    failure and the retry are one transaction that only one process wins
    (:func:`fail_and_requeue`). Returns the numbers of the trials it failed.
    ``exclude``: trial ids never to reap (the caller's own, whose heartbeat an
    outage may have delayed).
    """
    if rdb.get_heartbeat_interval() is None:
        return []
    grace = rdb.grace_period or 2 * rdb.get_heartbeat_interval()
    reason = f"crashed: worker lost (no heartbeat for {grace}s)"
    skip = set(exclude)
    stale = [t for t in rdb._get_stale_trial_ids(study._study_id) if t not in skip]
    return _reap(rdb, stale, reason, max_retries)


def _reap(rdb, trial_ids: Iterable[int], reason: str, max_retries: int) -> list[int]:
    reaped: list[int] = []
    for trial_id in trial_ids:
        frozen = rdb.get_trial(trial_id)
        will_retry = len(frozen.system_attrs.get("retry_history", [])) < max_retries
        done = fail_and_requeue(rdb, trial_id, {"failure_reason": reason},
                                "retry_history" if will_retry else None)
        if done is None:
            continue
        reaped.append(frozen.number)
        if will_retry:
            log.warning("trial %d: %s; retry queued", frozen.number, reason)
        else:
            log.warning("trial %d: %s; retries used up (%d)", frozen.number, reason, max_retries)
    return reaped


def reap_dead_local(study, rdb, host: str, max_retries: int, exclude: Iterable[int] = ()) -> list[int]:
    """Fail and retry RUNNING trials whose worker ran on ``host`` and whose process is gone.

    No grace period is needed for these: on the same machine a missing
    process id is proof, where a missing heartbeat is only a hint. This is
    what makes a restarted worker pick its predecessor's trial up at once.
    """
    import sqlalchemy as sa
    from optuna.storages._rdb import models
    from optuna.trial import TrialState
    import json

    trials, _ = _tables()
    user_t = models.TrialUserAttributeModel.__table__
    with rdb.engine.connect() as conn:
        running = [r[0] for r in conn.execute(
            sa.select(trials.c.trial_id).where(trials.c.study_id == study._study_id,
                                                trials.c.state == TrialState.RUNNING))]
        owners: dict[int, dict] = {}
        if running:
            for tid, key, value in conn.execute(
                sa.select(user_t.c.trial_id, user_t.c.key, user_t.c.value_json)
                .where(user_t.c.trial_id.in_(running), user_t.c.key.in_(("host", "worker_pid")))
            ):
                owners.setdefault(tid, {})[key] = json.loads(value)
        conn.rollback()
    skip = set(exclude)
    dead = [tid for tid, o in owners.items()
            if tid not in skip and o.get("host") == host and isinstance(o.get("worker_pid"), int) and not _pid_alive(o["worker_pid"])]
    return _reap(rdb, dead, "crashed: worker lost (its process is gone)", max_retries)


def _pid_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet collected by its parent) is as dead as a missing process
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def budget_used(trials: Iterable) -> int:
    """Trials that count against a search budget: all but failed attempts that were re-queued."""
    from optuna.trial import TrialState

    return sum(
        1 for t in trials if not (t.state == TrialState.FAIL and t.user_attrs.get("requeued"))
    )


__all__ = ["budget_used", "claim_waiting", "count_states", "enqueue_missing", "fail_and_requeue", "handback", "reap_dead_local",
           "reap_stale", "transition"]


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


def enqueue_missing(rdb, study_id: int, rows: list[dict], key: tuple[str, ...]) -> int:
    """Queue a WAITING trial for each of ``rows`` (its user attributes) whose ``key`` attributes no trial
    of the study has yet - the check and the inserts in one transaction under the study's lock.

    That makes "whoever notices first queues it" exactly-once across processes:
    on SQLite every transaction holds the write lock from its start (``BEGIN
    IMMEDIATE``, see :mod:`.storage`); on PostgreSQL the study row is locked
    ``FOR UPDATE`` as Optuna's own inserts do, so a second caller waits and then
    sees the first one's trials. Returns how many trials were queued.
    """
    import json

    import sqlalchemy as sa
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    trials, _ = _tables()
    user_t = models.TrialUserAttributeModel.__table__
    system_t = models.TrialSystemAttributeModel.__table__
    studies_t = models.StudyModel.__table__
    queued = 0
    with rdb.engine.begin() as conn:
        conn.execute(sa.select(studies_t.c.study_id).where(studies_t.c.study_id == study_id).with_for_update())
        present: dict[int, dict] = {}
        for tid, k, value in conn.execute(
            sa.select(user_t.c.trial_id, user_t.c.key, user_t.c.value_json)
            .join(trials, trials.c.trial_id == user_t.c.trial_id)
            .where(trials.c.study_id == study_id, user_t.c.key.in_(key))
        ):
            present.setdefault(tid, {})[k] = json.loads(value)
        seen = {tuple(a.get(k) for k in key) for a in present.values()}
        for row in rows:
            ident = tuple(row.get(k) for k in key)
            if ident in seen:
                continue
            seen.add(ident)
            new_id = conn.execute(
                sa.insert(trials).values(study_id=study_id, state=TrialState.WAITING).returning(trials.c.trial_id)
            ).scalar_one()
            count = conn.execute(
                sa.select(sa.func.count()).select_from(trials)
                .where(trials.c.study_id == study_id, trials.c.trial_id < new_id)
            ).scalar_one()
            conn.execute(sa.update(trials).where(trials.c.trial_id == new_id).values(number=count))
            _upsert_attrs(conn, user_t, new_id, row)
            _upsert_attrs(conn, system_t, new_id, {"fixed_params": {}})  # what enqueue_trial writes
            queued += 1
    return queued
