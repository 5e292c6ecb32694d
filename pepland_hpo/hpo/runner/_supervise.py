"""The parent while a trial runs: answer the child, heartbeat, reap, report epochs, stop the child.

The parent runs no threads: heartbeats and reaping happen in this wait loop,
which is what makes forking the child safe.

**The child never waits on the storage.** Each epoch is answered after at
most one storage attempt (refused at once while a server is down); its report (and any attribute write) goes into an outbox that is written in
order, one attempt per pass of the loop, so a database outage stalls nothing
but the writes: the epochs train on and their reports reach Optuna, in order
and each once, when the storage is back (or, at the latest, before the trial
is told). Heartbeats during the outage fail quietly (the first one after
it goes out at once) and reaping pauses; the outage bound
(``--storage-outage-s``) still stops the worker: past it, the next attempt
raises :class:`~..resilient.StorageOutage`, as a blocking call would have.
Once the child has ended, the kept writes and the outcome go through the
retrying :meth:`~..resilient.Resilient.call`: nothing is left to answer.

**Pruning decides on what the storage holds.** ``should_prune`` is asked only
after the epoch's report was written, and its answer is given to the child at
the next epoch when it could not be given at this one. During an outage no
decision is taken at all: a trial the pruner would have stopped trains on for
the epochs of the outage (at most ``outage_s`` of training), and is pruned at
the first epoch after its buffered reports reached the storage (one whose
last epoch falls in the outage completes instead). No decision is ever taken
on a value Optuna has not stored, so an outage changes when a trial is pruned,
never which values it is pruned on.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from multiprocessing.connection import wait as mp_wait

from pepland_hpo.hpo.queue import set_user_attrs
from pepland_hpo.hpo.study import TrialJob

log = logging.getLogger("pepland_hpo.worker")

STOP_TIMEOUT_S = 10.0  # how long a stopping child gets before SIGKILL


class _Outbox:
    """Storage writes of one running trial, in order; flushed one attempt at a time."""

    def __init__(self, res, number: int) -> None:
        self.res = res
        self.number = number
        self.items: deque[tuple[str, object, tuple]] = deque()
        self.held = False  # an attempt failed: writes are being kept until the storage is back

    def add(self, what: str, fn, *args) -> None:
        self.items.append((what, fn, args))

    def flush(self) -> bool:
        """Write what can be written now, oldest first; True when nothing is left."""
        while self.items:
            what, fn, args = self.items[0]
            done, _ = self.res.try_once(what, fn, *args)
            if not done:
                self._hold()
                return False
            self.items.popleft()
        if self.held:
            self.held = False
            log.info("trial %d: the writes kept during the outage are stored", self.number)
        return True

    def drain(self) -> None:
        """Write everything, riding out an outage (bounded) like any storage call."""
        while self.items:
            what, fn, args = self.items[0]
            self.res.call(what, fn, *args)
            self.items.popleft()

    def _hold(self) -> None:
        if not self.held:
            self.held = True
            log.info("trial %d trains on; its epoch reports are kept until the storage is back", self.number)


class Supervision:
    """Mixed into :class:`~.claim_loop.Worker`; uses its ``rdb``, ``res``, ``spec``, ``kind``,
    ``interval``, ``reap_every``, ``stop``, ``url``, ``_claimed_id`` and ``_reap``."""

    def _supervise(self, trial, job: TrialJob, proc, parent_conn) -> tuple[tuple | None, bool, int, bool]:
        """Answer the child, heartbeat and reap until it ends: ``(outcome, lost, last epoch, stopped)``."""
        import optuna

        self._name_storage()
        trial_id, number = self._claimed_id, trial.number
        outcome: tuple | None = None
        lost = False
        last_epoch = 0
        # Pruning after the last epoch saves nothing and would hide a finished trial's value.
        planned_epochs = job.train.epochs
        searching = self.kind in ("search", "generation") or job.stage == "tune"
        outbox = _Outbox(self.res, number)
        prune = False  # decided on stored reports, told to the child at its next epoch
        last_beat = last_reap = time.monotonic()
        beat_owed = False  # a heartbeat failed: send one as soon as the storage answers again
        stopped = False
        try:
            while True:
                now = time.monotonic()
                if now - last_beat >= self.interval or (beat_owed and self.res.down_since is None):
                    beat_owed = not self.res.try_once("heartbeat", self.rdb.record_heartbeat, trial_id)[0]
                    last_beat = now
                if now - last_reap >= self.reap_every and self.res.down_since is None:
                    self._reap(own=trial_id)
                    last_reap = time.monotonic()
                if self.stop.requested and not stopped:
                    stopped = True
                    self._stop_child(proc)
                if outbox.items and outbox.flush() and searching and last_epoch < planned_epochs:
                    prune = prune or self._should_prune(trial)
                # at most a second between passes: kept writes go out soon after the storage is back
                ready = mp_wait([parent_conn, proc.sentinel],
                                timeout=max(0.05, min(1.0, self.interval - (time.monotonic() - last_beat))))
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
                        outbox.add("set_user_attrs", set_user_attrs, self.rdb, trial_id, {"resumed_from_epoch": msg[1]})
                        outbox.flush()
                    elif msg[0] == "epoch":
                        _, epoch, metrics = msg
                        last_epoch = epoch
                        value = metrics.get(self.spec.metric)
                        # Optuna takes no intermediate values from a multi-objective study (hpo.objectives)
                        if value is not None and math.isfinite(value) and not self.spec.objectives:
                            outbox.add("report", trial.report, value, epoch)
                            if outbox.flush() and searching and epoch < planned_epochs:
                                prune = prune or self._should_prune(trial)
                        self._answer(parent_conn, "prune" if prune and epoch < planned_epochs else "continue")
                    else:
                        outcome = msg
                elif proc.sentinel in ready and not parent_conn.poll():
                    break
            outbox.drain()  # every report is stored before the trial is told
        except optuna.exceptions.UpdateFinishedTrialError:
            # Reaped as stale (we were too slow to heartbeat) and retried
            # elsewhere: this attempt is void, stop it.
            log.warning("trial %d was failed by another process; stopping it", number)
            self._stop_child(proc)
            lost = True
        return outcome, lost, last_epoch, stopped

    def _name_storage(self) -> None:
        # The outage lines name the storage; a wrapper built without its name gets it here.
        if not self.res.where:
            from pepland_hpo.hpo.queue import mask_url

            self.res.where = mask_url(self.url)

    @staticmethod
    def _answer(parent_conn, answer: str) -> None:
        try:
            parent_conn.send(answer)
        except (BrokenPipeError, OSError):
            pass  # the child is gone; its sentinel ends the loop

    def _should_prune(self, trial) -> bool:
        done, answer = self.res.try_once("should_prune", trial.should_prune)
        return bool(done and answer)

    def _stop_child(self, proc) -> None:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=STOP_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()


__all__ = ["STOP_TIMEOUT_S", "Supervision"]
