"""A worker: pulls queued trials of a study and runs each in its own child process.

Design (issue 5):

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
* **Heartbeats**: the parent records Optuna's trial heartbeat every interval
  while the child runs. If the worker is SIGKILLed (its child dies with it via
  ``PR_SET_PDEATHSIG``), the heartbeat stops; after the grace period any
  worker (at start, before each claim, while waiting) or ``status`` fails the
  trial and queues a retry (at most ``max_retries``; lineage in the
  ``retry_history`` attribute).
* **SIGTERM / Ctrl-C**: the running child is stopped, the trial is marked
  ``failure_reason="interrupted"`` and a copy goes back to the queue for
  another worker; the worker returns normally (exit code 0).

Fault injection (tests only): the study setting ``fault`` (see
:func:`.spec.parse_fault`) is honoured only when ``PEPLAND_HPO_ALLOW_FAULTS=1``.
``oom`` allocates far more than exists (a real ``MemoryError``, or
``torch.cuda.OutOfMemoryError`` on a GPU), ``nan`` makes every module output
NaN so the training loop itself raises ``NonFiniteLoss``, ``segfault`` reads
address 0, ``error`` raises, ``sleep:S`` replaces training by a light trial
that sleeps S seconds over its epochs and reports a synthetic metric.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import logging
import math
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any

from pepland_hpo.errors import DataHashMismatch, UserInputError
from pepland_hpo.hpo.queue import set_user_attrs
from pepland_hpo.hpo.spec import fault_for_seed, faults_allowed, load_spec_data
from pepland_hpo.hpo.storage import mask_url, open_storage, resolve_url
from pepland_hpo.paths import artifacts_dir, logs_dir, storage_root
from pepland_hpo.training.config import TrainConfig

log = logging.getLogger("pepland_hpo.worker")

STOP_TIMEOUT_S = 10.0  # how long a stopping child gets before SIGKILL


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

    def __str__(self) -> str:
        tail = " (stopped by signal; running trial handed back)" if self.interrupted else ""
        return (
            f"worker {self.worker} on {self.device}, study {self.study}: {self.completed} complete, "
            f"{self.pruned} pruned, {self.failed} failed, {self.handed_back} handed back, "
            f"{self.reaped} stale trial(s) reaped in {self.seconds:.1f}s{tail}"
        )


# --------------------------------------------------------------------------- devices


def _nvidia_smi_memory() -> list[tuple[str, int]]:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[1].isdigit():
            gpus.append((parts[0], int(parts[1])))
    return gpus


def pick_gpu(gpu: str | int | None) -> str:
    """``"cpu"``, a GPU index as a string, or for ``"auto"`` the GPU with least memory in use (cpu if none)."""
    text = "cpu" if gpu is None else str(gpu).strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "auto":
        gpus = _nvidia_smi_memory()
        if not gpus:
            return "cpu"
        return min(gpus, key=lambda g: (g[1], int(g[0]) if g[0].isdigit() else 0))[0]
    if text.isdigit():
        return text
    raise UserInputError(f"--gpu: expected a GPU index, cpu or auto, got {gpu!r}")


def pin_device(gpu: str) -> str:
    """Set CUDA_VISIBLE_DEVICES (before anything initialises CUDA) and return the trial device."""
    if gpu == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # nothing may grab a GPU by accident
        return "cpu"
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return "cuda:0"  # the only visible GPU


# --------------------------------------------------------------------------- logging


def _setup_logging(name: str) -> list[logging.Handler]:
    logs_dir().mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s [%(worker)s] %(message)s")

    class _Tag(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.worker = name
            return True

    file_handler = logging.FileHandler(logs_dir() / f"worker-{name}.log")
    stream = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [file_handler, stream]
    root = logging.getLogger("pepland_hpo")
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(_Tag())
        root.addHandler(h)
    root.setLevel(logging.INFO)
    return handlers


def _teardown_logging(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger("pepland_hpo")
    for h in handlers:
        root.removeHandler(h)
        h.close()


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


def _inject_fault(kind: str, device: str) -> None:
    if kind == "oom":
        if device.startswith("cuda"):
            import torch

            torch.empty(1 << 45, dtype=torch.uint8, device=device)  # 32 TiB: torch.cuda.OutOfMemoryError
        bytearray(1 << 62)  # malloc fails at once: a real MemoryError, no swap storm
    elif kind == "segfault":
        import faulthandler

        faulthandler.disable()  # an injected crash needs no Python traceback dump in the logs
        ctypes.string_at(0)  # dereference NULL inside a native call
    elif kind == "error":
        raise RuntimeError("injected error")
    elif kind == "nan":
        import torch

        def _poison(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and output.is_floating_point():
                return output * float("nan")
            return output

        # Every module's output becomes NaN: the real loop sees non-finite
        # losses, skips the steps and raises NonFiniteLoss past its limit.
        torch.nn.modules.module.register_module_forward_hook(_poison)


def _light_trial(job: dict[str, Any], seconds: float, on_epoch) -> dict[str, Any]:
    """``fault=sleep:S``: no training, S seconds of sleep over the epochs, a synthetic metric.

    For scheduling tests and the benchmark, where what matters is the
    framework around a trial rather than learning.
    """
    epochs = int(job["train_overrides"].get("epochs", 1))
    key = json.dumps([job["variant"], job["seed"], job["params"]], sort_keys=True)
    base = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    metric = job["metric"]
    epoch_seconds = []
    best = None
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        time.sleep(seconds / epochs)
        value = base + 0.01 * epoch
        epoch_seconds.append(time.perf_counter() - start)
        on_epoch(epoch, {metric: value, "loss": 1.0 - value})
        best = value
    return {
        "best_value": best, "best_epoch": epochs, "val_metrics": {metric: best}, "test_metrics": {},
        "param_count": 0, "epochs_run": epochs, "epoch_seconds": epoch_seconds, "non_finite_steps": 0,
        "checkpoint": None, "device": job["device"], "extra": {"light_trial": True},
    }


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
        if conn.recv() == "prune":
            raise _Pruned(epoch)

    try:
        if job.get("threads"):
            import torch

            torch.set_num_threads(int(job["threads"]))
        fault = job.get("fault")
        if fault and fault.startswith("sleep:"):
            conn.send(("result", _light_trial(job, float(fault.split(":", 1)[1]), on_epoch)))
            return
        if fault:
            _inject_fault(fault, job["device"])
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
        result = run_experiment(cfg, on_epoch=on_epoch)
        payload = result.to_dict()
        payload.pop("history", None)
        conn.send(("result", payload))
    except _Pruned as exc:
        conn.send(("pruned", exc.epoch))
    except UserInputError as exc:
        conn.send(("user_error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - everything becomes a recorded reason
        conn.send(("failure", classify_failure(exc), traceback.format_exc()))
    finally:
        conn.close()


def classify_failure(exc: BaseException) -> str:
    """The ``failure_reason`` of a trial that raised ``exc``."""
    try:
        from pepland_hpo.training.errors import NonFiniteLoss
    except ImportError:  # pragma: no cover
        NonFiniteLoss = ()  # type: ignore[assignment]
    if NonFiniteLoss and isinstance(exc, NonFiniteLoss):
        return "non_finite_loss"
    if isinstance(exc, MemoryError):
        return "oom"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return "oom"
    text = str(exc)
    if isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "not enough memory" in text.lower()):
        return "oom"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"error: {type(exc).__name__}: {first[:300]}"


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
                 worker_name: str | None, wait: bool, poll_s: float | None, threads: int | None) -> None:
        self.url = resolve_url(storage_url)
        self.gpu = pick_gpu(gpu)
        self.device = pin_device(self.gpu)
        self.host = socket.gethostname()
        self.name = worker_name or os.environ.get("PEPLAND_HPO_WORKER_NAME") or f"{self.host}-{os.getpid()}"
        self.n_trials = n_trials
        self.wait = wait
        self.threads = threads
        self.stop = _Stop()
        self.rdb = open_storage(self.url)
        self.interval = self.rdb.get_heartbeat_interval() or 10
        self.poll_s = poll_s if poll_s is not None else min(5.0, float(self.interval))
        self.study_name = _choose_study(self.rdb, study_name)
        self.summary = WorkerSummary(worker=self.name, study=self.study_name, device=self.device)

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
        from pepland_hpo.hpo.queue import claim_waiting, count_states, reap_stale

        started = time.perf_counter()
        self.stop.install()
        try:
            log.info("worker %s on %s (CUDA_VISIBLE_DEVICES=%r), study %s, storage %s",
                     self.name, self.device, os.environ.get("CUDA_VISIBLE_DEVICES"), self.study_name,
                     mask_url(self.url))
            while not self.stop.requested:
                if self.n_trials is not None and len(self.summary.trials) >= self.n_trials:
                    break
                self.summary.reaped += len(reap_stale(self.study, self.rdb, self.spec.max_retries))
                trial_id = claim_waiting(self.rdb, self.study._study_id)
                if trial_id is None:
                    # Queue empty. Trials still running elsewhere may yet come back
                    # (their worker dies → retry), so wait for them unless told not to.
                    if self.wait and count_states(self.rdb, self.study._study_id).get("RUNNING", 0) > 0:
                        self._sleep(self.poll_s)
                        continue
                    break
                self._run_trial(trial_id)
        finally:
            self.stop.restore()
            self.summary.seconds = time.perf_counter() - started
            self.summary.interrupted = self.stop.requested
            self.rdb.remove_session()
            self.rdb.engine.dispose()
        log.info("%s", self.summary)
        return self.summary

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stop.requested and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)

    def _job(self, trial) -> dict[str, Any]:
        from pepland_hpo.hpo.identity import study_splits, trial_identity
        from pepland_hpo.training.run import split_settings_overrides

        spec = self.spec
        params: dict[str, Any] = {}
        split = self.split
        if self.kind == "ablation":
            # identity from the queued trial's user attrs (hpo.identity), never suggested
            ident = trial_identity(self.rdb.get_trial(trial._trial_id))
            if ident is None:
                raise UserInputError(f"trial {trial.number} names no variant and seed (not queued by create)")
            variant, seed = ident.variant, ident.seed
            split = self.split if ident.split_repeat == 0 else study_splits(self.study.user_attrs)[ident.split_repeat]
        else:
            for key, choices in spec.space.items():
                params[key] = trial.suggest_categorical(key, choices)
            variant, seed = spec.variants[0], spec.seeds[0]
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
        }

    def _run_trial(self, trial_id: int) -> None:
        import optuna

        self._adopt(trial_id)
        trial = optuna.Trial(self.study, trial_id)
        number = trial.number
        self.summary.trials.append(number)
        try:
            job = self._job(trial)
        except UserInputError as exc:
            self._finish(trial, optuna.trial.TrialState.FAIL, None, {"failure_reason": f"error: UserInputError: {exc}"})
            return
        set_user_attrs(self.rdb, trial_id, {"variant": job["variant"], "seed": job["seed"], "host": self.host,
                                            "worker": self.name, "device": self.device, "gpu": self.gpu})
        log.info("trial %d: %s seed %d%s", number, job["variant"], job["seed"],
                 f" {job['params']}" if job["params"] else "")

        ctx = mp.get_context("fork")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_child_main, args=(child_conn, job), name=f"trial-{number}", daemon=False)
        proc.start()
        child_conn.close()

        outcome: tuple | None = None
        lost = False
        last_epoch = 0
        # Pruning after the last epoch saves nothing and would hide a finished trial's value.
        planned_epochs = int(job["train_overrides"].get("epochs", TrainConfig().epochs))
        last_beat = time.monotonic()
        stopped = False
        while True:
            now = time.monotonic()
            if now - last_beat >= self.interval:
                self.rdb.record_heartbeat(trial_id)
                last_beat = now
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
                    if not proc.is_alive():
                        break
                    # Pipe closed but the process lingers (exiting): wait for it.
                    proc.join(timeout=STOP_TIMEOUT_S)
                    break
                if msg[0] == "epoch":
                    _, epoch, metrics = msg
                    last_epoch = epoch
                    answer = "continue"
                    value = metrics.get(self.spec.metric)
                    if value is not None and math.isfinite(value):
                        try:
                            trial.report(value, epoch)
                            if self.kind == "search" and epoch < planned_epochs and trial.should_prune():
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
        proc.join()
        parent_conn.close()
        # Fresh heartbeat: recording the outcome takes several writes, which can
        # queue behind other workers' transactions on a busy database.
        if lost:
            shutil.rmtree(job["checkpoint_dir"], ignore_errors=True)
            return
        self.rdb.record_heartbeat(trial_id)
        self._record(trial, job, outcome, proc.exitcode, last_epoch, stopped)
        shutil.rmtree(job["checkpoint_dir"], ignore_errors=True)

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
            set_user_attrs(self.rdb, trial._trial_id, attrs)
            if state == optuna.trial.TrialState.COMPLETE:
                self.study.tell(trial, value)
            else:
                self.study.tell(trial, state=state)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Our heartbeat lapsed (e.g. storage unreachable) and another process
            # failed and re-queued the trial: its retry carries on.
            log.warning("trial %d was failed by another process meanwhile; result discarded", trial.number)
            return
        if state == optuna.trial.TrialState.COMPLETE:
            self.summary.completed += 1
        elif state == optuna.trial.TrialState.PRUNED:
            self.summary.pruned += 1
        else:
            self.summary.failed += 1

    def _record(self, trial, job: dict[str, Any], outcome, exitcode: int | None, last_epoch: int, stopped: bool) -> None:
        import optuna
        from optuna.trial import TrialState

        from pepland_hpo.hpo.queue import handback, set_user_attrs

        number = trial.number
        if stopped and (outcome is None or outcome[0] != "result"):
            # Graceful stop: not the trial's fault. Mark the attempt and queue a copy.
            try:
                set_user_attrs(self.rdb, trial._trial_id,
                               {"failure_reason": "interrupted", "requeued": True, "epochs_run": last_epoch})
                self.study.tell(trial, state=TrialState.FAIL)
                handback(self.study, self.rdb.get_trial(trial._trial_id), "worker stopped")
                self.summary.handed_back += 1
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
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
        if kind == "pruned":
            log.info("trial %d pruned at epoch %d", number, outcome[1])
            self._finish(trial, TrialState.PRUNED, None, {"epochs_run": int(outcome[1])})
        elif kind == "failure":
            log.warning("trial %d failed: %s\n%s", number, outcome[1], outcome[2])
            self._finish(trial, TrialState.FAIL, None, {"failure_reason": outcome[1], "epochs_run": last_epoch})
        elif kind == "user_error":
            # A setting the training layer refuses: the trial's fault, reported plainly.
            log.warning("trial %d: %s", number, outcome[1])
            self._finish(trial, TrialState.FAIL, None,
                         {"failure_reason": f"error: UserInputError: {outcome[1]}", "epochs_run": last_epoch})
        elif kind == "result":
            self._record_result(trial, job, outcome[1])

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
        value = res.get("best_value")
        if value is None or not math.isfinite(float(value)):
            attrs["failure_reason"] = (
                f"error: ValueError: objective {self.spec.metric} is {value} "
                "(undefined on the validation split?)"
            )
            log.warning("trial %d: %s", trial.number, attrs["failure_reason"])
            self._finish(trial, TrialState.FAIL, None, attrs)
            return
        self._finish(trial, TrialState.COMPLETE, float(value), attrs)
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
) -> WorkerSummary:
    """Run queued trials of ``study_name`` until none is left (or ``n_trials`` ran, or SIGTERM/Ctrl-C).

    ``gpu``: an index, ``"cpu"`` or ``"auto"``. ``wait``: when the queue is
    empty but trials still run elsewhere, keep polling (their worker may die
    and they come back as retries). ``threads``: torch threads per trial.
    """
    saved_cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    handlers: list[logging.Handler] = []
    try:
        worker = Worker(storage_url, study_name, gpu, n_trials, worker_name, wait, poll_s, threads)
        handlers = _setup_logging(worker.name)
        if not log_to_stderr:
            handlers[1].setLevel(logging.CRITICAL)
        worker.load()
        return worker.run()
    finally:
        _teardown_logging(handlers)
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
    args = parser.parse_args(argv)
    try:
        summary = run_worker(args.storage or os.environ.get("PEPLAND_HPO_STORAGE"), args.study, args.gpu,
                             args.n_trials, worker_name=args.name, wait=not args.no_wait, threads=args.threads)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
