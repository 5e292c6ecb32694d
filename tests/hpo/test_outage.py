"""The storage fails under a running worker: a database restart, an outage past the bound, full disks, a deleted file.

Real servers, real filesystems, real signals: PostgreSQL is stopped and
started with ``pg_ctl``, full disks are small tmpfs mounts (the tests run as
root; where mounting is impossible they say so and skip).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from pepland_hpo.cli import app as cli_app
from pepland_hpo.hpo.queue import EnvironmentFailure
from pepland_hpo.hpo.queue import open_storage
from pepland_hpo.hpo.runner import run_worker
from pepland_hpo.paths import logs_dir



def _set_fault(url, fault):
    storage = open_storage(url)
    sid = storage.get_study_id_from_name("ab")
    spec = storage.get_study_user_attrs(sid)["spec"]
    spec["settings"]["fault"] = fault
    storage.set_study_user_attr(sid, "spec", spec)
    storage.engine.dispose()


def _worker_main(url, name, outage_s):
    os.environ["PEPLAND_HPO_STORAGE"] = url  # as the command line gets it, never in argv
    cli_app(["worker", "--study", "ab", "--name", name, "--storage-outage-s", str(outage_s)], prog_name="pepland-hpo")


def _start(url, name, outage_s):
    """`pepland-hpo worker` in a forked process (imports done: it starts at once)."""
    proc = mp.get_context("fork").Process(target=_worker_main, args=(url, name, outage_s))
    proc.start()
    return proc


def _finish(proc, timeout: float) -> tuple[int | None, str]:
    """Wait for the worker; its exit code and its log (what an operator reads)."""
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        raise AssertionError(f"worker still running after {timeout}s")
    return proc.exitcode, "\n".join(p.read_text() for p in logs_dir().glob("worker-*.log"))


def _stop_line(log: str) -> str:
    (line,) = [line for line in log.splitlines() if " stops: " in line]
    return line


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _running_with_epochs(url, hpo):
    study = optuna.load_study(study_name="ab", storage=open_storage(url))
    hpo.wait_for(lambda: any(t.state == TrialState.RUNNING and t.intermediate_values for t in study.get_trials()),
                 timeout=120, interval=0.1)
    return study


def _each_pair_complete_once(study, seeds):
    done = Counter(t.user_attrs["seed"] for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert set(done) == set(seeds) and set(done.values()) == {1}, done


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size)``: a fresh tmpfs of that size (e.g. "4m"), unmounted afterwards."""
    mounted: list[Path] = []

    def _mount(size: str, where: Path | None = None) -> Path:
        where = where or tmp_path / f"fs{len(mounted)}"
        where.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {res.stderr.strip()}")
        mounted.append(where)
        return where

    yield _mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte, as another program would."""
    filler = folder / "filler"
    try:
        with open(filler, "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    except OSError:  # ENOSPC: full, as wanted
        pass
    return filler


# --------------------------------------------------------------------------- PostgreSQL restarts


@pytest.mark.postgres
def test_postgres_down_8s_mid_trial_worker_finishes(pg_server, pg_url, cpp, hpo):
    hpo.gcn_ablation(pg_url, cpp(24), [0, 1], {**hpo.TINY, "epochs": "5", "fault": "sleep:5"})
    proc = _start(pg_url, "w", outage_s=60)
    try:
        study = _running_with_epochs(pg_url, hpo)
        kids = _children(proc.pid)
        pg_server.pause()
        time.sleep(8)
    finally:
        pg_server.resume()
    code, out = _finish(proc, 120)
    assert code == 0, out
    assert "storage unreachable" in out and "reachable again" in out
    _each_pair_complete_once(study, [0, 1])
    assert not [t for t in study.get_trials() if t.state == TrialState.FAIL]  # it finished its own trial
    assert kids and not [k for k in kids if _alive(k)]


@pytest.mark.postgres
def test_postgres_down_past_the_bound_worker_exits_nonzero_and_trial_is_retried(pg_server, pg_url, cpp, hpo):
    hpo.gcn_ablation(pg_url, cpp(24), [0, 1], {**hpo.TINY, "epochs": "4", "fault": "sleep:30"})
    bound = 4
    proc = _start(pg_url, "w", outage_s=bound)
    try:
        _running_with_epochs(pg_url, hpo)
        kids = _children(proc.pid)
        pg_server.pause()
        t0 = time.monotonic()
        code, out = _finish(proc, bound + 30)
        elapsed = time.monotonic() - t0
    finally:
        pg_server.resume()
    assert code == 3, out
    assert elapsed < bound + 20, elapsed
    assert "storage unreachable" in _stop_line(out)
    assert kids and not [k for k in kids if _alive(k)]
    # the trial was left RUNNING; the next worker (same machine, dead process) retries it at once
    _set_fault(pg_url, "sleep:0.1")
    summary = run_worker(pg_url, "ab", gpu="cpu", worker_name="later")
    assert summary.reaped == 1
    study = optuna.load_study(study_name="ab", storage=open_storage(pg_url))
    _each_pair_complete_once(study, [0, 1])
    (lost,) = [t for t in study.get_trials() if t.state == TrialState.FAIL]
    assert lost.user_attrs["failure_reason"].startswith("crashed: worker lost") and lost.user_attrs["requeued"]


@pytest.mark.postgres
def test_postgres_down_mid_trial_training_goes_on_and_reports_arrive_in_order(pg_server, pg_url, cpp, hpo):
    """The child trains through the outage: the trial takes its training time, not training + outage."""
    epochs, train_s, down_s = 20, 12.0, 8.0
    hpo.gcn_ablation(pg_url, cpp(24), [0], {**hpo.TINY, "epochs": str(epochs), "fault": f"sleep:{train_s}"})
    proc = _start(pg_url, "w", outage_s=120)
    try:
        study = _running_with_epochs(pg_url, hpo)
        pg_server.pause()
        t_down = time.monotonic()
        time.sleep(down_s)
    finally:
        pg_server.resume()
    outage = time.monotonic() - t_down
    code, out = _finish(proc, 120)
    assert code == 0, out
    (trial,) = study.get_trials()
    assert trial.state == TrialState.COMPLETE  # completed, exactly once, by this worker
    assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))  # every epoch, none twice
    assert trial.value == trial.intermediate_values[epochs]  # the last report went in before the tell
    wall = (trial.datetime_complete - trial.datetime_start).total_seconds()
    stall = wall - sum(trial.user_attrs["epoch_seconds"])
    assert stall < outage / 2, (wall, stall, outage)  # waiting on the storage: stall >= outage
    assert "trains on; its epoch reports are kept" in out and "reachable again" in out
    (line,) = [x for x in out.splitlines() if "storage unreachable (" in x]
    assert "pepland:***@127.0.0.1" in line and "giving up after 120s" in line
    assert "invalid data" not in out and pg_server.password not in out  # no driver text, no secret


# --------------------------------------------------------------------------- the supervising loop, fake storage


class _FakeStorage:
    """A storage that goes down for ``down_s`` once epoch ``down_after`` is stored; what it stored, in order."""

    def __init__(self, down_after: int = 2, down_s: float = float("inf"), prune_from: int | None = None) -> None:
        self.down_after, self.down_s = down_after, down_s
        self.down_from = self.down_until = float("inf")
        self.prune_from = prune_from  # should_prune says yes once this many reports are stored
        self.reports: list[int] = []
        self.prune_asked: list[list[int]] = []  # the stored steps at each should_prune
        self.beats = 0

    def _gate(self) -> None:
        import sqlalchemy.exc

        if self.down_from <= time.monotonic() < self.down_until:
            raise sqlalchemy.exc.OperationalError("UPDATE ...", {}, ConnectionRefusedError("connection refused"))

    # the trial's side
    number = 0

    def report(self, value: float, step: int) -> None:
        self._gate()
        self.reports.append(step)
        if step == self.down_after:  # timed by the epochs, not the clock: a busy machine changes nothing
            self.down_from = time.monotonic()
            self.down_until = self.down_from + self.down_s

    def should_prune(self) -> bool:
        self._gate()
        self.prune_asked.append(list(self.reports))
        return self.prune_from is not None and len(self.reports) >= self.prune_from

    # the worker's storage side
    def record_heartbeat(self, trial_id: int) -> None:
        self._gate()
        self.beats += 1


def _epochs_child(conn, epochs: int, epoch_s: float) -> None:
    """A trial as the pipe sees it: each epoch, how long the parent took to answer."""
    waits = []
    for epoch in range(1, epochs + 1):
        time.sleep(epoch_s)
        t0 = time.monotonic()
        conn.send(("epoch", epoch, {"m": 0.5 + 0.01 * epoch}))
        answer = conn.recv()
        waits.append(time.monotonic() - t0)
        if answer == "prune":
            conn.send(("pruned", epoch))
            break
    else:
        conn.send(("result", {"waits": waits}))
    conn.send(("waits", waits))
    conn.close()


def _supervise_fake(store: _FakeStorage, epochs: int, epoch_s: float, outage_s: float = 60, kind: str = "search"):
    """``Supervision._supervise`` on ``store`` with a forked ``_epochs_child``: its result and the child's waits."""
    from types import SimpleNamespace

    from pepland_hpo.hpo.queue import Resilient
    from pepland_hpo.hpo.runner import Supervision

    class Parent(Supervision):
        def __init__(self):
            self.rdb, self.res, self.kind = store, Resilient(outage_s, where="fake://db"), kind
            self.spec = SimpleNamespace(metric="m", objectives=None)
            self.interval, self.reap_every, self.stop = 0.2, 3600.0, SimpleNamespace(requested=False)
            self._claimed_id, self.url = 1, "fake://db"

    job = SimpleNamespace(train=SimpleNamespace(epochs=epochs), stage=None)
    ctx = mp.get_context("fork")
    parent_conn, child_conn = ctx.Pipe()
    proc = ctx.Process(target=_epochs_child, args=(child_conn, epochs, epoch_s))
    proc.start()
    child_conn.close()
    try:
        outcome, lost, last_epoch, _ = Parent()._supervise(store, job, proc, parent_conn)
    finally:
        proc.kill()
        proc.join()
    return outcome, lost, last_epoch


def test_epochs_are_answered_at_once_while_the_storage_is_down_and_reported_in_order_after():
    store = _FakeStorage(down_after=2, down_s=1.2)
    t0 = time.monotonic()
    outcome, lost, last = _supervise_fake(store, epochs=20, epoch_s=0.1)
    wall = time.monotonic() - t0
    assert outcome[0] == "waits" and not lost and last == 20
    assert max(outcome[1]) < 0.3, outcome[1]  # never waited on the outage
    assert wall < 20 * 0.1 + 1.0, wall  # the 1.2 s outage cost no training time
    assert store.reports == list(range(1, 21))  # each once, in order
    # no pruning question while reports were kept: every answer was based on all that was sent
    assert all(asked == list(range(1, len(asked) + 1)) for asked in store.prune_asked)


def test_pruning_waits_for_the_kept_reports_and_prunes_at_the_next_epoch():
    # the pruner would stop it at epoch 3; the storage is down from epoch 2 to about 8
    store = _FakeStorage(down_after=2, down_s=0.6, prune_from=3)
    outcome, lost, last = _supervise_fake(store, epochs=20, epoch_s=0.1)
    assert not lost
    kept_until = max(len(asked) for asked in store.prune_asked)  # the reports stored at the "yes"
    assert kept_until > 3  # it trained on through the outage
    assert last == store.reports[-1] <= kept_until + 1  # pruned at the first epoch after the kept ones
    assert store.reports == list(range(1, last + 1))
    first_yes = next(asked for asked in store.prune_asked if len(asked) >= 3)
    assert first_yes == list(range(1, len(first_yes) + 1))  # decided on stored values only


def test_the_outage_bound_still_stops_the_loop():
    from pepland_hpo.hpo.queue import StorageOutage

    store = _FakeStorage(down_after=2)
    t0 = time.monotonic()
    with pytest.raises(StorageOutage, match=r"unreachable for 1s \(fake://db\)"):
        _supervise_fake(store, epochs=100, epoch_s=0.05, outage_s=1.0)
    assert time.monotonic() - t0 < 3.0


def test_a_trial_reaped_meanwhile_is_lost_when_its_kept_reports_go_out():
    store = _FakeStorage(down_after=2, down_s=0.4)
    reported = store.report

    def report(value, step):
        reported(value, step)
        if store.down_until <= time.monotonic():  # back: another process failed it meanwhile
            raise optuna.exceptions.UpdateFinishedTrialError("Trial#0 has already finished")

    store.report = report
    _, lost, _ = _supervise_fake(store, epochs=20, epoch_s=0.1)
    assert lost


# --------------------------------------------------------------------------- SQLite file trouble


def test_sqlite_disk_fills_mid_trial_no_hang(tmpfs, cpp, hpo):
    folder = tmpfs("8m")
    url = f"sqlite:///{folder / 'pepland.db'}"
    hpo.gcn_ablation(url, cpp(24), [0, 1], {**hpo.TINY, "epochs": "10", "fault": "sleep:10"})
    proc = _start(url, "w", outage_s=60)
    study = _running_with_epochs(url, hpo)
    kids = _children(proc.pid)
    filler = _fill(folder)
    code, out = _finish(proc, 90)  # no hang: the worker ends on its own
    assert code == 3, out
    assert "database or disk is full" in _stop_line(out)
    assert kids and not [k for k in kids if _alive(k)]
    filler.unlink()
    # nothing lost: the next worker finishes both pairs
    _set_fault(url, "sleep:0.1")
    run_worker(url, "ab", gpu="cpu", worker_name="later")
    _each_pair_complete_once(study, [0, 1])


def test_deleted_sqlite_file_stops_the_worker(sqlite_url, storage_home, cpp, hpo):
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1], {**hpo.TINY, "epochs": "10", "fault": "sleep:20"})
    proc = _start(sqlite_url, "w", outage_s=60)
    _running_with_epochs(sqlite_url, hpo)
    for path in storage_home.glob("pepland.db*"):
        path.unlink()
    code, out = _finish(proc, 30)
    assert code == 3, out
    assert "was deleted" in _stop_line(out)


def test_disk_full_in_checkpoint_folder_stops_worker_queue_intact(sqlite_url, storage_home, tmpfs, cpp, hpo):
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1, 2, 3], hpo.TINY)
    _fill(tmpfs("256k", storage_home / "tmp"))  # where trials write their checkpoints
    with pytest.raises(EnvironmentFailure, match="No space left") as stop:
        run_worker(sqlite_url, "ab", gpu="cpu", worker_name="full")
    assert f"checkpoints under {storage_home / 'tmp'}" in str(stop.value)  # the one line names the folder
    study = optuna.load_study(study_name="ab", storage=open_storage(sqlite_url))
    trials = study.get_trials()
    attempted = [t for t in trials if t.state == TrialState.FAIL]
    assert 1 <= len(attempted) <= 3
    assert all(t.user_attrs["requeued"] for t in attempted)  # handed back, not failed for good
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert len(waiting) == 4  # every pair still queued


def test_three_identical_os_errors_stop_the_worker(sqlite_url, storage_home, cpp, hpo):
    """Not a full disk but the same OS error trial after trial (the checkpoint folder is a file)."""
    hpo.gcn_ablation(sqlite_url, cpp(24), [0, 1, 2, 3], hpo.TINY)
    storage_home.mkdir(parents=True, exist_ok=True)
    (storage_home / "tmp").write_text("not a folder")
    with pytest.raises(EnvironmentFailure, match="3 identical OS errors"):
        run_worker(sqlite_url, "ab", gpu="cpu", worker_name="broken")
    study = optuna.load_study(study_name="ab", storage=open_storage(sqlite_url))
    failed = [t for t in study.get_trials() if t.state == TrialState.FAIL]
    assert len(failed) == 3
    # the first two are retried (the trial's own failure, as far as one trial can tell), the third goes back
    assert [t.user_attrs.get("requeued", False) for t in failed] == [True, True, True]
    assert [t.user_attrs.get("failure_reason", "").startswith("environment:") for t in failed] == [False, False, True]
    assert sum(t.state == TrialState.WAITING for t in study.get_trials()) == 4  # every pair still queued
