"""Contrastive pretraining of the encoder: the training loop.

:func:`pretrain_encoder` trains ``model.encoder`` with SimCLR or MoCo on
augmented views of an unlabelled corpus, under autocast per ``cfg.precision``.
A step whose loss or gradient is not finite is skipped and counted; past
``cfg.max_non_finite_steps`` it raises
:class:`~pepland_hpo.training.errors.NonFiniteLoss` (the HPO layer prunes the
trial with that reason). Data-parallel ranks and resumed runs draw the same
batches and views (both depend on (seed, epoch, index) only).

The corpus comes from :mod:`pepland_hpo.training.pretrain_corpus`; the result
is stored and reused across trials by :mod:`pepland_hpo.training.encoder_store`.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from pepland_hpo.training.augment import Augmenter
from pepland_hpo.training.batching import size_bucketed_batches
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.contrastive import MoCo, SimCLR, moco_queue_size
from pepland_hpo.training.errors import NonFiniteLoss
from pepland_hpo.training.pretrain_checkpoint import Position

# Bump when the pretraining algorithm changes in a way that makes old artifacts stale.
# 2: batch order per epoch and augmentations per molecule from (seed, epoch, index),
# so data-parallel ranks and resumed runs see the same views.
PRETRAIN_FORMAT = 2

# Observers of real pretraining runs (not of reuse). Tests append a callable to
# count that a second trial with the same key pretrains nothing.
PRETRAIN_HOOKS: list[Callable[[dict], None]] = []
PRETRAIN_CALLS = {"count": 0}


@dataclass
class PretrainResult:
    loss_per_epoch: list[float]
    non_finite_steps: int
    state_dict: dict[str, torch.Tensor]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- pretraining


def _autocast(device: torch.device, precision: str):
    # same mapping as the supervised loop: fp16 only on CUDA (with a scaler), bf16 on CPU
    from pepland_hpo.training.loop import autocast_settings

    dtype, _ = autocast_settings(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _encode_fn(model: nn.Module) -> Callable:
    return model.encode if hasattr(model, "encode") else model


def _trained_module(model: nn.Module) -> nn.Module:
    """The part pretraining trains and stores: ``model.encoder`` (the whole model if it has none)."""
    return getattr(model, "encoder", model)


class _Online(nn.Module):
    """Encoder + projection head as one module, the unit DistributedDataParallel synchronises."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, batch):
        return self.head(self.encoder(batch))


def _collate(graphs):
    from torch_geometric.data import Batch

    return Batch.from_data_list(list(graphs))


def _corpus_sizes(corpus) -> np.ndarray:
    """Atoms per corpus molecule, for size-bucketed batches (ones where a corpus cannot tell)."""
    sizes = getattr(corpus, "num_atoms", None)
    if sizes is None:
        return np.ones(len(corpus), dtype=np.int64)
    return np.asarray(sizes)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one molecule in one epoch (epoch 0: MoCo's queue warm-up)."""
    digest = hashlib.blake2b(f"{int(seed)}:{int(epoch)}:{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The batch order of an epoch depends on (seed, epoch) only: every rank draws the same
    global batches, and a resumed run the same as an uninterrupted one."""
    return torch.Generator().manual_seed(sample_seed(seed, epoch, -1))


def _seeded_views(augmenter: Augmenter, dataset, indices: Sequence[int], seed: int, epoch: int):
    """Two views of each molecule, each molecule's from its own seed, not from a shared stream."""
    v1, v2 = [], []
    for i in indices:
        augmenter.generator.manual_seed(sample_seed(seed, epoch, i))
        a, b = augmenter.views([dataset[i]])
        v1 += a
        v2 += b
    return v1, v2


def _chunks(ids: list[int], size: int, least: int) -> list[list[int]]:
    out = [ids[i : i + size] for i in range(0, len(ids), size)]
    if len(out) > 1 and len(out[-1]) < least:
        out[-2].extend(out.pop())
    return out


def _finite_grads(params: Sequence[torch.Tensor]) -> bool:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    return bool(torch.isfinite(torch.stack([g.detach().float().norm() for g in grads])).all())


def pretrain_encoder(
    encoder_model: nn.Module,
    corpus_dataset,
    cfg: TrainConfig,
    device: torch.device | str = "cpu",
    progress: bool = False,
    on_epoch: Callable[[int, float], None] | None = None,
    dist_ctx=None,
    checkpointer=None,
    on_step: Callable[[int, float], None] | None = None,
) -> PretrainResult:
    """Contrastive pretraining of ``encoder_model.encoder`` on ``corpus_dataset``.

    ``encoder_model`` is a model from ``build_model`` (``.encode(batch) ->
    [B, hidden]`` and ``.encoder``). Uses ``cfg.pretrain_method``,
    ``temperature``, ``pretrain_epochs``, ``pretrain_lr``,
    ``pretrain_batch_size``, ``precision``, ``grad_clip``, ``seed``,
    ``max_non_finite_steps``, ``moco_momentum``, ``moco_queue_fraction``,
    ``augment_rate``. Returns the per-epoch mean loss (over finite steps), the
    number of skipped steps and the encoder's state dict (on CPU).

    Data-parallel (``dist_ctx``, a :class:`~pepland_hpo.training.distributed.DistContext`):
    every rank draws the same global batches of ``pretrain_batch_size`` and
    encodes its strided share; embeddings are all-gathered, so the loss and the
    gradient are those of the whole batch. ``checkpointer``
    (:class:`~pepland_hpo.training.pretrain_checkpoint.Checkpointer`) saves
    every N steps and resumes. ``on_step(step, loss)`` runs after each step
    (``loss`` NaN for a skipped one).
    """
    from pepland_hpo.training.seeding import seed_everything

    device = torch.device(device)
    t0 = time.perf_counter()
    n = len(corpus_dataset)
    if n < 2:
        raise ValueError(f"contrastive pretraining needs at least 2 molecules, the corpus has {n}")
    PRETRAIN_CALLS["count"] += 1
    for hook in list(PRETRAIN_HOOKS):
        hook({"cfg": cfg, "corpus_size": n})

    seed_everything(cfg.seed)
    world = dist_ctx.world_size if dist_ctx is not None else 1
    if min(int(cfg.pretrain_batch_size), n) < world:
        raise ValueError(f"a global batch of {min(int(cfg.pretrain_batch_size), n)} cannot feed {world} processes")
    model = encoder_model.to(device)
    trained = _trained_module(model)
    encode = _encode_fn(model)
    rate = float(getattr(cfg, "augment_rate", 0.25))
    augmenter = Augmenter(rate=rate, seed=cfg.seed)

    # the projection head's input width is whatever encode() returns
    model.eval()
    with torch.no_grad():
        probe = _collate([corpus_dataset[i] for i in range(min(2, n))]).to(device)
        embed_dim = int(encode(probe).shape[-1])
    model.train()

    method = cfg.pretrain_method
    if method == "simclr":
        objective: SimCLR | MoCo = SimCLR(embed_dim, cfg.temperature)
    elif method == "moco":
        queue = moco_queue_size(n, float(getattr(cfg, "moco_queue_fraction", 0.25)))
        objective = MoCo(
            model, embed_dim, cfg.temperature, queue_size=queue,
            momentum=float(getattr(cfg, "moco_momentum", 0.99)),
        )
    else:
        raise ValueError(f"unknown pretrain_method {method!r}")
    objective.to(device)
    project = None
    if dist_ctx is not None:
        from pepland_hpo.training.distributed import gather_rows, wrap_ddp

        objective.gather = gather_rows
        project = wrap_ddp(_Online(trained, objective.head), dist_ctx)

    params = [p for p in trained.parameters() if p.requires_grad] + list(objective.head.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.pretrain_lr, weight_decay=cfg.weight_decay)
    # fp16 on a GPU needs loss scaling; its own overflow skips are routine (the
    # scale is being searched), so they are not counted as non-finite steps
    scaler = (
        torch.amp.GradScaler("cuda") if cfg.precision == "fp16" and device.type == "cuda" else None
    )
    resumed = checkpointer.restore(model, objective, optimizer, scaler, dist_ctx, device) if checkpointer else None
    pos = resumed or Position()
    if isinstance(objective, MoCo) and objective.queue_size and resumed is None:
        # Start with a full queue of real keys: with an empty queue the first
        # epoch's loss has fewer negatives (lower by ~log of the queue growth)
        # and the per-epoch curve would not be comparable across epochs.
        warm = torch.randperm(n, generator=epoch_generator(cfg.seed, 0))[: objective.queue_size].tolist()
        for ids in _chunks(warm, max(2, int(cfg.pretrain_batch_size)), world):
            mine = dist_ctx.shard(ids) if dist_ctx is not None else ids
            chunk, _ = _seeded_views(augmenter, corpus_dataset, mine, cfg.seed, 0)
            with _autocast(device, cfg.precision):
                keys = objective.key_encode(objective.default_key_encode, _collate(chunk).to(device))
            objective.enqueue(objective.gather(keys))

    # drop_last keeps every batch at >= 2 graphs; a final singleton has no negatives
    bs = max(2, min(int(cfg.pretrain_batch_size), n))
    losses: list[float] = pos.losses
    skipped = pos.skipped
    epochs = int(cfg.pretrain_epochs)
    sizes = _corpus_sizes(corpus_dataset)
    for epoch in range(pos.epoch, epochs + 1):
        batches = size_bucketed_batches(sizes, bs, epoch_generator(cfg.seed, epoch), min_batch=max(2, world))
        step_losses: list[float] = pos.step_losses if epoch == pos.epoch else []
        for b, idx in enumerate(batches):
            if epoch == pos.epoch and b < pos.batch:
                continue  # done before the checkpoint this run resumed from
            mine = dist_ctx.shard(idx) if dist_ctx is not None else idx
            v1, v2 = _seeded_views(augmenter, corpus_dataset, mine, cfg.seed, epoch)
            b1, b2 = _collate(v1).to(device), _collate(v2).to(device)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, cfg.precision):
                loss = objective.loss(encode, b1, b2, project=project)
            ok = bool(torch.isfinite(loss))
            if ok:
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                else:
                    loss.backward()
                    ok = _finite_grads(params)
            if ok:
                if cfg.grad_clip and cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                objective.after_step(model)
                step_losses.append(float(loss.detach()))
            else:
                optimizer.zero_grad(set_to_none=True)
                objective.discard_step()
                skipped += 1
                if skipped > cfg.max_non_finite_steps:
                    raise NonFiniteLoss(skipped, cfg.max_non_finite_steps, stage="pretrain", epoch=epoch)
            pos = Position(epoch, b + 1, pos.step + 1, skipped, losses, step_losses)
            if checkpointer is not None:
                checkpointer.after_step(pos, model, objective, optimizer, scaler, dist_ctx, device)
            if on_step is not None:
                on_step(pos.step, step_losses[-1] if ok else float("nan"))
        epoch_loss = float(np.mean(step_losses)) if step_losses else float("nan")
        losses.append(epoch_loss)
        if progress:
            print(
                f"pretrain {method} tau={cfg.temperature:g} epoch {epoch}/{epochs} "
                f"loss {epoch_loss:.4f} skipped {skipped}",
                flush=True,
            )
        if on_epoch is not None:
            on_epoch(epoch, epoch_loss)
        pos = Position(epoch + 1, 0, pos.step, skipped, losses, [])

    state = {k: v.detach().cpu().clone() for k, v in trained.state_dict().items()}
    return PretrainResult(
        loss_per_epoch=losses,
        non_finite_steps=skipped,
        state_dict=state,
        seconds=time.perf_counter() - t0,
        extra={"embed_dim": embed_dim, "queue_size": getattr(objective, "queue_size", 0)},
    )
