"""Errors raised by the training layer.

They are separate from :class:`pepland_hpo.errors.UserInputError` because they
are not the user's fault: a run that diverged is a property of the trial (the
HPO layer prunes it and records ``failure_reason="non_finite_loss"``), not a
bad setting to print and exit on.
"""

from __future__ import annotations

from pepland_hpo.errors import UserInputError


class TrainingError(RuntimeError):
    """Base class for failures of a training run itself."""


class NonFiniteLoss(TrainingError):
    """More non-finite losses or gradients were skipped than the run allows.

    ``steps`` is how many steps were skipped, ``limit`` the allowed number
    (``TrainConfig.max_non_finite_steps``), ``stage`` names the objective
    ("supervised", "pretrain", ...) and ``epoch`` where it happened (1-based).
    """

    def __init__(self, steps: int, limit: int, stage: str = "supervised", epoch: int | None = None):
        self.steps = steps
        self.limit = limit
        self.stage = stage
        self.epoch = epoch
        where = f" in epoch {epoch}" if epoch is not None else ""
        super().__init__(
            f"{stage} training stopped{where}: {steps} steps had a non-finite loss or gradient "
            f"(limit max_non_finite_steps={limit}); lower the learning rate, use fp32/bf16, "
            "or check the input features for inf/NaN"
        )

    # Keep the fields when the exception crosses a process boundary (a worker
    # may run each trial in a child process and pickle what it raised).
    def __reduce__(self):
        return (type(self), (self.steps, self.limit, self.stage, self.epoch))


class CheckpointError(UserInputError):
    """A checkpoint file is missing, unreadable, or holds something other than weights."""


__all__ = ["TrainingError", "NonFiniteLoss", "CheckpointError"]
