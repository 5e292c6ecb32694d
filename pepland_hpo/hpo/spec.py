"""Study specs: what a study compares or searches, read from ``studies/*.yaml``.

A spec is validated completely before anything touches the storage: unknown
keys, bad values, unknown variants, unknown ``--set`` keys and data that does
not load are all :class:`~pepland_hpo.errors.UserInputError` naming the file
and key, so a bad command leaves no study behind.

The spec is stored verbatim (``to_dict``) as the study user attribute
``spec``; every worker rebuilds the sampler and pruner from it, because Optuna
does not store them.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pepland_hpo.errors import UserInputError

KINDS = ("ablation", "search")
SPLIT_KINDS = ("random", "stratified", "similarity")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")
FAULT_KINDS = ("oom", "nan", "segfault", "error", "sleep")
FAULTS_ENV = "PEPLAND_HPO_ALLOW_FAULTS"

# Keys that are not model/training settings but travel in `settings`.
SPECIAL_SETTINGS = ("fault",)

_TOP_KEYS = {
    "kind", "name", "data", "target", "task", "smiles_col", "split", "metric", "direction",
    "variants", "variant", "seeds", "settings", "space", "sampler", "pruner", "n_trials",
    "max_retries", "epochs", "tune", "objectives",
}
_SPLIT_KEYS = {"kind", "fractions", "seed", "repeats"}
_SAMPLER_KEYS = {"kind", "multivariate", "constant_liar", "n_startup_trials", "group"}
_PRUNER_KEYS = {"kind", "n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor"}


@dataclass
class StudySpec:
    kind: str
    name: str
    data: str
    target: str | None = None
    task: str | None = None
    smiles_col: str | None = None
    split: dict[str, Any] = field(default_factory=lambda: {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0})
    metric: str | None = None
    direction: str | None = None
    variants: list[str] = field(default_factory=lambda: ["gcn"])
    seeds: list[int] = field(default_factory=lambda: [0])
    settings: dict[str, Any] = field(default_factory=dict)
    space: dict[str, list[Any]] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=lambda: {"kind": "tpe"})
    pruner: dict[str, Any] = field(default_factory=lambda: {"kind": "none"})
    n_trials: int | None = None
    max_retries: int = 2
    tune: int | None = None  # ablation: search this many trials per variant first (hpo.tuning)
    objectives: list[str] | None = None  # search: several objectives (hpo.objectives)
    source: str | None = None  # the YAML file it came from (for messages)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(asdict(self))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "StudySpec":
        return cls(**copy.deepcopy(values))

    # --- settings split into the layers that own them -------------------------------------
    def training_settings(self) -> dict[str, str]:
        """``settings`` without the HPO-only keys, as the strings `--set` would give."""
        return {k: _as_setting(v) for k, v in self.settings.items() if k not in SPECIAL_SETTINGS}


def _as_setting(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _where(source: str | None, key: str) -> str:
    return f"{source}: {key}" if source else key


def _check_keys(values: dict[str, Any], allowed: set[str], source: str | None, prefix: str = "") -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise UserInputError(
            f"{_where(source, key)}: unknown key; expected one of {', '.join(sorted(allowed))}"
        )


def parse_fault(text: str | None) -> dict[str, str]:
    """``fault`` grammar: ``KIND[@SEED][,KIND[@SEED]...]``; KIND is oom, nan, segfault, error or sleep:S.

    Returns ``{"*" or seed: kind}``. Only honoured when ``PEPLAND_HPO_ALLOW_FAULTS=1``:
    it exists so tests can make a real OOM, NaN or segfault happen inside a trial.
    """
    if text is None or str(text).strip() == "":
        return {}
    out: dict[str, str] = {}
    for part in str(text).split(","):
        part = part.strip()
        kind, _, seed = part.partition("@")
        base = kind.split(":", 1)[0]
        if base not in FAULT_KINDS:
            raise UserInputError(f"fault: unknown kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if base == "sleep":
            try:
                float(kind.split(":", 1)[1])
            except (IndexError, ValueError):
                raise UserInputError(f"fault: sleep needs seconds, e.g. sleep:2, got {kind!r}") from None
        if seed and not seed.lstrip("-").isdigit():
            raise UserInputError(f"fault: {part!r}: expected KIND@SEED with an integer seed")
        out[seed or "*"] = kind
    return out


def fault_for_seed(settings: dict[str, Any], seed: int) -> str | None:
    faults = parse_fault(settings.get("fault"))
    return faults.get(str(seed), faults.get("*"))


def faults_allowed() -> bool:
    return os.environ.get(FAULTS_ENV) == "1"


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
    return spec_from_mapping(raw, source=source)


def spec_from_mapping(raw: dict[str, Any], source: str | None = None) -> StudySpec:
    raw = copy.deepcopy(raw)
    _check_keys(raw, _TOP_KEYS, source)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise UserInputError(f"{_where(source, 'kind')}: expected ablation or search, got {kind!r}")
    variants = raw.pop("variants", None)
    variant = raw.pop("variant", None)
    if variant is not None:
        if variants is not None:
            raise UserInputError(f"{_where(source, 'variant')}: give either variant or variants, not both")
        variants = [variant]
    settings = raw.pop("settings", None) or {}
    if not isinstance(settings, dict):
        raise UserInputError(f"{_where(source, 'settings')}: expected a mapping of setting: value")
    epochs = raw.pop("epochs", None)
    if epochs is not None:
        settings.setdefault("epochs", epochs)
    spec = StudySpec(
        kind=kind,
        name=raw.get("name") or kind,
        data=raw.get("data") or "builtin:amp",
        target=raw.get("target"),
        task=raw.get("task"),
        smiles_col=raw.get("smiles_col"),
        split=raw.get("split") or {},
        metric=raw.get("metric"),
        direction=raw.get("direction"),
        variants=expand_variants(variants) if isinstance(variants, list) else variants if variants is not None else (["gcn"] if kind == "ablation" else ["full"]),
        seeds=raw.get("seeds") if raw.get("seeds") is not None else [0],
        settings=settings,
        space=raw.get("space") or {},
        sampler=raw.get("sampler") or {"kind": "tpe"},
        pruner=raw.get("pruner") or {"kind": "none"},
        n_trials=raw.get("n_trials"),
        max_retries=raw.get("max_retries", 2),
        tune=raw.get("tune"),
        objectives=raw.get("objectives"),
        source=source,
    )
    check_structure(spec)
    return spec


def check_structure(spec: StudySpec) -> None:
    """Check every field's type and range; raises naming the file and key."""
    src = spec.source
    for key in ("name", "data"):
        value = getattr(spec, key)
        if not isinstance(value, str) or not value.strip():
            raise UserInputError(f"{_where(src, key)}: expected a non-empty string, got {value!r}")
    for key in ("target", "smiles_col"):
        value = getattr(spec, key)
        if value is not None and not isinstance(value, str):
            raise UserInputError(f"{_where(src, key)}: expected a column name, got {value!r}")
    if spec.task not in (None, "classification", "regression"):
        raise UserInputError(f"{_where(src, 'task')}: expected classification or regression, got {spec.task!r}")
    if spec.direction not in (None, "minimize", "maximize"):
        raise UserInputError(f"{_where(src, 'direction')}: expected minimize or maximize, got {spec.direction!r}")
    # split
    if not isinstance(spec.split, dict):
        raise UserInputError(f"{_where(src, 'split')}: expected a mapping (kind, fractions, seed)")
    _check_keys(spec.split, _SPLIT_KEYS, src, "split.")
    split = {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0, **spec.split}
    if split["kind"] not in SPLIT_KINDS:
        raise UserInputError(f"{_where(src, 'split.kind')}: expected one of {', '.join(SPLIT_KINDS)}, got {split['kind']!r}")
    fr = split["fractions"]
    if (
        not isinstance(fr, (list, tuple)) or len(fr) != 3
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in fr)
        or abs(sum(fr) - 1.0) > 1e-6 or fr[0] <= 0 or fr[1] <= 0
    ):
        raise UserInputError(f"{_where(src, 'split.fractions')}: expected three non-negative numbers summing to 1 (train, valid, test), got {fr!r}")
    if not isinstance(split["seed"], int) or isinstance(split["seed"], bool):
        raise UserInputError(f"{_where(src, 'split.seed')}: expected an integer, got {split['seed']!r}")
    split["fractions"] = [float(x) for x in fr]
    repeats = split.pop("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise UserInputError(f"{_where(src, 'split.repeats')}: expected an integer >= 1, got {repeats!r}")
    if repeats > 1:
        if spec.kind != "ablation":
            raise UserInputError(f"{_where(src, 'split.repeats')}: repeated splits apply to ablation studies only")
        # kept only when > 1, so a one-split spec reads exactly as before repeats existed
        split["repeats"] = repeats
    spec.split = split
    # variants / seeds
    if not isinstance(spec.variants, list) or not spec.variants or not all(isinstance(v, str) for v in spec.variants):
        raise UserInputError(f"{_where(src, 'variants')}: expected a non-empty list of variant names")
    if len(set(spec.variants)) != len(spec.variants):
        raise UserInputError(f"{_where(src, 'variants')}: a variant is listed twice")
    if (
        not isinstance(spec.seeds, list) or not spec.seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in spec.seeds)
    ):
        raise UserInputError(f"{_where(src, 'seeds')}: expected a non-empty list of integers")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise UserInputError(f"{_where(src, 'seeds')}: a seed is listed twice")
    negative = [s for s in spec.seeds if s < 0 or s >= 2**32]
    if negative:
        # numpy's and torch's seeding take 0 .. 2**32-1; a negative seed fails inside every trial
        raise UserInputError(f"{_where(src, 'seeds')}: seeds must be whole numbers from 0 to 2**32-1, got {negative[0]}")
    if spec.kind == "search" and len(spec.variants) != 1:
        raise UserInputError(f"{_where(src, 'variant')}: a search tunes exactly one variant")
    # sampler / pruner
    for key, allowed, kinds in (("sampler", _SAMPLER_KEYS, SAMPLERS), ("pruner", _PRUNER_KEYS, PRUNERS)):
        value = getattr(spec, key)
        if isinstance(value, str):
            value = {"kind": value}
        if not isinstance(value, dict):
            raise UserInputError(f"{_where(src, key)}: expected a mapping with a kind")
        _check_keys(value, allowed, src, f"{key}.")
        value.setdefault("kind", kinds[0] if key == "sampler" else "none")
        if value["kind"] not in kinds:
            raise UserInputError(f"{_where(src, key + '.kind')}: expected one of {', '.join(kinds)}, got {value['kind']!r}")
        for int_key in ("n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor"):
            if int_key in value and (not isinstance(value[int_key], int) or isinstance(value[int_key], bool) or value[int_key] < 0):
                raise UserInputError(f"{_where(src, key + '.' + int_key)}: expected a non-negative integer")
        for bool_key in ("multivariate", "constant_liar", "group"):
            if bool_key in value and not isinstance(value[bool_key], bool):
                raise UserInputError(f"{_where(src, key + '.' + bool_key)}: expected true or false")
        setattr(spec, key, value)
    # budget / retries
    if spec.n_trials is not None and (not isinstance(spec.n_trials, int) or isinstance(spec.n_trials, bool) or spec.n_trials <= 0):
        raise UserInputError(f"{_where(src, 'n_trials')}: expected a positive integer, got {spec.n_trials!r}")
    if spec.kind == "search" and spec.n_trials is None:
        raise UserInputError(f"{_where(src, 'n_trials')}: a search needs a trial budget")
    if not isinstance(spec.max_retries, int) or isinstance(spec.max_retries, bool) or spec.max_retries < 0:
        raise UserInputError(f"{_where(src, 'max_retries')}: expected a non-negative integer, got {spec.max_retries!r}")
    # space
    if not isinstance(spec.space, dict):
        raise UserInputError(f"{_where(src, 'space')}: expected a mapping of setting: [choices]")
    if spec.kind == "search" and not spec.space:
        raise UserInputError(f"{_where(src, 'space')}: a search needs a search space")
    from pepland_hpo.hpo import objectives, tuning

    tuning.check_tune(spec)  # a tuned ablation has a space; an untuned one has none
    objectives.check_objectives(spec)
    for key, choices in spec.space.items():
        if not isinstance(choices, list) or not choices:
            raise UserInputError(f"{_where(src, 'space.' + str(key))}: expected a non-empty list of choices")
        if not all(isinstance(c, (int, float, str, bool)) for c in choices):
            raise UserInputError(f"{_where(src, 'space.' + str(key))}: choices must be numbers or strings")
        if key in spec.settings:
            raise UserInputError(f"{_where(src, 'settings.' + str(key))}: also in the search space; keep it in one place")
    if "fault" in spec.settings:
        parse_fault(spec.settings["fault"])
        if not faults_allowed():
            raise UserInputError(
                f"{_where(src, 'settings.fault')}: fault injection is for tests; set {FAULTS_ENV}=1 to allow it"
            )


# --------------------------------------------------------------------------- semantic checks


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


def check_variants(spec: StudySpec) -> None:
    from pepland_hpo.models.variants import known_variants

    known = known_variants()
    unknown = [v for v in spec.variants if v not in known]
    if unknown:
        raise UserInputError(
            f"{_where(spec.source, 'variants')}: unknown variant {unknown[0]!r}; "
            f"known: {', '.join(known)}, or {LEAVE_ONE_OUT}"
        )


def check_settings(spec: StudySpec) -> None:
    """Every `--set` key and value (and every search-space choice) must be accepted by the training layer."""
    from pepland_hpo.training.run import split_settings_overrides

    base = spec.training_settings()
    try:
        split_settings_overrides(dict(base))
    except UserInputError as exc:
        raise UserInputError(f"{_where(spec.source, 'settings')}: {exc}") from None
    for key, choices in spec.space.items():
        for choice in choices:
            try:
                split_settings_overrides({**base, key: _as_setting(choice)})
            except UserInputError as exc:
                raise UserInputError(f"{_where(spec.source, 'space.' + key)}: {exc}") from None


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


def resolve_metric(spec: StudySpec, task: str) -> None:
    from pepland_hpo.training.metrics import METRIC_DIRECTION, metric_names

    if spec.task is None:
        spec.task = task
    if spec.metric is None:
        spec.metric = "auroc" if task == "classification" else "rmse"
    allowed = set(metric_names(task)) | {"loss"}
    if spec.metric not in allowed:
        raise UserInputError(
            f"{_where(spec.source, 'metric')}: {spec.metric!r} is not a {task} metric; expected one of {', '.join(sorted(allowed))}"
        )
    natural = METRIC_DIRECTION[spec.metric]
    if spec.direction is None:
        spec.direction = natural
    elif spec.direction != natural:
        raise UserInputError(
            f"{_where(spec.source, 'direction')}: {spec.metric} should be {natural}d, not {spec.direction}d"
        )


def validate_spec(spec: StudySpec, load_data: bool = True):
    """All checks; returns the loaded dataset (or None when ``load_data`` is False)."""
    check_structure(spec)
    check_variants(spec)
    check_settings(spec)
    if not load_data:
        return None
    dataset = load_spec_data(spec)
    from pepland_hpo.hpo.objectives import resolve_objectives

    resolve_objectives(spec, dataset.task)
    resolve_metric(spec, dataset.task)
    return dataset


# --------------------------------------------------------------------------- CLI builders


def _apply_common(
    spec: StudySpec,
    *,
    data: str | None,
    target: str | None,
    task: str | None,
    smiles_col: str | None,
    seeds: list[int] | None,
    epochs: int | None,
    settings: dict[str, str] | None,
    name: str | None,
    split: str | None,
) -> None:
    if data is not None:
        spec.data = data
    if target is not None:
        spec.target = target
    if task is not None:
        spec.task = task
    if smiles_col is not None:
        spec.smiles_col = smiles_col
    if seeds is not None:
        spec.seeds = list(seeds)
    if name is not None:
        spec.name = name
    if split is not None:
        spec.split = {**spec.split, "kind": split}
    if epochs is not None:
        if epochs <= 0:
            raise UserInputError(f"--epochs must be positive, got {epochs}")
        spec.settings["epochs"] = epochs
    for key, value in (settings or {}).items():
        if key in spec.space:
            # A fixed value for a searched key takes it out of the search.
            spec.space.pop(key)
        spec.settings[key] = value
    spec.source = f"{spec.source} (with command-line options)" if spec.source else "command line"


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
    tune: int | None = None,
) -> StudySpec:
    spec = load_spec(_default_base(base_path, "ablation"))
    if spec.kind != "ablation":
        raise UserInputError(f"{spec.source}: kind is {spec.kind}, expected ablation")
    if split_repeats is not None:
        if split_repeats < 1:
            raise UserInputError(f"--split-repeats must be at least 1, got {split_repeats}")
        spec.split = {**spec.split, "repeats": split_repeats}
    if tune is not None:
        spec.tune = tune  # checked with the rest (hpo.tuning.check_tune)
    if variants is not None:
        spec.variants = expand_variants(list(variants))
    _apply_common(spec, data=data, target=target, task=task, smiles_col=smiles_col, seeds=seeds,
                  epochs=epochs, settings=settings, name=name, split=split)
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
    objectives: list[str] | None = None,
) -> StudySpec:
    spec = load_spec(_default_base(base_path, "search"))
    if spec.kind != "search":
        raise UserInputError(f"{spec.source}: kind is {spec.kind}, expected search")
    if variant is not None:
        spec.variants = [variant]
    if n_trials is not None:
        if n_trials <= 0:
            raise UserInputError(f"--n-trials must be positive, got {n_trials}")
        spec.n_trials = n_trials
    if pruner is not None:
        if pruner not in PRUNERS:
            raise UserInputError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {pruner!r}")
        spec.pruner = {**spec.pruner, "kind": pruner} if spec.pruner.get("kind") == pruner else {"kind": pruner}
    if sampler is not None:
        if sampler not in SAMPLERS:
            raise UserInputError(f"--sampler: expected one of {', '.join(SAMPLERS)}, got {sampler!r}")
        spec.sampler = {**spec.sampler, "kind": sampler}
    if objectives is not None:
        spec.objectives = list(objectives)  # checked with the rest (hpo.objectives.check_objectives)
    _apply_common(spec, data=data, target=target, task=task, smiles_col=smiles_col, seeds=seeds,
                  epochs=epochs, settings=settings, name=name, split=split)
    if validate:
        validate_spec(spec)
    return spec


# --------------------------------------------------------------------------- Optuna objects


def build_sampler(spec: StudySpec, seed: int | None = None):
    """The sampler a worker uses; ``seed`` differs per worker so first suggestions differ."""
    import optuna

    cfg = spec.sampler
    if spec.kind == "ablation":
        if spec.tune:
            from pepland_hpo.hpo.tuning import VariantSampler

            return VariantSampler(spec, seed)
        # Every ablation trial is enqueued with fixed params: nothing is sampled.
        return optuna.samplers.RandomSampler(seed=seed)
    if cfg["kind"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=cfg.get("multivariate", True),
            group=cfg.get("group", False),
            constant_liar=cfg.get("constant_liar", True),  # parallel workers must not pile onto one point
            n_startup_trials=cfg.get("n_startup_trials", 10),
        )


def build_pruner(spec: StudySpec):
    import optuna

    cfg = spec.pruner
    if spec.kind == "ablation" and spec.tune and cfg["kind"] != "none":
        from pepland_hpo.hpo.tuning import VariantPruner

        return VariantPruner(build_pruner(StudySpec.from_dict({**spec.to_dict(), "kind": "search", "tune": None})))
    if spec.kind == "ablation" or cfg["kind"] == "none" or spec.objectives:
        # Optuna's multi-objective studies cannot report intermediate values: nothing to prune on
        return optuna.pruners.NopPruner()
    if cfg["kind"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.get("n_startup_trials", 5),
            n_warmup_steps=cfg.get("n_warmup_steps", 2),
        )
    epochs = int(spec.settings.get("epochs", 50))
    return optuna.pruners.HyperbandPruner(
        min_resource=cfg.get("min_resource", 1),
        max_resource=epochs,
        reduction_factor=cfg.get("reduction_factor", 3),
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
