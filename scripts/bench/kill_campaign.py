"""Fault campaign: kill -9 busy workers again and again; every (variant, seed) pair must complete exactly once.

    python scripts/bench/kill_campaign.py [--storage sqlite,postgres] [--runs 3] [--trials 12] [--kills 5]
                                          [--molecules 300] [--epochs 40] [--same-lineage 3]

Two workers (``python -m pepland_hpo.cli worker``, one torch thread each)
run an ablation of real gcn trials on a c-CPP slice with the study defaults
(``max_retries`` 2, ``max_worker_losses`` 8: nothing raised for the campaign).
At random moments the campaign ``kill -9``s a worker that is running a trial
and restarts it at once, as ``pepland-hpo launch`` does. The first
``--same-lineage`` kills are aimed at one pair's lineage (its retry is killed
again as soon as it runs): the case that lost a pair when a lost worker spent a
retry. Each run uses another seed; PostgreSQL runs on a private server
(``tests/hpo/pg.py``).

Prints JSON lines: per run ``campaign_run`` (storage, seed, kills, kills of
the aimed lineage, epochs each retry resumed from); then ``pairs_lost`` and
``pairs_duplicated`` summed over all runs (goal 0 and 0) and
``retries_spent_on_lost_workers`` (goal 0).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchlib import PEPLAND_DATA, REPO, balanced_slice, emit
from recovery import Fleet, _running_by_pid

sys.path.insert(0, str(REPO))


def _create(url: str, data: Path, name: str, trials: int, epochs: int) -> None:
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_ablation_spec

    settings = {"hidden_dim": "32", "num_layers": "2", "epochs": str(epochs), "batch_size": "32", "patience": "0"}
    spec = build_ablation_spec(REPO / "studies" / "ablation.yaml", data=str(data), variants=["gcn"],
                               seeds=list(range(trials)), settings=settings, name=name, validate=False)
    spec.split = {"kind": "stratified", "fractions": [0.6, 0.2, 0.2], "seed": 0}
    create_study_from_spec(url, spec)


def _lineage_root(trials: dict, number: int) -> int:
    """The first attempt of a trial's lineage (retries, re-queues and hand-backs chained by ``requeued_from``)."""
    while (parent := trials[number].user_attrs.get("requeued_from")) is not None:
        number = int(parent)
    return number


def run(url: str, data: Path, name: str, args, seed: int) -> dict:
    import optuna
    from optuna.trial import TrialState

    from pepland_hpo.hpo.queue import open_storage

    rng = random.Random(seed)
    _create(url, data, name, args.trials, args.epochs)
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    fleet = Fleet(url, name, 2, Path(os.environ["PEPLAND_HPO_HOME"]))
    kills: list[int] = []
    aimed_root: int | None = None
    started = time.monotonic()
    next_kill = started + rng.uniform(args.min_gap, args.max_gap)
    try:
        while not fleet.done():
            if len(kills) < args.kills and time.monotonic() >= next_kill:
                running = _running_by_pid(study)
                busy = [(slot, p) for slot, p in fleet.procs.items()
                        if p.poll() is None and p.pid in running and running[p.pid].intermediate_values]
                if aimed_root is not None and len(kills) < args.same_lineage:
                    every = {t.number: t for t in study.get_trials()}
                    busy = [(s, p) for s, p in busy if _lineage_root(every, running[p.pid].number) == aimed_root]
                if busy:
                    slot, proc = rng.choice(busy)
                    number = running[proc.pid].number
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    fleet.start(slot)
                    kills.append(number)
                    if aimed_root is None:
                        aimed_root = _lineage_root({t.number: t for t in study.get_trials()}, number)
                    aimed = len(kills) < args.same_lineage
                    next_kill = time.monotonic() + (0.5 if aimed else rng.uniform(args.min_gap, args.max_gap))
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"{name}: not finished after {args.timeout}s")
            time.sleep(0.2)
    finally:
        fleet.stop()
    trials = {t.number: t for t in study.get_trials()}
    complete = Counter((t.user_attrs["variant"], t.user_attrs["seed"]) for t in trials.values()
                       if t.state == TrialState.COMPLETE)
    pairs = {("gcn", s) for s in range(args.trials)}
    aimed_kills = sum(_lineage_root(trials, n) == aimed_root for n in kills)
    return {
        "kills": len(kills), "aimed_lineage_kills": aimed_kills,
        "pairs_lost": sorted(s for v, s in pairs if complete[(v, s)] == 0),
        "pairs_duplicated": sorted(s for (v, s), n in complete.items() if n > 1),
        "retries_spent": sum(len(t.user_attrs.get("retry_history") or []) for t in trials.values()
                             if t.state == TrialState.COMPLETE),
        "resumed_from_epochs": [t.user_attrs["resumed_from_epoch"] for t in trials.values()
                                if "resumed_from_epoch" in t.user_attrs],
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", default="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=3, help="runs per storage, each with its own seed")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--same-lineage", type=int, default=3, help="the first N kills hit one pair's lineage")
    parser.add_argument("--molecules", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--heartbeat", type=int, default=2)
    parser.add_argument("--grace", type=int, default=10)
    parser.add_argument("--min-gap", type=float, default=3.0)
    parser.add_argument("--max-gap", type=float, default=12.0)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pepland-bench-campaign-"))
    os.environ["PEPLAND_HPO_HOME"] = str(home)
    os.environ.setdefault("PEPLAND_HPO_CACHE", str(home / "cache"))
    os.environ["PEPLAND_HPO_HEARTBEAT_S"] = str(args.heartbeat)
    os.environ["PEPLAND_HPO_GRACE_S"] = str(args.grace)
    data = balanced_slice(PEPLAND_DATA / "c-CPP.txt", args.molecules, home / "cpp.txt")
    from pepland_hpo.data.dataset import load_dataset

    load_dataset(str(data))  # featurise once, before any worker starts
    lost = duplicated = spent = 0
    pg = None
    try:
        for storage in args.storage.split(","):
            if storage == "postgres":
                sys.path.insert(0, str(REPO / "tests" / "hpo"))
                from pg import PrivatePostgres

                pg = PrivatePostgres().start()
            for run_index in range(args.runs):
                name = f"{storage}-{run_index}"
                url = pg.fresh_database(name.replace("-", "_")) if storage == "postgres" \
                    else f"sqlite:///{home / (name + '.db')}"
                res = run(url, data, name, args, seed=run_index)
                lost += len(res["pairs_lost"])
                duplicated += len(res["pairs_duplicated"])
                spent += res["retries_spent"]
                emit("campaign_run", res["kills"], storage=storage, seed=run_index, **res)
    finally:
        if pg is not None:
            pg.stop()
    emit("pairs_lost", lost, goal=0, runs=args.runs, storages=args.storage, pairs_per_run=args.trials)
    emit("pairs_duplicated", duplicated, goal=0)
    emit("retries_spent_on_lost_workers", spent, goal=0,
         note="max_retries counts only what a trial did itself; nothing in this campaign fails by itself")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
