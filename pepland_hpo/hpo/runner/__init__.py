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
* **Claiming** is one conditional UPDATE (:func:`pepland_hpo.hpo.queue._claims.claim_waiting`), so
  an enqueued trial never runs twice, on SQLite as on PostgreSQL.
* **Heartbeats and reaping**: the parent records Optuna's trial heartbeat
  every interval while the child runs, and reaps lost trials of other workers
  on a timer from the same loop (:mod:`pepland_hpo.hpo.queue._claims`: one transaction fails a lost
  trial and queues its retry; a dead worker on this host is reaped at once).
* **Storage trouble** (:mod:`pepland_hpo.hpo.queue._resilient`): every storage call rides out an
  outage for a bounded time; past it, or on a full disk or a vanished SQLite
  file, the child is stopped and the worker exits with code 3. The child
  never blocks on a dead parent.
* **Resume**: each trial's lineage keeps a resumable training state under
  ``storage/resume/`` (:mod:`pepland_hpo.training.resume`); a retry or a
  handed-back copy continues from its last saved epoch.
* **SIGTERM / Ctrl-C**: the running child is stopped, the trial is marked
  ``failure_reason="interrupted"`` and a copy goes back to the queue for
  another worker; the worker returns normally (exit code 0).

The modules, one concept each:

* :mod:`.claim_loop` — :class:`Worker`: set-up, the claim loop, one trial's life;
* :mod:`.child` — the forked child and the pipe protocol it speaks;
* :mod:`.supervise` — the parent while a child runs (answers, heartbeats, reaping);
* :mod:`.record` — outcomes, user attributes, checkpoint artifacts, hand-backs;
* :mod:`.stop` — SIGTERM / Ctrl-C as a flag; :mod:`.summary` — what a worker did;
* :mod:`.entry` — :func:`run_worker`, what ``pepland-hpo worker`` calls.

Next to the package: fault injection for tests :mod:`pepland_hpo.hpo.runner._faults`,
devices :mod:`pepland_hpo.hpo.runner._devices`, logs :mod:`pepland_hpo.hpo.runner._log`.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "Worker": "_claim_loop",
    "run_worker": "_entry",
    "faults_allowed": "_faults",
    "FAULTS_ENV": "_faults",
    "parse_fault": "_faults",
    "launch": "_launcher",
    "setup_logging": "_log",
    "teardown_logging": "_log",
    "WorkerSummary": "_summary",
    "Supervision": "_supervise",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
