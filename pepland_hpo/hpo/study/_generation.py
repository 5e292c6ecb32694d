"""A generation study: its settings and default space, its data and split, and the trial it runs.

A ``kind: generation`` study is a search whose trials train the conditional generator
of :mod:`pepland_hpo.generation` instead of a property model. Everything else is the
route every study takes: ``create`` validates and queues ``n_trials`` blank trials, a
worker claims one, samples the space, records a :class:`~._trial_job.TrialJob` (its
``generation`` field holds the generator's typed settings) and forks one child per
trial, which calls :func:`run_generation_trial`. Epochs report ``nll`` (the validation
NLL per token at the trial's sampling temperature; minimised) through ``on_epoch``, so
the study's pruner sees them; the best epoch's generator is the trial's checkpoint
artifact.

Settings are the fields of :class:`~pepland_hpo.generation.GeneratorConfig` (less those
that follow from the data) and :class:`~pepland_hpo.generation.GeneratorSettings` (less
``seed``: the study's seed), typed and range-checked by their declared annotations, as a
model study's are by ``ModelConfig``'s.

Resume: the generator resumes exactly from its ``last.pt`` (and needs ``best.pt`` beside
it). Both are packed after every epoch into the one file at the trial's ``resume_path``
(the worker's resume convention: retries share it, it is dropped when the trial ends)
and unpacked into the child's checkpoint folder before training starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.study._space import Vocabulary
from pepland_hpo.validation import FieldError

# GeneratorConfig fields set from the data, never by a user
DERIVED_FIELDS = ("task", "num_classes", "max_length", "target_mean", "target_std")
SETTINGS_EXCLUDED = ("seed",)  # the study's seed
GENERATION_METRIC = "nll"
GENERATOR_VARIANT = "generator"  # what status and the trials show as the variant

# hidden size, layers, lr, dropout and the sampling temperature, as the issue names them
DEFAULT_SPACE: dict[str, Any] = {
    "hidden_dim": [64, 128, 256],
    "num_layers": {"low": 1, "high": 3},
    "lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
    "dropout": {"low": 0.0, "high": 0.4},
    "temperature": {"low": 0.7, "high": 1.3},
}


def _classes():
    from pepland_hpo.generation import GeneratorConfig, GeneratorSettings

    return GeneratorConfig, GeneratorSettings


def generation_setting_types() -> dict[str, Any]:
    """``{key: annotation}`` of every generator setting, model fields first."""
    from pepland_hpo.validation import field_types

    config, settings = _classes()
    model = {k: v for k, v in field_types(config).items() if k not in DERIVED_FIELDS}
    return {**model, **{k: v for k, v in field_types(settings).items() if k not in SETTINGS_EXCLUDED}}


def check_generation_key(key: str) -> None:
    import difflib

    if key in DERIVED_FIELDS:
        raise FieldError(key, "follows from the data and cannot be set")
    known = sorted(generation_setting_types())
    if key not in known:
        near = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        raise FieldError(key, f"unknown generator setting; {hint}known: {', '.join(known)}")


def split_generation_settings(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Typed ``(GeneratorConfig overrides, GeneratorSettings overrides)``; raises :class:`FieldError`."""
    from pepland_hpo.training.settings import normalise_key
    from pepland_hpo.validation import field_types, parse_fields

    config, settings = _classes()
    model_keys = set(field_types(config))
    model_in, train_in = {}, {}
    for raw_key, value in values.items():
        key = normalise_key(raw_key)
        check_generation_key(key)
        (model_in if key in model_keys else train_in)[key] = value.strip() if isinstance(value, str) else value
    return (parse_fields(config, model_in, DERIVED_FIELDS), parse_fields(settings, train_in, SETTINGS_EXCLUDED))


def parse_generation_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    model, train = split_generation_settings(values)
    return {**model, **train}


def parse_generation_setting(key: str, value: Any) -> Any:
    from pepland_hpo.training.settings import normalise_key

    return parse_generation_settings({key: value})[normalise_key(key)]


GENERATOR_SETTINGS = Vocabulary(generation_setting_types, check_generation_key, parse_generation_setting)


def generation_problem(spec) -> tuple[str, str] | None:
    """``(key, why)`` when a generation spec asks for something the generator cannot do, else None."""
    if spec.pair is not None:
        return "pair", "a generation study models one peptide, not peptide-protein pairs"
    if spec.split.kind != "random":
        return "split.kind", (f"a generation study splits its peptides at random (fractions and seed); "
                              f"{spec.split.kind} splits apply to property models")
    if spec.objectives:
        return "objectives", "a generation study has one objective, the validation NLL"
    if spec.metric not in (None, GENERATION_METRIC):
        return "metric", f"a generation study minimises the validation NLL ({GENERATION_METRIC}), not {spec.metric}"
    if spec.direction not in (None, "minimize"):
        return "direction", "the validation NLL is minimised"
    if len(spec.seeds) != 1:
        return "seeds", "a generation study trains each trial with one seed; give one"
    return None


def generation_data(spec):
    """The study's peptides (:class:`~pepland_hpo.generation.SequenceSet`); it needs a labelled target."""
    from pepland_hpo.generation import load_sequences

    data = load_sequences(spec.data, target=spec.target, task=spec.task, smiles_col=spec.smiles_col)
    if data.task is None:
        raise UserInputError(f"{spec.data}: generation needs a labelled target to condition on (--target)")
    return data


def generation_split(spec, n: int) -> dict[str, list[int]]:
    """The one split every trial trains on: the spec's fractions and seed over the file's peptides."""
    from pepland_hpo.generation._job import split_indices

    _, valid, test = spec.split.fractions
    train_i, valid_i, test_i = split_indices(n, valid, test, spec.split.seed)
    return {"train": train_i.tolist(), "valid": valid_i.tolist(), "test": test_i.tolist()}


def validate_generation_spec(spec, load_data: bool = True):
    """The data and objective of a generation spec; returns the peptides (None unless ``load_data``)."""
    problem = generation_problem(spec)
    if problem:
        where = f"{spec.source}: " if spec.source else ""
        raise UserInputError(f"{where}{problem[0]}: {problem[1]}")
    if not load_data:
        return None
    data = generation_data(spec)
    if spec.task is None:
        spec.task = data.task
    if spec.metric is None:
        spec.metric = GENERATION_METRIC
    if spec.direction is None:
        spec.direction = "minimize"
    return data


def describe_generation_data(spec, data, split: Mapping[str, list[int]]) -> list[str]:
    """What ``create generation`` read: peptides, task, balance or label range, split, skipped rows."""
    import numpy as np

    lengths = [len(t) for t in data.tokens]
    target = spec.target or "the file's label column"
    lines = [f"data: {spec.data}: {len(data)} peptide(s), {min(lengths)}..{max(lengths)} tokens "
             f"(mean {np.mean(lengths):.1f})",
             f"task: {data.task} (target {target}): the generator is "
             "conditioned on it"]
    y = data.labels
    if data.task == "classification":
        lines.append("  class balance: " + ", ".join(f"{v:g}: {int((y == v).sum())}" for v in (0.0, 1.0)))
    else:
        lines.append(f"  labels: mean {float(np.mean(y)):.4g}, sd {float(np.std(y)):.4g}")
    lines.append(f"split: random (seed {spec.split.seed}): train {len(split['train'])}, "
                 f"valid {len(split['valid'])}, test {len(split['test'])}")
    if data.skipped:
        lines.append(f"skipped: {len(data.skipped)} row(s)")
        lines += [f"  line {line}: {text!r}: {why}" for line, text, why in data.skipped[:5]]
    else:
        lines.append("skipped: none")
    return lines


def generation_job_fields(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's :class:`~._trial_job.TrialJob` fields from its typed generator settings."""
    from pepland_hpo.training.config import TrainConfig

    _, train = split_generation_settings(settings)
    epochs = train.get("epochs", _classes()[1]().epochs)
    # ``train`` carries the epoch count only: the worker stops pruning after the last planned epoch
    return {"generation": dict(settings), "train": TrainConfig(epochs=epochs), "metric": GENERATION_METRIC}


# --------------------------------------------------------------------------- the child's side

_PARTS = ("last.pt", "best.pt")


def _pack(folder: Path, resume: Path) -> None:
    import torch

    from pepland_hpo.atomic import atomic_torch_save

    parts = {name: torch.load(folder / name, map_location="cpu", weights_only=True)
             for name in _PARTS if (folder / name).is_file()}
    atomic_torch_save({"kind": "generator-resume", **parts}, resume)


def _unpack(resume: Path | None, folder: Path) -> int | None:
    """Restore ``last.pt`` / ``best.pt`` from ``resume``; the last finished epoch (1-based), or None."""
    import torch

    from pepland_hpo.atomic import atomic_torch_save

    if resume is None or not resume.is_file():
        return None
    payload = torch.load(resume, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("kind") != "generator-resume" or "last.pt" not in payload:
        return None
    for name in _PARTS:
        if name in payload:
            atomic_torch_save(payload[name], folder / name)
    return int(payload["last.pt"]["train_state"]["epoch"]) + 1


def run_generation_trial(job, split: Mapping[str, list[int]] | None, on_epoch: Callable[[int, dict], None],
                         on_resume: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Train the generator of ``job`` (a :class:`~._trial_job.TrialJob` with ``generation``) on ``split``;
    the payload the worker records (``best_value``: the best validation NLL)."""
    from pepland_hpo.generation import GenerationJob, GeneratorSettings, count_parameters, run_generation_job

    model, train = split_generation_settings(job.generation or {})
    out = Path(job.checkpoint_dir)
    out.mkdir(parents=True, exist_ok=True)
    resume = Path(job.resume_path) if job.resume_path else None
    restored = _unpack(resume, out)
    if restored is not None and on_resume is not None:
        on_resume(restored)
    epoch_seconds: list[float] = []
    clock = [time.perf_counter()]

    def report(epoch: int, metrics: dict) -> None:
        epoch_seconds.append(time.perf_counter() - clock[0])
        if resume is not None:
            _pack(out, resume)
        # epochs count from 1 in a study, as in training/
        on_epoch(epoch + 1, {GENERATION_METRIC: metrics["valid_nll"], "train_nll": metrics["train_nll"]})
        clock[0] = time.perf_counter()

    gen_job = GenerationJob(data=job.data, out_dir=str(out), target=job.target, task=job.task, model=model,
                            settings=GeneratorSettings(**train, seed=job.seed),
                            split=dict(split) if split is not None else None)
    result, summary = run_generation_job(gen_job, report)
    test = summary.get("test_nll")
    return {
        "best_value": result.best_valid_nll, "best_epoch": result.best_epoch + 1,
        "val_metrics": {GENERATION_METRIC: result.best_valid_nll},
        "test_metrics": {GENERATION_METRIC: test} if test is not None else {},
        "param_count": count_parameters(result.model), "epochs_run": result.epochs_run,
        "epoch_seconds": epoch_seconds, "non_finite_steps": 0,
        "checkpoint": str(result.best_path) if result.best_path else None,
        "device": "cpu",  # the generator trains on the CPU (seconds per epoch at this size)
        "extra": {"generator": True, "temperature": gen_job.settings.temperature},
    }


__all__ = ["DEFAULT_SPACE", "GENERATION_METRIC", "GENERATOR_SETTINGS", "GENERATOR_VARIANT", "describe_generation_data",
           "generation_data", "generation_job_fields", "generation_problem", "generation_split",
           "parse_generation_settings", "run_generation_trial", "split_generation_settings",
           "validate_generation_spec"]
