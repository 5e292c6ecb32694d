"""``run_worker``: one worker from start to summary, with its log files and its device pinning undone after."""

from __future__ import annotations

import logging
import os

from pepland_hpo.hpo.runner._claim_loop import Worker
from pepland_hpo.hpo.runner._summary import WorkerSummary
from pepland_hpo.hpo.runner._log import setup_logging, teardown_logging


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


__all__ = ["run_worker"]
