"""Training a generator: teacher forcing, held-out likelihood, checkpoints that resume exactly.

The objective is the validation set's negative log-likelihood per token (nats; the
end token counts, so the length distribution is learned too). Lower is better.

Every epoch ends by writing ``last.pt`` (weights, optimiser, epoch, history, best so
far) and, when the validation NLL improved, ``best.pt``; then ``on_epoch(epoch,
metrics)`` is called, so a pruner (the hpo layer raises its own exception there) or a
kill can stop the run at any epoch boundary and a later call with the same
``checkpoint_dir`` continues from ``last.pt``. Each epoch's shuffling and dropout are
seeded by ``(seed, epoch)`` alone, so a resumed run takes exactly the steps of an
uninterrupted one (tested: identical weights on CPU).

Checkpoints are loaded with ``torch.load(..., weights_only=True)``: they hold tensors
and plain data only.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from annotated_types import Ge, Gt
from torch import nn

from pepland_hpo.atomic import atomic_torch_save
from pepland_hpo.generation._model import PAD, ConditionalGRU, GeneratorConfig, encode
from pepland_hpo.training.errors import CheckpointError

GENERATOR_FORMAT = 1


@dataclass
class GeneratorSettings:
    epochs: Annotated[int, Gt(0)] = 40
    lr: Annotated[float, Gt(0)] = 3e-3
    batch_size: Annotated[int, Gt(0)] = 64
    weight_decay: Annotated[float, Ge(0)] = 0.0
    grad_clip: Annotated[float, Gt(0)] = 1.0
    patience: Annotated[int, Ge(0)] = 6  # epochs without a better validation NLL before stopping
    seed: int = 0
    # The sampling temperature, and the one the validation NLL is measured at: the held-out
    # likelihood of the distribution that will be sampled (softmax(logits / T)), so a study can
    # choose T on validation data like any other hyperparameter. Training itself is at T = 1.
    temperature: Annotated[float, Gt(0)] = 1.0


@dataclass
class GeneratorResult:
    best_valid_nll: float
    best_epoch: int
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    best_path: Path | None = None
    model: ConditionalGRU | None = None  # with the best epoch's weights, in eval mode


def encode_batch(sequences: list[list[str]]) -> torch.Tensor:
    """``[N, T]`` long: ``<bos> tokens <eos>`` right-padded with ``<pad>``."""
    ids = [encode(s) for s in sequences]
    width = max(len(i) for i in ids)
    out = torch.full((len(ids), width), PAD, dtype=torch.long)
    for k, row in enumerate(ids):
        out[k, : len(row)] = torch.tensor(row)
    return out


def _loss(model: ConditionalGRU, ids: torch.Tensor, cond: torch.Tensor,
          temperature: float = 1.0) -> tuple[torch.Tensor, int]:
    """Summed token NLL (of ``softmax(logits / temperature)``) and the number of tokens predicted."""
    logits = model(ids[:, :-1], cond)
    if temperature != 1.0:
        logits = logits / temperature
    target = ids[:, 1:]
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                       ignore_index=PAD, reduction="sum")
    return loss, int((target != PAD).sum())


@torch.no_grad()
def sequence_nll(model: ConditionalGRU, sequences: list[list[str]], conditions, batch_size: int = 256,
                 temperature: float = 1.0) -> float:
    """Mean NLL per token (nats) of ``sequences`` under ``model`` (sampled at ``temperature``) given ``conditions``."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    cond = torch.as_tensor(np.asarray(conditions, dtype=np.float32))
    for start in range(0, len(sequences), batch_size):
        ids = encode_batch(sequences[start:start + batch_size])
        loss, n = _loss(model, ids, cond[start:start + batch_size], temperature)
        total += float(loss)
        count += n
    model.train(was)
    return total / max(count, 1)


def save_generator(path, model: ConditionalGRU, meta: dict[str, Any] | None = None,
                   extra: dict[str, Any] | None = None) -> Path:
    """A generator checkpoint: config, weights, plain ``meta`` (and resume state in ``extra``)."""
    payload = {"format": GENERATOR_FORMAT, "kind": "generator", "config": model.config.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "meta": dict(meta or {}), **(extra or {})}
    return atomic_torch_save(payload, path)


def read_generator(path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"generator checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} holds objects other than weights and plain data; refusing to load it "
                              f"({str(exc).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable torch file: {exc}") from None
    if not isinstance(payload, dict) or payload.get("kind") != "generator":
        raise CheckpointError(f"{path} is not a generator checkpoint")
    if payload.get("format", GENERATOR_FORMAT) > GENERATOR_FORMAT:
        raise CheckpointError(f"{path} has generator format {payload['format']}; this version reads "
                              f"up to {GENERATOR_FORMAT}")
    return payload


def load_generator(path) -> tuple[ConditionalGRU, dict[str, Any]]:
    """``(model in eval mode, meta)`` from a generator checkpoint."""
    payload = read_generator(path)
    model = ConditionalGRU(GeneratorConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, dict(payload.get("meta") or {})


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + epoch) % 2**62


def train_generator(config: GeneratorConfig, train: tuple[list[list[str]], np.ndarray],
                    valid: tuple[list[list[str]], np.ndarray], settings: GeneratorSettings | None = None,
                    checkpoint_dir=None, on_epoch: Callable[[int, dict], None] | None = None,
                    meta: dict[str, Any] | None = None) -> GeneratorResult:
    """Train on ``train = (sequences, conditions)``; select on ``valid``'s NLL (module docstring).

    ``conditions``: class index or target value per sequence, NaN for unlabelled rows.
    """
    settings = settings or GeneratorSettings()
    if not train[0] or not valid[0]:
        raise ValueError("training and validation sets must not be empty")
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    torch.manual_seed(settings.seed)
    model = ConditionalGRU(config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    history: list[dict] = []
    best, best_epoch, start = math.inf, -1, 0
    last = folder / "last.pt" if folder else None
    if last is not None and last.is_file():
        payload = read_generator(last)
        model.load_state_dict(payload["state_dict"])
        opt.load_state_dict(payload["optimizer"])
        state = payload["train_state"]
        history, best, best_epoch, start = list(state["history"]), state["best"], state["best_epoch"], \
            state["epoch"] + 1
    ids = encode_batch(train[0])
    cond = torch.as_tensor(np.asarray(train[1], dtype=np.float32))
    meta = {**(meta or {}), "settings": asdict(settings)}
    best_state = None
    for epoch in range(start, settings.epochs):
        if best_epoch >= 0 and epoch - best_epoch > settings.patience:
            break
        seed = _epoch_seed(settings.seed, epoch)
        torch.manual_seed(seed)  # dropout masks
        order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))
        model.train()
        total, count = 0.0, 0
        for s in range(0, len(order), settings.batch_size):
            batch = order[s:s + settings.batch_size]
            loss, n = _loss(model, ids[batch], cond[batch])
            opt.zero_grad()
            (loss / max(n, 1)).backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            opt.step()
            total += float(loss.detach())
            count += n
        valid_nll = sequence_nll(model, valid[0], valid[1], temperature=settings.temperature)
        metrics = {"epoch": epoch, "train_nll": total / max(count, 1), "valid_nll": valid_nll}
        history.append(metrics)
        improved = valid_nll < best
        if improved:
            best, best_epoch = valid_nll, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if folder is not None:
            info = {**meta, "best_valid_nll": best, "best_epoch": best_epoch}
            if improved:
                save_generator(folder / "best.pt", model, info)
            save_generator(last, model, info, {
                "optimizer": opt.state_dict(),
                "train_state": {"epoch": epoch, "history": history, "best": best, "best_epoch": best_epoch}})
        if on_epoch is not None:
            on_epoch(epoch, dict(metrics))
    if best_state is None and folder is not None and (folder / "best.pt").is_file():
        best_state = read_generator(folder / "best.pt")["state_dict"]  # a resumed run that did not improve
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return GeneratorResult(best, best_epoch, len(history), history,
                           folder / "best.pt" if folder is not None else None, model)


__all__ = ["GeneratorResult", "GeneratorSettings", "encode_batch", "load_generator", "read_generator",
           "save_generator", "sequence_nll", "train_generator"]
