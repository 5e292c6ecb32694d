"""Benchmark: how fast a killed worker's trial runs again, and how much training a kill costs.

    python scripts/bench/recovery.py [--trials 12] [--kills 5] [--molecules 800] [--epochs 10]
                                     [--grace 10] [--no-reference]

Two workers (``python -m pepland_hpo.cli worker``, one torch thread each)
run an ablation of real short trials (gcn on a c-CPP slice; ~2 s epochs,
~20 s trials on an idle 2-core machine). At random moments the benchmark
``kill -9``s the worker that is running a trial and restarts it at once,
as ``pepland-hpo launch`` does. For each kill it records when the killed
trial's retry is RUNNING again and, at the end, how many completed epochs
the retry trained a second time (the killed attempt's last reported epoch
minus the retry's ``resumed_from_epoch``).

Prints JSON lines ``{"metric": ..., "value": ...}``:

* ``recovery_seconds_mean`` (and ``recovery_seconds_max``): kill → the killed
  trial's retry RUNNING — goal ≤ ``grace_seconds`` + 15;
* ``grace_seconds``: the heartbeat grace period used (short here; the
  production default is 60 s). A dead worker on the *same* machine needs no
  grace: its process id is gone, which the restarted worker (or the timer
  of the other one) sees at once;
* ``epochs_redone_per_kill`` — goal ≤ ``checkpoint_every_epochs``;
* the same two numbers with resuming off (``checkpoint_every=0``), the
  reference measured in the same run (``--no-reference`` skips it).

Everything runs in a temporary storage root with a SQLite file.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import PEPLAND_DATA, REPO, balanced_slice, emit

DEFAULT_DATA = PEPLAND_DATA / "c-CPP.txt"


def _create(url: str, data: Path, name: str, trials: int, settings: dict) -> None:
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_ablation_spec

    spec = build_ablation_spec(REPO / "studies" / "ablation.yaml", data=str(data), variants=["gcn"],
                               seeds=list(range(trials)), settings=settings, name=name, validate=False)
    spec.split = {"kind": "stratified", "fractions": [0.6, 0.2, 0.2], "seed": 0}
    spec.max_retries = 5  # the benchmark may kill the same lineage more than once
    create_study_from_spec(url, spec)


class Fleet:
    """Worker processes by slot; a killed one is restarted at once."""

    def __init__(self, url: str, study: str, n: int, log_dir: Path) -> None:
        self.url, self.study, self.log_dir = url, study, log_dir
        self.procs: dict[int, subprocess.Popen] = {}
        for slot in range(n):
            self.start(slot)

    def start(self, slot: int) -> None:
        env = {**os.environ, "PEPLAND_HPO_STORAGE": self.url}
        log = open(self.log_dir / f"{self.study}-slot{slot}.out", "a")
        self.procs[slot] = subprocess.Popen(
            [sys.executable, "-m", "pepland_hpo.cli", "worker", "--study", self.study, "--name", f"slot{slot}",
             "--threads", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)

    def done(self) -> bool:
        codes = [p.poll() for p in self.procs.values()]
        if any(c not in (None, 0) for c in codes):  # the ones we killed were replaced already
            raise SystemExit(f"{self.study}: a worker failed (exit codes {codes}); see {self.log_dir}")
        return all(c is not None for c in codes)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()


def _running_by_pid(study) -> dict[int, object]:
    from optuna.trial import TrialState

    return {t.user_attrs.get("worker_pid"): t for t in study.get_trials(states=(TrialState.RUNNING,))
            if t.user_attrs.get("worker_pid")}


def run_case(url: str, data: Path, name: str, args, checkpoint_every: int, rng: random.Random) -> dict:
    import optuna
    from optuna.trial import TrialState

    from pepland_hpo.hpo.queue import open_storage

    settings = {"hidden_dim": "32", "num_layers": "2", "epochs": str(args.epochs), "batch_size": "32",
                "patience": "0", "checkpoint_every": str(checkpoint_every)}
    _create(url, data, name, args.trials, settings)
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    fleet = Fleet(url, name, 2, Path(os.environ["PEPLAND_HPO_HOME"]))
    kills: list[dict] = []  # {"number", "at", "recovered"}
    started = time.monotonic()
    next_kill = started + rng.uniform(args.min_gap, args.max_gap)
    try:
        while not fleet.done():
            now = time.monotonic()
            if len(kills) < args.kills and now >= next_kill:
                running = _running_by_pid(study)
                victims = [(slot, p) for slot, p in fleet.procs.items() if p.poll() is None and p.pid in running]
                if victims:
                    slot, proc = rng.choice(victims)
                    trial = running[proc.pid]
                    proc.send_signal(signal.SIGKILL)
                    at = time.monotonic()
                    proc.wait()
                    fleet.start(slot)
                    kills.append({"number": trial.number, "at": at, "recovered": None})
                    next_kill = at + rng.uniform(args.min_gap, args.max_gap)
            pending = [k for k in kills if k["recovered"] is None]
            if pending:
                trials = study.get_trials()
                for k in pending:
                    retry = [t for t in trials if t.user_attrs.get("requeued_from") == k["number"]
                             and t.state != TrialState.WAITING]
                    if retry:
                        k["recovered"] = time.monotonic()
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"{name}: not finished after {args.timeout}s")
            time.sleep(0.2)
    finally:
        fleet.stop()
    trials = {t.number: t for t in study.get_trials()}
    killed_numbers = {k["number"] for k in kills}

    def retry_of(number: int):
        return next(t for t in trials.values() if t.user_attrs.get("requeued_from") == number)

    redone, details = [], []
    for k in kills:
        killed = trials[k["number"]]
        reached = max(killed.intermediate_values, default=0)
        # the attempt that trained next: skip retries killed again before they started training
        nxt = retry_of(k["number"])
        while ("resumed_from_epoch" not in nxt.user_attrs and not nxt.intermediate_values
               and nxt.number in killed_numbers):
            nxt = retry_of(nxt.number)
        start = int(nxt.user_attrs.get("resumed_from_epoch", 0))
        redone.append(max(0, reached - start))
        details.append({"trial": k["number"], "reached_epoch": reached, "next_attempt": nxt.number,
                        "resumed_from_epoch": start,
                        "recovery_s": None if k["recovered"] is None else round(k["recovered"] - k["at"], 2)})
    complete = sum(t.state == TrialState.COMPLETE for t in trials.values())
    recoveries = [k["recovered"] - k["at"] for k in kills if k["recovered"] is not None]
    seconds = [s for t in trials.values() for s in t.user_attrs.get("epoch_seconds", [])]
    return {"kills": len(kills), "recoveries": recoveries, "redone": redone, "details": details,
            "complete": complete,
            "epoch_seconds": statistics.mean(seconds) if seconds else None,
            "wall_seconds": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--molecules", type=int, default=800, help="~2 s epochs with one thread")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--checkpoint-every", type=int, default=1)
    parser.add_argument("--heartbeat", type=int, default=2)
    parser.add_argument("--grace", type=int, default=10)
    parser.add_argument("--min-gap", type=float, default=6.0, help="seconds between kills: at least")
    parser.add_argument("--max-gap", type=float, default=25.0, help="seconds between kills: at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--no-reference", action="store_true", help="skip the run with resuming off")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pepland-bench-recovery-"))
    os.environ["PEPLAND_HPO_HOME"] = str(home)
    os.environ.setdefault("PEPLAND_HPO_CACHE", str(home / "cache"))
    os.environ["PEPLAND_HPO_HEARTBEAT_S"] = str(args.heartbeat)
    os.environ["PEPLAND_HPO_GRACE_S"] = str(args.grace)
    url = f"sqlite:///{home / 'pepland.db'}"
    data = balanced_slice(args.data, args.molecules, home / "cpp.txt")
    from pepland_hpo.data.dataset import load_dataset

    load_dataset(str(data))  # featurise once, before any timing

    cases = [("resume", args.checkpoint_every)] + ([] if args.no_reference else [("no_resume", 0)])
    results = {}
    for name, every in cases:
        results[name] = res = run_case(url, data, name, args, every, random.Random(args.seed))
        if res["complete"] != args.trials:
            raise SystemExit(f"{name}: {res['complete']} of {args.trials} trials complete")
    res = results["resume"]
    context = {"workers": 2, "trials": args.trials, "kills": res["kills"],
               "epoch_seconds_mean": round(res["epoch_seconds"] or 0, 2), "epochs": args.epochs,
               "load_avg_1min": round(os.getloadavg()[0], 2)}
    emit("recovery_seconds_mean", round(statistics.mean(res["recoveries"]), 2),
         goal=f"<= grace + 15 = {args.grace + 15}", **context)
    emit("recovery_seconds_max", round(max(res["recoveries"]), 2))
    emit("grace_seconds", args.grace, heartbeat_seconds=args.heartbeat,
         note="same-machine deaths are detected by process id, without waiting for the grace")
    emit("epochs_redone_per_kill", round(statistics.mean(res["redone"]), 2), per_kill=res["redone"],
         goal=f"<= checkpoint_every_epochs = {args.checkpoint_every}")
    emit("checkpoint_every_epochs", args.checkpoint_every)
    emit("kills_detail", len(res["details"]), kills=res["details"])
    if "no_resume" in results:
        ref = results["no_resume"]
        emit("reference_epochs_redone_per_kill_without_resume", round(statistics.mean(ref["redone"]), 2),
             per_kill=ref["redone"])
        emit("reference_recovery_seconds_mean_without_resume", round(statistics.mean(ref["recoveries"]), 2))
        emit("wall_seconds", round(res["wall_seconds"], 1), reference=round(ref["wall_seconds"], 1))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
