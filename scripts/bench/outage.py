"""Benchmark: what a PostgreSQL outage in the middle of a trial costs the trial.

    python scripts/bench/outage.py [--down 60] [--down-after 5] [--epochs 100] [--molecules 800]
                                   [--sleep S]

One worker (``python -m pepland_hpo.cli worker``, one torch thread) runs one
real gcn trial on a c-CPP slice, twice, each in a fresh database on a
private PostgreSQL server (``tests/hpo/pg.py``): once undisturbed, once with
the server stopped (``pg_ctl stop -m fast``) for ``--down`` seconds,
``--down-after`` seconds after the trial's first epoch report. The trial is
long enough (``--epochs``; ~0.8 s epochs on an idle 2-core machine) to go on
after the server is back: a trial that ends during the outage must wait for
the storage to record its outcome, which no design avoids (the bench says
so in a ``note``). ``--sleep S`` runs light trials (S seconds of sleep
over the epochs, no training) instead, to see the framework alone.

Prints JSON lines ``{"metric": ..., "value": ...}``:

* ``trial_wall_seconds`` for each case (``case``: ``baseline`` or
  ``outage``): the trial's start to its completion, as Optuna stored them,
  with ``train_seconds`` (the sum of its epoch times, as the trial measured
  them) and the outage's actual length;
* ``outage_stall_seconds``: wall with the outage − wall without — goal ≤ 5
  (a worker whose training waited on the storage stalls by the outage's
  length: 60 s);
* ``outage_stall_beyond_training_seconds``: the same on (wall − training
  time), which leaves out how fast the two runs happened to train.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import PEPLAND_DATA, REPO, balanced_slice, emit

sys.path.insert(0, str(REPO))


def _create(url: str, data: Path, name: str, settings: dict) -> None:
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_ablation_spec

    spec = build_ablation_spec(REPO / "studies" / "ablation.yaml", data=str(data), variants=["gcn"],
                               seeds=[0], settings=settings, name=name, validate=False)
    spec.split = {"kind": "stratified", "fractions": [0.6, 0.2, 0.2], "seed": 0}
    create_study_from_spec(url, spec)


def _worker(url: str, name: str, log_dir: Path, outage_bound: float) -> subprocess.Popen:
    env = {**os.environ, "PEPLAND_HPO_STORAGE": url}  # never in argv
    log = open(log_dir / f"{name}.out", "a")
    return subprocess.Popen(
        [sys.executable, "-m", "pepland_hpo.cli", "worker", "--study", name, "--name", name, "--threads", "1",
         "--storage-outage-s", str(outage_bound)], env=env, stdout=log, stderr=subprocess.STDOUT)


def _first_report(study, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not any(t.intermediate_values for t in study.get_trials()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the trial reported no epoch (worker exit code {proc.poll()})")
        time.sleep(0.2)


def run_case(pg, name: str, data: Path, settings: dict, args, down_s: float) -> dict:
    """One trial in a fresh database, the server stopped ``down_s`` seconds mid-trial (0: never)."""
    import optuna
    from optuna.trial import TrialState

    from pepland_hpo.hpo.queue import open_storage

    url = pg.fresh_database(name)
    _create(url, data, name, settings)
    storage = open_storage(url)
    study = optuna.load_study(study_name=name, storage=storage)
    proc = _worker(url, name, Path(os.environ["PEPLAND_HPO_HOME"]), outage_bound=down_s + 240)
    outage, trained_past_outage = 0.0, True
    try:
        if down_s > 0:
            _first_report(study, proc)
            t_first = time.monotonic()
            time.sleep(args.down_after)
            storage.engine.dispose()  # the bench's own connections must not outlive the server
            t_down = time.monotonic()
            pg.pause()
            try:
                time.sleep(down_s)
            finally:
                pg.resume()
            t_up = time.monotonic()
            outage = t_up - t_down
        code = proc.wait(timeout=args.timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise SystemExit(f"{name}: the worker exited {code}; see {os.environ['PEPLAND_HPO_HOME']}/{name}.out")
    (trial,) = study.get_trials()
    if trial.state != TrialState.COMPLETE:
        raise SystemExit(f"{name}: the trial ended {trial.state.name}")
    steps = sorted(trial.intermediate_values)
    wall = (trial.datetime_complete - trial.datetime_start).total_seconds()
    epoch_s = trial.user_attrs.get("epoch_seconds") or [0.0]
    train = sum(epoch_s)
    if down_s > 0:  # the epochs after the first one seen, had none waited, ended after the server was back
        trained_past_outage = t_first + train - epoch_s[0] > t_up
    return {"wall": wall, "train": train, "outage": outage, "reports_complete": steps == list(range(1, len(steps) + 1)),
            "epochs": len(steps), "ended_during_outage": not trained_past_outage}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--down", type=float, default=60.0, help="seconds the server is stopped")
    parser.add_argument("--down-after", type=float, default=5.0, help="seconds after the first epoch report")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--molecules", type=int, default=800)
    parser.add_argument("--sleep", type=float, default=None, help="light trials of S seconds instead of training")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pepland-bench-outage-"))
    os.environ["PEPLAND_HPO_HOME"] = str(home)
    os.environ.setdefault("PEPLAND_HPO_CACHE", str(home / "cache"))
    os.environ["PEPLAND_HPO_ALLOW_FAULTS"] = "1"  # only --sleep uses one
    data = balanced_slice(PEPLAND_DATA / "c-CPP.txt", args.molecules, home / "cpp.txt")
    from pepland_hpo.data.dataset import load_dataset

    load_dataset(str(data))  # featurise once, before the worker starts
    settings = {"hidden_dim": "32", "num_layers": "2", "epochs": str(args.epochs), "batch_size": "32",
                "patience": "0"}
    if args.sleep is not None:
        settings["fault"] = f"sleep:{args.sleep}"
    sys.path.insert(0, str(REPO / "tests" / "hpo"))
    from pg import PrivatePostgres

    pg = PrivatePostgres().start()
    try:
        cases = {"baseline": run_case(pg, "baseline", data, settings, args, 0.0),
                 "outage": run_case(pg, "outage", data, settings, args, args.down)}
    finally:
        pg.stop()
    for case, r in cases.items():
        emit("trial_wall_seconds", round(r["wall"], 2), case=case, train_seconds=round(r["train"], 2),
             outage_seconds=round(r["outage"], 1), epochs=r["epochs"], reports_complete=r["reports_complete"],
             light=args.sleep is not None)
    base, hit = cases["baseline"], cases["outage"]
    note = ("the trial ended during the outage: its outcome had to wait for the storage; use more --epochs"
            if hit["ended_during_outage"] else "")
    emit("outage_stall_seconds", round(hit["wall"] - base["wall"], 2), goal="<= 5",
         outage_seconds=round(hit["outage"], 1), **({"note": note} if note else {}))
    emit("outage_stall_beyond_training_seconds",
         round((hit["wall"] - hit["train"]) - (base["wall"] - base["train"]), 2))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
