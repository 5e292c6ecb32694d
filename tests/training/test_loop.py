"""The supervised loop on a real c-CPP slice with a tiny model defined here.

The model is deliberately not the models layer's: these tests pin the loop's
contract (any module mapping a PyG batch to [B, out_dim] predictions).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv, global_mean_pool

from pepland_hpo.errors import UserInputError
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.errors import NonFiniteLoss
from pepland_hpo.training.evaluation import evaluate
from pepland_hpo.training.loaders import collect_targets, make_loader
from pepland_hpo.training.loop import train_supervised
from pepland_hpo.training.seeding import seed_everything

CPU = torch.device("cpu")


class TinyGCN(nn.Module):
    """Embedding, one residual GCN layer, mean pooling, BatchNorm, MLP head.

    BatchNorm is there on purpose: its running statistics are buffers that a
    skipped (non-finite) step must not poison.
    """

    def __init__(self, in_dim: int, hidden: int = 32, out_dim: int = 1, norm: bool = True):
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.conv = GCNConv(hidden, hidden)
        self.norm = nn.BatchNorm1d(hidden) if norm else nn.Identity()
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, batch):
        h = torch.relu(self.embed(batch.x.float()))
        h = torch.relu(self.conv(h, batch.edge_index)) + h
        return self.head(self.norm(global_mean_pool(h, batch.batch)))




@pytest.fixture(scope="module")
def cpp(tmp_path_factory, pepland_dir, shared_cache):
    """80 real c-CPP peptides as a list of graphs, split 60 / 20."""
    from pepland_hpo.data.dataset import load_dataset

    src = pepland_dir / "c-CPP.txt"
    out = tmp_path_factory.mktemp("cpp") / "c-CPP.txt"
    out.write_text("\n".join(src.read_text().splitlines()[:80]) + "\n")
    # module scope runs before the per-test storage fixture: point the cache ourselves
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPLAND_HPO_CACHE", str(shared_cache))
        mp.setenv("PEPLAND_HPO_HOME", str(tmp_path_factory.mktemp("home")))
        ds = load_dataset(out)
    graphs = [ds[i] for i in range(len(ds))]
    return graphs[:60], graphs[60:]


def fresh_model(train, seed: int = 0, out_dim: int = 1, norm: bool = True) -> TinyGCN:
    seed_everything(seed)
    return TinyGCN(train[0].x.shape[1], out_dim=out_dim, norm=norm)


def test_loss_falls_and_history_is_complete(cpp):
    train, valid = cpp
    cfg = TrainConfig(epochs=10, batch_size=20, lr=1e-2, patience=0)
    result = train_supervised(fresh_model(train), train, valid, "classification", "auroc", cfg, CPU)
    losses = [h["train_loss"] for h in result.history]
    assert result.epochs_run == 10 and len(result.epoch_seconds) == 10
    assert losses[-1] < losses[0] * 0.8
    assert 1 <= result.best_epoch <= 10
    assert result.best_value == pytest.approx(result.history[result.best_epoch - 1]["auroc"])
    assert result.val_metrics["auroc"] == result.best_value and result.best_value > 0.5
    assert all(s > 0 for s in result.epoch_seconds)
    assert result.non_finite_steps == 0 and all(t.device.type == "cpu" for t in result.best_state.values())


def test_model_holds_best_state_and_evaluate_matches(cpp):
    train, valid = cpp
    model = fresh_model(train)
    cfg = TrainConfig(epochs=4, batch_size=20, lr=3e-3, patience=0)
    result = train_supervised(model, train, valid, "classification", "auroc", cfg, CPU)
    metrics, probs = evaluate(model, valid, "classification", CPU)
    assert probs.shape == (len(valid), 1) and np.all((probs >= 0) & (probs <= 1))
    assert metrics["auroc"] == pytest.approx(result.best_value)
    assert math.isfinite(metrics["loss"])


def test_early_stopping_stops(cpp):
    train, valid = cpp
    # a learning rate this small cannot change the ranking: no epoch improves on the first
    # (no BatchNorm: its running statistics would move the predictions whatever the lr)
    cfg = TrainConfig(epochs=30, batch_size=32, lr=1e-12, patience=2)
    result = train_supervised(fresh_model(train, norm=False), train, valid, "classification", "auroc", cfg, CPU)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_on_epoch_sees_every_epoch_and_its_exception_propagates(cpp):
    train, valid = cpp
    seen: list[tuple[int, dict]] = []
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-3, patience=0)
    train_supervised(fresh_model(train), train, valid, "classification", "mcc", cfg, CPU,
                     on_epoch=lambda e, m: seen.append((e, m)))
    assert [e for e, _ in seen] == [1, 2, 3]
    assert {"auroc", "mcc", "loss", "train_loss", "epoch_seconds"} <= set(seen[0][1])

    class Pruned(Exception):
        pass

    calls = []

    def prune_at_two(epoch, metrics):
        calls.append(epoch)
        if epoch == 2:
            raise Pruned("stop here")

    cfg = TrainConfig(epochs=5, batch_size=32, lr=1e-3, patience=0)
    with pytest.raises(Pruned, match="stop here"):
        train_supervised(fresh_model(train), train, valid, "classification", "auroc", cfg, CPU,
                         on_epoch=prune_at_two)
    assert calls == [1, 2]


def _poisoned(train):
    graphs = list(train)
    bad = graphs[5].clone()
    bad.x = torch.full_like(bad.x.float(), float("inf"))
    graphs[5] = bad
    return graphs


def test_non_finite_batch_is_skipped_and_counted(cpp):
    train, valid = cpp
    cfg = TrainConfig(epochs=3, batch_size=20, lr=1e-3, patience=0, max_non_finite_steps=5)
    result = train_supervised(fresh_model(train), _poisoned(train), valid, "classification", "auroc", cfg, CPU)
    # one poisoned graph spoils exactly one batch per epoch
    assert result.non_finite_steps == 3
    assert [h["skipped_steps"] for h in result.history] == [1, 1, 1]
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    assert all(torch.isfinite(t).all() for t in result.best_state.values() if t.is_floating_point())
    assert all(math.isfinite(h["auroc"]) for h in result.history)  # BatchNorm statistics not poisoned


def test_too_many_non_finite_steps_raise(cpp):
    train, valid = cpp
    cfg = TrainConfig(epochs=5, batch_size=20, lr=1e-3, patience=0, max_non_finite_steps=1)
    with pytest.raises(NonFiniteLoss, match="max_non_finite_steps=1") as info:
        train_supervised(fresh_model(train), _poisoned(train), valid, "classification", "auroc", cfg, CPU)
    assert info.value.steps == 2 and info.value.epoch == 2


def test_same_seed_same_losses(cpp):
    train, valid = cpp
    cfg = TrainConfig(epochs=3, batch_size=20, lr=1e-3, patience=0, seed=7)

    def run(seed):
        model = fresh_model(train, seed=seed)
        res = train_supervised(model, train, valid, "classification", "auroc", cfg, CPU)
        return [h["train_loss"] for h in res.history], [h["auroc"] for h in res.history]

    first, second = run(7), run(7)
    assert first == second  # bit-identical, not approximately equal
    assert run(8)[0] != first[0]


def test_regression_standardises_targets_and_reports_original_units(cpp):
    train, valid = cpp

    def with_nitrogen_target(graphs):
        # a real property of each peptide that mean pooling can see: the fraction of
        # nitrogen atoms (atom feature column 1), put in units far from 0..1
        out = []
        for g in graphs:
            g = g.clone()
            g.y = torch.tensor([[1000.0 * float(g.x[:, 1].float().mean()) + 500.0]])
            out.append(g)
        return out

    train_r, valid_r = with_nitrogen_target(train), with_nitrogen_target(valid)
    targets = collect_targets(train_r)
    cfg = TrainConfig(epochs=10, batch_size=20, lr=1e-2, patience=0)
    model = fresh_model(train_r)
    result = train_supervised(model, train_r, valid_r, "regression", "rmse", cfg, CPU)
    assert result.target_scaler.mean[0] == pytest.approx(targets.mean(), rel=1e-5)
    assert result.target_scaler.std[0] == pytest.approx(targets.std(), rel=1e-4)
    metrics, preds = evaluate(model, valid_r, "regression", CPU, target_scaler=result.target_scaler)
    assert abs(preds.mean() - collect_targets(valid_r).mean()) < collect_targets(valid_r).std()
    assert metrics["rmse"] == pytest.approx(result.best_value)
    # in the data's units: without the scaler the same model predicts standardised values
    raw_metrics, raw = evaluate(model, valid_r, "regression", CPU)
    assert abs(raw.mean()) < 5 and raw_metrics["rmse"] > 10 * metrics["rmse"]


def test_bf16_autocast_and_missing_labels(cpp):
    train, valid = cpp
    graphs = []
    for i, g in enumerate(train):
        g = g.clone()
        if i % 3 == 0:
            g.y = torch.full_like(g.y.float(), float("nan"))  # unlabelled rows are masked
        graphs.append(g)
    cfg = TrainConfig(epochs=2, batch_size=20, lr=1e-3, patience=0, precision="bf16")
    result = train_supervised(fresh_model(train), graphs, valid, "classification", "auroc", cfg, CPU)
    assert result.non_finite_steps == 0
    assert all(math.isfinite(h["train_loss"]) for h in result.history)


def test_bad_inputs_are_user_errors(cpp):
    train, valid = cpp
    two = []
    for g in train:
        g = g.clone()
        g.y = g.y.float() * 2
        two.append(g)
    cfg = TrainConfig(epochs=1)
    with pytest.raises(UserInputError, match="0/1"):
        train_supervised(fresh_model(train), two, valid, "classification", "auroc", cfg, CPU)
    with pytest.raises(UserInputError, match="empty"):
        train_supervised(fresh_model(train), train, [], "classification", "auroc", cfg, CPU)
    with pytest.raises(UserInputError, match="does not apply"):
        train_supervised(fresh_model(train), train, valid, "classification", "rmse", cfg, CPU)


def test_loader_drops_a_lone_last_graph(cpp):
    train, _ = cpp
    loader = make_loader(train[:41], batch_size=20, shuffle=True, seed=0)
    assert [b.num_graphs for b in loader] == [20, 20]
    loader = make_loader(train[:41], batch_size=20)  # evaluation keeps every graph
    assert [b.num_graphs for b in loader] == [20, 20, 1]


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_on_cuda(cpp, precision):
    train, valid = cpp
    cuda = torch.device("cuda:0")
    cfg = TrainConfig(epochs=3, batch_size=20, lr=1e-2, patience=0, precision=precision)
    result = train_supervised(fresh_model(train), train, valid, "classification", "auroc", cfg, cuda)
    # fp16 loss-scale calibration skips are routine and are not counted as failures
    assert result.non_finite_steps == 0
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    assert all(t.device.type == "cpu" for t in result.best_state.values())
