"""Recording a trial's outcome: its state and value, user attributes, checkpoint artifact, hand-backs.

Every write goes through the worker's retrying wrapper (:mod:`..resilient`).
A trial failed meanwhile by another process (its heartbeat lapsed) keeps
that verdict: this attempt's result is discarded, its retry carries on.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from pathlib import Path
from typing import Any

from pepland_hpo.hpo.queue import set_user_attrs
from pepland_hpo.hpo.study import TrialJob
from pepland_hpo.hpo.queue import EnvironmentFailure
from pepland_hpo.paths import artifacts_dir

log = logging.getLogger("pepland_hpo.worker")

ENV_STREAK = 3  # this many identical OS errors in a row stop the worker
# A scheduler stops a job by signalling every one of its processes (Slurm's scancel and
# time limit): the child can die of its SIGTERM a moment before the worker's own arrives.
STOP_FOLLOWS_S = 2.0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not text.startswith(type(exc).__name__) else text


class Recording:
    """Mixed into :class:`~.claim_loop.Worker`; uses its ``rdb``, ``res``, ``study``, ``spec``,
    ``device``, ``summary``, ``_claimed_id`` (the running trial's id), ``_resume_file``, ``_os_errors`` and ``_stop_after``."""

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

    def _finish(self, trial, state, value, attrs: dict[str, Any]) -> None:
        import optuna

        try:
            self.res.call("set_user_attrs", set_user_attrs, self.rdb, self._claimed_id, attrs)
            if state == optuna.trial.TrialState.COMPLETE:
                self.res.call("tell", self.study.tell, trial, value)
            else:
                self.res.call("tell", self.study.tell, trial, state=state)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Our heartbeat lapsed (e.g. storage unreachable) and another process
            # failed and re-queued the trial: its retry carries on (from the resume state).
            log.warning("trial %d was failed by another process meanwhile; result discarded", trial.number)
            return
        self._drop_resume_state()
        if state == optuna.trial.TrialState.COMPLETE:
            self.summary.completed += 1
        elif state == optuna.trial.TrialState.PRUNED:
            self.summary.pruned += 1
        else:
            self.summary.failed += 1

    def _worker_stops_too(self) -> bool:
        """The child died of SIGTERM: was it the whole job being stopped (then the worker's own
        SIGTERM follows within a moment, and the trial is handed back, not failed)?"""
        end = time.monotonic() + STOP_FOLLOWS_S
        while not self.stop.requested and time.monotonic() < end:
            time.sleep(0.05)  # a signal handler runs here
        return self.stop.requested

    def _record(self, trial, job: TrialJob, outcome, exitcode: int | None, last_epoch: int, stopped: bool) -> None:
        from optuna.trial import TrialState

        number = trial.number
        if not stopped and outcome is None and exitcode == -signal.SIGTERM:
            stopped = self._worker_stops_too()
        if stopped and (outcome is None or outcome[0] != "result"):
            # Graceful stop: not the trial's fault. Fail the attempt and queue a copy (one
            # transaction); the copy resumes from the last saved epoch.
            self.res.call("handback", self._try_handback_strict, self._claimed_id, "worker stopped", last_epoch)
            return
        if outcome is None:
            if exitcode is not None and exitcode < 0:
                reason = f"crashed: signal {-exitcode}"
            else:
                reason = f"crashed: exit code {exitcode}"
            log.warning("trial %d %s", number, reason)
            self._fail_own(trial, {"failure_reason": reason, "epochs_run": last_epoch})
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
                self.res.call("handback", self._try_handback_strict, self._claimed_id,
                              f"environment: {reason}", last_epoch, f"environment: {reason}")
                why = "the environment" if env == "environment" else f"{ENV_STREAK} identical OS errors in a row"
                self._stop_after = EnvironmentFailure(
                    f"trial {number} failed because of {why}: {reason} (it writes checkpoints under "
                    f"{Path(job.checkpoint_dir).parent} and its resume state under {self._resume_file.parent if self._resume_file else '-'}); "
                    "the trial is back in the queue")
                return
            self._fail_own(trial, {"failure_reason": reason, "epochs_run": last_epoch})
        elif kind == "user_error":
            # A setting the training layer refuses: the trial's fault, reported plainly.
            log.warning("trial %d: %s", number, outcome[1])
            self._finish(trial, TrialState.FAIL, None,
                         {"failure_reason": f"error: UserInputError: {outcome[1]}", "epochs_run": last_epoch})
        elif kind == "result":
            self._record_result(trial, job, outcome[1])

    def _fail_own(self, trial, attrs: dict[str, Any]) -> None:
        """The trial itself failed: FAIL it and, while ``max_retries`` allows, queue a retry that
        resumes from its last saved epoch (one transaction; :func:`..queue.retry_or_fail`)."""
        from pepland_hpo.hpo.queue import retry_or_fail

        limit = self.spec.max_retries
        done, retried = self.res.call("fail", retry_or_fail, self.rdb, self._claimed_id, attrs, limit)
        if done is None:
            log.warning("trial %d was failed by another process meanwhile; result discarded", trial.number)
            return
        self.summary.failed += 1
        if retried:
            log.info("trial %d: retry queued (at most %d per trial); it resumes from its last epoch",
                     trial.number, limit)
        else:
            log.warning("trial %d: retries used up (%d); its pair will not complete without "
                        "`create --retry-failed`", trial.number, limit)
            self._drop_resume_state()

    def _drop_resume_state(self) -> None:
        if self._resume_file is not None:  # finished for good: nothing will resume it
            try:
                self._resume_file.unlink()
            except FileNotFoundError:
                pass

    def _try_handback_strict(self, trial_id: int, reason: str, last_epoch: int,
                             failure_reason: str = "interrupted") -> None:
        """Hand back through the retrying wrapper: storage errors propagate so it can retry them."""
        from pepland_hpo.hpo.queue import handback

        if handback(self.rdb, trial_id, reason, {"epochs_run": last_epoch, "failure_reason": failure_reason}):
            self.summary.handed_back += 1

    def _record_result(self, trial, job: TrialJob, res: dict[str, Any]) -> None:
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
            from pepland_hpo.hpo.analysis import PREDICTIONS_ATTR, encode_predictions

            attrs[PREDICTIONS_ATTR] = encode_predictions(res["predictions"])
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
            except Exception as exc:  # noqa: BLE001 - whatever stopped the upload, the trial is not done
                # Never a COMPLETE trial without its model: `predict` and `export` would have nothing
                # to load. The machine failed, not the trial: hand it back (its resume state makes the
                # copy's rerun cheap) and stop before the next trial fails the same way.
                where = f"artifact folder {artifacts_dir()}"
                log.debug("trial %d: checkpoint upload failed", trial.number, exc_info=True)
                reason = f"environment: could not store the checkpoint in the {where}: {_one_line(exc)}"
                self.res.call("handback", self._try_handback_strict, self._claimed_id, reason,
                              int(attrs["epochs_run"]), reason)
                self._stop_after = EnvironmentFailure(
                    f"trial {trial.number}: could not store its checkpoint in the {where} ({_one_line(exc)}); "
                    "the trial is back in the queue")
                return
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
            from pepland_hpo.hpo.study import values

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



__all__ = ["ENV_STREAK", "Recording"]
