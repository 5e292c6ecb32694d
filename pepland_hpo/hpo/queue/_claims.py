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
its stale query (database clock, grace period). A
retry is written the way Optuna's ``RetryFailedTrialCallback`` writes one
(same parameters, ``failed_trial`` / ``retry_history`` system attributes,
mirrored as user attributes so the dashboard shows them), but in the same
transaction that fails the lost trial (:func:`fail_and_requeue`), because
two transactions leave a window in which a kill loses the pair for good.

The tables these statements touch are Optuna's, reached only through
:mod:`.optuna_internals`; everything else here uses Optuna's public API.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Iterable

from pepland_hpo.hpo.queue._optuna_internals import engine, stale_trial_ids, tables

log = logging.getLogger(__name__)

# User attributes a queued trial keeps when it is re-queued; everything else
# described the failed attempt.
_KEEP_ON_REQUEUE = ("variant", "seed", "split_repeat", "retry_history", "handback_history", "loss_history",
                    "stage", "tune_index", "tuned_params", "tuned_from")  # hpo.tuning.KEEP_ON_REQUEUE


def _utcnow() -> _dt.datetime:
    # RDBStorage stores naive UTC datetimes.
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def transition_in(conn, trial_id: int, old, new) -> bool:
    """Inside ``conn``'s transaction: move one trial from state ``old`` to ``new`` iff it is still ``old``.

    True if this call made the change. One conditional ``UPDATE``: of two
    processes racing for the same trial exactly one sees a row count of 1.
    Entering RUNNING stamps ``datetime_start``, a finished state ``datetime_complete``.
    """
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials = tables().trials
    values = {"state": new}
    if new == TrialState.RUNNING:
        values["datetime_start"] = _utcnow()
    if new.is_finished():
        values["datetime_complete"] = _utcnow()
    res = conn.execute(sa.update(trials).where(trials.c.trial_id == trial_id, trials.c.state == old).values(**values))
    return res.rowcount == 1


def transition(rdb, trial_id: int, old, new) -> bool:
    """:func:`transition_in` in a transaction of its own; True if this call made the change."""
    with engine(rdb).begin() as conn:
        return transition_in(conn, trial_id, old, new)


def claim_waiting(rdb, study_id: int) -> int | None:
    """Claim a WAITING trial (re-queued ones first, then the oldest): WAITING → RUNNING plus its first
    heartbeat, atomically.

    The heartbeat row is written in the same transaction as the claim, so a
    worker killed right after claiming still leaves a trial that goes stale
    (Optuna ignores RUNNING trials that never had a heartbeat).
    """
    import sqlalchemy as sa
    from optuna.trial import TrialState

    t = tables()
    trials, beats, user_t = t.trials, t.heartbeats, t.user_attrs
    waiting = sa.select(trials.c.trial_id).where(trials.c.study_id == study_id, trials.c.state == TrialState.WAITING)
    with engine(rdb).connect() as conn:
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
        with engine(rdb).begin() as conn:
            if not transition_in(conn, trial_id, TrialState.WAITING, TrialState.RUNNING):
                continue  # another worker won this one
            conn.execute(sa.delete(beats).where(beats.c.trial_id == trial_id))
            conn.execute(sa.insert(beats).values(trial_id=trial_id, heartbeat=sa.func.current_timestamp()))
            return trial_id
    return None


def count_running(rdb, study_id: int) -> int:
    """RUNNING trials of the study (in this worker or any other)."""
    from optuna.trial import TrialState

    return rdb.get_n_trials(study_id, TrialState.RUNNING)


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


def _insert_waiting(conn, trials, study_id: int) -> int:
    """Insert a WAITING trial numbered as Optuna numbers them (its rank in the study); its id."""
    import sqlalchemy as sa
    from optuna.trial import TrialState

    new_id = conn.execute(
        sa.insert(trials).values(study_id=study_id, state=TrialState.WAITING).returning(trials.c.trial_id)
    ).scalar_one()
    count = conn.execute(
        sa.select(sa.func.count()).select_from(trials)
        .where(trials.c.study_id == study_id, trials.c.trial_id < new_id)
    ).scalar_one()
    conn.execute(sa.update(trials).where(trials.c.trial_id == new_id).values(number=count))
    return new_id


def fail_and_requeue(rdb, trial_id: int, attrs: dict, history_key: str | None) -> int | None:
    """RUNNING → FAIL with ``attrs`` and, when ``history_key`` is given, a WAITING copy — one transaction.

    ``history_key`` is ``"retry_history"`` (the trial itself failed: a crash,
    OOM, NaN, an exception; counts against ``max_retries``), ``"loss_history"``
    (its worker was lost: counts against the larger ``max_worker_losses``) or
    ``"handback_history"`` (a stopped worker or a broken machine: counts against nothing).
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
    from optuna.trial import TrialState

    t = tables()
    trials, beats, user_t, system_t, params_t, studies_t = (
        t.trials, t.heartbeats, t.user_attrs, t.system_attrs, t.params, t.studies)
    with engine(rdb).begin() as conn:
        row = conn.execute(
            sa.select(trials.c.study_id, trials.c.number).where(trials.c.trial_id == trial_id)
        ).one_or_none()
        if row is None:
            return None
        study_id, number = row
        # Serialise trial numbering with Optuna's own inserts (it locks the study row the same way).
        conn.execute(sa.select(studies_t.c.study_id).where(studies_t.c.study_id == study_id).with_for_update())
        if not transition_in(conn, trial_id, TrialState.RUNNING, TrialState.FAIL):
            return None
        _upsert_attrs(conn, user_t, trial_id, {**attrs, "requeued": history_key is not None})
        conn.execute(sa.delete(beats).where(beats.c.trial_id == trial_id))
        if history_key is None:
            return 0
        old_user = _read_attrs(conn, user_t, trial_id)
        old_system = _read_attrs(conn, system_t, trial_id)
        new_id = _insert_waiting(conn, trials, study_id)
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
        if history_key in ("retry_history", "loss_history"):
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


def reap_stale(study_id: int, rdb, max_losses: int, exclude: Iterable[int] = ()) -> list[int]:
    """Fail trials whose worker stopped sending heartbeats and queue them again.

    Safe to run from any number of workers (and ``status``) at once: the
    failure and the copy are one transaction that only one process wins
    (:func:`fail_and_requeue`). Returns the numbers of the trials it failed.
    A lost worker is not the trial's fault, so the copy spends no retry; it
    counts against ``max_losses`` (``max_worker_losses``), which only stops a
    trial that takes its worker down every time (e.g. by exhausting the host's memory).
    ``exclude``: trial ids never to reap (the caller's own, whose heartbeat an
    outage may have delayed).
    """
    if rdb.get_heartbeat_interval() is None:
        return []
    grace = rdb.grace_period or 2 * rdb.get_heartbeat_interval()
    reason = f"crashed: worker lost (no heartbeat for {grace}s)"
    skip = set(exclude)
    stale = [t for t in stale_trial_ids(rdb, study_id) if t not in skip]
    return _reap(rdb, stale, reason, max_losses)


def lineage_count(frozen, history_key: str) -> int:
    """How many earlier attempts of this trial's lineage ended the way ``history_key`` counts."""
    return len(frozen.system_attrs.get(history_key) or frozen.user_attrs.get(history_key) or [])


def _reap(rdb, trial_ids: Iterable[int], reason: str, max_losses: int) -> list[int]:
    reaped: list[int] = []
    for trial_id in trial_ids:
        frozen = rdb.get_trial(trial_id)
        losses = lineage_count(frozen, "loss_history")
        will_requeue = losses < max_losses
        final = reason if will_requeue else (
            f"{reason}; its worker was lost {losses + 1} times in a row (max_worker_losses {max_losses}): "
            "the trial may be what kills it (host memory?)")
        done = fail_and_requeue(rdb, trial_id, {"failure_reason": final},
                                "loss_history" if will_requeue else None)
        if done is None:
            continue
        reaped.append(frozen.number)
        if will_requeue:
            log.warning("trial %d: %s; queued again to resume (no retry spent)", frozen.number, reason)
        else:
            log.warning("trial %d: %s", frozen.number, final)
    return reaped


def retry_or_fail(rdb, trial_id: int, attrs: dict, max_retries: int) -> tuple[int | None, bool]:
    """The trial itself failed (crash, OOM, NaN, exception): FAIL it and queue a retry while
    ``max_retries`` allows, in one transaction. ``(fail_and_requeue's answer, whether a retry was queued)``."""
    frozen = rdb.get_trial(trial_id)
    will_retry = lineage_count(frozen, "retry_history") < max_retries
    return fail_and_requeue(rdb, trial_id, attrs, "retry_history" if will_retry else None), will_retry


def reap_dead_local(study_id: int, rdb, host: str, max_losses: int, exclude: Iterable[int] = ()) -> list[int]:
    """Fail and re-queue RUNNING trials whose worker ran on ``host`` and whose process is gone.

    No grace period is needed for these: on the same machine a missing
    process id is proof, where a missing heartbeat is only a hint. This is
    what makes a restarted worker pick its predecessor's trial up at once.
    """
    from optuna.trial import TrialState

    skip = set(exclude)
    dead = []
    for trial in rdb.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs
        if owner.get("host") == host and isinstance(owner.get("worker_pid"), int) and not _pid_alive(owner["worker_pid"]):
            trial_id = rdb.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            if trial_id not in skip:
                dead.append(trial_id)
    return _reap(rdb, dead, "crashed: worker lost (its process is gone)", max_losses)


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


def set_user_attrs(rdb, trial_id: int, attrs: dict) -> None:
    """Trial user attributes through Optuna's public ``set_trial_user_attr``, one call per key.

    Raises ``optuna.exceptions.UpdateFinishedTrialError`` once the trial is
    finished (another process failed it), like Optuna. Nothing needs these
    writes to be atomic with another one, so no direct table write is used:
    the price on SQLite is 20-60 ms for a finished trial's 14 attributes
    against ~2 ms for one multi-row upsert (``scripts/bench/optuna_public_cost.py``),
    nothing next to a trial.
    """
    for key, value in attrs.items():
        rdb.set_trial_user_attr(trial_id, key, value)


def enqueue_missing(rdb, study_id: int, rows: list[dict], key: tuple[str, ...]) -> int:
    """Queue a WAITING trial for each of ``rows`` (its user attributes) whose ``key`` attributes no trial
    of the study has yet - the check and the inserts in one transaction under the study's lock.

    That makes "whoever notices first queues it" exactly-once across processes:
    on SQLite every transaction holds the write lock from its start (``BEGIN
    IMMEDIATE``, see :mod:`.storage`); on PostgreSQL the study row is locked
    ``FOR UPDATE`` as Optuna's own inserts do, so a second caller waits and then
    sees the first one's trials. ``Study.enqueue_trial`` cannot take part in
    such a transaction (it commits its own). Returns how many trials were queued.
    """
    import json

    import sqlalchemy as sa

    t = tables()
    trials, user_t, system_t, studies_t = t.trials, t.user_attrs, t.system_attrs, t.studies
    queued = 0
    with engine(rdb).begin() as conn:
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
            new_id = _insert_waiting(conn, trials, study_id)
            _upsert_attrs(conn, user_t, new_id, row)
            _upsert_attrs(conn, system_t, new_id, {"fixed_params": {}})  # what enqueue_trial writes
            queued += 1
    return queued


__all__ = ["budget_used", "claim_waiting", "count_running", "enqueue_missing", "fail_and_requeue", "handback",
           "lineage_count", "reap_dead_local", "reap_stale", "retry_or_fail", "set_user_attrs", "transition", "transition_in"]
