"""The worker: choose the study, load its spec and data once, then claim, run and record trials in a loop."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from pepland_hpo.errors import DataHashMismatch, UserInputError
from pepland_hpo.hpo.runner._devices import pick_gpu, pin_device
from pepland_hpo.hpo.queue import set_user_attrs
from pepland_hpo.hpo.queue import (
    EnvironmentFailure,
    Resilient,
    SqliteIdentity,
    StorageOutage,
    WorkerMustStop,
    outage_setting,
)
from pepland_hpo.hpo.runner._faults import fault_for_seed, faults_allowed
from pepland_hpo.hpo.study import load_spec_data
from pepland_hpo.hpo.queue import mask_url, open_storage, resolve_url
from pepland_hpo.hpo.study import Infeasible, TrialJob, pair_job_fields
from pepland_hpo.hpo.runner._child import child_main
from pepland_hpo.hpo.runner._record import Recording
from pepland_hpo.hpo.runner._stop import StopRequest
from pepland_hpo.hpo.runner._summary import WorkerSummary
from pepland_hpo.hpo.runner._supervise import Supervision
from pepland_hpo.paths import storage_root
from pepland_hpo.training.config import TrainConfig

log = logging.getLogger("pepland_hpo.worker")



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
    import pepland_hpo.training.encoder_store  # noqa: F401  (the pretraining loop, augmentations, objectives)
    import pepland_hpo.training.pretrain_corpus  # noqa: F401
    import pepland_hpo.training.run  # noqa: F401
    from pepland_hpo.generation import run_generation_job  # noqa: F401  (a generation study's trials)


class Worker(Supervision, Recording):
    """Claims queued trials of one study and runs each in a forked child until the queue is empty."""

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
        self.stop = StopRequest()
        self.outage_s = outage_setting(outage_s)
        self.rdb = open_storage(self.url)
        identity = SqliteIdentity.of(self.url)
        self.res = Resilient(self.outage_s, check=identity.check if identity else None, wait=self._outage_wait,
                             where=mask_url(self.url))
        self.interval = self.rdb.get_heartbeat_interval() or 10
        # Reaping runs on this timer while trials train too, so a dead worker's trial is
        # back in the queue within grace + this, not when some worker happens to be free.
        self.reap_every = float(min(10, max(1, self.interval)))
        self.poll_s = poll_s if poll_s is not None else min(5.0, float(self.interval))
        self.study_name = _choose_study(self.rdb, study_name)
        self.summary = WorkerSummary(worker=self.name, study=self.study_name, device=self.device)
        self._os_errors: list[str] = []  # failure kinds of the last trials that died of an OSError
        self._stop_after: WorkerMustStop | None = None  # raised once the current trial is recorded
        self._claimed_id: int | None = None  # storage id of the trial being run

    # -- set-up ---------------------------------------------------------------------------
    def load(self) -> None:
        import optuna

        from pepland_hpo.hpo.study import StudySpec, build_pruner, build_sampler

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study_id = self.rdb.get_study_id_from_name(self.study_name)
        attrs = self.rdb.get_study_user_attrs(self.study_id)
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
        self.base_settings = self.spec.training_settings()  # typed when the spec was read
        self.fault_ok = faults_allowed()
        _preload_heavy_modules()

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> WorkerSummary:
        from pepland_hpo.hpo.queue import claim_waiting, count_running

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
                    from pepland_hpo.hpo.study import advance

                    for variant, n in self.res.call("advance", advance, self.study, self.rdb).items():
                        log.info("%s: tuning over, %d trial(s) at its best configuration queued", variant, n)
                trial_id = self.res.call("claim", claim_waiting, self.rdb, self.study_id)
                if trial_id is None:
                    # Queue empty. Trials still running elsewhere may yet come back
                    # (their worker dies → retry), so wait for them unless told not to.
                    running = self.res.call("count", count_running, self.rdb, self.study_id)
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

        retries, skip = self.spec.max_worker_losses, () if own is None else (own,)
        self.summary.reaped += len(self.res.call("reap", reap_dead_local, self.study_id, self.rdb, self.host,
                                                 retries, skip))
        # Right after an outage every worker's heartbeat is old; give them one grace period to catch up.
        if self.res.since_outage() > (self.rdb.grace_period or 0):
            self.summary.reaped += len(self.res.call("reap", reap_stale, self.study_id, self.rdb, retries, skip))

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stop.requested and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)

    def _outage_wait(self, seconds: float) -> None:
        """Back-off sleep between storage attempts; a stop request ends the wait (nothing can be recorded)."""
        self._sleep(seconds)
        if self.stop.requested:
            raise StorageOutage("stopped by signal while the storage was unreachable; the trial is left for reaping")

    def _job(self, trial) -> tuple[TrialJob, dict[str, list[int]] | None]:
        """The trial's typed job and split; :class:`.trial_job.Infeasible` when its parameters cannot be built."""
        from pepland_hpo.hpo.study import is_tuning, stage_of, tuned_params
        from pepland_hpo.hpo.study import study_splits, trial_identity
        from pepland_hpo.hpo.study import infeasible_reason, suggest
        from pepland_hpo.training.settings import parse_settings

        spec = self.spec
        params: dict[str, Any] = {}
        split, repeat = self.split, 0
        if self.kind == "generation":  # the generator's settings: its own space, nothing to build first
            from pepland_hpo.hpo.study import generation_job_fields

            params = {key: param.suggest(trial, key) for key, param in spec.space.items()}
            job = TrialJob(
                number=trial.number, variant=spec.variants[0], seed=int(spec.seeds[0]), params=params,
                data=spec.data, target=spec.target, task=spec.task, smiles_col=spec.smiles_col,
                **generation_job_fields({**self.base_settings, **params}),
                device=self.device, threads=self.threads, parent_pid=os.getpid(),
                checkpoint_dir=str(storage_root() / "tmp" / f"{self.name}-trial-{trial.number}"))
            return job, split
        frozen = self.rdb.get_trial(self._claimed_id)
        if self.kind == "ablation":
            # identity from the queued trial's user attrs (hpo.identity), never suggested
            ident = trial_identity(frozen)
            if ident is None:
                raise UserInputError(f"trial {trial.number} names no variant and seed (not queued by create)")
            variant, seed, repeat = ident.variant, ident.seed, ident.split_repeat
            split = self.split if repeat == 0 else study_splits(self.study.user_attrs)[repeat]
            params = tuned_params(frozen)  # a tuned ablation's stage 2: its variant's best configuration
        else:
            variant, seed = spec.variants[0], spec.seeds[0]
        if self.kind == "search" or is_tuning(frozen):
            params = suggest(trial, spec.space, variant, self.base_settings)
        settings = {**self.base_settings, **params}
        reason = infeasible_reason(variant, settings)
        if reason is not None:
            raise Infeasible(reason)
        model_over, train_over = parse_settings(settings)
        job = TrialJob(
            number=trial.number, variant=variant, seed=int(seed), split_repeat=repeat, params=params,
            data=spec.data, target=spec.target, task=spec.task, smiles_col=spec.smiles_col, metric=spec.metric,
            **pair_job_fields(spec),
            model=model_over, train=TrainConfig.from_dict(train_over),
            fault=fault_for_seed(spec.settings, seed) if self.fault_ok else None,
            device=self.device, threads=self.threads, parent_pid=os.getpid(),
            checkpoint_dir=str(storage_root() / "tmp" / f"{self.name}-trial-{trial.number}"),
            stage=stage_of(frozen),
        )
        return job, split

    def _resume_path(self, trial_id: int, number: int) -> Path:
        """Where this trial's lineage keeps its resumable state: retries and hand-backs share it."""
        attrs = self.res.call("read", self.rdb.get_trial, trial_id).user_attrs
        lineage = [number, *attrs.get("retry_history", []), *attrs.get("handback_history", []),
                   *attrs.get("loss_history", [])]
        study = self.study_name.replace(os.sep, "_")
        return storage_root() / "resume" / study / f"trial-{min(int(n) for n in lineage)}.pt"

    def _run_trial(self, trial_id: int) -> None:
        import optuna

        self._resume_file: Path | None = None
        self._claimed_id = trial_id
        self.res.call("adopt", self._adopt, trial_id)
        trial = optuna.Trial(self.study, trial_id)
        number = trial.number
        self.summary.trials.append(number)
        try:
            job, split = self.res.call("read", self._job, trial)
        except Infeasible as exc:
            # never trained: pruned, so TPE learns to avoid the region (it ignores FAILed trials)
            log.info("trial %d pruned before training: %s", number, exc)
            # an ablation's trial keeps the variant it was queued for (a tuned ablation's stage 1)
            named = {"variant": self.spec.variants[0]} if self.kind != "ablation" else {}
            self._finish(trial, optuna.trial.TrialState.PRUNED, None,
                         {**named, "pruned_reason": f"infeasible: {exc}", "epochs_run": 0})
            return
        except UserInputError as exc:
            self._finish(trial, optuna.trial.TrialState.FAIL, None, {"failure_reason": f"error: UserInputError: {exc}"})
            return
        self._resume_file = self._resume_path(trial_id, number)
        job = job.model_copy(update={"resume_path": str(self._resume_file)})
        self.res.call("set_user_attrs", set_user_attrs, self.rdb, trial_id, {
            "variant": job.variant, "seed": job.seed, "host": self.host, "worker": self.name,
            "worker_pid": os.getpid(), "device": self.device, "gpu": self.gpu, "job": job.to_stored()})
        log.info("trial %d: %s seed %d%s", number, job.variant, job.seed, f" {job.params}" if job.params else "")

        ctx = mp.get_context("fork")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=child_main, args=(child_conn, job, split), name=f"trial-{number}", daemon=False)
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
            shutil.rmtree(job.checkpoint_dir, ignore_errors=True)
        if self._stop_after is not None:
            raise self._stop_after

    def _adopt(self, trial_id: int) -> None:
        """Let Optuna's cached storage see the trial this worker claimed behind its back.

        A suggested parameter is written through the cache, which knows a trial
        only once it has read it. ``get_trials`` (public) re-reads the study's
        unfinished trials: 45-80 ms with 200 queued trials on SQLite (the TPE
        sampler pays that for every suggestion anyway), against ~2 ms for
        editing the cache's private dictionaries directly
        (``scripts/bench/optuna_public_cost.py``).
        """
        import optuna

        self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))


__all__ = ["Worker"]
