"""`pepland-hpo launch`: one supervised worker process per GPU slot.

Each worker is a separate ``python -m pepland_hpo.cli worker`` process (not a
fork of this one) so it pins its own GPU before anything initialises CUDA.
The storage URL travels in the environment, never on the command line where
``ps`` would show its password. Output lines are prefixed ``[gpu0.1]``
(GPU 0, slot 1). Ctrl-C / SIGTERM is passed on as SIGTERM: each worker hands
its running trial back to the queue and exits 0. A worker that crashes
(killed, out of memory) is restarted a few times; one that exits 2 (bad
input) or 3 (its environment failed: disk full, database gone or unreachable
past the outage bound) is not, since a restart would only hit the same wall.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.queue import SQLITE_MAX_WORKERS, is_sqlite, mask_text, mask_url, resolve_url

MAX_RESTARTS = 3
NO_RESTART_CODES = (0, 2, 3)  # done, bad input, environment failed
STOP_GRACE_S = 60.0


@dataclass
class _Slot:
    label: str
    gpu: str
    proc: subprocess.Popen | None = None
    restarts: int = 0
    code: int | None = None


def _slots(gpus: list[str], per_gpu: int) -> list[_Slot]:
    if per_gpu < 1:
        raise UserInputError(f"--per-gpu must be at least 1, got {per_gpu}")
    if not gpus:
        raise UserInputError("--gpus: give at least one GPU index (or cpu)")
    slots = []
    for gpu in gpus:
        g = str(gpu).strip().lower()
        if not (g.isdigit() or g in ("cpu", "auto")):
            raise UserInputError(f"--gpus: {gpu!r} is not a GPU index, cpu or auto")
        for k in range(per_gpu):
            label = f"gpu{g}.{k}" if g.isdigit() else f"{g}.{k}"
            slots.append(_Slot(label=label, gpu=g))
    return slots


def _pump(slot: _Slot, stream, lock: threading.Lock, url: str) -> None:
    for line in iter(stream.readline, ""):
        with lock:
            sys.stdout.write(f"[{slot.label}] {mask_text(line.rstrip(), url)}\n")
            sys.stdout.flush()
    stream.close()


def launch(
    storage_url: str | None,
    gpus: list[str],
    per_gpu: int = 1,
    study_name: str | None = None,
    *,
    worker_cmd: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> int:
    """Start one worker per slot, relay their output, stop them all on Ctrl-C/SIGTERM; the exit code."""
    url = resolve_url(storage_url)
    slots = _slots(gpus, per_gpu)
    if is_sqlite(url) and len(slots) > SQLITE_MAX_WORKERS:
        raise UserInputError(
            f"{len(slots)} workers on SQLite: pepland-hpo promises at most {SQLITE_MAX_WORKERS} workers on one "
            "SQLite file; use PostgreSQL (--storage postgresql+psycopg://...) for more"
        )
    base_cmd = worker_cmd or [sys.executable, "-m", "pepland_hpo.cli", "worker"]
    threads_per_worker = max(1, (os.cpu_count() or 1) // len(slots))
    lock = threading.Lock()
    stopping = threading.Event()

    def start(slot: _Slot) -> None:
        cmd = [*base_cmd, "--gpu", slot.gpu]
        if study_name:
            cmd += ["--study", study_name]
        env = {**os.environ, **(extra_env or {}), "PEPLAND_HPO_STORAGE": url,
               "PEPLAND_HPO_WORKER_NAME": slot.label, "PYTHONUNBUFFERED": "1"}
        # Share the cores: torch's default (every core per process) times several
        # workers oversubscribes them, and small graph ops then slow down tenfold.
        env.setdefault("PEPLAND_HPO_THREADS", str(threads_per_worker))
        slot.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, start_new_session=True)
        threading.Thread(target=_pump, args=(slot, slot.proc.stdout, lock, url), daemon=True).start()
        with lock:
            print(f"[launch] started {slot.label} (pid {slot.proc.pid}) on storage {mask_url(url)}", flush=True)

    def on_signal(signum, _frame) -> None:
        stopping.set()

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, on_signal)
        except ValueError:
            pass
    try:
        for slot in slots:
            start(slot)
        while not stopping.is_set():
            alive = 0
            for slot in slots:
                if slot.proc is None or slot.code is not None:
                    continue
                rc = slot.proc.poll()
                if rc is None:
                    alive += 1
                    continue
                if rc not in NO_RESTART_CODES and slot.restarts < MAX_RESTARTS:
                    slot.restarts += 1
                    with lock:
                        print(f"[launch] {slot.label} exited with {rc}; restart {slot.restarts}/{MAX_RESTARTS}", flush=True)
                    start(slot)
                    alive += 1
                else:
                    slot.code = rc
            if alive == 0:
                break
            stopping.wait(0.5)
        if stopping.is_set():
            with lock:
                print("[launch] stopping workers (running trials go back to the queue)", flush=True)
            for slot in slots:
                if slot.proc and slot.proc.poll() is None:
                    slot.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            for slot in slots:
                if slot.proc is None:
                    continue
                try:
                    slot.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    slot.proc.kill()
                    slot.proc.wait()
                slot.code = slot.proc.returncode
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for slot in slots:
            if slot.proc and slot.proc.poll() is None:
                slot.proc.kill()
    codes = [s.code for s in slots if s.code not in (None, 0)]
    return int(codes[0]) if codes else 0


__all__ = ["launch"]
