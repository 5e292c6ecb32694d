"""run_experiment end to end on a real c-CPP slice, and the --set parsing it relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pepland_hpo.data.splits import make_split
from pepland_hpo.errors import UserInputError
from pepland_hpo.training.checkpoints import load_checkpoint
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.loop import evaluate
from pepland_hpo.training.run import ExperimentConfig, run_experiment
from pepland_hpo.training.settings import parse_settings

SMALL = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2}




@pytest.fixture
def cpp_file(write_slice, pepland_dir):
    return write_slice(pepland_dir / "c-CPP.txt", 60, header=False)


def explicit_split(n=60):
    idx = np.random.default_rng(0).permutation(n).tolist()
    return {"train": idx[:40], "valid": idx[40:50], "test": idx[50:]}


# ----------------------------------------------------------------- --set parsing


def test_settings_are_sorted_and_typed():
    model, train = parse_settings({
        "hidden_dim": "32", "num-layers": "2", "dropout": "0", "pooling": "hierarchical",
        "spatial": "true", "lr": "5e-4", "epochs": 3, "precision": "bf16", "standardize_targets": "no",
    })
    assert model == {"hidden_dim": 32, "num_layers": 2, "dropout": 0.0, "pooling": "hierarchical",
                     "spatial": True}
    assert train == {"lr": 5e-4, "epochs": 3, "precision": "bf16", "standardize_targets": False}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hidden_dim": "abc"}, "hidden_dim"),
        ({"dropout": "2"}, "dropout"),
        ({"dropout": "nan"}, "dropout"),
        ({"colour": "red"}, "colour"),
        ({"precision": "fp8"}, "precision"),
        ({"spatial": "maybe"}, "spatial"),
        ({"epochs": "0"}, "epochs"),
        ({"epochs": "2.5"}, "epochs"),
        ({"lr": "-1"}, "lr"),
        ({"out_dim": "3"}, "out_dim"),
    ],
)
def test_bad_settings_name_the_key(settings, message):
    with pytest.raises(UserInputError, match=message):
        parse_settings(settings)


def test_experiment_config_dict_round_trip_and_settings():
    cfg = ExperimentConfig(data="x.csv", variant="gcn", model_overrides=dict(SMALL), train=TrainConfig(epochs=2))
    again = ExperimentConfig.from_dict(cfg.to_dict())
    assert again == cfg
    changed = cfg.with_settings({"hidden_dim": "64", "lr": "1e-3", "seed": "5"})
    assert changed.model_overrides["hidden_dim"] == 64 and changed.train.lr == 1e-3
    assert changed.seed == 5 and changed.train.seed == 5
    with pytest.raises(UserInputError, match="bogus"):
        ExperimentConfig.from_dict({"data": "x.csv", "bogus": 1})
    with pytest.raises(UserInputError, match="split_fractions"):
        ExperimentConfig(data="x.csv", split_fractions=(0.5, 0.2, 0.2)).validate()
    with pytest.raises(UserInputError, match="does not apply"):
        ExperimentConfig(data="x.csv", task="regression", metric="auroc").validate()


# ----------------------------------------------------------------- end to end


def test_gcn_end_to_end(cpp_file, storage_home):
    seen = []
    cfg = ExperimentConfig(
        data=str(cpp_file), variant="gcn", seed=1, model_overrides=dict(SMALL),
        train=TrainConfig(epochs=3, batch_size=16, lr=1e-3, patience=0), split_indices=explicit_split(),
        device="cpu",
    )
    result = run_experiment(cfg, on_epoch=lambda e, m: seen.append(e))
    assert seen == [1, 2, 3] and result.epochs_run == 3 and len(result.epoch_seconds) == 3
    assert result.task == "classification" and result.metric == "auroc" and result.direction == "maximize"
    assert result.split_sizes == {"train": 40, "valid": 10, "test": 10}
    assert result.best_value == result.val_metrics["auroc"]
    assert set(result.test_metrics) >= {"auroc", "auprc", "mcc", "f1", "accuracy"}
    assert result.param_count > 0 and result.device == "cpu" and result.extra == {}
    assert result.train_config["seed"] == 1 and result.model_config["out_dim"] == 1
    assert result.checkpoint.startswith(str(storage_home))  # under the storage root's artifacts

    model, meta = load_checkpoint(result.checkpoint)
    assert meta["variant"] == "gcn" and meta["task"] == "classification" and meta["metric"] == "auroc"
    from pepland_hpo.data.dataset import load_dataset

    test = load_dataset(str(cpp_file)).subset(explicit_split()["test"])
    metrics, _ = evaluate(model, test, "classification", torch.device("cpu"))
    for name, value in result.test_metrics.items():
        assert (math.isnan(value) and math.isnan(metrics[name])) or metrics[name] == pytest.approx(value)


def test_made_split_and_callback_exception(cpp_file):
    class Pruned(Exception):
        pass

    def prune(epoch, metrics):
        raise Pruned(epoch)

    cfg = ExperimentConfig(
        data=str(cpp_file), variant="gcn", model_overrides=dict(SMALL), split="stratified",
        train=TrainConfig(epochs=3, batch_size=16, patience=0), device="cpu",
    )
    with pytest.raises(Pruned):
        run_experiment(cfg, on_epoch=prune)
    result = run_experiment(replace_train(cfg, epochs=1))
    assert sum(result.split_sizes.values()) == 60 and result.split_sizes["test"] > 0
    # the split is the data layer's, made from the same molecules, labels and settings
    from pepland_hpo.data.dataset import load_dataset

    data = load_dataset(str(cpp_file))
    made = make_split(list(data.smiles), np.asarray(data.targets)[:, 0], kind="stratified",
                      fractions=tuple(cfg.split_fractions), seed=cfg.split_seed)
    assert result.split_sizes == {name: len(getattr(made, name)) for name in ("train", "valid", "test")}


def replace_train(cfg, **changes):
    from dataclasses import replace

    return replace(cfg, train=replace(cfg.train, **changes))


def test_bad_explicit_split(cpp_file):
    base = dict(data=str(cpp_file), variant="gcn", model_overrides=dict(SMALL),
                train=TrainConfig(epochs=1), device="cpu", save_checkpoint=False)
    with pytest.raises(UserInputError, match="refers to row"):
        run_experiment(ExperimentConfig(**base, split_indices={"train": [0, 1, 99], "valid": [2]}))
    with pytest.raises(UserInputError, match="share"):
        run_experiment(ExperimentConfig(**base, split_indices={"train": [0, 1, 2], "valid": [2, 3]}))
    with pytest.raises(UserInputError, match="valid split is empty"):
        run_experiment(ExperimentConfig(**base, split_indices={"train": [0, 1, 2]}))
    with pytest.raises(UserInputError, match="unknown variant"):
        run_experiment(ExperimentConfig(**{**base, "variant": "nope"}, split_indices=explicit_split()))


def test_pretraining_variant_calls_the_pretrain_hook(cpp_file, monkeypatch):
    """The wiring to pretraining: corpus = training rows only, encoder loaded, info recorded."""
    from pepland_hpo.models import build_model, variant_model_config
    from pepland_hpo.models import variants
    from pepland_hpo.training import encoder_store

    calls = []

    def fake_pretrain_or_reuse(model_config, corpus, corpus_hash, cfg, device, progress=False, **kw):
        calls.append((model_config, sorted(corpus.indices), corpus_hash, cfg.seed))
        state = build_model(model_config).encoder.state_dict()
        return {"state_dict": state, "key": "k123", "reused": False, "loss_per_epoch": [2.0, 1.5],
                "non_finite_steps": 0, "path": "unused"}

    monkeypatch.setattr(variants, "variant_needs_pretraining", lambda name: name == "gcn")
    monkeypatch.setattr(encoder_store, "pretrain_or_reuse", fake_pretrain_or_reuse)
    split = explicit_split()
    cfg = ExperimentConfig(data=str(cpp_file), variant="gcn", seed=3, model_overrides=dict(SMALL),
                           train=TrainConfig(epochs=1), split_indices=split, device="cpu")
    result = run_experiment(cfg)
    (model_config, corpus_rows, corpus_hash, seed), = calls
    assert model_config == variant_model_config("gcn", **SMALL, out_dim=1)
    assert corpus_rows == sorted(split["train"]) and corpus_hash and seed == 3
    assert result.extra["pretrain_key"] == "k123" and result.extra["pretrain_reused"] is False
    assert result.extra["pretrain_loss"] == [2.0, 1.5] and result.extra["pretrain_non_finite_steps"] == 0
