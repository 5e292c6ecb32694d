"""One experiment, end to end: the job that ``pepland-hpo train`` and every study trial run.

:func:`run_experiment` loads the data (featurised once, cached), splits it (or
uses the study's stored split), builds the variant's model, pretrains or reuses
a pretrained encoder when the variant needs one, trains with early stopping,
scores the test split with the best weights and saves them as a checkpoint.

Example::

    cfg = ExperimentConfig(data="builtin:amp", variant="gcn",
                           model_overrides={"hidden_dim": 32, "num_layers": 2},
                           train=TrainConfig(epochs=5))
    result = run_experiment(cfg)
    print(result.best_value, result.test_metrics["auroc"], result.checkpoint)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from pepland_hpo.data.splits import GivenSplit
from pepland_hpo.errors import UserInputError
from pepland_hpo.models.config import ModelConfig
from pepland_hpo.training.checkpoints import save_checkpoint
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.device import resolve_device
from pepland_hpo.training.loop import EpochCallback, evaluate, train_supervised
from pepland_hpo.training.metrics import TASKS, check_metric, metric_direction
from pepland_hpo.training.seeding import seed_everything
from pepland_hpo.training.settings import parse_settings
from pepland_hpo.validation import check_fields, parse_fields

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "valid", "test")


class SplitIndices(NamedTuple):
    """Dataset indices of each part (numpy int64 arrays); ``train``/``valid``/``test``
    attributes like ``data.splits.Split`` so both can be passed around alike."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict[str, list[int]]:
        return {name: [int(i) for i in getattr(self, name)] for name in SPLIT_NAMES}


@dataclass
class ExperimentConfig:
    data: str  # a file path or builtin:amp / builtin:amp-uniprot
    target: str | None = None  # target column(s) as the data layer reads them; None: its default
    task: Literal["classification", "regression"] | None = None  # None: inferred by the data layer
    smiles_col: str | None = None  # passed to load_dataset only when set
    # "target" / "pair-random": splits of peptide-protein pairs (need protein_col; data.pairs)
    split: Literal["random", "stratified", "similarity", "given", "target", "pair-random"] = "random"
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    # split "given": partitions made elsewhere (a data column or a file), one of them trained on
    given_split: GivenSplit | None = None
    # explicit split (a study's stored split): {"train": [...], "valid": [...], "test": [...]};
    # when given, split/split_fractions/split_seed are not used
    split_indices: dict[str, list[int]] | None = None
    # peptide-protein pairs: the protein column beside the peptide one; the label is the pair's
    protein_col: str | None = None
    protein_embeddings: str | None = None  # .npz / .parquet of vectors per protein (encoder "embeddings")
    binder_threshold: float | None = None  # label >= threshold is a binder (1): classification
    variant: str = "gcn"
    seed: int = 0  # the run's seed; it replaces train.seed so there is one source of truth
    model_overrides: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    metric: str | None = None  # None: auroc (classification) / rmse (regression)
    pretrain_data: str | None = None  # corpus file for variants that pretrain; None: the training split
    checkpoint_dir: str | None = None  # None: <storage>/artifacts/checkpoints
    checkpoint_name: str | None = None  # None: <variant>-seed<seed>-<config digest>.pt
    save_checkpoint: bool = True
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["split_fractions"] = list(self.split_fractions)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ExperimentConfig":
        cfg = cls(**parse_fields(cls, values))  # unknown keys and bad values name the key
        cfg.validate()
        return cfg

    def with_settings(self, settings: Mapping[str, Any]) -> "ExperimentConfig":
        """A copy with flat ``--set key=value`` settings applied (:func:`.settings.parse_settings`)."""
        model_over, train_over = parse_settings(settings)
        # the experiment's seed is the one run_experiment uses; a --set seed must not be lost
        seed = train_over.get("seed", self.seed)
        train = replace(self.train, **{**train_over, "seed": seed})
        train.validate()
        return replace(self, model_overrides={**self.model_overrides, **model_over}, train=train, seed=seed)

    def validate(self) -> None:
        """Declared types (task, split kind, fractions, the nested TrainConfig), then the rest."""
        check_fields(self)
        if not self.data:
            raise UserInputError("data: no data source given")
        if (self.split == "given") != (self.given_split is not None) and self.split_indices is None:
            raise UserInputError("split given needs its source (a split column or a partition file), and a "
                                 "split column or file needs split given")
        if self.given_split is not None:
            self.given_split.check()
        if not self.protein_col:
            needs = [name for name, value in (("binder_threshold", self.binder_threshold),
                                              ("protein_embeddings", self.protein_embeddings)) if value is not None]
            needs += [f"split {self.split}"] if self.split in ("target", "pair-random") else []
            needs += ([f"protein_encoder={self.model_overrides['protein_encoder']}"]
                      if self.model_overrides.get("protein_encoder", "none") != "none" else [])
            if needs:
                raise UserInputError(f"{needs[0]} needs a protein column (protein_col / --protein-col)")
        fr = tuple(self.split_fractions)
        if any(x < 0 for x in fr) or fr[0] <= 0 or fr[1] <= 0:
            raise UserInputError(
                f"split_fractions must be three non-negative numbers with train and valid > 0, got {fr}"
            )
        if abs(sum(fr) - 1.0) > 1e-6:
            raise UserInputError(f"split_fractions must sum to 1, got {fr} (sum {sum(fr):g})")
        if self.metric is not None:
            metric_direction(self.metric)
            if self.task is not None:
                check_metric(self.task, self.metric)
        parse_settings(self.model_overrides)  # model keys only: a training key here is a mistake
        bad = sorted(set(self.model_overrides) - {f.name for f in fields(ModelConfig)})
        if bad:
            raise UserInputError(f"model_overrides: {bad[0]} is a training setting, not a model setting")
        self.train.validate()


@dataclass
class ExperimentResult:
    variant: str
    seed: int
    task: str
    metric: str
    direction: str
    best_value: float  # validation metric at the best epoch: the trial's objective value
    best_epoch: int
    val_metrics: dict[str, float]
    test_metrics: dict[str, float]  # empty when the split has no test part
    param_count: int
    epochs_run: int
    epoch_seconds: list[float]
    non_finite_steps: int
    checkpoint: str | None
    device: str
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    split_sizes: dict[str, int]
    target_names: list[str]
    # the split for a person: "kind ...: train n (class balance), valid ..., test ...", then notes
    split_description: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    wall_seconds: float = 0.0
    # per held-out part ("valid", "test"): {"index": rows of the data, "true": [n][T],
    # "pred": [n][T]} with the best weights (probabilities / values in target units)
    predictions: dict[str, dict[str, list]] = field(default_factory=dict)
    # pretraining (variants that pretrain): pretrain_key, pretrain_reused, pretrain_loss,
    # pretrain_non_finite_steps, frozen_parameters
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- the experiment


def protein_input(cfg: ExperimentConfig) -> str:
    """The protein encoder of a run: the setting, else ``composition`` for pairs, ``none`` for molecules."""
    return str(cfg.model_overrides.get("protein_encoder") or ("composition" if cfg.protein_col else "none"))


def _load_dataset(cfg: ExperimentConfig, progress: bool):
    from pepland_hpo.data.dataset import load_dataset

    if cfg.protein_col:
        from pepland_hpo.data.pairs import load_pair_dataset

        return load_pair_dataset(cfg.data, cfg.protein_col, target=cfg.target, task=cfg.task,
                                 smiles_col=cfg.smiles_col, protein_input=protein_input(cfg),
                                 protein_embeddings=cfg.protein_embeddings, binder_threshold=cfg.binder_threshold,
                                 progress=progress)
    return load_dataset(cfg.data, target=cfg.target, task=cfg.task, smiles_col=cfg.smiles_col,
                        progress=progress)


def _explicit_split(indices: Mapping[str, Any], n: int) -> SplitIndices:
    from pepland_hpo.data.splits import check_partition

    parts = check_partition(None, indices, n, source="split_indices", required=(),
                            hint="; indices are positions in the loaded data (did the data file change since the "
                                 "split was stored?)")
    return SplitIndices(**parts)


def _given_split(cfg: ExperimentConfig, dataset) -> tuple[SplitIndices, list[str]]:
    """The one given partition this run trains on, and what was read (for the person running it)."""
    from pepland_hpo.data.formats import read_layout
    from pepland_hpo.data.splits import load_given

    given = replace(cfg.given_split, seed=cfg.split_seed)
    partitions, notes = load_given(given, dataset, read_layout(cfg.data, smiles_col=cfg.smiles_col),
                                   one="--partition NAME (given_split.partitions)")
    chosen = partitions[0]
    parts = SplitIndices(*(np.asarray(chosen.split[name], dtype=np.int64) for name in SPLIT_NAMES))
    return parts, [f"given, {given.source()}, partition {chosen.name!r}", *notes, *chosen.notes]


def _pair_split(cfg: ExperimentConfig, dataset) -> tuple[SplitIndices, list[str]]:
    """A split of pairs (``target``: no held-out protein in training) and what it holds."""
    from pepland_hpo.data.pairs import grouping_note, make_pair_split, shared_proteins

    proteins = list(dataset.proteins)
    made = make_pair_split(proteins, cfg.split, tuple(cfg.split_fractions), seed=cfg.split_seed)
    shared = shared_proteins(made, proteins)
    about = [f"{cfg.split} (seed {cfg.split_seed})",
             f"proteins: {len(set(proteins))} distinct; held-out proteins also in train: "
             f"valid {shared['valid']}, test {shared['test']}"]
    if cfg.split == "target":
        about.append(grouping_note(proteins))  # the default identity grouping, as make_pair_split's
    return SplitIndices(*(np.asarray(getattr(made, name), dtype=np.int64) for name in SPLIT_NAMES)), about


def make_experiment_split(cfg: ExperimentConfig, dataset) -> SplitIndices:
    """The split the experiment uses: the explicit one, the given partition, or ``data.splits.make_split``."""
    return _experiment_split(cfg, dataset)[0]


def _experiment_split(cfg: ExperimentConfig, dataset) -> tuple[SplitIndices, list[str]]:
    """The split, and how it came about: its kind and source, then notes."""
    if cfg.split_indices is not None:
        split, about = _explicit_split(cfg.split_indices, len(dataset)), ["stored split (explicit indices)"]
    elif cfg.split == "given":
        split, about = _given_split(cfg, dataset)
    elif cfg.split in ("target", "pair-random"):
        split, about = _pair_split(cfg, dataset)
    else:
        from pepland_hpo.data.splits import make_split

        targets = np.asarray(getattr(dataset, "targets", np.zeros((len(dataset), 0))))
        labels = targets[:, 0] if targets.ndim == 2 and targets.shape[1] else None
        made = make_split(
            list(dataset.smiles), labels, kind=cfg.split,
            fractions=tuple(cfg.split_fractions), seed=cfg.split_seed,
        )
        split = SplitIndices(*(np.asarray(getattr(made, name), dtype=np.int64) for name in SPLIT_NAMES))
        about = [f"{cfg.split} (seed {cfg.split_seed})"]
    for name in ("train", "valid"):
        if len(getattr(split, name)) == 0:
            raise UserInputError(f"the {name} split is empty ({len(dataset)} molecules in the data)")
    return split, about


def _pretrain_step(cfg: ExperimentConfig, dataset, split: SplitIndices, model_config: ModelConfig,
                   train_cfg: TrainConfig, device: torch.device, progress: bool) -> dict[str, Any]:
    """Pretrain (or reuse) the encoder for a variant that needs it.

    Calls ``training.pretrain_corpus.corpus_from_file(cfg.pretrain_data)`` or
    ``corpus_from_split(dataset, split)`` (training rows only, labels removed),
    then ``training.encoder_store.pretrain_or_reuse(model_config, corpus,
    corpus.content_hash, train_cfg, device, progress=progress)``. Imported
    lazily: pretraining is only needed by some variants.
    """
    from pepland_hpo.training import encoder_store, pretrain_corpus

    if train_cfg.pretrained:  # an encoder pretrained ahead (`pepland-hpo pretrain`), named by key or path
        return encoder_store.load_named_pretrained(train_cfg.pretrained, model_config)
    if cfg.pretrain_data:
        corpus = pretrain_corpus.corpus_from_file(cfg.pretrain_data, progress=progress)
    else:
        corpus = pretrain_corpus.corpus_from_split(dataset, split)
    return encoder_store.pretrain_or_reuse(
        model_config, corpus, corpus.content_hash, train_cfg, device, progress=progress
    )


def _describe_split(split: SplitIndices, about: list[str], dataset, task: str) -> list[str]:
    from pepland_hpo.data.splits import parts_text

    sizes = parts_text(split.to_dict(), np.asarray(dataset.targets), task)
    return [f"split: {about[0]}: {sizes}", *(f"  {note}" for note in about[1:])]


def _config_digest(cfg: ExperimentConfig, content_hash: str) -> str:
    text = json.dumps({"cfg": cfg.to_dict(), "data": content_hash}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_experiment(cfg: ExperimentConfig, on_epoch: EpochCallback | None = None,
                   progress: bool = False, resume=None) -> ExperimentResult:
    """Run one experiment; see the module docstring. ``on_epoch`` exceptions propagate.

    ``resume``: a :class:`~pepland_hpo.training.resume.ResumePoint` (the worker passes one).
    """
    from pepland_hpo.models import build_model, count_parameters
    from pepland_hpo.models.variants import variant_model_config, variant_needs_pretraining

    started = time.perf_counter()
    cfg.validate()
    device = resolve_device(cfg.device)
    dataset = _load_dataset(cfg, progress)
    task = cfg.task or getattr(dataset, "task", None)
    if task not in TASKS:
        raise UserInputError(
            f"{cfg.data}: cannot tell the task (no target, or not two classes); "
            "give the target column and task=classification|regression"
        )
    metric = check_metric(task, cfg.metric)
    target_names = list(getattr(dataset, "target_names", []) or [])
    n_targets = int(np.asarray(dataset.targets).shape[1]) if np.asarray(dataset.targets).ndim == 2 else 1
    if n_targets == 0:
        raise UserInputError(f"{cfg.data}: no target column to train on")

    split, split_about = _experiment_split(cfg, dataset)
    train_cfg = replace(cfg.train, seed=cfg.seed)
    protein = {}
    if cfg.protein_col:  # the protein encoder is one setting, the same for every variant
        kind = protein_input(cfg)
        protein = {"protein_encoder": kind, "protein_dim": dataset.protein_table.input_dim(kind)}
    model_config = variant_model_config(cfg.variant, **{**cfg.model_overrides, "out_dim": n_targets, **protein})

    extra: dict[str, Any] = {}
    pretrained = None
    if variant_needs_pretraining(cfg.variant):
        pretrained = _pretrain_step(cfg, dataset, split, model_config, train_cfg, device, progress)
        extra.update(
            pretrain_key=pretrained["key"],
            pretrain_reused=bool(pretrained["reused"]),
            pretrain_loss=[float(x) for x in pretrained["loss_per_epoch"]],
            pretrain_non_finite_steps=int(pretrained["non_finite_steps"]),
        )

    # seed right before the weights are drawn, so pretraining (or its reuse) does not
    # change the fine-tuning head's initialisation
    seed_everything(cfg.seed, deterministic=device.type == "cpu")
    model = build_model(model_config)
    param_count = count_parameters(model)
    if pretrained is not None:
        from pepland_hpo.training.finetune import load_pretrained_encoder

        load_pretrained_encoder(model, pretrained["state_dict"], train_cfg.freeze_layers)
        extra["frozen_parameters"] = int(sum(p.numel() for p in model.parameters() if not p.requires_grad))

    train_ds = dataset.subset(split.train)
    valid_ds = dataset.subset(split.valid)
    log.info("%s seed %d on %s: %d train / %d valid / %d test molecules, %d parameters",
             cfg.variant, cfg.seed, device, len(split.train), len(split.valid), len(split.test), param_count)
    if task == "classification" and metric in ("auroc", "auprc"):
        valid_labels = np.asarray(dataset.targets)[split.valid]
        if len(np.unique(valid_labels[~np.isnan(valid_labels)])) < 2:
            log.warning("the validation split holds one class only: %s is undefined (nan) every epoch; "
                        "use a stratified split or more data", metric)
    result = train_supervised(model, train_ds, valid_ds, task, metric, train_cfg, device,
                              on_epoch=on_epoch, progress=progress, resume=resume)

    # The best weights are loaded: score each held-out part once more and keep every
    # molecule's prediction, so statistics over molecules can be recomputed later.
    targets = np.asarray(dataset.targets, dtype=np.float64)
    targets = targets[:, None] if targets.ndim == 1 else targets
    predictions: dict[str, dict[str, list]] = {}
    test_metrics: dict[str, float] = {}
    for name in ("valid", "test"):
        idx = getattr(split, name)
        if not len(idx):
            continue
        metrics, y_pred = evaluate(model, dataset.subset(idx), task, device,
                                   batch_size=max(train_cfg.batch_size, 64),
                                   target_scaler=result.target_scaler, precision=train_cfg.precision)
        if name == "test":
            test_metrics = metrics
        predictions[name] = {"index": [int(i) for i in idx], "true": targets[idx].tolist(),
                             "pred": np.asarray(y_pred, dtype=np.float64).reshape(len(idx), -1).tolist()}

    checkpoint: str | None = None
    if cfg.save_checkpoint:
        from pepland_hpo.paths import artifacts_dir

        folder = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else artifacts_dir() / "checkpoints"
        content_hash = str(getattr(dataset, "content_hash", ""))
        name = cfg.checkpoint_name or f"{cfg.variant}-seed{cfg.seed}-{_config_digest(cfg, content_hash)}.pt"
        meta = {
            "task": task,
            "target_names": target_names,
            "variant": cfg.variant,
            "seed": cfg.seed,
            "data": cfg.data,
            "data_hash": content_hash,
            "metric": metric,
            "direction": result.direction,
            "best_value": result.best_value,
            "best_epoch": result.best_epoch,
            "val_metrics": result.val_metrics,
            "test_metrics": test_metrics,
            "target_scaler": result.target_scaler.to_dict() if result.target_scaler else None,
            "train_config": train_cfg.to_dict(),
            "pretrain_key": extra.get("pretrain_key"),
            "protein_col": cfg.protein_col,
            "binder_threshold": cfg.binder_threshold,
        }
        checkpoint = str(save_checkpoint(folder / name, model, model_config, meta))

    return ExperimentResult(
        variant=cfg.variant,
        seed=cfg.seed,
        task=task,
        metric=metric,
        direction=result.direction,
        best_value=result.best_value,
        best_epoch=result.best_epoch,
        val_metrics=result.val_metrics,
        test_metrics=test_metrics,
        param_count=param_count,
        epochs_run=result.epochs_run,
        epoch_seconds=result.epoch_seconds,
        non_finite_steps=result.non_finite_steps,
        checkpoint=checkpoint,
        device=str(device),
        model_config=model_config.to_dict(),
        train_config=train_cfg.to_dict(),
        split_sizes={name: int(len(getattr(split, name))) for name in SPLIT_NAMES},
        target_names=target_names,
        split_description=_describe_split(split, split_about, dataset, task),
        history=result.history,
        wall_seconds=time.perf_counter() - started,
        extra=extra,
        predictions=predictions,
    )


__all__ = [
    "ExperimentConfig",
    "ExperimentResult",
    "SplitIndices",
    "make_experiment_split",
    "run_experiment",
]
