"""The parent while a trial runs: answer the child, heartbeat, reap, report epochs, stop the child.

The parent runs no threads: heartbeats and reaping happen in this wait loop,
which is what makes forking the child safe.
"""

from __future__ import annotations

import logging
import math
import time
from multiprocessing.connection import wait as mp_wait

from pepland_hpo.hpo.queue import set_user_attrs
from pepland_hpo.hpo.trial_job import TrialJob

log = logging.getLogger("pepland_hpo.worker")

STOP_TIMEOUT_S = 10.0  # how long a stopping child gets before SIGKILL


class Supervision:
    """Mixed into :class:`~.claim_loop.Worker`; uses its ``rdb``, ``res``, ``spec``, ``kind``,
    ``interval``, ``reap_every``, ``stop``, ``_claimed_id`` and ``_reap``."""

    def _supervise(self, trial, job: TrialJob, proc, parent_conn) -> tuple[tuple | None, bool, int, bool]:
        """Answer the child, heartbeat and reap until it ends: ``(outcome, lost, last epoch, stopped)``."""
        import optuna

        trial_id, number = self._claimed_id, trial.number
        outcome: tuple | None = None
        lost = False
        last_epoch = 0
        # Pruning after the last epoch saves nothing and would hide a finished trial's value.
        planned_epochs = job.train.epochs
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
                            searching = self.kind == "search" or job.stage == "tune"
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

    def _stop_child(self, proc) -> None:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=STOP_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()


__all__ = ["STOP_TIMEOUT_S", "Supervision"]
