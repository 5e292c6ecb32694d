"""``compile=true``: the supervised loop compiles the encoder layers and trains the same model.

Compilation on 2 shared CPU cores costs about a minute even for one GCN layer, so this
is the smallest model that goes through the switch (a 1-layer GCN at hidden 8); that the
compiled transformer layers (dense and FAVOR+ attention) equal eager ones was checked by
hand at hidden 16 (see the README), and the GPU check times them at full size.
"""

from __future__ import annotations

import pytest
import torch

from pepland_hpo.errors import UserInputError
from pepland_hpo.models import build_model, variant_model_config
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.loop import train_supervised
from pepland_hpo.training.seeding import seed_everything
from pepland_hpo.training.settings import parse_settings


@pytest.fixture(scope="module")
def cpp_graphs(pepland_dir):
    from rdkit import Chem

    from pepland_hpo.data.featurize import featurize_mol

    graphs = []
    for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[::97][:24]:
        seq, label = line.split(",")
        g = featurize_mol(Chem.MolFromSequence(seq))
        g.y = torch.tensor([[float(label)]])
        graphs.append(g)
    assert 0 < sum(float(g.y) for g in graphs) < len(graphs)
    return graphs[:16], graphs[16:]


def _train(train, valid, compile_: bool):
    seed_everything(0)
    model = build_model(variant_model_config("gcn", hidden_dim=8, num_layers=1, dropout=0.0, head_layers=1))
    cfg = TrainConfig(epochs=2, batch_size=6, lr=1e-2, patience=0, compile=compile_, checkpoint_every=0)
    result = train_supervised(model, train, valid, "classification", "auroc", cfg, torch.device("cpu"))
    return model, result


def test_compiled_training_equals_eager(cpp_graphs):
    train, valid = cpp_graphs
    eager, r_eager = _train(train, valid, False)
    compiled, r_compiled = _train(train, valid, True)
    # the layer really is compiled, and in place: checkpoints keep the eager names
    assert all(getattr(layer, "_compiled_call_impl", None) is not None for layer in compiled.encoder.layers)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    losses = [[h["train_loss"] for h in r.history] for r in (r_eager, r_compiled)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4, abs=1e-6)
    for (name, a), b in zip(eager.state_dict().items(), compiled.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4, msg=name)


def test_compile_and_attention_backend_are_settings():
    settings = parse_settings({"compile": "true", "attention-backend": "flex"})
    assert settings.model == {"attention_backend": "flex"} and settings.train == {"compile": True}
    with pytest.raises(UserInputError, match="attention_backend"):
        parse_settings({"attention_backend": "sparse"})
    with pytest.raises(UserInputError, match="compile"):
        parse_settings({"compile": "maybe"})
