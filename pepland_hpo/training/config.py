"""Settings of one training run, independent of any study."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from pepland_hpo.errors import UserInputError


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0  # AdamW's decoupled decay
    patience: int = 10  # early stopping on the validation metric; 0 disables
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    # learning-rate schedule (training/schedule.py): optional linear warm-up, then a constant
    # lr, cosine decay to lr * min_lr_ratio over `epochs`, or ReduceLROnPlateau on the
    # validation metric. Default constant: on c-CPP, warm-up + cosine + decay 0.01 never beat
    # it on validation (docs/results/c-cpp/DIAGNOSIS.md, finding 4)
    lr_schedule: Literal["constant", "cosine", "plateau"] = "constant"
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.01
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # torch.compile each encoder layer for supervised training (models.compile_layers).
    # Off until measured on a GPU: compilation costs ~1-2 min per run on CPU, and short
    # trials may never win it back
    compile: bool = False
    seed: int = 0
    max_non_finite_steps: int = 20  # past this many skipped steps the run stops
    # regression: train on (y - mean) / std of the training split; predictions are
    # mapped back, so metrics and checkpoints stay in the data's units
    standardize_targets: bool = True
    # contrastive pretraining (used by the `full` variant)
    pretrain_method: Literal["simclr", "moco"] = "simclr"
    temperature: float = 0.1
    pretrain_epochs: int = 10
    pretrain_lr: float = 5e-4
    pretrain_batch_size: int = 64
    freeze_layers: int = 0
    moco_momentum: float = 0.99  # EMA of the key encoder; 0.99 suits corpora of ~1e3 peptides
    moco_queue_fraction: float = 0.25  # queue length = this fraction of the corpus (never all of it)
    augment_rate: float = 0.25  # MolCLR's rate for every augmentation
    # resumable state every N epochs when run by a worker (0: never). 1 by default: a save
    # costs milliseconds to a few seconds against epochs of seconds to minutes, and a
    # crashed or handed-back trial then redoes at most the epoch it was in
    checkpoint_every: int = 1
    # an encoder from `pepland-hpo pretrain` (its key, a unique prefix of it, or a .pt path)
    # used instead of pretraining in the trial; "" pretrains (or reuses) as the settings say
    pretrained: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserInputError(f"unknown training setting(s): {', '.join(unknown)}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.epochs <= 0:
            raise UserInputError(f"epochs must be positive, got {self.epochs}")
        if self.batch_size <= 0:
            raise UserInputError(f"batch_size must be positive, got {self.batch_size}")
        if self.lr <= 0 or self.pretrain_lr <= 0:
            raise UserInputError("lr and pretrain_lr must be positive")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise UserInputError("weight_decay and grad_clip must be >= 0 (grad_clip=0 disables clipping)")
        if self.lr_schedule not in ("constant", "cosine", "plateau"):
            raise UserInputError(f"lr_schedule must be constant, cosine or plateau, got {self.lr_schedule!r}")
        if self.warmup_epochs < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise UserInputError("warmup_epochs must be >= 0 and min_lr_ratio in [0, 1]")
        if not 0.0 < self.plateau_factor < 1.0 or self.plateau_patience < 0:
            raise UserInputError("plateau_factor must be in (0, 1) and plateau_patience >= 0")
        if self.patience < 0:
            raise UserInputError(f"patience must be >= 0 (0 disables early stopping), got {self.patience}")
        if self.max_non_finite_steps < 0:
            raise UserInputError(f"max_non_finite_steps must be >= 0, got {self.max_non_finite_steps}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise UserInputError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.pretrain_method not in ("simclr", "moco"):
            raise UserInputError(f"pretrain_method must be simclr or moco, got {self.pretrain_method!r}")
        if self.temperature <= 0:
            raise UserInputError(f"temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.moco_momentum < 1.0:
            raise UserInputError(f"moco_momentum must be in [0, 1), got {self.moco_momentum}")
        if not 0.0 <= self.moco_queue_fraction < 1.0:
            raise UserInputError(f"moco_queue_fraction must be in [0, 1), got {self.moco_queue_fraction}")
        if not 0.0 <= self.augment_rate < 1.0:
            raise UserInputError(f"augment_rate must be in [0, 1), got {self.augment_rate}")
        if self.checkpoint_every < 0:
            raise UserInputError(f"checkpoint_every must be >= 0 (0 disables resuming), got {self.checkpoint_every}")
        if self.pretrained and not (
            self.pretrained.endswith(".pt") or (len(self.pretrained) >= 8 and _is_hex(self.pretrained))
        ):
            raise UserInputError(
                f"pretrained={self.pretrained!r}: expected a key from `pepland-hpo pretrain` "
                "(at least 8 hex digits) or a path to a .pt file"
            )
        if self.freeze_layers < 0:
            raise UserInputError(f"freeze_layers must be >= 0, got {self.freeze_layers}")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text.lower())
