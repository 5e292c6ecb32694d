"""The three jobs of generation, end to end: train a generator, design with a guide, evaluate.

These are what the CLI (``pepland-hpo generate ...``) and the benchmark call; each takes
plain arguments and files, so a worker can run one as a trial job.

* :func:`run_generation_job`: read the data (:func:`._sequences.load_sequences`) plus an
  optional unlabelled corpus, split it seeded into train / validation / test
  (80/10/10 by default; the corpus goes to train only), train
  (:func:`._train.train_generator`, checkpoints in ``out_dir``) and report the test NLL
  of the best epoch. The checkpoint's meta records the data, task, split and the
  tokens seen (the default sampling alphabet).
* :func:`run_design`: sample starts from the generator conditioned on the positive
  class (or a target value) and improve them with :func:`._design.design`.
* :func:`evaluate_generation`: the table of :mod:`._evaluation` for generator samples,
  designs and the three baselines, judged by an oracle fitted on every labelled row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pepland_hpo.errors import UserInputError
from pepland_hpo.generation._baselines import point_mutants, random_like
from pepland_hpo.generation._constraints import Constraints
from pepland_hpo.generation._design import DesignResult, DesignSettings, design
from pepland_hpo.generation._evaluation import Estimate, EvaluationContext, evaluate_set
from pepland_hpo.generation._model import GeneratorConfig
from pepland_hpo.generation._oracle import FingerprintOracle
from pepland_hpo.generation._sampling import sample
from pepland_hpo.generation._sequences import SequenceSet, load_sequences
from pepland_hpo.generation._tokens import residues_of
from pepland_hpo.generation._train import (GeneratorResult, GeneratorSettings, load_generator, sequence_nll,
                                           train_generator)


@dataclass
class GenerationJob:
    data: str
    out_dir: str
    target: str | None = None
    task: str | None = None
    corpus: str | None = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    model: dict = field(default_factory=dict)  # GeneratorConfig fields: hidden_dim, num_layers, dropout, ...
    settings: GeneratorSettings = field(default_factory=GeneratorSettings)
    # explicit row indices {train, valid, test} into the file's peptides (a study's stored split);
    # None: drawn from the fractions and split_seed
    split: dict | None = None


def split_indices(n: int, valid_fraction: float, test_fraction: float, seed: int):
    if not (0 < valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise UserInputError("valid and test fractions must be in (0, 1) and sum to less than 1")
    order = np.random.default_rng(seed).permutation(n)
    n_valid = max(1, int(round(n * valid_fraction)))
    n_test = int(round(n * test_fraction))
    return order[n_valid + n_test:], order[:n_valid], order[n_valid:n_valid + n_test]


def _indices(split: dict, part: str, n: int) -> np.ndarray:
    index = np.asarray(split.get(part) or [], dtype=np.int64)
    if index.size and (index.min() < 0 or index.max() >= n):
        raise UserInputError(f"split part {part!r} indexes row {int(index.max())}, but the data has {n} peptides "
                             "(did the file change?)")
    return index


def _conditions(data: SequenceSet) -> np.ndarray:
    return data.labels.astype(np.float32)


def run_generation_job(job: GenerationJob, on_epoch: Callable[[int, dict], None] | None = None
                       ) -> tuple[GeneratorResult, dict]:
    """Train (or resume) the generator of ``job``; ``(result, summary)`` with the test NLL."""
    data = load_sequences(job.data, target=job.target, task=job.task)
    if data.task is None:
        raise UserInputError(f"{job.data}: generation needs a labelled target to condition on")
    if job.split is not None:
        train_i, valid_i, test_i = (_indices(job.split, part, len(data)) for part in ("train", "valid", "test"))
    else:
        train_i, valid_i, test_i = split_indices(len(data), job.valid_fraction, job.test_fraction, job.split_seed)
    train, valid, test = data.subset(train_i), data.subset(valid_i), data.subset(test_i)
    seqs, conds = list(train.tokens), list(_conditions(train))
    if job.corpus:
        corpus = load_sequences(job.corpus, labelled=False)
        seqs += corpus.tokens
        conds += [float("nan")] * len(corpus)
    lengths = [len(s) for s in data.tokens]
    fields = dict(job.model)
    fields.setdefault("max_length", max(64, max(lengths) + 2))
    if data.task == "regression":
        fields.update(task="regression", target_mean=float(np.mean(train.labels)),
                      target_std=float(np.std(train.labels) or 1.0))
    config = GeneratorConfig(**fields)
    seen = sorted({t for s in seqs for t in s})
    meta = {"data": str(job.data), "target": job.target, "task": data.task, "tokens_seen": seen,
            "train_index": train_i.tolist(), "valid_index": valid_i.tolist(), "test_index": test_i.tolist(),
            "corpus": job.corpus, "length_range": [min(lengths), max(lengths)]}
    result = train_generator(config, (seqs, np.asarray(conds, dtype=np.float32)),
                             (valid.tokens, _conditions(valid)), job.settings, job.out_dir, on_epoch, meta)
    summary = {"best_valid_nll": result.best_valid_nll, "best_epoch": result.best_epoch,
               "epochs_run": result.epochs_run,
               "test_nll": sequence_nll(result.model, test.tokens, _conditions(test),
                                         temperature=job.settings.temperature) if len(test) else None}
    return result, summary


def positive_condition(meta: dict, value: float | None = None) -> float:
    """Class 1 for a classifier's generator; the asked target value (required) for regression."""
    if meta.get("task") == "regression":
        if value is None:
            raise UserInputError("a regression generator needs --target-value to condition on")
        return float(value)
    return 1.0


def sample_from(generator_path, n: int, *, condition: float | None = None, temperature: float = 1.0,
                top_p: float = 1.0, seed: int = 0, constraints: Constraints | None = None):
    """``n`` samples from a generator checkpoint, in its training alphabet ∩ the constraints' tokens."""
    if n < 1:
        raise UserInputError(f"--n must be at least 1 (got {n})")
    model, meta = load_generator(generator_path)
    allowed = set(meta.get("tokens_seen") or [])
    kwargs = {}
    if constraints is not None:
        allowed &= set(constraints.allowed)
        kwargs = {"min_length": constraints.min_length, "max_length": constraints.max_length}
    if not any(t not in ("Ac", "NH2") for t in allowed):
        raise UserInputError("no residue is both allowed and known to the generator; check --residues")
    return sample(model, n, positive_condition(meta, condition), temperature=temperature, top_p=top_p,
                  seed=seed, allowed=allowed, **kwargs), meta


def run_design(generator_path, guide, n: int, constraints: Constraints, reference,
               settings: DesignSettings | None = None, *, condition: float | None = None,
               temperature: float = 1.0, top_p: float = 1.0, seed: int = 0,
               on_generation=None) -> DesignResult:
    """Generator samples (2n, deduplicated by the GA) improved by ``guide`` into ``n`` designs."""
    constraints.check()
    starts, _ = sample_from(generator_path, 2 * n, condition=condition, temperature=temperature, top_p=top_p,
                            seed=seed, constraints=constraints)
    return design(starts, guide, constraints, reference, n, settings, on_generation)


def evaluate_generation(data: SequenceSet, sets: dict[str, list[list[str]]], *, n: int, seed: int = 0,
                        constraints: dict[str, Constraints] | None = None, guide=None, n_boot: int = 200,
                        baselines: bool = True) -> dict[str, dict[str, Estimate]]:
    """Rows of the report: each set in ``sets`` plus (``baselines``) positives, random, point mutants."""
    if data.task != "classification":
        raise UserInputError("the generation report judges a class (oracle positive rate); "
                             "regression targets are not supported by it yet")
    positives = data.positives().tokens
    oracle = FingerprintOracle(data.task, seed).fit(data.tokens, data.labels)
    context = EvaluationContext(data.tokens, positives, oracle.predict, data.task)
    rows: dict[str, list[list[str]]] = {}
    if baselines:
        alphabet = sorted({t for s in positives for t in residues_of(s)})
        rows["real positives"] = positives
        rows["random (positives' length + composition)"] = random_like(positives, n, seed)
        rows["single-point mutants of positives"] = point_mutants(positives, n, alphabet, seed)
    rows.update(sets)
    constraints = constraints or {}
    return {name: evaluate_set(seqs, context, constraints.get(name), guide, n_boot, seed)
            for name, seqs in rows.items()}


__all__ = ["GenerationJob", "evaluate_generation", "positive_condition", "run_design", "run_generation_job",
           "sample_from", "split_indices"]
