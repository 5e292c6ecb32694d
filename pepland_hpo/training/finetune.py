"""Fine-tuning from a pretrained encoder.

:func:`load_pretrained_encoder` puts pretrained weights into ``model.encoder``
(the task head stays freshly initialised: a new head for the new task) and
optionally freezes the first k encoder layers. The supervised loop then trains
the model as usual; it optimises only parameters with ``requires_grad``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from pepland_hpo.errors import UserInputError


@dataclass
class FinetuneInfo:
    frozen_layers: int
    frozen_parameters: int
    trainable_parameters: int


def _read_state(state_dict_or_path) -> Mapping[str, torch.Tensor]:
    if isinstance(state_dict_or_path, (str, os.PathLike)):
        path = Path(state_dict_or_path)
        if not path.is_file():
            raise UserInputError(f"pretrained encoder file not found: {path}")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses pickled code: say so, not a traceback
            raise UserInputError(f"{path}: not a weights-only torch file ({exc})") from exc
    else:
        payload = state_dict_or_path
    # accept our pretrained artifact ({"state_dict": ...}) or a bare state dict
    if isinstance(payload, Mapping) and "state_dict" in payload and isinstance(payload["state_dict"], Mapping):
        payload = payload["state_dict"]
    if not isinstance(payload, Mapping) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise UserInputError("pretrained encoder: expected a state dict of tensors")
    return payload


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's stack of message-passing / attention layers (``encoder.layers``)."""
    layers = getattr(encoder, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise UserInputError("this encoder has no `layers` list; freeze_layers cannot be applied")
    return layers


def freeze_first_layers(encoder: nn.Module, k: int) -> int:
    """Freeze the input embeddings and the first ``k`` layers; returns how many parameters were frozen.

    "Input embeddings" are the encoder's submodules registered before
    ``layers`` (atom / bond / centrality / spatial encoders): they sit below
    layer 1, so freezing layer 1 while training them would let the frozen
    layer's input drift. Pooling (registered after the layers) stays trainable.
    """
    if k <= 0:
        return 0
    layers = encoder_layers(encoder)
    if k > len(layers):
        raise UserInputError(f"freeze_layers={k} but the encoder has only {len(layers)} layers")
    to_freeze: list[nn.Module] = []
    for name, child in encoder.named_children():
        if child is layers:
            break
        to_freeze.append(child)
    to_freeze.extend(layers[:k])
    # parameters registered on the encoder itself (e.g. a graph token) are inputs too
    params = list(encoder.parameters(recurse=False))
    for module in to_freeze:
        params.extend(module.parameters())
    frozen = 0
    for p in params:
        if p.requires_grad:
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def load_pretrained_encoder(
    model: nn.Module, state_dict_or_path: Any, freeze_layers: int = 0
) -> nn.Module:
    """Load pretrained weights into ``model.encoder``, freeze its first ``freeze_layers`` layers.

    ``state_dict_or_path``: the ``state_dict`` returned by ``encoder_store.pretrain_or_reuse``,
    or a path to a stored artifact / bare encoder state dict (loaded with
    ``weights_only=True``). The task head is not touched, so it keeps the fresh
    initialisation ``build_model`` gave it. A state dict from a different
    encoder configuration raises ``UserInputError``. Returns ``model`` (same
    object) for chaining.
    """
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise UserInputError("model has no `.encoder` to load pretrained weights into")
    state = _read_state(state_dict_or_path)
    try:
        encoder.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        raise UserInputError(
            f"pretrained encoder does not match this model's encoder configuration: {exc}"
        ) from exc
    freeze_first_layers(encoder, int(freeze_layers))
    return model


def finetune_info(model: nn.Module, freeze_layers: int = 0) -> FinetuneInfo:
    """How many parameters are frozen / trainable (for logs and trial attributes)."""
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return FinetuneInfo(int(freeze_layers), frozen, trainable)
