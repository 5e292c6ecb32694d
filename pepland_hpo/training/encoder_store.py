"""The content-addressed store of pretrained encoders, shared by trials and `pepland-hpo pretrain`.

:func:`pretrain_or_reuse` stores a pretraining result as
``<artifacts>/pretrained/<key>.pt``, whose key hashes the encoder
configuration (without the task head's fields), the corpus, the pretraining
settings and the featuriser version. A file lock makes two workers with the
same key pretrain once: the second waits, then loads. :func:`find_pretrained` /
:func:`load_named_pretrained` resolve a ``pretrained=`` setting (a key, a
unique prefix of one, or a ``.pt`` path). Artifacts load with
``weights_only=True``: no pickled code runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from pepland_hpo.atomic import atomic_torch_save
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.pretrain import PRETRAIN_FORMAT, PretrainResult, pretrain_encoder

# Fields of ModelConfig that belong to the task head, not to the encoder: a
# regression and a classification task can share one pretrained encoder. The protein side of a
# pair model is not pretrained either, so a binding study with and without the protein (and any
# study from before the protein fields existed) keeps one pretrained encoder.
HEAD_ONLY_FIELDS = ("out_dim", "head_layers", "protein_encoder", "protein_filters", "protein_kernel", "protein_dim")


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


def config_dict(model_config) -> dict[str, Any]:
    """A model configuration (``ModelConfig`` or a plain dict) as a plain dict."""
    return dict(model_config.to_dict() if hasattr(model_config, "to_dict") else model_config)


def pretrain_key(model_config_dict: dict, corpus_hash: str, settings: dict) -> str:
    """sha256 of canonical JSON of (encoder config without head fields, corpus hash, settings)."""
    encoder_cfg = {k: v for k, v in config_dict(model_config_dict).items() if k not in HEAD_ONLY_FIELDS}
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
    wanted = config_dict(model_config)
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
    key = pretrain_key(config_dict(model_config), corpus_hash, settings)
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
    """The model whose encoder pretraining trains, from a ``ModelConfig`` or its dict form."""
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
        "model_config_json": json.dumps(config_dict(model_config), sort_keys=True, default=str),
        "corpus_hash": str(corpus_hash),
        "corpus_size": int(corpus_size),
    }
    return atomic_torch_save(payload, path)
