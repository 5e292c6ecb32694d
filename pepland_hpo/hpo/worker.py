"""A worker: pulls queued trials of a study and runs each in its own child process.

Design:

* **One child process per trial.** A segfault in a native library, a host
  OOM kill, a CUDA error that poisons the context, a leak: all die with the
  child, and the GPU memory is returned to the driver when it exits. The
  worker (parent) records the outcome from the child's exit status and goes
  on. The parent never initialises CUDA (it only sets
  ``CUDA_VISIBLE_DEVICES``), so the child can be **forked**: the heavy imports
  (torch, RDKit, PyG, the model zoo) and the study's data, loaded once in the
  parent, come for free through copy-on-write, which makes the per-trial cost
  milliseconds instead of the seconds ``spawn`` would pay re-importing torch
  (see ``scripts/bench/workers.py``). Forking is safe here because the parent
  runs no threads (heartbeats are sent from its own wait loop, not a thread)
  and the child never touches the parent's database connections: it talks
  to the parent through a pipe, and only the parent writes to the storage.
* **Claiming** is one conditional UPDATE (:func:`.queue.claim_waiting`), so
  an enqueued trial never runs twice, on SQLite as on PostgreSQL.
* **Heartbeats and reaping**: the parent records Optuna's trial heartbeat
  every interval while the child runs, and reaps lost trials of other workers
  on a timer from the same loop (:mod:`.queue`: one transaction fails a lost
  trial and queues its retry; a dead worker on this host is reaped at once).
* **Storage trouble** (:mod:`.resilient`): every storage call rides out an
  outage for a bounded time; past it, or on a full disk or a vanished SQLite
  file, the child is stopped and the worker exits with code 3. The child
  never blocks on a dead parent.
* **Resume**: each trial's lineage keeps a resumable training state under
  ``storage/resume/`` (:mod:`pepland_hpo.training.resume`); a retry or a
  handed-back copy continues from its last saved epoch.
* **SIGTERM / Ctrl-C**: the running child is stopped, the trial is marked
  ``failure_reason="interrupted"`` and a copy goes back to the queue for
  another worker; the worker returns normally (exit code 0).

Fault injection for tests: :mod:`.faults`. Devices: :mod:`.devices`. Logs: :mod:`.worker_log`.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import logging
import math
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any

from pepland_hpo.errors import DataHashMismatch, UserInputError
from pepland_hpo.hpo.devices import pick_gpu, pin_device
from pepland_hpo.hpo.faults import classify_failure, inject_fault, light_trial
from pepland_hpo.hpo.queue import set_user_attrs
from pepland_hpo.hpo.resilient import (
    EnvironmentFailure,
    Resilient,
    SqliteIdentity,
    StorageOutage,
    WorkerMustStop,
    is_environmental,
    outage_setting,
)
from pepland_hpo.hpo.spec import fault_for_seed, faults_allowed, load_spec_data
from pepland_hpo.hpo.storage import mask_url, open_storage, resolve_url
from pepland_hpo.hpo.worker_log import setup_logging, teardown_logging
from pepland_hpo.paths import artifacts_dir, storage_root
from pepland_hpo.training.config import TrainConfig

log = logging.getLogger("pepland_hpo.worker")

STOP_TIMEOUT_S = 10.0  # how long a stopping child gets before SIGKILL
CHILD_POLL_S = 2.0  # how often a child waiting for its parent's answer checks the parent is alive
ENV_STREAK = 3  # this many identical OS errors in a row stop the worker


@dataclass
class WorkerSummary:
    worker: str
    study: str
    device: str
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    handed_back: int = 0
    reaped: int = 0
    trials: list[int] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    stop_reason: str | None = None

    def __str__(self) -> str:
        tail = " (stopped by signal; running trial handed back)" if self.interrupted else ""
        return (
            f"worker {self.worker} on {self.device}, study {self.study}: {self.completed} complete, "
            f"{self.pruned} pruned, {self.failed} failed, {self.handed_back} handed back, "
            f"{self.reaped} stale trial(s) reaped in {self.seconds:.1f}s{tail}"
        )


# --------------------------------------------------------------------------- the child


class _Pruned(Exception):
    def __init__(self, epoch: int):
        super().__init__(f"pruned at epoch {epoch}")
        self.epoch = epoch


def _set_parent_death_signal() -> None:
    """Linux: the child gets SIGKILL when the worker dies, so a kill -9 leaves no orphan on the GPU."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_main(conn, job: dict[str, Any]) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides
    # what happens to the trial, the child just gets stopped by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _set_parent_death_signal()
    if os.getppid() != job["parent_pid"]:  # the parent died before prctl took effect
        os._exit(1)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        clean = {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float)) or hasattr(v, "__float__")}
        conn.send(("epoch", int(epoch), clean))
        # The parent may be busy riding out a storage outage (bounded); never wait on a dead one.
        while not conn.poll(CHILD_POLL_S):
            if os.getppid() != job["parent_pid"]:
                os._exit(1)
        if conn.recv() == "prune":
            raise _Pruned(epoch)

    try:
        if job.get("threads"):
            import torch

            torch.set_num_threads(int(job["threads"]))
        fault = job.get("fault")
        if fault and fault.startswith("sleep:"):
            conn.send(("result", light_trial(job, float(fault.split(":", 1)[1]), on_epoch)))
            return
        if fault:
            inject_fault(fault, job["device"])
        from pepland_hpo.training.config import TrainConfig
        from pepland_hpo.training.run import ExperimentConfig, run_experiment

        cfg = ExperimentConfig(
            data=job["data"], target=job["target"], task=job["task"], smiles_col=job["smiles_col"],
            split_indices=job["split"], variant=job["variant"], seed=job["seed"],
            model_overrides=job["model_overrides"],
            train=TrainConfig.from_dict({**TrainConfig().to_dict(), **job["train_overrides"]}),
            metric=job["metric"], checkpoint_dir=job["checkpoint_dir"],
            checkpoint_name=f"trial-{job['number']}.pt", device=job["device"],
        )
        from pepland_hpo.training.resume import ResumePoint

        resume = None
        if job.get("resume_path") and int(job.get("checkpoint_every") or 0) > 0:
            resume = ResumePoint(job["resume_path"], int(job["checkpoint_every"]),
                                 on_resume=lambda epoch: conn.send(("resumed", int(epoch))))
        result = run_experiment(cfg, on_epoch=on_epoch, resume=resume)
        payload = result.to_dict()
        payload.pop("history", None)
        conn.send(("result", payload))
    except _Pruned as exc:
        conn.send(("pruned", exc.epoch))
    except UserInputError as exc:
        conn.send(("user_error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - everything becomes a recorded reason
        from pepland_hpo.hpo.resilient import failure_kind

        conn.send(("failure", classify_failure(exc), traceback.format_exc(), failure_kind(exc)))
    finally:
        conn.close()


# --------------------------------------------------------------------------- the worker


class _Stop:
    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum, _frame) -> None:
        self.requested = True
        self.signal = signum

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (e.g. embedded): no graceful stop
                pass

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _choose_study(storage, study_name: str | None) -> str:
    names = [s.study_name for s in storage.get_all_studies()]
    if study_name is not None:
        if study_name not in names:
            known = ", ".join(names) or "none"
            raise UserInputError(f"no study named {study_name!r} in the storage (studies: {known})")
        return study_name
    if len(names) == 1:
        return names[0]
    if not names:
        raise UserInputError("the storage holds no study; create one with `pepland-hpo create ablation`")
    raise UserInputError(f"several studies in the storage ({', '.join(names)}); choose one with --study")


def _worker_seed(name: str) -> int:
    # Different per worker so parallel TPE workers do not start from the same point.
    text = f"{name}-{os.getpid()}-{time.time_ns()}"
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _preload_heavy_modules() -> None:
    """Import everything a trial runs once, in the parent, so forked children start warm.

    It also pins the code: the trial's modules are in memory before the child
    forks, so editing or upgrading the package under a running worker does not
    hand a trial a mix of old and new modules (seen once as an ImportError
    mid-study). Restart workers to pick up new code. Importing torch does not initialise CUDA.
    """
    import pepland_hpo.models  # noqa: F401
    import pepland_hpo.training.finetune  # noqa: F401
    import pepland_hpo.training.pretrain  # noqa: F401  (augmentations, contrastive objectives)
    import pepland_hpo.training.run  # noqa: F401


class Worker:
    def __init__(self, storage_url: str | None, study_name: str | None, gpu: str, n_trials: int | None,
                 worker_name: str | None, wait: bool, poll_s: float | None, threads: int | None,
                 outage_s: float | None = None) -> None:
        self.url = resolve_url(storage_url)
        self.gpu = pick_gpu(gpu)
        self.device = pin_device(self.gpu)
        self.host = socket.gethostname()
        self.name = worker_name or os.environ.get("PEPLAND_HPO_WORKER_NAME") or f"{self.host}-{os.getpid()}"
        self.n_trials = n_trials
        self.wait = wait
        self.threads = threads
        self.stop = _Stop()
        self.outage_s = outage_setting(outage_s)
        self.rdb = open_storage(self.url)
        identity = SqliteIdentity.of(self.url)
        self.res = Resilient(self.outage_s, check=identity.check if identity else None, wait=self._outage_wait)
        self.interval = self.rdb.get_heartbeat_interval() or 10
        # Reaping runs on this timer while trials train too, so a dead worker's trial is
        # back in the queue within grace + this, not when some worker happens to be free.
        self.reap_every = float(min(10, max(1, self.interval)))
        self.poll_s = poll_s if poll_s is not None else min(5.0, float(self.interval))
        self.study_name = _choose_study(self.rdb, study_name)
        self.summary = WorkerSummary(worker=self.name, study=self.study_name, device=self.device)
        self._os_errors: list[str] = []  # failure kinds of the last trials that died of an OSError
        self._stop_after: WorkerMustStop | None = None  # raised once the current trial is recorded

    # -- set-up ---------------------------------------------------------------------------
    def load(self) -> None:
        import optuna

        from pepland_hpo.hpo.spec import StudySpec, build_pruner, build_sampler

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        attrs = self.rdb.get_study_user_attrs(self.rdb.get_study_id_from_name(self.study_name))
        if "spec" not in attrs:
            raise UserInputError(f"study {self.study_name!r} was not created by pepland-hpo (no spec attribute)")
        self.spec = StudySpec.from_dict(attrs["spec"])
        self.split = attrs.get("split")
        self.kind = attrs.get("kind", self.spec.kind)
        # The data must be what the study was created from, byte for byte.
        self.dataset = load_spec_data(self.spec)
        if self.dataset.content_hash != attrs.get("data_hash"):
            raise DataHashMismatch(
                f"{self.spec.data}: the data changed since study {self.study_name!r} was created "
                f"(content hash {self.dataset.content_hash[:12]} != {str(attrs.get('data_hash'))[:12]}); "
                "restore the file or create a new study"
            )
        self.study = optuna.load_study(
            study_name=self.study_name, storage=self.rdb,
            sampler=build_sampler(self.spec, seed=_worker_seed(self.name)), pruner=build_pruner(self.spec),
        )
        from pepland_hpo.training.run import split_settings_overrides

        self.base_settings = self.spec.training_settings()
        split_settings_overrides(self.base_settings)  # fails now, not in every trial
        self.fault_ok = faults_allowed()
        _preload_heavy_modules()

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> WorkerSummary:
        from pepland_hpo.hpo.queue import claim_waiting, count_states

        started = time.perf_counter()
        self.stop.install()
        try:
            log.info("worker %s on %s (CUDA_VISIBLE_DEVICES=%r), study %s, storage %s, outage bound %.0fs",
                     self.name, self.device, os.environ.get("CUDA_VISIBLE_DEVICES"), self.study_name,
                     mask_url(self.url), self.outage_s)
            while not self.stop.requested:
                if self.n_trials is not None and len(self.summary.trials) >= self.n_trials:
                    break
                self._reap()
                if self.spec.tune:  # a tuned ablation: queue a variant's seeds once its tuning is over
                    from pepland_hpo.hpo.tuning import advance

                    for variant, n in self.res.call("advance", advance, self.study, self.rdb).items():
                        log.info("%s: tuning over, %d trial(s) at its best configuration queued", variant, n)
                trial_id = self.res.call("claim", claim_waiting, self.rdb, self.study._study_id)
                if trial_id is None:
                    # Queue empty. Trials still running elsewhere may yet come back
                    # (their worker dies → retry), so wait for them unless told not to.
                    running = self.res.call("count", count_states, self.rdb, self.study._study_id).get("RUNNING", 0)
                    if self.wait and running > 0:
                        self._sleep(self.poll_s)
                        continue
                    break
                self._run_trial(trial_id)
        except WorkerMustStop as exc:
            self.summary.stop_reason = str(exc)
            log.error("worker %s stops: %s", self.name, exc)
            raise
        finally:
            self.stop.restore()
            self.summary.seconds = time.perf_counter() - started
            self.summary.interrupted = self.stop.requested
            self.rdb.remove_session()
            self.rdb.engine.dispose()
        log.info("%s", self.summary)
        return self.summary

    def _reap(self, own: int | None = None) -> None:
        """Fail and re-queue lost trials: of dead workers on this machine at once, of others after the grace.

        ``own``: the trial this worker runs, never reaped by it (an outage may have aged its heartbeat).
        """
        from pepland_hpo.hpo.queue import reap_dead_local, reap_stale

        retries, skip = self.spec.max_retries, () if own is None else (own,)
        self.summary.reaped += len(self.res.call("reap", reap_dead_local, self.study, self.rdb, self.host,
                                                 retries, skip))
        # Right after an outage every worker's heartbeat is old; give them one grace period to catch up.
        if self.res.since_outage() > (self.rdb.grace_period or 0):
            self.summary.reaped += len(self.res.call("reap", reap_stale, self.study, self.rdb, retries, skip))

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stop.requested and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)

    def _outage_wait(self, seconds: float) -> None:
        """Back-off sleep between storage attempts; a stop request ends the wait (nothing can be recorded)."""
        self._sleep(seconds)
        if self.stop.requested:
            raise StorageOutage("stopped by signal while the storage was unreachable; the trial is left for reaping")

    def _job(self, trial) -> dict[str, Any]:
        from pepland_hpo.hpo import tuning
        from pepland_hpo.hpo.identity import study_splits, trial_identity
        from pepland_hpo.training.run import split_settings_overrides

        spec = self.spec
        params: dict[str, Any] = {}
        split = self.split
        frozen = self.rdb.get_trial(trial._trial_id)
        if self.kind == "ablation":
            # identity from the queued trial's user attrs (hpo.identity), never suggested
            ident = trial_identity(frozen)
            if ident is None:
                raise UserInputError(f"trial {trial.number} names no variant and seed (not queued by create)")
            variant, seed = ident.variant, ident.seed
            split = self.split if ident.split_repeat == 0 else study_splits(self.study.user_attrs)[ident.split_repeat]
            params = tuning.tuned_params(frozen)  # a tuned ablation's stage 2: its variant's best configuration
        else:
            variant, seed = spec.variants[0], spec.seeds[0]
        if self.kind == "search" or tuning.is_tuning(frozen):
            for key, choices in spec.space.items():
                params[key] = trial.suggest_categorical(key, choices)
        settings = {**self.base_settings, **{k: str(v) for k, v in params.items()}}
        model_over, train_over = split_settings_overrides(settings)
        fault = fault_for_seed(spec.settings, seed) if self.fault_ok else None
        ckpt_dir = storage_root() / "tmp" / f"{self.name}-trial-{trial.number}"
        return {
            "number": trial.number, "variant": variant, "seed": int(seed), "params": params,
            "data": spec.data, "target": spec.target, "task": spec.task, "smiles_col": spec.smiles_col,
            "split": split, "metric": spec.metric, "model_overrides": model_over,
            "train_overrides": train_over, "device": self.device, "fault": fault,
            "checkpoint_dir": str(ckpt_dir), "threads": self.threads, "parent_pid": os.getpid(),
            "stage": tuning.stage_of(frozen),
        }

    def _resume_path(self, trial_id: int, number: int) -> Path:
        """Where this trial's lineage keeps its resumable state: retries and hand-backs share it."""
        attrs = self.res.call("read", self.rdb.get_trial, trial_id).user_attrs
        lineage = [number, *attrs.get("retry_history", []), *attrs.get("handback_history", [])]
        study = self.study_name.replace(os.sep, "_")
        return storage_root() / "resume" / study / f"trial-{min(int(n) for n in lineage)}.pt"

    def _run_trial(self, trial_id: int) -> None:
        import optuna

        self._resume_file: Path | None = None
        self.res.call("adopt", self._adopt, trial_id)
        trial = optuna.Trial(self.study, trial_id)
        number = trial.number
        self.summary.trials.append(number)
        try:
            job = self.res.call("read", self._job, trial)
        except UserInputError as exc:
            self._finish(trial, optuna.trial.TrialState.FAIL, None, {"failure_reason": f"error: UserInputError: {exc}"})
            return
        self._resume_file = self._resume_path(trial_id, number)
        job.update(resume_path=str(self._resume_file),
                   checkpoint_every=int(job["train_overrides"].get("checkpoint_every", TrainConfig().checkpoint_every)))
        self.res.call("set_user_attrs", set_user_attrs, self.rdb, trial_id, {
            "variant": job["variant"], "seed": job["seed"], "host": self.host, "worker": self.name,
            "worker_pid": os.getpid(), "device": self.device, "gpu": self.gpu})
        log.info("trial %d: %s seed %d%s", number, job["variant"], job["seed"],
                 f" {job['params']}" if job["params"] else "")

        ctx = mp.get_context("fork")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_child_main, args=(child_conn, job), name=f"trial-{number}", daemon=False)
        proc.start()
        child_conn.close()
        try:
            outcome, lost, last_epoch, stopped = self._supervise(trial, job, proc, parent_conn)
        except WorkerMustStop as exc:
            self._stop_child(proc)
            if isinstance(exc, EnvironmentFailure):
                self._try_handback(trial_id, f"worker stopped: {exc}", 0)
            raise
        finally:
            # whatever happened, no child outlives this call (a child nobody reads from would wait forever)
            if proc.is_alive():
                self._stop_child(proc)
            proc.join()
            parent_conn.close()
        try:
            if lost:
                return
            # Fresh heartbeat: recording the outcome takes several writes, which can
            # queue behind other workers' transactions on a busy database.
            self.res.call("heartbeat", self.rdb.record_heartbeat, trial_id)
            self._record(trial, job, outcome, proc.exitcode, last_epoch, stopped)
        finally:
            shutil.rmtree(job["checkpoint_dir"], ignore_errors=True)
        if self._stop_after is not None:
            raise self._stop_after

    def _supervise(self, trial, job: dict[str, Any], proc, parent_conn) -> tuple[tuple | None, bool, int, bool]:
        """Answer the child, heartbeat and reap until it ends: ``(outcome, lost, last epoch, stopped)``."""
        import optuna

        trial_id, number = trial._trial_id, trial.number
        outcome: tuple | None = None
        lost = False
        last_epoch = 0
        # Pruning after the last epoch saves nothing and would hide a finished trial's value.
        planned_epochs = int(job["train_overrides"].get("epochs", TrainConfig().epochs))
        last_beat = last_reap = time.monotonic()
        stopped = False
        while True:
            now = time.monotonic()
            if now - last_beat >= self.interval:
                self.res.call("heartbeat", self.rdb.record_heartbeat, trial_id)
                last_beat = now
            if now - last_reap >= self.reap_every:
                self._reap(own=trial_id)
                last_reap = time.monotonic()
            if self.stop.requested and not stopped:
                stopped = True
                self._stop_child(proc)
            ready = mp_wait([parent_conn, proc.sentinel], timeout=max(0.05, self.interval - (time.monotonic() - last_beat)))
            if parent_conn in ready:
                try:
                    msg = parent_conn.recv()
                except (EOFError, OSError):
                    msg = None
                if msg is None:
                    if proc.is_alive():
                        # Pipe closed but the process lingers (exiting): wait for it.
                        proc.join(timeout=STOP_TIMEOUT_S)
                    break
                if msg[0] == "resumed":
                    log.info("trial %d resumes after epoch %d", number, msg[1])
                    self.res.call("set_user_attrs", set_user_attrs, self.rdb, trial_id, {"resumed_from_epoch": msg[1]})
                elif msg[0] == "epoch":
                    _, epoch, metrics = msg
                    last_epoch = epoch
                    answer = "continue"
                    value = metrics.get(self.spec.metric)
                    # Optuna takes no intermediate values from a multi-objective study (hpo.objectives)
                    if value is not None and math.isfinite(value) and not self.spec.objectives:
                        try:
                            self.res.call("report", trial.report, value, epoch)
                            searching = self.kind == "search" or job.get("stage") == "tune"
                            if searching and epoch < planned_epochs and trial.should_prune():
                                answer = "prune"
                        except optuna.exceptions.UpdateFinishedTrialError:
                            # Reaped as stale (we were too slow to heartbeat) and retried
                            # elsewhere: this attempt is void, stop it.
                            log.warning("trial %d was failed by another process; stopping it", number)
                            self._stop_child(proc)
                            lost = True
                    try:
                        parent_conn.send(answer)
                    except (BrokenPipeError, OSError):
                        pass
                else:
                    outcome = msg
            elif proc.sentinel in ready and not parent_conn.poll():
                break
        return outcome, lost, last_epoch, stopped

    def _try_handback(self, trial_id: int, reason: str, last_epoch: int) -> bool:
        """One attempt, no retries, to put the trial back in the queue; a reaper does it otherwise."""
        from pepland_hpo.hpo.queue import handback

        try:
            done = handback(self.rdb, trial_id, reason, {"epochs_run": last_epoch})
        except Exception as exc:  # noqa: BLE001 - the storage is what failed; reaping covers it
            log.warning("could not hand the trial back (%s); it is left for reaping", exc)
            return False
        if done:
            self.summary.handed_back += 1
        return done

    def _adopt(self, trial_id: int) -> None:
        """Tell Optuna's cached storage about the trial we claimed behind its back.

        ``get_all_trials`` would do it, but it re-reads every unfinished trial,
        queued ones included (a whole ablation), for each trial; one
        ``get_trial`` is enough.
        """
        import optuna

        cache = self.study._storage
        try:
            from optuna.storages._cached_storage import _StudyInfo

            frozen = self.rdb.get_trial(trial_id)
            with cache._lock:
                info = cache._studies.setdefault(self.study._study_id, _StudyInfo())
                cache._add_trials_to_cache(self.study._study_id, [frozen])
                info.unfinished_trial_ids.add(trial_id)
        except (AttributeError, ImportError):  # another Optuna layout: the documented way
            cache.get_all_trials(self.study._study_id, deepcopy=False,
                                 states=(optuna.trial.TrialState.RUNNING,))

    def _stop_child(self, proc) -> None:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=STOP_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()

    def _finish(self, trial, state, value, attrs: dict[str, Any]) -> None:
        import optuna

        try:
            self.res.call("set_user_attrs", set_user_attrs, self.rdb, trial._trial_id, attrs)
            if state == optuna.trial.TrialState.COMPLETE:
                self.res.call("tell", self.study.tell, trial, value)
            else:
                self.res.call("tell", self.study.tell, trial, state=state)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Our heartbeat lapsed (e.g. storage unreachable) and another process
            # failed and re-queued the trial: its retry carries on (from the resume state).
            log.warning("trial %d was failed by another process meanwhile; result discarded", trial.number)
            return
        if self._resume_file is not None:  # finished for good: nothing will resume it
            try:
                self._resume_file.unlink()
            except FileNotFoundError:
                pass
        if state == optuna.trial.TrialState.COMPLETE:
            self.summary.completed += 1
        elif state == optuna.trial.TrialState.PRUNED:
            self.summary.pruned += 1
        else:
            self.summary.failed += 1

    def _record(self, trial, job: dict[str, Any], outcome, exitcode: int | None, last_epoch: int, stopped: bool) -> None:
        from optuna.trial import TrialState

        number = trial.number
        if stopped and (outcome is None or outcome[0] != "result"):
            # Graceful stop: not the trial's fault. Fail the attempt and queue a copy (one
            # transaction); the copy resumes from the last saved epoch.
            self.res.call("handback", self._try_handback_strict, trial._trial_id, "worker stopped", last_epoch)
            return
        if outcome is None:
            if exitcode is not None and exitcode < 0:
                reason = f"crashed: signal {-exitcode}"
            else:
                reason = f"crashed: exit code {exitcode}"
            log.warning("trial %d %s", number, reason)
            self._finish(trial, TrialState.FAIL, None, {"failure_reason": reason, "epochs_run": last_epoch})
            return
        kind = outcome[0]
        if kind != "failure":
            self._os_errors.clear()
        if kind == "pruned":
            log.info("trial %d pruned at epoch %d", number, outcome[1])
            self._finish(trial, TrialState.PRUNED, None, {"epochs_run": int(outcome[1])})
        elif kind == "failure":
            reason, env = outcome[1], (outcome[3] if len(outcome) > 3 else "")
            log.warning("trial %d failed: %s\n%s", number, reason, outcome[2])
            # the same OS error (type and errno, whatever the path) trial after trial: the machine
            self._os_errors = self._os_errors + [env] if env.startswith("os:") else []
            streak = len(self._os_errors) >= ENV_STREAK and len(set(self._os_errors[-ENV_STREAK:])) == 1
            if env == "environment" or streak:
                # The machine, not the trial: put it back for a worker where it can run, and stop.
                self.res.call("handback", self._try_handback_strict, trial._trial_id,
                              f"environment: {reason}", last_epoch, f"environment: {reason}")
                why = "the environment" if env == "environment" else f"{ENV_STREAK} identical OS errors in a row"
                self._stop_after = EnvironmentFailure(f"trial {number} failed because of {why}: {reason}; "
                                                      "the trial is back in the queue")
                return
            self._finish(trial, TrialState.FAIL, None, {"failure_reason": reason, "epochs_run": last_epoch})
        elif kind == "user_error":
            # A setting the training layer refuses: the trial's fault, reported plainly.
            log.warning("trial %d: %s", number, outcome[1])
            self._finish(trial, TrialState.FAIL, None,
                         {"failure_reason": f"error: UserInputError: {outcome[1]}", "epochs_run": last_epoch})
        elif kind == "result":
            self._record_result(trial, job, outcome[1])

    def _try_handback_strict(self, trial_id: int, reason: str, last_epoch: int,
                             failure_reason: str = "interrupted") -> None:
        """Hand back through the retrying wrapper: storage errors propagate so it can retry them."""
        from pepland_hpo.hpo.queue import handback

        if handback(self.rdb, trial_id, reason, {"epochs_run": last_epoch, "failure_reason": failure_reason}):
            self.summary.handed_back += 1

    def _record_result(self, trial, job: dict[str, Any], res: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        epoch_seconds = [float(x) for x in res.get("epoch_seconds") or []]
        attrs: dict[str, Any] = {
            "param_count": int(res.get("param_count") or 0),
            "device": res.get("device", self.device),
            "epochs_run": int(res.get("epochs_run") or len(epoch_seconds)),
            "epoch_seconds": epoch_seconds,
            "seconds_per_epoch": (sum(epoch_seconds) / len(epoch_seconds)) if epoch_seconds else None,
            "val_metrics": res.get("val_metrics") or {},
            "test_metrics": res.get("test_metrics") or {},
            "best_epoch": res.get("best_epoch"),
            "non_finite_steps": int(res.get("non_finite_steps") or 0),
        }
        if res.get("predictions"):  # per-molecule evidence for the report's bootstrap
            from pepland_hpo.hpo import evidence

            attrs[evidence.ATTR] = evidence.encode_predictions(res["predictions"])
        if res.get("wall_seconds") is not None:
            attrs["wall_seconds"] = float(res["wall_seconds"])
        for key, value in (res.get("extra") or {}).items():
            if key == "pretrain_non_finite_steps":
                attrs["pretrain_non_finite_steps"] = value
            else:
                attrs[key] = value
        checkpoint = res.get("checkpoint")
        if checkpoint and Path(checkpoint).is_file():
            try:
                attrs.update(self._upload_checkpoint(trial, checkpoint))
            except Exception as exc:  # noqa: BLE001 - a full disk must not lose the result
                log.warning("trial %d: checkpoint upload failed: %s", trial.number, exc)
                if is_environmental(exc):  # record the result, then stop before the next trial fails too
                    self._stop_after = EnvironmentFailure(f"artifact folder {artifacts_dir()}: {exc}")
        value = res.get("best_value")
        if value is None or not math.isfinite(float(value)):
            attrs["failure_reason"] = (
                f"error: ValueError: objective {self.spec.metric} is {value} "
                "(undefined on the validation split?)"
            )
            log.warning("trial %d: %s", trial.number, attrs["failure_reason"])
            self._finish(trial, TrialState.FAIL, None, attrs)
            return
        told: float | list[float] | None = float(value)
        if self.spec.objectives:
            from pepland_hpo.hpo.objectives import values

            told = values(self.spec, float(value), attrs)
            if told is None:
                attrs["failure_reason"] = f"error: ValueError: an objective of {self.spec.objectives} is missing"
                self._finish(trial, TrialState.FAIL, None, attrs)
                return
        self._finish(trial, TrialState.COMPLETE, told, attrs)
        log.info("trial %d complete: %s=%.4f", trial.number, self.spec.metric, float(value))

    def _upload_checkpoint(self, trial, path: str) -> dict[str, Any]:
        from optuna.artifacts import FileSystemArtifactStore, upload_artifact

        base = artifacts_dir()
        base.mkdir(parents=True, exist_ok=True)
        store = FileSystemArtifactStore(base_path=str(base))
        artifact_id = upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial,
                                      mimetype="application/octet-stream")
        return {"checkpoint_artifact": artifact_id, "checkpoint": str((base / artifact_id).resolve())}


def run_worker(
    storage_url: str | None = None,
    study_name: str | None = None,
    gpu: str = "cpu",
    n_trials: int | None = None,
    *,
    worker_name: str | None = None,
    wait: bool = True,
    poll_s: float | None = None,
    threads: int | None = None,
    log_to_stderr: bool = True,
    outage_s: float | None = None,
) -> WorkerSummary:
    """Run queued trials of ``study_name`` until none is left (or ``n_trials`` ran, or SIGTERM/Ctrl-C).

    ``gpu``: an index, ``"cpu"`` or ``"auto"``. ``wait``: when the queue is
    empty but trials still run elsewhere, keep polling (their worker may die
    and they come back as retries). ``threads``: torch threads per trial.
    ``outage_s``: how long storage calls are retried through an outage
    (default ``PEPLAND_HPO_STORAGE_OUTAGE_S`` or 300 s); past it, or on a full
    disk or a vanished database, :class:`.resilient.WorkerMustStop` is raised
    after the child is stopped (exit code 3 from the command line).
    """
    saved_cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    handlers: list[logging.Handler] = []
    try:
        worker = Worker(storage_url, study_name, gpu, n_trials, worker_name, wait, poll_s, threads, outage_s)
        handlers = setup_logging(worker.name)
        if not log_to_stderr:
            handlers[1].setLevel(logging.CRITICAL)
        worker.load()
        return worker.run()
    finally:
        teardown_logging(handlers)
        if saved_cvd is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved_cvd


def main(argv: list[str] | None = None) -> int:
    """``python -m pepland_hpo.hpo.worker``: the worker without the CLI (tests, Slurm)."""
    parser = argparse.ArgumentParser(prog="python -m pepland_hpo.hpo.worker")
    parser.add_argument("--storage", default=None)
    parser.add_argument("--study", default=None)
    parser.add_argument("--gpu", default="cpu")
    parser.add_argument("--n-trials", type=int, default=None)
    parser.add_argument("--name", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--storage-outage-s", type=float, default=None)
    args = parser.parse_args(argv)
    try:
        summary = run_worker(args.storage or os.environ.get("PEPLAND_HPO_STORAGE"), args.study, args.gpu,
                             args.n_trials, worker_name=args.name, wait=not args.no_wait, threads=args.threads,
                             outage_s=args.storage_outage_s)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WorkerMustStop as exc:
        print(f"error: worker stopped: {exc}", file=sys.stderr)
        return exc.exit_code
    print(summary, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
