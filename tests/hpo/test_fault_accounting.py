"""Whose fault a failure is: lost workers spend no retry, a stored checkpoint is part of COMPLETE, lost pairs are named."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from pepland_hpo.hpo.queue import _claims as queue
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.queue import EnvironmentFailure
from pepland_hpo.hpo.study import StudySpec
from pepland_hpo.hpo.services import collect_status, render_status
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _lose_worker(rdb, sid: int) -> int:
    """Claim the next trial as a worker on this host whose process is gone, then reap it: one lost worker."""
    trial_id = queue.claim_waiting(rdb, sid)
    queue.set_user_attrs(rdb, trial_id, {"host": socket.gethostname(), "worker_pid": _dead_pid()})
    return trial_id


def _set_spec(url: str, **changes) -> None:
    rdb = open_storage(url)
    sid = rdb.get_study_id_from_name("ab")
    spec = rdb.get_study_user_attrs(sid)["spec"]
    rdb.set_study_user_attr(sid, "spec", {**spec, **changes})
    rdb.engine.dispose()


def test_a_pair_whose_worker_dies_three_times_still_completes(sqlite_url, cpp, hpo):
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1], hpo.TINY)
    rdb = open_storage(sqlite_url)
    sid = rdb.get_study_id_from_name("ab")
    host = socket.gethostname()
    for _ in range(3):  # the same lineage: re-queued copies are claimed first
        _lose_worker(rdb, sid)
        assert len(queue.reap_dead_local(sid, rdb, host, max_losses=8)) == 1
    summary = run_worker(sqlite_url, "ab", gpu="cpu", worker_name="after")
    assert summary.completed == 2
    study = optuna.load_study(study_name="ab", storage=rdb)
    done = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs["seed"] for t in done) == [0, 1]
    (survivor,) = [t for t in done if t.user_attrs.get("loss_history")]
    assert survivor.user_attrs["loss_history"] == [0, 2, 3]
    assert "retry_history" not in survivor.user_attrs and "retry_history" not in survivor.system_attrs
    assert collect_status(sqlite_url, "ab")["studies"][0]["lost_pairs"] == []


def test_a_trial_that_kills_every_worker_stops_at_max_worker_losses_and_is_named(sqlite_url, cpp, hpo):
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1], hpo.TINY)
    _set_spec(sqlite_url, max_worker_losses=2)
    rdb = open_storage(sqlite_url)
    sid = rdb.get_study_id_from_name("ab")
    for _ in range(3):
        _lose_worker(rdb, sid)
        queue.reap_dead_local(sid, rdb, socket.gethostname(), max_losses=2)
    trials = rdb.get_all_trials(sid)
    last = max((t for t in trials if t.state == TrialState.FAIL), key=lambda t: t.number)
    assert last.user_attrs["requeued"] is False
    assert "lost 3 times in a row (max_worker_losses 2)" in last.user_attrs["failure_reason"]
    run_worker(sqlite_url, "ab", gpu="cpu", worker_name="after")  # seed 1 completes

    status = collect_status(sqlite_url, "ab")["studies"][0]
    (pair,) = status["lost_pairs"]
    assert (pair["variant"], pair["seed"], pair["split"], pair["trials"]) == ("gcn", 0, 0, [0, 2, 3])
    text = io.StringIO()
    render_status(collect_status(sqlite_url, "ab"), Console(file=text, width=300))
    assert "gcn seed 0 split 0 can no longer complete" in text.getvalue()
    assert "--retry-failed" in text.getvalue()

    # the report names it too
    from pepland_hpo.hpo.analysis import build_report

    report = build_report(sqlite_url, "ab", reference=False, publish=False)
    assert "**Pairs that can no longer complete**" in report.markdown
    assert "gcn seed 0 split 0 (trials 0, 2, 3:" in report.markdown

    # `create --retry-failed` queues it again, and then it completes
    spec = StudySpec.from_dict(open_storage(sqlite_url).get_study_user_attrs(sid)["spec"])
    assert create_study_from_spec(sqlite_url, spec, retry_failed=True).enqueued == 1
    run_worker(sqlite_url, "ab", gpu="cpu", worker_name="again")
    assert collect_status(sqlite_url, "ab")["studies"][0]["lost_pairs"] == []


def test_a_checkpoint_that_cannot_be_stored_is_never_a_complete_trial(sqlite_url, storage_home, tmpfs, cpp, hpo):
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1], hpo.TINY)
    artifacts = storage_home / "artifacts"
    filler = hpo.fill(tmpfs("256k", artifacts))
    with pytest.raises(EnvironmentFailure, match=f"artifact folder {artifacts}"):
        run_worker(sqlite_url, "ab", gpu="cpu", worker_name="full")
    study = optuna.load_study(study_name="ab", storage=open_storage(sqlite_url))
    trials = study.get_trials()
    assert not [t for t in trials if t.state == TrialState.COMPLETE]
    (attempt,) = [t for t in trials if t.state == TrialState.FAIL]
    assert attempt.user_attrs["requeued"] is True  # handed back: the machine's fault, not the trial's
    assert attempt.user_attrs["failure_reason"].startswith("environment: could not store the checkpoint")
    assert sum(t.state == TrialState.WAITING for t in trials) == 2  # every pair still queued
    filler.unlink()
    assert run_worker(sqlite_url, "ab", gpu="cpu", worker_name="freed").completed == 2
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        assert Path(t.user_attrs["checkpoint"]).is_file()


def test_the_terminal_gets_one_line_and_the_log_file_the_traceback(storage_home, capsys):
    import logging

    from pepland_hpo.hpo.runner import setup_logging, teardown_logging
    from pepland_hpo.paths import logs_dir

    handlers = setup_logging("w1")
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            logging.getLogger("pepland_hpo.worker").exception("trial 3 failed: oom\nTraceback (child): ...")
        logging.getLogger("pepland_hpo.worker").info("trial 4 complete")
    finally:
        teardown_logging(handlers)
    terminal = capsys.readouterr().err.splitlines()
    log_file = logs_dir() / "worker-w1.log"
    assert len(terminal) == 2 and "Traceback" not in "\n".join(terminal)
    assert terminal[0].endswith(f"trial 3 failed: oom (details in {log_file})")
    assert terminal[1].endswith("[w1] trial 4 complete")
    text = log_file.read_text()
    assert "Traceback (child)" in text and "OSError: [Errno 28] No space left on device" in text


def test_durations_and_status_are_right_at_utc_plus_8(sqlite_url, cpp, hpo, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Shanghai")  # the training plan's users
    time.tzset()
    try:
        hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1], {**hpo.TINY, "fault": "sleep:0.5"})
        started = time.monotonic()
        run_worker(sqlite_url, "ab", gpu="cpu", worker_name="cst")
        wall = time.monotonic() - started
        study = optuna.load_study(study_name="ab", storage=open_storage(sqlite_url))
        for t in study.get_trials():
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
            assert 0 < seconds <= wall, seconds
        status = collect_status(sqlite_url, "ab")["studies"][0]
        assert 0 < status["compute_seconds"] <= 2 * wall
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
