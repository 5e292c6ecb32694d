"""Recovery of lost trials: one-transaction reaping, retries first, and retries that resume from the last epoch."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from pepland_hpo.hpo.queue import _claims as queue
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker
from pepland_hpo.paths import storage_root



def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _claim_as_dead_local_worker(rdb, study) -> int:
    trial_id = queue.claim_waiting(rdb, rdb.get_study_id_from_name(study.study_name))
    queue.set_user_attrs(rdb, trial_id, {"host": socket.gethostname(), "worker_pid": _dead_pid()})
    return trial_id


def test_reap_window_loses_nothing(sqlite_url, cpp, hpo, monkeypatch):
    """A kill between failing a lost trial and queueing its retry (simulated: an exception there)."""
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1, 2], {**hpo.TINY, "fault": "sleep:0.05"})
    rdb = open_storage(sqlite_url)
    study = optuna.load_study(study_name="ab", storage=rdb)
    sid = rdb.get_study_id_from_name("ab")
    lost = _claim_as_dead_local_worker(rdb, study)

    def killed_here(*_a, **_k):
        raise RuntimeError("worker killed between the two steps")

    with monkeypatch.context() as m:
        m.setattr(queue, "_read_attrs", killed_here)  # runs after RUNNING → FAIL, before the retry insert
        with pytest.raises(RuntimeError, match="between the two steps"):
            queue.reap_dead_local(sid, rdb, socket.gethostname(), max_losses=2)
    # all or nothing: the trial is still RUNNING, so the next reaper sees it again
    assert rdb.get_trial(lost).state == TrialState.RUNNING
    assert len(rdb.get_all_trials(sid)) == 3

    assert queue.reap_dead_local(sid, rdb, socket.gethostname(), max_losses=2) == [0]
    assert queue.reap_dead_local(sid, rdb, socket.gethostname(), max_losses=2) == []  # done once only
    trials = rdb.get_all_trials(sid)
    failed = rdb.get_trial(lost)
    assert failed.state == TrialState.FAIL and failed.user_attrs["requeued"] is True
    assert failed.user_attrs["failure_reason"].startswith("crashed: worker lost")
    (retry,) = [t for t in trials if t.user_attrs.get("requeued_from") == failed.number]
    assert retry.state == TrialState.WAITING and retry.params == failed.params
    assert retry.system_attrs["loss_history"] == [failed.number] and "retry_history" not in retry.system_attrs
    # the retry is claimed before the older fresh trials
    assert queue.claim_waiting(rdb, sid) == rdb.get_trial_id_from_study_id_trial_number(sid, retry.number)
    # the fresh ones still run (the retry is RUNNING under our manual claim)
    summary = run_worker(sqlite_url, "ab", gpu="cpu", worker_name="after", wait=False)
    assert summary.completed == 2
    done = {t.user_attrs["seed"] for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert done == {1, 2}
    # the retry is the same run: queued trials carry their identity as user attributes
    for key in ("variant", "seed", "split_repeat"):
        assert retry.user_attrs.get(key) == failed.user_attrs.get(key)
    assert retry.user_attrs["seed"] == 0  # the first queued pair, claimed by the dead worker


def test_sigkill_at_epoch_5_of_8_resumes_with_the_same_result(sqlite_url, cpp, hpo):
    settings = {**hpo.TINY, "epochs": "8", "checkpoint_every": "1"}
    data = cpp(160)
    hpo.gcn_ablation(sqlite_url, data, [0], settings, name="ab")
    hpo.gcn_ablation(sqlite_url, data, [0], settings, name="ref")
    env = {**os.environ, "PEPLAND_HPO_STORAGE": sqlite_url}
    victim = subprocess.Popen([sys.executable, "-m", "pepland_hpo.cli", "worker", "--study", "ab", "--name", "victim",
                               "--threads", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rdb = open_storage(sqlite_url)
    study = optuna.load_study(study_name="ab", storage=rdb)
    try:
        hpo.wait_for(lambda: len(study.get_trials()[0].intermediate_values) >= 5, timeout=180, interval=0.05)
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.kill()
        victim.wait()
    reported = len(study.get_trials()[0].intermediate_values)
    assert reported < 8, "the trial finished before the kill; make its epochs slower"
    resume_dir = storage_root() / "resume" / "ab"
    assert list(resume_dir.glob("trial-0.pt"))  # what the retry will continue from

    summary = run_worker(sqlite_url, "ab", gpu="cpu", worker_name="rescuer", threads=1)
    assert summary.reaped == 1 and summary.completed == 1  # same host, dead pid: no grace period to wait
    lost, retry = study.get_trials()
    assert lost.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    # an epoch's checkpoint is written before its report reaches the storage, so a kill between
    # the two resumes one epoch past the last reported value
    assert 5 <= retry.user_attrs["resumed_from_epoch"] <= reported + 1
    assert sorted(retry.intermediate_values) == list(range(1, 9))  # earlier epochs reported again
    assert not list(resume_dir.glob("*.pt"))  # removed once finished

    run_worker(sqlite_url, "ref", gpu="cpu", worker_name="reference", threads=1)
    (ref,) = optuna.load_study(study_name="ref", storage=rdb).get_trials()
    assert "resumed_from_epoch" not in ref.user_attrs
    assert retry.value == ref.value
    assert retry.intermediate_values == ref.intermediate_values
    for key in ("best_epoch", "val_metrics", "test_metrics", "param_count"):
        assert retry.user_attrs[key] == ref.user_attrs[key], key


def test_retry_of_a_dead_worker_runs_at_once_on_a_busy_worker_timer(sqlite_url, cpp, hpo):
    """A worker mid-trial reaps a dead local worker's trial from its poll loop, and runs the retry next."""
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1, 2], {**hpo.TINY, "epochs": "4", "fault": "sleep:5"})
    rdb = open_storage(sqlite_url)
    study = optuna.load_study(study_name="ab", storage=rdb)
    (busy,) = hpo.start_workers(1, sqlite_url, "ab", prefix="busy")
    hpo.wait_for(lambda: [t for t in study.get_trials() if t.state == TrialState.RUNNING], timeout=60, interval=0.1)
    (own,) = [t for t in study.get_trials() if t.state == TrialState.RUNNING]
    lost = _claim_as_dead_local_worker(rdb, study)  # a worker that died right after claiming
    t0 = time.monotonic()
    hpo.wait_for(lambda: rdb.get_trial(lost).state == TrialState.FAIL, timeout=60, interval=0.1)
    reaped_after = time.monotonic() - t0
    assert study.get_trials()[own.number].state == TrialState.RUNNING  # reaped while its own trial trained
    assert reaped_after < 5  # the timer (1 s here), not the 10 s grace period
    assert hpo.join_all([busy], timeout=120) == [0]
    trials = study.get_trials()
    (retry,) = [t for t in trials if t.user_attrs.get("requeued_from") == rdb.get_trial(lost).number]
    # the retry ran before the fresh trial that was queued before it
    (fresh,) = [t for t in trials if t.number not in (own.number, retry.number) and t.state == TrialState.COMPLETE]
    assert retry.state == TrialState.COMPLETE and retry.datetime_start < fresh.datetime_start
