"""Workers on real SQLite / PostgreSQL: real trials, faults, kill -9, SIGTERM, many workers, budget, pruning."""

from __future__ import annotations

import io
import math
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from pepland_hpo.errors import DataHashMismatch
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.study import build_ablation_spec, build_search_spec
from pepland_hpo.hpo.services import collect_status, render_status
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker
from pepland_hpo.paths import logs_dir

REPO = Path(__file__).resolve().parents[2]
ABLATION = REPO / "studies" / "ablation.yaml"
SEARCH = REPO / "studies" / "search.yaml"


def _study(url, name):
    return optuna.load_study(study_name=name, storage=open_storage(url))


def _ablation(url, data, seeds, settings, name="ab", variants=("gcn",)):
    spec = build_ablation_spec(ABLATION, data=str(data), variants=list(variants), seeds=list(seeds),
                               settings=dict(settings), name=name, validate=False)
    # a validation part big enough to hold both classes of a tiny slice (AUROC defined)
    spec.split = {"kind": "stratified", "fractions": [0.5, 0.25, 0.25], "seed": 0}
    create_study_from_spec(url, spec)
    return spec


def _assert_each_pair_complete_once(study, pairs):
    done = Counter(
        (t.user_attrs["variant"], t.user_attrs["seed"]) for t in study.get_trials(states=(TrialState.COMPLETE,))
    )
    assert set(done) == set(pairs), (sorted(done), sorted(pairs))
    assert all(n == 1 for n in done.values()), [p for p, n in done.items() if n > 1]


def _logs_text() -> str:
    return "\n".join(p.read_text() for p in logs_dir().glob("*.log"))


# --------------------------------------------------------------------------- a real ablation


def test_worker_completes_gcn_ablation_with_all_attrs(sqlite_url, cpp, hpo):
    _ablation(sqlite_url, cpp(32), [0, 1], hpo.TINY)
    summary = run_worker(sqlite_url, "ab", gpu="cpu")
    assert summary.completed == 2 and summary.failed == 0
    study = _study(sqlite_url, "ab")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:
        assert math.isfinite(t.value)
        a = t.user_attrs
        for key in ("variant", "seed", "param_count", "device", "host", "worker", "epochs_run",
                    "seconds_per_epoch", "epoch_seconds", "val_metrics", "test_metrics",
                    "checkpoint_artifact", "checkpoint"):
            assert key in a, key
        assert a["variant"] == "gcn" and a["device"] == "cpu" and a["param_count"] > 0
        assert a["epochs_run"] == 1 and len(a["epoch_seconds"]) == 1
        assert Path(a["checkpoint"]).is_file()
        assert t.intermediate_values  # reported each epoch
    assert {t.user_attrs["seed"] for t in trials} == {0, 1}
    # nothing left to do: a second worker exits at once
    assert run_worker(sqlite_url, "ab", gpu="cpu").trials == []


def test_worker_refuses_changed_data(sqlite_url, cpp, hpo):
    data = cpp(24)
    _ablation(sqlite_url, data, [0], hpo.TINY)
    data.write_text(data.read_text() + "KKKKKKKK,1\n")
    with pytest.raises(DataHashMismatch, match="changed since study 'ab' was created"):
        run_worker(sqlite_url, "ab", gpu="cpu")
    assert _study(sqlite_url, "ab").trials[0].state == TrialState.WAITING


def test_faults_are_recorded_retried_and_worker_goes_on(sqlite_url, cpp, hpo):
    settings = {**hpo.TINY, "fault": "oom@0,nan@1,segfault@2", "max_non_finite_steps": "0"}
    _ablation(sqlite_url, cpp(24), [0, 1, 2, 3], settings)
    summary = run_worker(sqlite_url, "ab", gpu="cpu")
    # one worker ran them all; a trial's own failure is retried max_retries (2) times, retries first
    assert summary.trials == [0, 4, 5, 1, 6, 7, 2, 8, 9, 3]
    trials = _study(sqlite_url, "ab").trials
    by_seed: dict[int, list] = {}
    for t in trials:
        by_seed.setdefault(t.user_attrs["seed"], []).append(t)
    for seed, reason in ((0, "oom"), (1, "non_finite_loss"), (2, "crashed: signal 11")):
        attempts = by_seed[seed]
        assert [t.state for t in attempts] == [TrialState.FAIL] * 3
        assert {t.user_attrs["failure_reason"] for t in attempts} == {reason}
        assert [t.user_attrs.get("requeued") for t in attempts] == [True, True, False]
        first = attempts[0].number
        assert attempts[2].user_attrs["retry_history"] == [first, attempts[1].number]
        assert attempts[1].system_attrs["failed_trial"] == first  # Optuna's own lineage too
    (last,) = by_seed[3]
    assert last.state == TrialState.COMPLETE and math.isfinite(last.value)
    status = collect_status(sqlite_url, "ab")["studies"][0]
    assert [(p["variant"], p["seed"]) for p in status["lost_pairs"]] == [("gcn", 0), ("gcn", 1), ("gcn", 2)]
    assert status["lost_pairs"][2]["reason"] == "crashed: signal 11"


# --------------------------------------------------------------------------- worker death and stop


def test_sigkill_worker_trial_is_retried_by_another(sqlite_url, cpp, hpo):
    _ablation(sqlite_url, cpp(24), [0, 1], {**hpo.TINY, "fault": "sleep:3"})
    (victim,) = hpo.start_workers(1, sqlite_url, "ab", prefix="victim")
    study = _study(sqlite_url, "ab")
    hpo.wait_for(lambda: any(t.state == TrialState.RUNNING and t.intermediate_values == {}
                             for t in study.get_trials()), timeout=60, interval=0.1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    summary = run_worker(sqlite_url, "ab", gpu="cpu", worker_name="rescuer")
    assert summary.reaped == 1
    trials = study.get_trials()
    _assert_each_pair_complete_once(study, {("gcn", 0), ("gcn", 1)})
    lost = [t for t in trials if t.state == TrialState.FAIL]
    assert len(lost) == 1 and lost[0].user_attrs["failure_reason"].startswith("crashed: worker lost")
    retry = [t for t in trials if t.user_attrs.get("loss_history")]
    assert len(retry) == 1 and retry[0].user_attrs["loss_history"] == [lost[0].number]
    assert "retry_history" not in retry[0].user_attrs  # a lost worker spends no retry
    assert retry[0].system_attrs["failed_trial"] == lost[0].number  # Optuna's own lineage too
    assert retry[0].state == TrialState.COMPLETE


def test_sigterm_hands_trial_back_and_exits_0(sqlite_url, cpp, hpo):
    _ablation(sqlite_url, cpp(24), [0, 1], {**hpo.TINY, "fault": "sleep:20"})
    env = {**os.environ, "PEPLAND_HPO_STORAGE": sqlite_url}
    proc = subprocess.Popen([sys.executable, "-m", "pepland_hpo.cli", "worker", "--study", "ab", "--name", "first"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    study = _study(sqlite_url, "ab")
    hpo.wait_for(lambda: any(t.state == TrialState.RUNNING for t in study.get_trials()), timeout=90)
    # status shows what runs where
    status = collect_status(sqlite_url, "ab")
    (running,) = status["studies"][0]["running"]
    assert running["worker"] == "first" and running["gpu"] == "cpu" and running["host"]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    trials = study.get_trials()
    interrupted = [t for t in trials if t.user_attrs.get("failure_reason") == "interrupted"]
    assert len(interrupted) == 1
    assert sum(t.state == TrialState.WAITING for t in trials) == 2  # the copy + the untouched one
    # another worker completes it (short sleeps now: the spec's fault is per seed)
    storage = open_storage(sqlite_url)
    sid = storage.get_study_id_from_name("ab")
    spec = storage.get_study_user_attrs(sid)["spec"]
    spec["settings"]["fault"] = "sleep:0.2"
    storage.set_study_user_attr(sid, "spec", spec)
    summary = run_worker(sqlite_url, "ab", gpu="cpu", worker_name="second")
    assert summary.completed == 2
    _assert_each_pair_complete_once(study, {("gcn", 0), ("gcn", 1)})
    copy = [t for t in study.get_trials() if t.user_attrs.get("handback_history")]
    assert copy and copy[0].state == TrialState.COMPLETE


# --------------------------------------------------------------------------- many workers


def _many_workers(url, cpp, hpo, n_workers, n_trials, timeout):
    _ablation(url, cpp(24), range(n_trials), {**hpo.TINY, "fault": "sleep:0.05"})
    procs = hpo.start_workers(n_workers, url, "ab")
    codes = hpo.join_all(procs, timeout=timeout)
    assert codes == [0] * n_workers, codes
    study = _study(url, "ab")
    trials = study.get_trials()
    assert len(trials) == n_trials
    _assert_each_pair_complete_once(study, {("gcn", s) for s in range(n_trials)})
    workers = Counter(t.user_attrs["worker"] for t in trials)
    assert len(workers) >= 2, workers  # the work really was shared
    assert "database is locked" not in _logs_text()


def test_four_workers_sqlite_40_trials(sqlite_url, cpp, hpo):
    _many_workers(sqlite_url, cpp, hpo, 4, 40, timeout=150)


@pytest.mark.postgres
def test_eight_workers_postgres_80_trials(pg_url, cpp, hpo):
    _many_workers(pg_url, cpp, hpo, 8, 80, timeout=180)


@pytest.mark.postgres
def test_search_budget_20_postgres(pg_url, cpp, hpo):
    settings = {**hpo.TINY, "epochs": "2", "fault": "sleep:0.05"}
    spec = build_search_spec(SEARCH, data=str(cpp(24)), variant="gcn", n_trials=20, settings=settings,
                             name="se", pruner="none")
    create_study_from_spec(pg_url, spec)
    codes = hpo.join_all(hpo.start_workers(4, pg_url, "se"), timeout=150)
    assert codes == [0] * 4
    study = _study(pg_url, "se")
    finished = [t for t in study.get_trials() if t.state.is_finished()]
    assert len(finished) <= 20
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 20
    params = {tuple(sorted(t.params.items())) for t in finished}
    assert len(params) > 1  # workers did not all sample the same point


def test_pruning_stops_bad_trials_early(sqlite_url, cpp, tmp_path):
    spec_file = tmp_path / "prune.yaml"
    spec_file.write_text(
        "kind: search\nname: prune\nvariant: gcn\nmetric: loss\n"
        "split: {kind: stratified, fractions: [0.5, 0.25, 0.25], seed: 0}\n"
        "space:\n  lr: [1.0e-5, 3.0e-4, 3.0e-3, 3.0e-2]\n  hidden_dim: [8, 16]\n  dropout: [0.0, 0.2]\n"
        "sampler: {kind: random}\npruner: {kind: median, n_startup_trials: 2, n_warmup_steps: 0}\n"
        "n_trials: 9\nsettings: {num_layers: 1, epochs: 4, batch_size: 16, patience: 0}\n"
    )
    spec = build_search_spec(spec_file, data=str(cpp(48)))
    create_study_from_spec(sqlite_url, spec)
    run_worker(sqlite_url, "prune", gpu="cpu")
    study = _study(sqlite_url, "prune")
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned, "no trial was pruned"
    assert all(t.user_attrs["epochs_run"] < 4 for t in pruned)
    assert all(len(t.intermediate_values) < 4 for t in pruned)
    assert all(t.user_attrs["epochs_run"] == 4 for t in complete)


# --------------------------------------------------------------------------- status, launch, secrets


@pytest.mark.postgres
def test_status_and_logs_never_show_the_password(pg_url, pg_server, cpp, hpo):
    _ablation(pg_url, cpp(24), [0], {**hpo.TINY, "fault": "sleep:0.05"})
    run_worker(pg_url, "ab", gpu="cpu")
    buf = io.StringIO()
    render_status(collect_status(pg_url), Console(file=buf, width=200))
    text = buf.getvalue()
    assert "***" in text and pg_server.password not in text
    st = collect_status(pg_url, "ab")["studies"][0]
    assert st["states"]["COMPLETE"] == 1 and st["compute_seconds"] > 0 and st["eta_seconds"] == 0.0
    assert pg_server.password not in _logs_text()


def test_launch_supervises_prefixed_workers(sqlite_url, cpp, hpo, capfd):
    from pepland_hpo.hpo.runner import launch

    _ablation(sqlite_url, cpp(24), [0, 1, 2, 3], {**hpo.TINY, "fault": "sleep:0.05"})
    code = launch(sqlite_url, ["cpu"], per_gpu=2, study_name="ab")  # each worker: `python -m pepland_hpo.cli worker`
    out = capfd.readouterr().out
    assert code == 0, out
    assert "[cpu.0]" in out and "[cpu.1]" in out
    assert len(_study(sqlite_url, "ab").get_trials(states=(TrialState.COMPLETE,))) == 4
    from pepland_hpo.errors import UserInputError

    with pytest.raises(UserInputError, match="PostgreSQL"):
        launch(sqlite_url, ["cpu"], per_gpu=5, study_name="ab")


def test_retry_failed_requeues_only_failed_pairs(sqlite_url, cpp, hpo):
    settings = {**hpo.TINY, "fault": "error@1"}
    spec = _ablation(sqlite_url, cpp(24), [0, 1], settings)
    run_worker(sqlite_url, "ab", gpu="cpu")
    states = {t.user_attrs["seed"]: t.state for t in _study(sqlite_url, "ab").trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.FAIL}
    assert create_study_from_spec(sqlite_url, spec).enqueued == 0  # plain create: the failure counts
    again = create_study_from_spec(sqlite_url, spec, retry_failed=True)
    assert again.enqueued == 1 and again.already == 1
    waiting = _study(sqlite_url, "ab").get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs["seed"] for t in waiting] == [1]
