"""Small controlled c-CPP runs behind DIAGNOSIS.md: one JSON line per run.

    PYTHONPATH=. nice -n 10 python docs/results/c-cpp/diagnose.py NAME VARIANT [key=value ...]

Same data and split as run.sh (random split, fractions 0.8/0.1/0.1, split seed 0;
``split=similarity`` switches), one training seed per call (``seed=N``, default 0).
Every ``key=value`` is a ``--set`` setting (model or training). Prints validation
AUROC at the best epoch (what decisions use), test AUROC (reported, never used to
choose), epochs run, seconds and parameters.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "datasets" / "pepland" / "c-CPP.txt"


def main() -> None:
    name, variant, *pairs = sys.argv[1:]
    settings = dict(p.split("=", 1) for p in pairs)
    split = settings.pop("split", "random")
    seed = int(settings.pop("seed", "0"))
    torch.set_num_threads(1)
    from pepland_hpo.training.run import ExperimentConfig, run_experiment

    cfg = ExperimentConfig(data=str(DATA), variant=variant, split=split, seed=seed, device="cpu",
                           save_checkpoint=False, checkpoint_dir=tempfile.mkdtemp())
    cfg = cfg.with_settings(settings)
    t0 = time.perf_counter()
    res = run_experiment(cfg)
    print(json.dumps({
        "name": name, "variant": variant, "split": split, "seed": seed, "settings": settings,
        "val_auroc": round(res.val_metrics.get("auroc", float("nan")), 4),
        "test_auroc": round(res.test_metrics.get("auroc", float("nan")), 4),
        "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
        "seconds": round(time.perf_counter() - t0, 1), "params": res.param_count,
    }), flush=True)


if __name__ == "__main__":
    main()
