"""Study specs: the one typed description of a study, read from ``studies/*.yaml``.

:class:`StudySpec` is a pydantic model (see :mod:`pepland_hpo.validation` for
why pydantic): every setting of a study - data, split, metric, variants,
seeds, model and training ``settings``, search ``space``, sampler, pruner,
budget - with its type and range declared once. The same model reads the YAML
file, takes the command-line options (``--set`` values are parsed once, into
the types of the ``ModelConfig``/``TrainConfig`` fields they name), is stored
as the study's ``spec`` user attribute (:meth:`StudySpec.to_dict`, plain
JSON) and is rebuilt from it by every worker (:meth:`StudySpec.from_dict`),
which then hands each trial's child a typed :class:`~.trial_job.TrialJob`.

A spec is validated completely before anything touches the storage: unknown
keys, bad values, unknown variants, impossible settings and data that does not
load are all :class:`~pepland_hpo.errors.UserInputError` naming the file and
key (``search.yaml: space.lr.low: ...``), so a bad command leaves no study
behind. Adding a field is one line in the model below.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from annotated_types import Ge, Interval
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.faults import FAULTS_ENV, faults_allowed, parse_fault
from pepland_hpo.hpo.space import Param, check_some_feasible, infeasible_reason, parse_space, space_to_yaml
from pepland_hpo.validation import FieldError, error_line

KINDS = ("ablation", "search")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")

# Keys that are not model/training settings but travel in `settings`.
SPECIAL_SETTINGS = ("fault",)

NonNegative = Annotated[StrictInt, Ge(0)]
Name = Annotated[str, Field(min_length=1, pattern=r"\S")]
Fraction = Annotated[float, Ge(0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _kind_alone(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value  # `pruner: none`


class SplitSpec(_Section):
    kind: Literal["random", "stratified", "similarity"] = "random"
    fractions: tuple[Fraction, Fraction, Fraction] = (0.8, 0.1, 0.1)  # train, valid, test
    seed: StrictInt = 0
    # different splits of this kind; repeat r uses seed + r (ablations only)
    repeats: Annotated[StrictInt, Ge(1)] = 1

    @field_validator("fractions")
    @classmethod
    def _sums_to_one(cls, fr: tuple[float, float, float]) -> tuple[float, float, float]:
        if abs(sum(fr) - 1.0) > 1e-6 or fr[0] <= 0 or fr[1] <= 0:
            raise ValueError(f"expected three non-negative numbers summing to 1 (train, valid, test), got {list(fr)}")
        return fr

    @model_serializer(mode="wrap")
    def _dump(self, handler) -> dict[str, Any]:
        out = handler(self)
        if self.repeats == 1:  # a one-split spec reads exactly as before repeats existed
            out.pop("repeats", None)
        return out


class SamplerSpec(_Section):
    kind: Literal["tpe", "random"] = "tpe"
    multivariate: StrictBool = True  # models interactions (hidden_dim x lr) instead of one axis at a time
    constant_liar: StrictBool = True  # parallel workers must not pile onto one point
    n_startup_trials: NonNegative = 10
    group: StrictBool = False


class PrunerSpec(_Section):
    kind: Literal["median", "hyperband", "none"] = "none"
    n_startup_trials: NonNegative = 5
    n_warmup_steps: NonNegative = 2
    min_resource: NonNegative = 1
    reduction_factor: NonNegative = 3


class StudySpec(BaseModel):
    """Every setting of a study; see ``studies/ablation.yaml`` and ``studies/search.yaml``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              arbitrary_types_allowed=True)

    kind: Literal["ablation", "search"]
    name: Name
    data: Name = "builtin:amp"
    target: str | None = None
    task: Literal["classification", "regression"] | None = None
    smiles_col: str | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    metric: str | None = None  # None: auroc (classification) / rmse (regression)
    direction: Literal["minimize", "maximize"] | None = None
    variants: list[str] = Field(min_length=1)
    seeds: list[Annotated[StrictInt, Interval(ge=0, lt=2**32)]] = Field(default=[0], min_length=1)
    # model and training settings shared by every trial, typed (training.settings.parse_settings)
    settings: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, Param] = Field(default_factory=dict)  # hpo.space: choices or ranges
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    n_trials: Annotated[StrictInt, Ge(1)] | None = None  # a search's global budget
    max_retries: NonNegative = 2
    source: str | None = None  # the YAML file it came from (for messages)

    # --- reading ---------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise ValueError("expected a mapping of keys at the top level")
        raw = dict(raw)
        kind = raw.get("kind")
        if "variant" in raw:
            if raw.get("variants") is not None:
                raise FieldError("variant", "give either variant or variants, not both")
            raw["variants"] = [raw.pop("variant")]
        if raw.get("variants") is None:
            raw["variants"] = ["gcn"] if kind == "ablation" else ["full"]
        epochs = raw.pop("epochs", None)
        if epochs is not None:
            raw["settings"] = {"epochs": epochs, **(raw.get("settings") or {})}
        for key, default in (("name", kind), ("data", "builtin:amp"), ("seeds", [0])):
            if raw.get(key) is None and default is not None:
                raw[key] = default
        for key in ("split", "sampler", "pruner", "settings", "space"):
            if raw.get(key) is None:
                raw.pop(key, None)
        return raw

    @field_validator("variants")
    @classmethod
    def _variants(cls, names: list[str]) -> list[str]:
        from pepland_hpo.models.variants import known_variants

        if len(set(names)) != len(names):
            raise ValueError("a variant is listed twice")
        names = expand_variants(names)
        unknown = [v for v in names if v not in known_variants()]
        if unknown:
            raise UserInputError(f"unknown variant {unknown[0]!r}; known: {', '.join(known_variants())}, "
                                 f"or {LEAVE_ONE_OUT}")
        return names

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("a seed is listed twice")
        return seeds

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, raw: Any) -> dict[str, Any]:
        from pepland_hpo.training.settings import parse_settings

        if not isinstance(raw, Mapping):
            raise ValueError("expected a mapping of setting: value")
        fault = raw.get("fault")
        typed = parse_settings({k: v for k, v in raw.items() if k not in SPECIAL_SETTINGS}).flat()
        if fault is not None:
            parse_fault(fault)
            if not faults_allowed():
                raise FieldError("fault", f"fault injection is for tests; set {FAULTS_ENV}=1 to allow it")
            typed["fault"] = str(fault)
        return typed

    @field_validator("space", mode="before")
    @classmethod
    def _space(cls, raw: Any) -> dict[str, Param]:
        if not isinstance(raw, Mapping):
            raise ValueError("expected a mapping of setting: [choices] or {low, high, ...}")
        return parse_space(raw)

    @model_validator(mode="after")
    def _together(self) -> "StudySpec":
        if self.split.repeats > 1 and self.kind != "ablation":
            raise FieldError("split.repeats", "repeated splits apply to ablation studies only")
        if self.kind == "search":
            if len(self.variants) != 1:
                raise FieldError("variant", "a search tunes exactly one variant")
            if self.n_trials is None:
                raise FieldError("n_trials", "a search needs a trial budget")
            if not self.space:
                raise FieldError("space", "a search needs a search space")
        elif self.space:
            raise FieldError("space", "an ablation has no search space (use settings)")
        both = sorted(set(self.space) & set(self.settings))
        if both:
            raise FieldError(f"settings.{both[0]}", "also in the search space; keep it in one place")
        return self

    # --- writing ---------------------------------------------------------------------------
    @field_serializer("space")
    def _space_yaml(self, space: dict[str, Param]) -> dict[str, Any]:
        return space_to_yaml(space)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: what the study stores as its ``spec`` user attribute."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> "StudySpec":
        """A spec from a mapping (a YAML file's, or a stored ``spec``); errors name ``source`` and the key."""
        values = dict(values)
        where = source if source is not None else values.get("source")
        if source is not None:
            values["source"] = source
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise UserInputError(error_line(exc, where, _known_keys(exc))) from None

    def updated(self, source_note: str = " (with command-line options)", **changes: Any) -> "StudySpec":
        """A copy with ``changes`` applied and everything validated again."""
        values = {**self.to_dict(), **changes}
        source = f"{self.source}{source_note}" if self.source else "command line"
        return StudySpec.from_dict(values, source=source)

    def training_settings(self) -> dict[str, Any]:
        """``settings`` without the HPO-only keys (typed values)."""
        return {k: v for k, v in self.settings.items() if k not in SPECIAL_SETTINGS}


def _known_keys(exc: ValidationError) -> list[str]:
    loc = exc.errors()[0]["loc"]
    sections = {"split": SplitSpec, "sampler": SamplerSpec, "pruner": PrunerSpec}
    model = sections.get(str(loc[0])) if len(loc) > 1 else None
    if model:
        return sorted(model.model_fields)
    return sorted({*StudySpec.model_fields, "epochs", "variant"} - {"source"})



# --------------------------------------------------------------------------- loading


def load_spec(path: str | Path) -> StudySpec:
    """Read and check a spec file (structure and values; the data is checked by :func:`validate_spec`)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserInputError(f"{source}: spec file not found") from None
    except OSError as exc:
        raise UserInputError(f"{source}: cannot read spec file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserInputError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise UserInputError(f"{source}: expected a mapping of keys at the top level")
    return StudySpec.from_dict(raw, source=source)


# `--variants leave-one-out` stands for `full` and every `full-minus-X` variant.
LEAVE_ONE_OUT = "leave-one-out"


def expand_variants(names: list[str]) -> list[str]:
    from pepland_hpo.models.variants import leave_one_out_variants

    out: list[str] = []
    for name in names:
        for v in (["full", *leave_one_out_variants()] if name == LEAVE_ONE_OUT else [name]):
            if v not in out:
                out.append(v)
    return out


def check_buildable(spec: StudySpec) -> None:
    """Each variant must be buildable with the settings (an ablation), or with some point of the
    space (a search): ``num_heads`` dividing ``hidden_dim``, encodings that need attention, ..."""
    fixed = spec.training_settings()
    for variant in spec.variants:
        if spec.space:
            try:
                check_some_feasible(spec.space, variant, fixed)
            except FieldError as exc:
                raise UserInputError(_where(spec, str(exc))) from None
            continue
        reason = infeasible_reason(variant, fixed)
        if reason:
            raise UserInputError(_where(spec, f"settings: variant {variant}: {reason}"))


def load_spec_data(spec: StudySpec):
    """Load (and cache) the spec's data; a file that does not load is the user's error."""
    from pepland_hpo.data.dataset import load_dataset

    kwargs: dict[str, Any] = {}
    if spec.target is not None:
        kwargs["target"] = spec.target
    if spec.task is not None:
        kwargs["task"] = spec.task
    if spec.smiles_col is not None:
        kwargs["smiles_col"] = spec.smiles_col
    dataset = load_dataset(spec.data, **kwargs)
    if len(dataset) == 0:
        raise UserInputError(f"{spec.data}: no valid molecule in the file")
    if getattr(dataset, "targets", None) is None or dataset.targets.shape[1] == 0:
        raise UserInputError(f"{spec.data}: no label column; name one with --target")
    return dataset


def _where(spec: StudySpec, key: str) -> str:
    return f"{spec.source}: {key}" if spec.source else key


def resolve_metric(spec: StudySpec, task: str) -> None:
    from pepland_hpo.training.metrics import METRIC_DIRECTION, metric_names

    if spec.task is None:
        spec.task = task
    if spec.metric is None:
        spec.metric = "auroc" if task == "classification" else "rmse"
    allowed = set(metric_names(task)) | {"loss"}
    if spec.metric not in allowed:
        raise UserInputError(
            f"{_where(spec, 'metric')}: {spec.metric!r} is not a {task} metric; expected one of {', '.join(sorted(allowed))}"
        )
    natural = METRIC_DIRECTION[spec.metric]
    if spec.direction is None:
        spec.direction = natural
    elif spec.direction != natural:
        raise UserInputError(
            f"{_where(spec, 'direction')}: {spec.metric} should be {natural}d, not {spec.direction}d"
        )


def validate_spec(spec: StudySpec, load_data: bool = True):
    """The checks a structure cannot make alone; returns the loaded dataset (None unless ``load_data``)."""
    check_buildable(spec)
    if not load_data:
        return None
    dataset = load_spec_data(spec)
    resolve_metric(spec, dataset.task)
    return dataset


# --------------------------------------------------------------------------- CLI builders

# The specs that ship with the project (an editable install keeps them beside the package).
PROJECT_STUDIES = Path(__file__).resolve().parents[2] / "studies"


def _default_base(base_path: str | Path | None, kind: str) -> Path:
    """The base spec: the given file; the default `studies/<kind>.yaml` falls back to the project's own
    copy when the command runs outside the project folder."""
    default = Path("studies") / f"{kind}.yaml"
    path = default if base_path is None else Path(base_path)
    if path == default and not path.exists() and (PROJECT_STUDIES / default.name).exists():
        return PROJECT_STUDIES / default.name
    return path


def _load_base(base_path: str | Path | None, kind: str) -> StudySpec:
    spec = load_spec(_default_base(base_path, kind))
    if spec.kind != kind:
        raise UserInputError(f"{spec.source}: kind is {spec.kind}, expected {kind}")
    return spec


def _common_changes(spec: StudySpec, *, data, target, task, smiles_col, seeds, epochs, settings, name,
                    split) -> dict[str, Any]:
    """Command-line options as changes of the spec's mapping (validated together by ``updated``)."""
    from pepland_hpo.training.settings import normalise_key

    changes: dict[str, Any] = {k: v for k, v in (("data", data), ("target", target), ("task", task),
                                                 ("smiles_col", smiles_col), ("name", name)) if v is not None}
    if seeds is not None:
        changes["seeds"] = list(seeds)
    if split is not None:
        changes["split"] = {**spec.split.model_dump(), "kind": split}
    new_settings = {normalise_key(k): v for k, v in (settings or {}).items()}
    if epochs is not None:
        if epochs <= 0:
            raise UserInputError(f"--epochs must be positive, got {epochs}")
        new_settings["epochs"] = epochs
    if new_settings:
        changes["settings"] = {**spec.settings, **new_settings}
        # A fixed value for a searched key takes it out of the search.
        changes["space"] = {k: v for k, v in spec.to_dict()["space"].items() if k not in new_settings}
    return changes


def build_ablation_spec(
    base_path: str | Path | None = "studies/ablation.yaml",
    data: str | None = None,
    target: str | None = None,
    task: str | None = None,
    variants: list[str] | None = None,
    seeds: list[int] | None = None,
    epochs: int | None = None,
    settings: dict[str, str] | None = None,
    name: str | None = None,
    split: str | None = None,
    smiles_col: str | None = None,
    validate: bool = True,
    split_repeats: int | None = None,
) -> StudySpec:
    spec = _load_base(base_path, "ablation")
    changes = _common_changes(spec, data=data, target=target, task=task, smiles_col=smiles_col, seeds=seeds,
                              epochs=epochs, settings=settings, name=name, split=split)
    if split_repeats is not None:
        if split_repeats < 1:
            raise UserInputError(f"--split-repeats must be at least 1, got {split_repeats}")
        changes["split"] = {**changes.get("split", spec.split.model_dump()), "repeats": split_repeats}
    if variants is not None:
        changes["variants"] = list(variants)
    spec = spec.updated(**changes)
    if validate:
        validate_spec(spec)
    return spec


def build_search_spec(
    base_path: str | Path | None = "studies/search.yaml",
    data: str | None = None,
    target: str | None = None,
    task: str | None = None,
    variant: str | None = None,
    n_trials: int | None = None,
    pruner: str | None = None,
    sampler: str | None = None,
    epochs: int | None = None,
    settings: dict[str, str] | None = None,
    name: str | None = None,
    split: str | None = None,
    smiles_col: str | None = None,
    seeds: list[int] | None = None,
    validate: bool = True,
) -> StudySpec:
    spec = _load_base(base_path, "search")
    changes = _common_changes(spec, data=data, target=target, task=task, smiles_col=smiles_col, seeds=seeds,
                              epochs=epochs, settings=settings, name=name, split=split)
    if variant is not None:
        changes["variants"] = [variant]
    if n_trials is not None:
        if n_trials <= 0:
            raise UserInputError(f"--n-trials must be positive, got {n_trials}")
        changes["n_trials"] = n_trials
    if pruner is not None:
        if pruner not in PRUNERS:
            raise UserInputError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {pruner!r}")
        # the file's pruner options belong to its pruner kind
        changes["pruner"] = spec.pruner.model_dump() if spec.pruner.kind == pruner else {"kind": pruner}
    if sampler is not None:
        if sampler not in SAMPLERS:
            raise UserInputError(f"--sampler: expected one of {', '.join(SAMPLERS)}, got {sampler!r}")
        changes["sampler"] = {**spec.sampler.model_dump(), "kind": sampler}
    spec = spec.updated(**changes)
    if validate:
        validate_spec(spec)
    return spec


# --------------------------------------------------------------------------- Optuna objects


def build_sampler(spec: StudySpec, seed: int | None = None):
    """The sampler a worker uses; ``seed`` differs per worker so first suggestions differ."""
    import optuna

    cfg = spec.sampler
    if spec.kind == "ablation":
        # Every ablation trial is enqueued with fixed params: nothing is sampled.
        return optuna.samplers.RandomSampler(seed=seed)
    if cfg.kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=cfg.multivariate,
            group=cfg.group,
            constant_liar=cfg.constant_liar,  # parallel workers must not pile onto one point
            n_startup_trials=cfg.n_startup_trials,
        )


def build_pruner(spec: StudySpec):
    import optuna

    cfg = spec.pruner
    if spec.kind == "ablation" or cfg.kind == "none":
        return optuna.pruners.NopPruner()
    if cfg.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=cfg.n_startup_trials, n_warmup_steps=cfg.n_warmup_steps)
    from pepland_hpo.training.config import TrainConfig

    epochs = int(spec.settings.get("epochs", TrainConfig().epochs))
    return optuna.pruners.HyperbandPruner(
        min_resource=cfg.min_resource, max_resource=epochs, reduction_factor=cfg.reduction_factor,
    )


__all__ = [
    "StudySpec",
    "build_ablation_spec",
    "build_pruner",
    "build_sampler",
    "build_search_spec",
    "load_spec",
    "validate_spec",
]
