"""Each contact with Optuna's internals (pepland_hpo/hpo/optuna_internals.py) still holds in the installed Optuna.

When one fails after an Optuna upgrade, its message names the contact; adapt
that function (and only it), then run the queue and worker tests.
"""

from __future__ import annotations

import datetime as dt
import inspect

import optuna
import pytest
import sqlalchemy as sa
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from pepland_hpo.hpo.queue import _optuna_internals as oi
from pepland_hpo.hpo.queue import _claims as queue
from pepland_hpo.hpo.queue import open_storage

WHERE = f"Optuna {optuna.__version__}: pepland_hpo/hpo/optuna_internals.py must be adapted"


def _study(url: str, n: int = 2):
    rdb = open_storage(url, create=True)
    optuna.create_study(study_name="oi", storage=rdb)
    sid = rdb.get_study_id_from_name("oi")
    for i in range(n):
        rdb.create_new_trial(sid, template_trial=create_trial(
            state=TrialState.WAITING, params={"lr": 0.5}, distributions={"lr": FloatDistribution(0.0, 1.0)},
            user_attrs={"seed": i}))
    return rdb, sid


@pytest.mark.parametrize("model, columns", sorted(oi.ORM_COLUMNS.items()))
def test_orm_tables_have_the_columns_we_write(model, columns):
    try:
        from optuna.storages._rdb import models
    except ImportError as exc:  # pragma: no cover - only after an incompatible upgrade
        pytest.fail(f"{WHERE} (contact 1): optuna.storages._rdb.models is gone: {exc}")
    cls = getattr(models, model, None)
    assert cls is not None, f"{WHERE} (contact 1): optuna.storages._rdb.models.{model} is gone"
    missing = [c for c in columns if c not in cls.__table__.c]
    assert not missing, f"{WHERE} (contact 1): table {cls.__table__.name} lost column(s) {missing}"


def test_tables_maps_each_orm_class():
    t = oi.tables()
    names = {"trials": "trials", "heartbeats": "trial_heartbeats", "user_attrs": "trial_user_attributes",
             "system_attrs": "trial_system_attributes", "params": "trial_params", "studies": "studies"}
    for field, table in names.items():
        assert getattr(t, field).name == table, f"{WHERE} (contact 1): {field} is now {getattr(t, field).name}"


def test_stale_query_exists_with_the_signature_used():
    method = getattr(optuna.storages.RDBStorage, "_get_stale_trial_ids", None)
    assert method is not None, f"{WHERE} (contact 2): RDBStorage._get_stale_trial_ids is gone"
    params = list(inspect.signature(method).parameters)
    assert params == ["self", "study_id"], f"{WHERE} (contact 2): _get_stale_trial_ids{params}"


def test_stale_query_finds_a_trial_whose_heartbeat_is_old(sqlite_url):
    rdb, sid = _study(sqlite_url)
    tid = queue.claim_waiting(rdb, sid)  # claimed with a heartbeat written by our own INSERT
    other = queue.claim_waiting(rdb, sid)
    assert oi.stale_trial_ids(rdb, sid) == [], f"{WHERE} (contact 2): a fresh heartbeat counted as stale"
    beats = oi.tables().heartbeats
    old = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=3600)
    with oi.engine(rdb).begin() as conn:
        conn.execute(sa.update(beats).where(beats.c.trial_id == tid).values(heartbeat=old))
    assert oi.stale_trial_ids(rdb, sid) == [tid], (
        f"{WHERE} (contact 2): a heartbeat an hour old (rows written by queue.claim_waiting) is not stale")
    rdb.record_heartbeat(tid)  # Optuna's public heartbeat updates the same row
    assert oi.stale_trial_ids(rdb, sid) == []
    assert other not in oi.stale_trial_ids(rdb, sid)


def test_engine_is_the_storage_sqlalchemy_engine(sqlite_url):
    rdb, _sid = _study(sqlite_url, 0)
    eng = oi.engine(rdb)
    assert isinstance(eng, sa.engine.Engine), f"{WHERE} (contact 3): RDBStorage.engine is {type(eng)}"
    with eng.connect() as conn:
        assert "trials" in sa.inspect(conn).get_table_names()


def test_rows_written_through_the_tables_read_back_through_the_public_api(sqlite_url):
    """What the queue writes directly is what Optuna itself would have written."""
    rdb, sid = _study(sqlite_url)
    tid = queue.claim_waiting(rdb, sid)
    queue.set_user_attrs(rdb, tid, {"host": "h"})
    new = queue.fail_and_requeue(rdb, tid, {"failure_reason": "lost"}, "retry_history")
    study = optuna.load_study(study_name="oi", storage=rdb)
    by_id = {rdb.get_trial_id_from_study_id_trial_number(sid, t.number): t for t in study.get_trials()}
    assert by_id[tid].state == TrialState.FAIL and by_id[tid].user_attrs["failure_reason"] == "lost"
    assert by_id[new].state == TrialState.WAITING and by_id[new].params == {"lr": 0.5}
    assert by_id[new].number == 2 and by_id[new].system_attrs["failed_trial"] == 0
    # Optuna numbers its own next trial after our copy, without a clash
    assert rdb.get_trial(rdb.create_new_trial(sid)).number == 3


def test_study_storage_and_id(sqlite_url):
    rdb, sid = _study(sqlite_url, 0)
    study = optuna.load_study(study_name="oi", storage=rdb)
    storage, study_id = oi.study_storage(study)
    assert study_id == sid, f"{WHERE} (contact 4): Study._study_id is {study_id!r}"
    storage.set_study_system_attr(study_id, "k", "v")
    assert rdb.get_study_system_attrs(sid)["k"] == "v", f"{WHERE} (contact 4): Study._storage is not the storage"


def test_a_trial_claimed_behind_the_cache_can_suggest_after_a_public_refresh(sqlite_url):
    """What the worker does for a search trial: claim it, refresh the cache publicly, suggest, tell."""
    rdb = open_storage(sqlite_url, create=True)
    study = optuna.create_study(study_name="c", storage=rdb, sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({})
    study.get_trials()  # the cache has seen the trial WAITING, as a long-running worker's has
    study.enqueue_trial({})  # ... and this one not at all
    sid = rdb.get_study_id_from_name("c")
    for _ in range(2):
        tid = queue.claim_waiting(rdb, sid)
        study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        trial = optuna.Trial(study, tid)
        x = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, x)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
