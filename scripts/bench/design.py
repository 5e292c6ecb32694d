"""Time a 1,000-sequence guided design run on c-CPP against sampling 1,000 without a guide, in one run.

    nice -n 10 python scripts/bench/design.py                      # composition guide, 20 generations
    python scripts/bench/design.py --guide gcn                     # a graph model as the guide (cost only)
    python scripts/bench/design.py --n 200 --epochs 2 --evaluate   # smaller, plus the evaluation table

Steps (each timed; only the design is the goal):

1. train the conditional generator on all of c-CPP (``--epochs``, 128 hidden, 2 layers), as a
   generation study's trial would (80/10/10 split, seed 0);
2. reference: ``--n`` samples from it, no guide (``sample_seconds``);
3. design: ``run_design`` - 2n samples improved by the genetic algorithm for ``--generations``
   rounds under length 5..30 and maximum identity 0.7 to any c-CPP sequence (``design_seconds``).
   ``--guide composition`` (default) is the guide ``design`` uses without ``--from-study``;
   ``--guide gcn`` scores with an untrained default-size GCN through the same featurisation as
   an ablation's model: the time a ``--from-study`` guide costs (its scores mean nothing);
4. ``--evaluate``: the evaluation ``design`` writes (oracle, baselines, bootstrap), timed apart.

Output: JSON lines (``metric``, ``value``, context); the last line says whether
``design_seconds`` met the goal (<= 600 s on the machine's cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import PEPLAND_DATA, emit  # noqa: E402

GOAL_S = 600.0


def _gcn_guide():
    from pepland_hpo.generation import graph_model_guide
    from pepland_hpo.models import build_model, variant_model_config

    return graph_model_guide([build_model(variant_model_config("gcn"))], "classification")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--guide", choices=("composition", "gcn"), default="composition")
    parser.add_argument("--max-identity", type=float, default=0.7)
    parser.add_argument("--evaluate", action="store_true")
    args = parser.parse_args()

    import os

    import torch

    from pepland_hpo.generation import (Constraints, DesignSettings, GenerationJob, GeneratorSettings,
                                        composition_guide, evaluate_generation, load_sequences, run_design,
                                        run_generation_job, sample_from)

    data_path = PEPLAND_DATA / "c-CPP.txt"
    context = {"data": "c-CPP.txt", "n": args.n, "guide": args.guide, "generations": args.generations,
               "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        job = GenerationJob(data=str(data_path), out_dir=tmp, settings=GeneratorSettings(epochs=args.epochs))
        result, summary = run_generation_job(job)
        emit("train_seconds", round(time.perf_counter() - start, 2), epochs=args.epochs,
             best_valid_nll=round(result.best_valid_nll, 4), test_nll=round(summary["test_nll"], 4), **context)
        checkpoint = Path(tmp) / "best.pt"
        data = load_sequences(data_path)
        constraints = Constraints(min_length=5, max_length=30, max_identity=args.max_identity,
                                  allowed=tuple(sorted({t for s in data.tokens for t in s})))

        start = time.perf_counter()
        plain, _ = sample_from(checkpoint, args.n, seed=1, constraints=constraints)
        sample_s = time.perf_counter() - start
        emit("sample_seconds", round(sample_s, 2), **context)

        train = data.subset(job_train_index(tmp))
        guide = (_gcn_guide() if args.guide == "gcn"
                 else composition_guide(train.tokens, train.labels, "classification"))
        start = time.perf_counter()
        designed = run_design(checkpoint, guide, args.n, constraints, data.tokens,
                              DesignSettings(generations=args.generations, seed=0))
        design_s = time.perf_counter() - start
        emit("design_seconds", round(design_s, 2), guide_calls=designed.guide_calls,
             feasible=round(float(designed.feasible.mean()), 4), vs_sampling=round(design_s / sample_s, 1),
             **context)
        if args.evaluate:
            start = time.perf_counter()
            rows = evaluate_generation(data, {"generator": plain, "designs": designed.sequences}, n=args.n,
                                       constraints={"generator": constraints, "designs": constraints},
                                       guide=guide)
            emit("evaluation_seconds", round(time.perf_counter() - start, 2), **context)
            for method, metrics in rows.items():
                emit("evaluation", method, **{k: round(v.value, 4) for k, v in metrics.items()})
    emit("goal", "met" if design_s <= GOAL_S else "missed", design_seconds=round(design_s, 2), goal_seconds=GOAL_S,
         **context)


def job_train_index(folder: str) -> list[int]:
    """The generator's training rows (its checkpoint's meta), on which the composition guide is fitted."""
    from pepland_hpo.generation import load_generator

    return load_generator(Path(folder) / "best.pt")[1]["train_index"]


if __name__ == "__main__":
    main()
