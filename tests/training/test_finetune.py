"""Fine-tuning: pretrained encoder weights in, first k layers frozen, task head fresh."""

from __future__ import annotations

import pickle

import pytest
import torch

from pepland_hpo.errors import UserInputError
from pepland_hpo.models import build_model, variant_model_config
from pepland_hpo.training.finetune import finetune_info, load_pretrained_encoder


def _cfg(**kw):
    return variant_model_config("full", hidden_dim=16, num_layers=3, num_heads=2, **kw)


def _pretrained_state(seed=1):
    torch.manual_seed(seed)
    return build_model(_cfg()).encoder.state_dict()


def test_loads_encoder_keeps_fresh_head_and_freezes(tmp_path):
    state = _pretrained_state()
    torch.manual_seed(0)
    model = build_model(_cfg(out_dim=2))
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    path = tmp_path / "enc.pt"
    torch.save({"state_dict": state, "loss_per_epoch": [1.0]}, path)

    out = load_pretrained_encoder(model, path, freeze_layers=2)
    assert out is model
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, state[k]), k
    for k, v in model.head.state_dict().items():
        assert torch.equal(v, head_before[k]), k  # a new task head, untouched
    layers = model.encoder.layers
    assert all(not p.requires_grad for layer in layers[:2] for p in layer.parameters())
    assert all(p.requires_grad for p in layers[2].parameters())
    assert not any(p.requires_grad for p in model.encoder.atom_in.parameters())  # below layer 1
    assert all(p.requires_grad for p in model.encoder.pool.parameters())  # above the frozen layers
    assert all(p.requires_grad for p in model.head.parameters())
    info = finetune_info(model, 2)
    assert info.frozen_parameters > 0 and info.trainable_parameters > 0


def test_bare_state_dict_and_no_freezing():
    state = _pretrained_state()
    model = build_model(_cfg())
    load_pretrained_encoder(model, state, freeze_layers=0)
    assert all(p.requires_grad for p in model.parameters())
    assert torch.equal(model.encoder.atom_in.weight, state["atom_in.weight"])


def test_errors_are_user_facing(tmp_path):
    model = build_model(_cfg())
    with pytest.raises(UserInputError, match="only 3 layers"):
        load_pretrained_encoder(model, _pretrained_state(), freeze_layers=4)
    other = build_model(variant_model_config("full", hidden_dim=32, num_layers=3, num_heads=2))
    with pytest.raises(UserInputError, match="does not match"):
        load_pretrained_encoder(model, other.encoder.state_dict())
    with pytest.raises(UserInputError, match="not found"):
        load_pretrained_encoder(model, tmp_path / "missing.pt")
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(object()))  # weights_only refuses arbitrary objects
    with pytest.raises(UserInputError):
        load_pretrained_encoder(model, evil)
