"""Resumable training: a run stopped at epoch 5 of 8 and resumed ends exactly where an uninterrupted one does."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv, global_mean_pool

from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.loop import train_supervised
from pepland_hpo.training.resume import ResumePoint
from pepland_hpo.training.seeding import seed_everything

CPU = torch.device("cpu")


class DropoutGCN(nn.Module):
    """Dropout and BatchNorm on purpose: the resumed run needs the RNG and the buffers back."""

    def __init__(self, in_dim: int, hidden: int = 16):
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.conv = GCNConv(hidden, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(hidden, 1)

    def forward(self, batch):
        h = torch.relu(self.embed(batch.x.float()))
        h = torch.relu(self.conv(h, batch.edge_index)) + h
        return self.head(self.drop(self.norm(global_mean_pool(h, batch.batch))))


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def cpp(tmp_path_factory, pepland_dir, shared_cache):
    from pepland_hpo.data.dataset import load_dataset

    out = tmp_path_factory.mktemp("cpp") / "c-CPP.txt"
    out.write_text("\n".join((pepland_dir / "c-CPP.txt").read_text().splitlines()[:60]) + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPLAND_HPO_CACHE", str(shared_cache))
        mp.setenv("PEPLAND_HPO_HOME", str(tmp_path_factory.mktemp("home")))
        ds = load_dataset(out)
    graphs = [ds[i] for i in range(len(ds))]
    return graphs[:44], graphs[44:]


def _model(train, seed: int) -> DropoutGCN:
    seed_everything(seed)
    return DropoutGCN(train[0].x.shape[1])


def _train(train, valid, model, resume=None, on_epoch=None, epochs=8, patience=0, schedule="constant"):
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=5e-3, patience=patience, seed=0,
                      lr_schedule=schedule, warmup_epochs=1 if schedule != "constant" else 0)
    return train_supervised(model, train, valid, "classification", "auroc", cfg, CPU,
                            on_epoch=on_epoch, resume=resume)


@pytest.mark.parametrize("every,expect_from,schedule", [(1, 5, "constant"), (2, 4, "constant"), (1, 5, "cosine")])
def test_resumed_run_equals_uninterrupted(cpp, tmp_path, every, expect_from, schedule):
    train, valid = cpp
    reference = _train(train, valid, _model(train, 0), schedule=schedule)

    point = ResumePoint(tmp_path / "state.pt", every=every)

    def stop_after_5(epoch, _metrics):
        if epoch == 5:
            raise _Stop  # a crash right after epoch 5 was reported

    with pytest.raises(_Stop):
        _train(train, valid, _model(train, 0), resume=point, on_epoch=stop_after_5, schedule=schedule)

    # a new process: other RNG states, other initial weights; all must come from the file
    seen: list[int] = []
    resumed_at: list[int] = []
    point2 = ResumePoint(tmp_path / "state.pt", every=every, on_resume=resumed_at.append)
    result = _train(train, valid, _model(train, 99), resume=point2, on_epoch=lambda e, _m: seen.append(e),
                    schedule=schedule)
    assert resumed_at == [expect_from] and point2.resumed_from == expect_from
    assert seen == list(range(1, 9))  # the saved epochs are replayed, then the rest trained
    assert result.best_value == reference.best_value and result.best_epoch == reference.best_epoch
    assert [h["train_loss"] for h in result.history] == [h["train_loss"] for h in reference.history]
    assert [h["lr"] for h in result.history] == [h["lr"] for h in reference.history]  # the schedule resumed too
    for key, value in reference.best_state.items():
        assert torch.equal(result.best_state[key], value), key


def test_no_state_file_means_a_normal_run_and_saving_every_epoch(cpp, tmp_path):
    train, valid = cpp
    point = ResumePoint(tmp_path / "state.pt", every=1)
    result = _train(train, valid, _model(train, 0), resume=point, epochs=3)
    assert point.resumed_from is None and result.epochs_run == 3
    payload = torch.load(tmp_path / "state.pt", weights_only=True)  # plain data only
    assert payload["epoch"] == 2  # not after the last epoch: nothing would resume from it


def test_unreadable_state_starts_over(cpp, tmp_path):
    train, valid = cpp
    (tmp_path / "state.pt").write_bytes(b"torn write")
    point = ResumePoint(tmp_path / "state.pt", every=1)
    result = _train(train, valid, _model(train, 0), resume=point, epochs=2)
    assert point.resumed_from is None and result.epochs_run == 2
