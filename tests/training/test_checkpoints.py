"""Checkpoints: round trip through build_model, weights-only loading, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pepland_hpo.models import build_model, variant_model_config
from pepland_hpo.models.synthetic import peptide_like_graph
from pepland_hpo.training.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from pepland_hpo.training.errors import CheckpointError
from pepland_hpo.training.evaluation import evaluate
from pepland_hpo.training.seeding import seed_everything

CPU = torch.device("cpu")




@pytest.fixture(scope="module")
def graphs():
    out = []
    for i in range(12):
        g = peptide_like_graph(20 + 3 * i, seed=i)
        g.y = torch.tensor([[float(i % 2)]])
        out.append(g)
    return out


@pytest.fixture
def trained(graphs):
    seed_everything(0)
    cfg = variant_model_config("gcn", hidden_dim=16, num_layers=2, out_dim=1)
    model = build_model(cfg)
    # move the weights away from their initial values so a round trip proves something
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    from torch_geometric.loader import DataLoader

    for batch in DataLoader(graphs, batch_size=6):
        opt.zero_grad()
        model(batch).sum().backward()
        opt.step()
    return model, cfg


def test_round_trip_gives_identical_predictions(tmp_path, graphs, trained):
    model, cfg = trained
    meta = {"task": "classification", "target_names": ["label"], "variant": "gcn",
            "best_value": np.float32(0.75), "val_metrics": {"auroc": 0.75},
            "target_scaler": None, "history": np.array([0.5, 0.4])}
    path = save_checkpoint(tmp_path / "sub" / "best.pt", model, cfg, meta)
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temp left

    loaded, meta2 = load_checkpoint(path)
    assert not loaded.training
    _, before = evaluate(model, graphs, "classification", CPU)
    _, after = evaluate(loaded, graphs, "classification", CPU)
    np.testing.assert_array_equal(before, after)
    assert meta2["variant"] == "gcn" and meta2["val_metrics"] == {"auroc": 0.75}
    assert meta2["best_value"] == pytest.approx(0.75) and meta2["history"] == [0.5, 0.4]
    assert read_checkpoint(path)["model_config"] == cfg.to_dict()


class _Payload:
    """An arbitrary object: what a full unpickler would construct (or run)."""

    def __init__(self, marker):
        self.marker = marker


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # a full unpickler would create a file as a side effect
        return (open, (str(self.marker), "w"))


def test_pickled_objects_are_refused(tmp_path, trained):
    model, cfg = trained
    marker = tmp_path / "pwned"
    for i, obj in enumerate([_Payload(marker), _Exploit(marker)]):
        path = tmp_path / f"evil{i}.pt"
        torch.save({"model_config": cfg.to_dict(), "state_dict": model.state_dict(), "meta": obj}, path)
        with pytest.raises(CheckpointError, match="refusing"):
            load_checkpoint(path)
    assert not marker.exists()


def test_unsavable_meta_missing_and_foreign_files(tmp_path, trained):
    model, cfg = trained
    with pytest.raises(TypeError, match="meta.obj"):
        save_checkpoint(tmp_path / "x.pt", model, cfg, {"obj": object()})
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a pepland-hpo checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_custom_builder(tmp_path, trained):
    model, cfg = trained
    path = save_checkpoint(tmp_path / "m.pt", model, cfg, {})
    seen = []

    def builder(config):
        seen.append(config.hidden_dim)
        return build_model(config)

    load_checkpoint(path, builder=builder)
    assert seen == [16]
