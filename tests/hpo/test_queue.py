"""The queue's primitives on their own, against real storages: transition, claim, fail-and-requeue, hand-back."""

from __future__ import annotations

import threading

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryFailedTrialCallback
from optuna.trial import TrialState, create_trial

from pepland_hpo.hpo.queue import _claims as queue
from pepland_hpo.hpo.queue import engine, tables
from pepland_hpo.hpo.queue import open_storage


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, sqlite_url):
    if request.param == "sqlite":
        return sqlite_url
    return request.getfixturevalue("pg_url")


def _queued(url: str, n: int):
    """A study with ``n`` WAITING trials, each with a param and an identity; (storage, study_id, trial ids)."""
    rdb = open_storage(url, create=True)
    optuna.create_study(study_name="q", storage=rdb)
    sid = rdb.get_study_id_from_name("q")
    ids = []
    for i in range(n):
        template = create_trial(state=TrialState.WAITING, params={"lr": 1.0 / (i + 1)},
                                distributions={"lr": FloatDistribution(0.0, 1.0)},
                                user_attrs={"variant": "gcn", "seed": i, "split_repeat": 0})
        ids.append(rdb.create_new_trial(sid, template_trial=template))
    return rdb, sid, ids


def _heartbeats(rdb, trial_id: int) -> int:
    import sqlalchemy as sa

    beats = tables().heartbeats
    with engine(rdb).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(beats).where(beats.c.trial_id == trial_id)).scalar_one()


# --------------------------------------------------------------------------- transition


def test_transition_moves_only_from_the_expected_state(url):
    rdb, _sid, (tid,) = _queued(url, 1)
    assert queue.transition(rdb, tid, TrialState.WAITING, TrialState.RUNNING) is True
    trial = rdb.get_trial(tid)
    assert trial.state == TrialState.RUNNING and trial.datetime_start is not None
    # a wrong old state changes nothing and says so
    assert queue.transition(rdb, tid, TrialState.WAITING, TrialState.RUNNING) is False
    assert queue.transition(rdb, tid, TrialState.COMPLETE, TrialState.FAIL) is False
    assert rdb.get_trial(tid).state == TrialState.RUNNING
    assert queue.transition(rdb, tid, TrialState.RUNNING, TrialState.FAIL) is True
    trial = rdb.get_trial(tid)
    assert trial.state == TrialState.FAIL and trial.datetime_complete is not None
    assert queue.transition(rdb, tid, TrialState.RUNNING, TrialState.FAIL) is False  # only once


def test_transition_of_a_missing_trial_is_refused(url):
    rdb, _sid, (tid,) = _queued(url, 1)
    assert queue.transition(rdb, tid + 1000, TrialState.WAITING, TrialState.RUNNING) is False


# --------------------------------------------------------------------------- claim


def test_claim_takes_each_waiting_trial_once_oldest_first_with_a_heartbeat(url):
    rdb, sid, ids = _queued(url, 3)
    claimed = [queue.claim_waiting(rdb, sid) for _ in range(3)]
    assert claimed == ids  # oldest first, none twice
    assert queue.claim_waiting(rdb, sid) is None  # the queue is empty
    for tid in ids:
        assert rdb.get_trial(tid).state == TrialState.RUNNING
        assert _heartbeats(rdb, tid) == 1  # written with the claim: a killed claimer leaves a stale trial
    assert queue.count_running(rdb, sid) == 3


def test_claim_skips_trials_that_are_not_waiting(url):
    rdb, sid, ids = _queued(url, 3)
    queue.transition(rdb, ids[0], TrialState.WAITING, TrialState.RUNNING)  # another worker has it
    assert queue.claim_waiting(rdb, sid) == ids[1]


def test_claim_prefers_requeued_trials(url):
    rdb, sid, ids = _queued(url, 4)
    first = queue.claim_waiting(rdb, sid)
    copy = queue.fail_and_requeue(rdb, first, {"failure_reason": "crashed"}, "retry_history")
    assert copy and copy > ids[-1]  # the copy is the newest trial...
    assert queue.claim_waiting(rdb, sid) == copy  # ...and is claimed before the older fresh ones
    assert queue.claim_waiting(rdb, sid) == ids[1]


def test_concurrent_claimers_never_share_a_trial(sqlite_url):
    rdb, sid, ids = _queued(sqlite_url, 24)
    got: list[list[int]] = [[] for _ in range(4)]

    def claimer(k: int) -> None:
        own = open_storage(sqlite_url)  # each claimer its own connection pool, as separate workers have
        while (tid := queue.claim_waiting(own, sid)) is not None:
            got[k].append(tid)

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    everything = [tid for part in got for tid in part]
    assert sorted(everything) == sorted(ids)  # every trial claimed, none twice


# --------------------------------------------------------------------------- fail and requeue


def test_fail_and_requeue_writes_the_failure_and_an_identical_copy_at_once(url):
    rdb, sid, ids = _queued(url, 2)
    tid = queue.claim_waiting(rdb, sid)
    queue.set_user_attrs(rdb, tid, {"host": "h", "worker_pid": 1, "epochs_run": 3})
    new = queue.fail_and_requeue(rdb, tid, {"failure_reason": "crashed: worker lost"}, "retry_history")
    failed, copy = rdb.get_trial(tid), rdb.get_trial(new)
    assert failed.state == TrialState.FAIL and failed.user_attrs["requeued"] is True
    assert failed.user_attrs["failure_reason"] == "crashed: worker lost"
    assert _heartbeats(rdb, tid) == 0
    assert copy.state == TrialState.WAITING and copy.number == 2
    assert copy.params == failed.params and copy.distributions == failed.distributions
    # identity and lineage are kept, what described the failed attempt is not
    assert copy.user_attrs == {"variant": "gcn", "seed": 0, "split_repeat": 0, "retry_history": [0],
                               "requeued_from": 0}
    assert RetryFailedTrialCallback.retried_trial_number(copy) == 0  # Optuna's own reading of a retry
    assert RetryFailedTrialCallback.retry_history(copy) == [0]
    # another reaper arriving second changes nothing
    assert queue.fail_and_requeue(rdb, tid, {"failure_reason": "again"}, "retry_history") is None
    assert len(rdb.get_all_trials(sid)) == 3


def test_fail_without_history_queues_no_copy(url):
    rdb, sid, _ids = _queued(url, 1)
    tid = queue.claim_waiting(rdb, sid)
    assert queue.fail_and_requeue(rdb, tid, {"failure_reason": "retries used up"}, None) == 0
    assert rdb.get_trial(tid).state == TrialState.FAIL
    assert rdb.get_trial(tid).user_attrs["requeued"] is False
    assert len(rdb.get_all_trials(sid)) == 1


def test_fail_and_requeue_refuses_a_trial_that_is_not_running(url):
    rdb, sid, ids = _queued(url, 1)
    assert queue.fail_and_requeue(rdb, ids[0], {"failure_reason": "x"}, "retry_history") is None
    assert rdb.get_trial(ids[0]).state == TrialState.WAITING
    assert len(rdb.get_all_trials(sid)) == 1


def test_handback_queues_a_copy_that_is_not_a_retry(url):
    rdb, sid, _ids = _queued(url, 1)
    tid = queue.claim_waiting(rdb, sid)
    assert queue.handback(rdb, tid, "worker stopped", {"epochs_run": 2}) is True
    failed = rdb.get_trial(tid)
    assert failed.user_attrs["failure_reason"] == "interrupted" and failed.user_attrs["epochs_run"] == 2
    (copy,) = [t for t in rdb.get_all_trials(sid) if t.state == TrialState.WAITING]
    assert copy.user_attrs["handback_history"] == [0] and "retry_history" not in copy.system_attrs
    assert RetryFailedTrialCallback.retried_trial_number(copy) is None  # no retry used up
    assert queue.handback(rdb, tid, "twice", {}) is False
    assert queue.budget_used(rdb.get_all_trials(sid)) == 1  # the interrupted attempt does not count


def test_user_attrs_of_a_finished_trial_are_refused(url):
    rdb, sid, _ids = _queued(url, 1)
    tid = queue.claim_waiting(rdb, sid)
    queue.set_user_attrs(rdb, tid, {"a": 1, "b": [1, 2]})
    assert {k: rdb.get_trial(tid).user_attrs[k] for k in ("a", "b")} == {"a": 1, "b": [1, 2]}
    rdb.set_trial_state_values(tid, TrialState.COMPLETE, [0.5])
    with pytest.raises(UpdateFinishedTrialError):
        queue.set_user_attrs(rdb, tid, {"late": True})
