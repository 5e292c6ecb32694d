"""Benchmark: what the worker pays for using Optuna's public API instead of its internals.

    python scripts/bench/optuna_public_cost.py [--queued 400] [--repeats 20]

Two per-trial storage steps moved from direct writes into Optuna's private
structures to public calls. Each is measured against the private route it
replaced (reimplemented here, as the reference), in the same run, on a SQLite
study with ``--queued`` WAITING trials, half of them then finished with a
7.6 KB ``predictions`` attribute (what a real ablation stores):

* ``cache_refresh_public_s`` / ``cache_refresh_private_s``: making Optuna's
  cached storage see a trial the worker claimed itself —
  ``study.get_trials(deepcopy=False, states=(RUNNING,))`` against adding the
  one trial to ``_CachedStorage``'s private dictionaries (median over the
  claims after the first; ``..._first_s``: the first one);
* ``user_attrs_public_s`` / ``user_attrs_upsert_s``: a finished trial's 14
  user attributes, one ``set_trial_user_attr`` each against one multi-row
  upsert into Optuna's attribute table.

Prints JSON lines ``{"metric": ..., "value": ..., ...}``; seconds per trial.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, emit

sys.path.insert(0, str(REPO))


def _private_refresh(study, rdb, trial_id: int) -> None:
    """The removed route: one ``get_trial`` put straight into the cache (Optuna 5.0 layout)."""
    from optuna.storages._cached_storage import _StudyInfo

    cache = study._storage
    frozen = rdb.get_trial(trial_id)
    with cache._lock:
        info = cache._studies.setdefault(study._study_id, _StudyInfo())
        cache._add_trials_to_cache(study._study_id, [frozen])
        info.unfinished_trial_ids.add(trial_id)


def _public_refresh(study, rdb, trial_id: int) -> None:
    from optuna.trial import TrialState

    study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def _upsert_attrs(rdb, trial_id: int, attrs: dict) -> None:
    """The removed route: all attributes in one INSERT ... ON CONFLICT DO UPDATE."""
    import json

    from optuna.storages._rdb import models
    from sqlalchemy.dialects.sqlite import insert

    table = models.TrialUserAttributeModel.__table__
    stmt = insert(table).values([{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
                                 for k, v in attrs.items()])
    stmt = stmt.on_conflict_do_update(index_elements=["trial_id", "key"], set_={"value_json": stmt.excluded.value_json})
    with rdb.engine.begin() as conn:
        conn.execute(stmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    os.environ["PEPLAND_HPO_HOME"] = tempfile.mkdtemp(prefix="bench-optuna-")

    import optuna
    from optuna.trial import TrialState

    from pepland_hpo.hpo.queue import _claims as queue
    from pepland_hpo.hpo.queue import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{Path(os.environ['PEPLAND_HPO_HOME']) / 'bench.db'}"
    rdb = open_storage(url, create=True)
    seed_study = optuna.create_study(study_name="bench", storage=rdb)
    for i in range(args.queued):
        seed_study.enqueue_trial({}, user_attrs={"variant": "gcn", "seed": i, "split_repeat": 0})
    sid = rdb.get_study_id_from_name("bench")
    attrs = {"param_count": 1000, "device": "cpu", "epochs_run": 10, "epoch_seconds": [1.0] * 10,
             "seconds_per_epoch": 1.0, "val_metrics": {"auroc": 0.5, "mcc": 0.1}, "test_metrics": {"auroc": 0.5},
             "best_epoch": 3, "non_finite_steps": 0, "predictions": "x" * 7600, "wall_seconds": 12.0,
             "pretrain_key": "abc", "checkpoint": "/x/y", "checkpoint_artifact": "id"}
    for _ in range(args.queued // 2):
        tid = queue.claim_waiting(rdb, sid)
        _upsert_attrs(rdb, tid, attrs)
        rdb.set_trial_state_values(tid, TrialState.COMPLETE, [0.5])

    context = {"queued": args.queued, "optuna": optuna.__version__, "storage": "sqlite"}
    for name, refresh in (("private", _private_refresh), ("public", _public_refresh)):
        study = optuna.load_study(study_name="bench", storage=open_storage(url))
        times = []
        for _ in range(args.repeats):
            tid = queue.claim_waiting(rdb, sid)
            start = time.perf_counter()
            refresh(study, rdb, tid)
            times.append(time.perf_counter() - start)
            trial = optuna.Trial(study, tid)  # what the worker does next: suggest, then tell
            study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
        emit(f"cache_refresh_{name}_first_s", round(times[0], 5), **context)
        emit(f"cache_refresh_{name}_s", round(statistics.median(times[1:]), 5), **context)

    for name, write in (("upsert", _upsert_attrs), ("public", queue.set_user_attrs)):
        times = []
        for _ in range(args.repeats):
            tid = queue.claim_waiting(rdb, sid)
            start = time.perf_counter()
            write(rdb, tid, attrs)
            times.append(time.perf_counter() - start)
        emit(f"user_attrs_{name}_s", round(statistics.median(times), 5), attributes=len(attrs), **context)


if __name__ == "__main__":
    main()
