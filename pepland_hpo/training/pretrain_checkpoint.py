"""Checkpoints of a pretraining run every N steps, and resuming from one bit for bit.

What a step of contrastive pretraining depends on, and where it is kept:

* the weights, the optimiser's moments, the GradScaler's scale, MoCo's key
  encoder, key head and queue -- their ``state_dict`` s;
* FAVOR+'s redraw counters -- plain attributes (``steps``), saved by module name;
* the batch order and the augmentations -- functions of (seed, epoch, molecule),
  so only the position (epoch, batches done) is stored, not a generator;
* the global random streams (FAVOR+'s redraws, dropout) -- per rank: every
  rank's state is gathered to rank 0, which alone writes the file.

The file is written atomically next to the artifact it will become
(``<key>.resume.pt``) and loaded with ``weights_only=True``. A checkpoint
records the key of the run and the number of processes; resuming with another
key or another ``--nproc`` is refused, since neither could continue the same run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pepland_hpo.atomic import atomic_torch_save
from pepland_hpo.errors import UserInputError
from pepland_hpo.training import distributed as ddp
from pepland_hpo.training.seeding import capture_rng_state, restore_rng_state


@dataclass
class Position:
    """Where the loop is: ``batch`` batches of ``epoch`` done, ``step`` steps in all."""

    epoch: int = 1
    batch: int = 0
    step: int = 0
    skipped: int = 0
    losses: list[float] = field(default_factory=list)  # per finished epoch
    step_losses: list[float] = field(default_factory=list)  # this epoch's, so far


def _counters(module: nn.Module) -> dict[str, int]:
    """FAVOR+'s step counters (not in any state_dict), by module name."""
    return {name: int(m.steps) for name, m in module.named_modules() if isinstance(getattr(m, "steps", None), int)}


def _set_counters(module: nn.Module, counters: dict[str, int]) -> None:
    for name, m in module.named_modules():
        if name in counters:
            m.steps = int(counters[name])


def _key_modules(objective: nn.Module) -> dict[str, nn.Module]:
    """MoCo's momentum copies live outside the module tree (see ``MoCo``)."""
    out = {}
    if hasattr(objective, "_key_encoder"):
        out["key_encoder"] = objective._key_encoder[0]
        out["key_head"] = objective._key_head[0]
    return out


class Checkpointer:
    """Saves every ``every`` steps to ``path``; :meth:`restore` continues from it when ``resume``."""

    def __init__(self, path: str | Path, every: int = 0, resume: bool = False, identity: dict | None = None):
        if every < 0:
            raise UserInputError(f"--checkpoint-every must be >= 0 (0: never), got {every}")
        self.path = Path(path)
        self.every = int(every)
        self.resume = bool(resume)
        self.identity = dict(identity or {})
        self.saved = 0

    def restore(self, model, objective, optimizer, scaler, ctx, device) -> Position | None:
        """Load the checkpoint into the run's parts; ``None`` when there is none (or no ``resume``)."""
        if not self.resume or not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        world = ctx.world_size if ctx is not None else 1
        if state.get("identity") != self.identity:
            raise UserInputError(f"{self.path}: the checkpoint belongs to another run (key or settings differ)")
        if int(state["world_size"]) != world:
            raise UserInputError(
                f"{self.path}: written by {state['world_size']} process(es); resume with --nproc {state['world_size']}"
            )
        model.load_state_dict(state["model"])
        objective.load_state_dict(state["objective"])
        for name, module in _key_modules(objective).items():
            module.load_state_dict(state[name])
            _set_counters(module, state["counters"].get(name, {}))
        _set_counters(model, state["counters"]["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        rank = ctx.rank if ctx is not None else 0
        restore_rng_state(state["rng"][rank], device)
        return Position(**state["position"])

    def after_step(self, position: Position, model, objective, optimizer, scaler, ctx, device) -> None:
        """Every ``every``-th step: gather every rank's random state, rank 0 writes the file."""
        if not self.every or position.step % self.every:
            return
        rng = ddp.gather_objects(capture_rng_state(device))  # a collective: every rank calls it
        if ctx is not None and not ctx.is_main:
            return
        counters = {"model": _counters(model)}
        state: dict[str, Any] = {
            "identity": self.identity,
            "world_size": ctx.world_size if ctx is not None else 1,
            "position": asdict(position),
            "model": model.state_dict(),
            "objective": objective.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": rng,
        }
        for name, module in _key_modules(objective).items():
            state[name] = module.state_dict()
            counters[name] = _counters(module)
        state["counters"] = counters
        atomic_torch_save(state, self.path)
        self.saved += 1

    def clear(self) -> None:
        """The run finished: its artifact replaces the checkpoint."""
        self.path.unlink(missing_ok=True)
