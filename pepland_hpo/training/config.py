"""Settings of one training run, independent of any study."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Interval

from pepland_hpo.errors import UserInputError
from pepland_hpo.validation import check_fields, parse_fields


class OnlyWhenPretraining:
    """Marks a field that acts only in contrastive pretraining: a search suggests it only
    for variants whose preset pretrains (``ModelConfig.pretraining != "none"``)."""

    def __repr__(self) -> str:
        return "PRETRAINING"


PRETRAINING = OnlyWhenPretraining()


@dataclass
class TrainConfig:
    epochs: Annotated[int, Gt(0)] = 50
    batch_size: Annotated[int, Gt(0)] = 32
    lr: Annotated[float, Gt(0)] = 1e-4
    weight_decay: Annotated[float, Ge(0)] = 0.0  # AdamW's decoupled decay
    patience: Annotated[int, Ge(0)] = 10  # early stopping on the validation metric; 0 disables
    grad_clip: Annotated[float, Ge(0)] = 1.0  # max global gradient norm; 0 disables clipping
    # learning-rate schedule (training/schedule.py): optional linear warm-up, then a constant
    # lr, cosine decay to lr * min_lr_ratio over `epochs`, or ReduceLROnPlateau on the
    # validation metric. Default constant: on c-CPP, warm-up + cosine + decay 0.01 never beat
    # it on validation (docs/results/c-cpp/DIAGNOSIS.md, finding 4)
    lr_schedule: Literal["constant", "cosine", "plateau"] = "constant"
    warmup_epochs: Annotated[float, Ge(0)] = 0.0
    min_lr_ratio: Annotated[float, Interval(ge=0.0, le=1.0)] = 0.01
    plateau_factor: Annotated[float, Interval(gt=0.0, lt=1.0)] = 0.5
    plateau_patience: Annotated[int, Ge(0)] = 3
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    seed: int = 0
    max_non_finite_steps: Annotated[int, Ge(0)] = 20  # past this many skipped steps the run stops
    # regression: train on (y - mean) / std of the training split; predictions are
    # mapped back, so metrics and checkpoints stay in the data's units
    standardize_targets: bool = True
    # contrastive pretraining (used by the `full` variant)
    pretrain_method: Annotated[Literal["simclr", "moco"], PRETRAINING] = "simclr"
    temperature: Annotated[float, Gt(0), PRETRAINING] = 0.1
    pretrain_epochs: Annotated[int, Gt(0), PRETRAINING] = 10
    pretrain_lr: Annotated[float, Gt(0), PRETRAINING] = 5e-4
    pretrain_batch_size: Annotated[int, Gt(0), PRETRAINING] = 64
    freeze_layers: Annotated[int, Ge(0), PRETRAINING] = 0
    moco_momentum: Annotated[float, Interval(ge=0.0, lt=1.0), PRETRAINING] = 0.99  # EMA of the key encoder; 0.99 suits corpora of ~1e3 peptides
    moco_queue_fraction: Annotated[float, Interval(ge=0.0, lt=1.0), PRETRAINING] = 0.25  # queue length = this fraction of the corpus (never all of it)
    augment_rate: Annotated[float, Interval(ge=0.0, lt=1.0), PRETRAINING] = 0.25  # MolCLR's rate for every augmentation
    # resumable state every N epochs when run by a worker (0: never). 1 by default: a save
    # costs milliseconds to a few seconds against epochs of seconds to minutes, and a
    # crashed or handed-back trial then redoes at most the epoch it was in
    checkpoint_every: Annotated[int, Ge(0)] = 1
    # an encoder from `pepland-hpo pretrain` (its key, a unique prefix of it, or a .pt path)
    # used instead of pretraining in the trial; "" pretrains (or reuses) as the settings say
    pretrained: Annotated[str, PRETRAINING] = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        cfg = cls(**parse_fields(cls, values))  # unknown keys and bad values name the key
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Types and ranges as declared above; then what a type cannot say."""
        check_fields(self)
        if self.pretrained and not (
            self.pretrained.endswith(".pt") or (len(self.pretrained) >= 8 and _is_hex(self.pretrained))
        ):
            raise UserInputError(
                f"pretrained={self.pretrained!r}: expected a key from `pepland-hpo pretrain` "
                "(at least 8 hex digits) or a path to a .pt file"
            )


def applies_only_when_pretraining(annotation: Any) -> bool:
    """True for a field marked ``PRETRAINING``: it acts only in contrastive pretraining."""
    return any(isinstance(m, OnlyWhenPretraining) for m in getattr(annotation, "__metadata__", ()))


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text.lower())
