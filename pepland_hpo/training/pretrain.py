"""Contrastive pretraining of the encoder, and reuse of a pretrained encoder across trials.

* :func:`pretrain_encoder` trains ``model.encoder`` with SimCLR or MoCo on
  augmented views of an unlabelled corpus, under autocast per
  ``cfg.precision``. A step whose loss or gradient is not finite is skipped and
  counted; past ``cfg.max_non_finite_steps`` it raises
  :class:`~pepland_hpo.training.errors.NonFiniteLoss` (the HPO layer prunes the
  trial with that reason).
* :func:`pretrain_or_reuse` stores the result as a content-addressed file
  ``<artifacts>/pretrained/<key>.pt`` whose key hashes the encoder
  configuration, the corpus and the pretraining settings. A file lock makes two
  workers with the same key pretrain once: the second waits, then loads.
* :func:`corpus_from_split` / :func:`corpus_from_file` build the corpus: by
  default the training rows of the study's data, without labels.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from pepland_hpo.atomic import atomic_torch_save
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

# Fields of ModelConfig that belong to the task head, not to the encoder: a
# regression and a classification task can share one pretrained encoder.
HEAD_ONLY_FIELDS = ("out_dim", "head_layers")

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


# --------------------------------------------------------------------------- corpus


class Corpus:
    """An unlabelled view of some rows of a dataset: ``corpus[i]`` is a graph without ``y``."""

    def __init__(self, dataset, indices: Sequence[int] | None, content_hash: str, smiles=None):
        self.dataset = dataset
        self.indices = None if indices is None else [int(i) for i in indices]
        self.content_hash = content_hash
        base = getattr(dataset, "smiles", None)
        if smiles is not None:
            self.smiles = list(smiles)
        elif base is not None:
            self.smiles = [base[i] for i in self.indices] if self.indices is not None else list(base)
        else:
            self.smiles = None

    def __len__(self) -> int:
        return len(self.dataset) if self.indices is None else len(self.indices)

    @property
    def num_atoms(self) -> np.ndarray | None:
        sizes = getattr(self.dataset, "num_atoms", None)
        if sizes is None:
            return None
        sizes = np.asarray(sizes)
        return sizes if self.indices is None else sizes[self.indices]

    def __getitem__(self, i: int):
        g = self.dataset[self.indices[i] if self.indices is not None else i]
        if "y" in g.keys():
            g = g.clone()
            del g.y  # labels never reach pretraining
        return g


def _hash_parts(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def corpus_from_split(dataset, split) -> Corpus:
    """The training rows of ``split`` (a ``Split`` or an index array), labels removed.

    Validation and test rows never enter, and neither does a training row whose
    SMILES also occurs in the validation or test rows (a duplicate molecule
    would otherwise leak through pretraining).
    """
    train = np.asarray(getattr(split, "train", split), dtype=np.int64)
    held_out = []
    for name in ("valid", "test"):
        part = getattr(split, name, None)
        if part is not None:
            held_out.extend(int(i) for i in np.asarray(part))
    overlap = set(train.tolist()) & set(held_out)
    if overlap:
        raise ValueError(f"split's training rows overlap validation/test rows: {sorted(overlap)[:5]}")
    smiles = getattr(dataset, "smiles", None)
    if smiles is not None and held_out:
        held_smiles = {smiles[i] for i in held_out}
        train = np.array([i for i in train.tolist() if smiles[i] not in held_smiles], dtype=np.int64)
    base_hash = str(getattr(dataset, "content_hash", ""))
    corpus_hash = _hash_parts("split", base_hash, ",".join(map(str, sorted(train.tolist()))))
    return Corpus(dataset, train.tolist(), corpus_hash)


def corpus_from_file(source, progress: bool = False) -> Corpus:
    """A user-given pretraining file (``--pretrain-data``): every valid row, no target."""
    from pepland_hpo.data.dataset import load_dataset

    ds = load_dataset(source, progress=progress)
    return Corpus(ds, None, _hash_parts("file", str(ds.content_hash)))


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


# --------------------------------------------------------------------------- reuse


def pretrain_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The settings that change the pretrained weights (and only those: not lr, not freeze_layers)."""
    return {
        "format": PRETRAIN_FORMAT,
        "method": cfg.pretrain_method,
        "temperature": float(cfg.temperature),
        "epochs": int(cfg.pretrain_epochs),
        "lr": float(cfg.pretrain_lr),
        "batch_size": int(cfg.pretrain_batch_size),
        "precision": cfg.precision,
        "seed": int(cfg.seed),
        "grad_clip": float(cfg.grad_clip),
        "weight_decay": float(cfg.weight_decay),
        "moco_momentum": float(getattr(cfg, "moco_momentum", 0.99)) if cfg.pretrain_method == "moco" else None,
        "moco_queue_fraction": (
            float(getattr(cfg, "moco_queue_fraction", 0.25)) if cfg.pretrain_method == "moco" else None
        ),
        "augment_rate": float(getattr(cfg, "augment_rate", 0.25)),
    }


def _config_dict(model_config) -> dict[str, Any]:
    return dict(model_config.to_dict() if hasattr(model_config, "to_dict") else model_config)


def pretrain_key(model_config_dict: dict, corpus_hash: str, settings: dict) -> str:
    """sha256 of canonical JSON of (encoder config without head fields, corpus hash, settings)."""
    encoder_cfg = {k: v for k, v in _config_dict(model_config_dict).items() if k not in HEAD_ONLY_FIELDS}
    try:
        from pepland_hpo.data.featurize import FEATURIZER_VERSION
    except Exception:  # pragma: no cover - data layer not there yet
        FEATURIZER_VERSION = None
    payload = {
        "encoder": encoder_cfg,
        "corpus": str(corpus_hash),
        "settings": settings,
        "featurizer": FEATURIZER_VERSION,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def pretrained_dir(store_dir: str | os.PathLike | None = None) -> Path:
    if store_dir is not None:
        return Path(store_dir)
    from pepland_hpo.paths import artifacts_dir

    return artifacts_dir() / "pretrained"


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # blocks while another worker pretrains this key
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def load_pretrained_artifact(path: str | os.PathLike) -> dict[str, Any]:
    """Load a stored artifact (weights only: no pickled code runs)."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path} is not a pretrained-encoder artifact (no 'state_dict')")
    return payload


def find_pretrained(ref: str, store_dir: str | os.PathLike | None = None) -> Path:
    """The artifact a ``pretrained=`` setting names: a .pt path, or a key (or unique prefix) in the store."""
    from pepland_hpo.errors import UserInputError

    if ref.endswith(".pt"):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise UserInputError(f"pretrained={ref}: no such file")
        return path
    folder = pretrained_dir(store_dir)
    found = [p for p in sorted(folder.glob(f"{ref.lower()}*.pt")) if not p.name.endswith(".resume.pt")]
    if len(found) != 1:
        what = "no encoder" if not found else f"{len(found)} encoders"
        raise UserInputError(f"pretrained={ref}: {what} with that key under {folder}; "
                             "`pepland-hpo pretrain` prints the key of the one it stores")
    return found[0]


def load_named_pretrained(ref: str, model_config, store_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """A ``pretrained=`` encoder, checked against ``model_config``; shaped like :func:`pretrain_or_reuse`'s result."""
    from pepland_hpo.errors import UserInputError

    path = find_pretrained(ref, store_dir)
    payload = load_pretrained_artifact(path)
    stored = json.loads(payload.get("model_config_json", "{}"))
    wanted = _config_dict(model_config)
    differ = sorted(k for k in set(stored) | set(wanted)
                    if k not in HEAD_ONLY_FIELDS and stored.get(k) != wanted.get(k))
    if differ:
        shown = ", ".join(f"{k}={stored.get(k)!r} (trial: {wanted.get(k)!r})" for k in differ[:4])
        raise UserInputError(f"pretrained={ref}: the stored encoder has another configuration: {shown}")
    return {
        "state_dict": payload["state_dict"],
        "key": str(payload.get("key") or path.stem),
        "reused": True,
        "loss_per_epoch": [float(x) for x in payload.get("loss_per_epoch", [])],
        "non_finite_steps": int(payload.get("non_finite_steps", 0)),
        "path": str(path),
    }


def pretrain_or_reuse(
    model_config,
    corpus_dataset,
    corpus_hash: str,
    cfg: TrainConfig,
    device: torch.device | str = "cpu",
    store_dir: str | os.PathLike | None = None,
    progress: bool = False,
    build: Callable[[Any], nn.Module] | None = None,
    train_now: Callable[[str, Path], None] | None = None,
) -> dict[str, Any]:
    """The pretrained encoder for this (encoder config, corpus, settings): from the store, or pretrained now.

    Returns ``dict(state_dict, key, reused, loss_per_epoch, non_finite_steps,
    path)``. ``reused`` is True when the file already existed (possibly written
    by another worker while this one waited on the lock); the loss curve and
    skip count are then the stored ones. ``build`` (default
    ``pepland_hpo.models.build_model``) turns ``model_config`` into a model.
    ``train_now(key, path)``, when given, replaces the in-process run: it
    must write the artifact to ``path`` (the lock is held meanwhile).
    Raises ``NonFiniteLoss`` (nothing is stored) when pretraining diverges.
    """
    settings = pretrain_settings(cfg)
    key = pretrain_key(_config_dict(model_config), corpus_hash, settings)
    folder = pretrained_dir(store_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.pt"

    def _reused(payload: dict) -> dict[str, Any]:
        return {
            "state_dict": payload["state_dict"],
            "key": key,
            "reused": True,
            "loss_per_epoch": [float(x) for x in payload.get("loss_per_epoch", [])],
            "non_finite_steps": int(payload.get("non_finite_steps", 0)),
            "path": str(path),
        }

    if path.exists():
        return _reused(load_pretrained_artifact(path))
    with _file_lock(folder / f"{key}.lock"):
        if path.exists():  # another worker finished it while we waited
            return _reused(load_pretrained_artifact(path))
        if train_now is not None:  # e.g. data-parallel ranks, which write the artifact themselves
            train_now(key, path)
            return {**_reused(load_pretrained_artifact(path)), "reused": False}
        torch.manual_seed(cfg.seed)  # same key -> same initial weights
        model = build_encoder_model(model_config, build)
        result = pretrain_encoder(model, corpus_dataset, cfg, device, progress=progress)
        save_pretrained_artifact(path, result, key, settings, model_config, corpus_hash, len(corpus_dataset))
    return {
        "state_dict": result.state_dict,
        "key": key,
        "reused": False,
        "loss_per_epoch": list(result.loss_per_epoch),
        "non_finite_steps": int(result.non_finite_steps),
        "path": str(path),
    }


def build_encoder_model(model_config, build: Callable[[Any], nn.Module] | None = None) -> nn.Module:
    if build is None:
        from pepland_hpo.models import build_model as build
    if hasattr(model_config, "to_dict"):
        return build(model_config)
    from pepland_hpo.models.config import ModelConfig

    return build(ModelConfig.from_dict(dict(model_config)))


def save_pretrained_artifact(path, result: PretrainResult, key: str, settings: dict, model_config,
                             corpus_hash: str, corpus_size: int) -> Path:
    """The content-addressed artifact ``<key>.pt`` (atomic write)."""
    payload = {
        "state_dict": result.state_dict,
        "loss_per_epoch": [float(x) for x in result.loss_per_epoch],
        "non_finite_steps": int(result.non_finite_steps),
        "key": key,
        "settings_json": json.dumps(settings, sort_keys=True),
        "model_config_json": json.dumps(_config_dict(model_config), sort_keys=True, default=str),
        "corpus_hash": str(corpus_hash),
        "corpus_size": int(corpus_size),
    }
    return atomic_torch_save(payload, path)


def loss_is_finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)
