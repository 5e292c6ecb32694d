"""What one trial runs: a frozen, typed job the worker hands to its child process.

The worker builds a :class:`TrialJob` from the stored :class:`~.spec.StudySpec`
and the trial (its identity, or the parameters :func:`.space.suggest` drew),
records it on the trial as the user attribute ``job`` (plain JSON, the same
values back: :meth:`TrialJob.from_stored`), and passes it to the forked child,
which turns it into an :class:`~pepland_hpo.training.run.ExperimentConfig`.
Every value is already typed - ``model`` holds ``ModelConfig`` overrides,
``train`` a whole ``TrainConfig`` - so nothing is parsed again below the worker.

The split's row indices are not part of the job: they are study data (the
study attribute ``split``/``splits``, thousands of integers) and travel to the
child beside it; the job names the repeat it trains on (``split_repeat``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pepland_hpo.training.config import TrainConfig


class Infeasible(Exception):
    """The sampled parameters cannot be built (``num_heads`` not dividing ``hidden_dim``, ...)."""


class TrialJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int  # the Optuna trial number
    variant: str
    seed: int
    split_repeat: int = 0
    params: dict[str, Any] = {}  # what the sampler drew (a search); typed
    # data and objective, as the study stores them
    data: str
    target: str | None = None
    task: Literal["classification", "regression"] | None = None
    smiles_col: str | None = None
    # peptide-protein pairs (the study's `pair` section); None for one-molecule studies
    protein_col: str | None = None
    protein_embeddings: str | None = None
    binder_threshold: float | None = None
    metric: str | None = None
    # the configuration: ModelConfig overrides over the variant's preset, and the whole TrainConfig
    model: dict[str, Any] = {}
    train: TrainConfig
    fault: str | None = None  # test-only fault injection (hpo.faults)
    # where and how it runs
    device: str = "cpu"
    threads: int | None = None
    parent_pid: int
    checkpoint_dir: str
    resume_path: str | None = None
    stage: str | None = None  # a tuned ablation's "tune" or "final" (hpo.tuning); None otherwise
    # a generation study's trial: the generator's typed settings (hpo.study._generation); the child
    # trains the generator instead of a model, and ``train`` carries only its epoch count
    generation: dict[str, Any] | None = None

    def to_stored(self) -> dict[str, Any]:
        """Plain JSON for the trial's ``job`` user attribute."""
        return self.model_dump(mode="json")

    @classmethod
    def from_stored(cls, values: Mapping[str, Any]) -> "TrialJob":
        return cls.model_validate(dict(values))

    def experiment(self, split: Mapping[str, list[int]] | None):
        """The :class:`~pepland_hpo.training.run.ExperimentConfig` this job runs on ``split``."""
        from pepland_hpo.training.run import ExperimentConfig

        return ExperimentConfig(
            data=self.data, target=self.target, task=self.task, smiles_col=self.smiles_col,
            protein_col=self.protein_col, protein_embeddings=self.protein_embeddings,
            binder_threshold=self.binder_threshold, split_indices=dict(split) if split is not None else None, variant=self.variant, seed=self.seed,
            model_overrides=dict(self.model), train=self.train, metric=self.metric,
            checkpoint_dir=self.checkpoint_dir, checkpoint_name=f"trial-{self.number}.pt", device=self.device,
        )


def pair_job_fields(spec) -> dict[str, Any]:
    """A pair study's ``pair`` section as :class:`TrialJob` fields (empty for a one-molecule study)."""
    if getattr(spec, "pair", None) is None:
        return {}
    return {"protein_col": spec.pair.protein, "protein_embeddings": spec.pair.embeddings,
            "binder_threshold": spec.pair.binder_threshold}


__all__ = ["Infeasible", "TrialJob", "pair_job_fields"]
