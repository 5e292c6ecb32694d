"""The child side: one forked process runs one trial and talks to its worker through a pipe.

The protocol, child to parent:

* ``("epoch", n, metrics)`` after each epoch; the child then waits for the
  answer ``"continue"`` or ``"prune"`` (checking every ``CHILD_POLL_S`` that
  its parent is still alive, so it never blocks on a dead one). The parent
  answers at once, storage or not: a report the storage cannot take yet is
  kept and written later (:mod:`.supervise`), so training never waits on
  the database;
* ``("resumed", epoch)`` when training continues from a saved state;
* exactly one outcome: ``("result", payload)``, ``("pruned", epoch)``,
  ``("user_error", message)`` or ``("failure", reason, traceback, kind)``.

The child never opens the storage; only the parent writes to it. A pipe that
closes without an outcome is a crash (the exit status says which).
"""

from __future__ import annotations

import ctypes
import os
import signal
import traceback

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.runner._faults import classify_failure, inject_fault, light_trial
from pepland_hpo.hpo.study import TrialJob

CHILD_POLL_S = 2.0  # how often a child waiting for its parent's answer checks the parent is alive


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


def child_main(conn, job: TrialJob, split: dict[str, list[int]] | None) -> None:
    """Run ``job`` on ``split`` (row indices) and send the outcome through ``conn``; never touches the storage."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides
    # what happens to the trial, the child just gets stopped by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _set_parent_death_signal()
    if os.getppid() != job.parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        clean = {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float)) or hasattr(v, "__float__")}
        conn.send(("epoch", int(epoch), clean))
        # The parent answers before it writes the report (a storage outage delays the write, not
        # the answer), but one storage attempt may be slow: wait, never on a dead parent.
        while not conn.poll(CHILD_POLL_S):
            if os.getppid() != job.parent_pid:
                os._exit(1)
        if conn.recv() == "prune":
            raise _Pruned(epoch)

    try:
        if job.threads:
            import torch

            torch.set_num_threads(job.threads)
        fault = job.fault
        if fault and fault.startswith("sleep:"):
            conn.send(("result", light_trial(job, float(fault.split(":", 1)[1]), on_epoch)))
            return
        if fault:
            inject_fault(fault, job.device)
        if job.generation is not None:  # a generation study's trial trains the generator
            from pepland_hpo.hpo.study import run_generation_trial

            conn.send(("result", run_generation_trial(job, split, on_epoch,
                                                      on_resume=lambda epoch: conn.send(("resumed", int(epoch))))))
            return
        from pepland_hpo.training.resume import ResumePoint
        from pepland_hpo.training.run import run_experiment

        cfg = job.experiment(split)
        resume = None
        if job.resume_path and job.train.checkpoint_every > 0:
            resume = ResumePoint(job.resume_path, job.train.checkpoint_every,
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
        from pepland_hpo.hpo.queue import failure_kind

        conn.send(("failure", classify_failure(exc), traceback.format_exc(), failure_kind(exc)))
    finally:
        conn.close()


__all__ = ["CHILD_POLL_S", "child_main"]
