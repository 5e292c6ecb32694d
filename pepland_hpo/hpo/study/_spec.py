"""Study specs: reading ``studies/*.yaml``, applying command-line options, the checks that need
more than the schema, and the sampler and pruner a worker rebuilds.

The schema itself - every study setting, typed - is :class:`~.schema.StudySpec`
(:mod:`.schema`). A spec is validated completely before anything touches the
storage: unknown keys, bad values, unknown variants, settings no variant can be
built with and data that does not load are all
:class:`~pepland_hpo.errors.UserInputError` naming the file and key, so a bad
command leaves no study behind. Optuna does not store samplers or pruners, so
every worker rebuilds them from the stored spec (:func:`build_sampler`,
:func:`build_pruner`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import yaml

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.runner import FAULTS_ENV, faults_allowed
from pepland_hpo.hpo.study._schema import PRUNERS, SAMPLERS, StudySpec
from pepland_hpo.hpo.study._samplers import search_pruner, search_sampler
from pepland_hpo.hpo.study._space import check_some_feasible, infeasible_reason
from pepland_hpo.hpo.study._tuning import VariantPruner, VariantSampler, inner_spec
from pepland_hpo.validation import FieldError

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
    spec = StudySpec.from_dict(raw, source=source)
    check_faults(spec)
    return spec


def check_faults(spec: StudySpec) -> None:
    """A spec written now may inject faults only in tests; a stored one is read regardless
    (its worker ignores the fault unless allowed)."""
    if "fault" in spec.settings and not faults_allowed():
        raise UserInputError(_where(spec, f"settings.fault: fault injection is for tests; set {FAULTS_ENV}=1 "
                                          "to allow it"))


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


def pair_protein_input(spec: StudySpec) -> str:
    """The protein input a pair study's data must provide: the fixed ``protein_encoder`` setting, else
    ``composition`` (a searched encoder: embeddings are checked whenever a file is given)."""
    return str(spec.settings.get("protein_encoder") or "composition")


def load_spec_data(spec: StudySpec):
    """Load (and cache) the spec's data; a file that does not load is the user's error.

    A generation study's data is its peptides as residue tokens (:mod:`._generation`)."""
    from pepland_hpo.data.dataset import load_dataset

    if spec.kind == "generation":
        from pepland_hpo.hpo.study._generation import generation_data

        return generation_data(spec)

    kwargs: dict[str, Any] = {}
    if spec.target is not None:
        kwargs["target"] = spec.target
    if spec.task is not None:
        kwargs["task"] = spec.task
    if spec.smiles_col is not None:
        kwargs["smiles_col"] = spec.smiles_col
    if spec.pair is not None:  # pairs: the protein beside each peptide, checked and featurised here once
        from pepland_hpo.data.pairs import load_pair_dataset

        dataset = load_pair_dataset(spec.data, spec.pair.protein, protein_input=pair_protein_input(spec),
                                    protein_embeddings=spec.pair.embeddings,
                                    binder_threshold=spec.pair.binder_threshold, **kwargs)
    else:
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
    if spec.kind == "generation":
        from pepland_hpo.hpo.study._generation import validate_generation_spec

        return validate_generation_spec(spec, load_data)
    check_buildable(spec)
    if not load_data:
        return None
    dataset = load_spec_data(spec)
    from pepland_hpo.hpo.study._objectives import resolve_objectives

    resolve_objectives(spec, dataset.task)
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


def _split_changes(spec: StudySpec, split: str | None, given: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``split`` section after ``--split`` and the given-split options (``--split-file`` ...);
    None when neither changes it. A given-split option alone means ``--split given``."""
    given = {k: v for k, v in (given or {}).items() if v is not None}
    if split is None and not given:
        return None
    kind = split or ("given" if given else spec.split.kind)
    if given and kind != "given":
        key = next(iter(given))
        option = "--partitions" if key == "partitions" else f"--split-{key.replace('_', '-')}"
        raise UserInputError(f"{option} applies to --split given, not --split {kind}")
    if kind != "given":
        return {**spec.split.model_dump(), "kind": kind}
    if spec.split.kind != "given" or {"column", "file"} & set(given):
        # a new source starts afresh: a made split's fractions and repeats, or the other source,
        # mean nothing for partitions used as given
        return {"kind": "given", "seed": spec.split.seed, **given}
    return {**spec.split.model_dump(), **given}


def _pair_changes(spec: StudySpec, pair: dict[str, Any] | None, smiles_col: str | None) -> dict[str, Any] | None:
    """``--protein-col`` & co. over the spec's ``pair`` section (None: nothing given)."""
    given = {k: v for k, v in (pair or {}).items() if v is not None}
    if not given:
        return None
    base = spec.pair.model_dump() if spec.pair is not None else {}
    if smiles_col is not None:
        base["peptide"] = smiles_col  # --smiles-col names the pair's peptide column too
    out = {**base, **given}
    if "protein" not in out:
        raise UserInputError("--protein-embeddings and --binder-threshold need --protein-col (or pair.protein)")
    return out


def _common_changes(spec: StudySpec, *, data, target, task, smiles_col, seeds, epochs, settings, name,
                    split, given=None, pair=None) -> dict[str, Any]:
    """Command-line options as changes of the spec's mapping (validated together by ``updated``)."""
    from pepland_hpo.training.settings import normalise_key

    changes: dict[str, Any] = {k: v for k, v in (("data", data), ("target", target), ("task", task),
                                                 ("smiles_col", smiles_col), ("name", name)) if v is not None}
    if seeds is not None:
        changes["seeds"] = list(seeds)
    pair_section = _pair_changes(spec, pair, smiles_col)
    if pair_section is not None:
        changes["pair"] = pair_section
    split_section = _split_changes(spec, split, given)
    if split_section is not None:
        changes["split"] = split_section
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
    tune: int | None = None,
    given: dict[str, Any] | None = None,
    pair: dict[str, Any] | None = None,
) -> StudySpec:
    """``given``: the given-split options (``column``, ``file``, ``id_column``, ``format``, ``reading``,
    ``partitions``), None where not given; any of them makes the split kind ``given``."""
    spec = _load_base(base_path, "ablation")
    changes = _common_changes(spec, data=data, target=target, task=task, smiles_col=smiles_col, seeds=seeds,
                              epochs=epochs, settings=settings, name=name, split=split, given=given,
                              pair=pair)
    if split_repeats is not None:
        if split_repeats < 1:
            raise UserInputError(f"--split-repeats must be at least 1, got {split_repeats}")
        changes["split"] = {**changes.get("split", spec.split.model_dump()), "repeats": split_repeats}
    if variants is not None:
        changes["variants"] = list(variants)
    if tune is not None:
        changes["tune"] = tune  # checked by the schema (a space is filled in when none is given)
    spec = spec.updated(**changes)
    check_faults(spec)
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
    given: dict[str, Any] | None = None,
    pair: dict[str, Any] | None = None,
) -> StudySpec:
    spec = _load_base(base_path, "search")
    changes = _common_changes(spec, data=data, target=target, task=task, smiles_col=smiles_col, seeds=seeds,
                              epochs=epochs, settings=settings, name=name, split=split, given=given,
                              pair=pair)
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
    if objectives is not None:
        changes["objectives"] = list(objectives)  # checked by the schema (hpo.objectives)
    spec = spec.updated(**changes)
    check_faults(spec)
    if validate:
        validate_spec(spec)
    return spec


def build_generation_spec(
    base_path: str | Path | None = "studies/generation.yaml",
    data: str | None = None,
    target: str | None = None,
    task: str | None = None,
    n_trials: int | None = None,
    epochs: int | None = None,
    settings: dict[str, str] | None = None,
    space: dict[str, Any] | None = None,
    name: str | None = None,
    pruner: str | None = None,
    seed: int | None = None,
    validate: bool = True,
) -> StudySpec:
    """A generation study (:mod:`._generation`): generator trials over ``space`` (replacing the base
    file's), ``settings`` fixed; ``seed`` trains every trial and draws the split."""
    spec = _load_base(base_path, "generation")
    changes = _common_changes(spec, data=data, target=target, task=task, smiles_col=None,
                              seeds=[seed] if seed is not None else None, epochs=epochs, settings=settings,
                              name=name, split=None)
    if space is not None:
        fixed = changes.get("settings", spec.settings)
        changes["space"] = {k: v for k, v in space.items() if k not in fixed}
    if n_trials is not None:
        if n_trials <= 0:
            raise UserInputError(f"--trials must be positive, got {n_trials}")
        changes["n_trials"] = n_trials
    if pruner is not None:
        if pruner not in PRUNERS:
            raise UserInputError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {pruner!r}")
        changes["pruner"] = spec.pruner.model_dump() if spec.pruner.kind == pruner else {"kind": pruner}
    spec = spec.updated(**changes)
    if validate:
        validate_spec(spec)
    return spec


# --------------------------------------------------------------------------- Optuna objects


def build_sampler(spec: StudySpec, seed: int | None = None):
    """The sampler a worker uses; ``seed`` differs per worker so first suggestions differ."""
    if spec.kind == "ablation":
        if spec.tune:
            return VariantSampler(spec, seed)
        # Every ablation trial is enqueued with fixed params: nothing is sampled.
        return optuna.samplers.RandomSampler(seed=seed)
    return search_sampler(spec, seed)


def build_pruner(spec: StudySpec):
    if spec.kind == "ablation" and spec.tune and spec.pruner.kind != "none":
        return VariantPruner(search_pruner(inner_spec(spec)))
    if spec.kind == "ablation":
        return optuna.pruners.NopPruner()
    return search_pruner(spec)


__all__ = [
    "StudySpec",
    "build_ablation_spec",
    "build_generation_spec",
    "build_pruner",
    "build_sampler",
    "build_search_spec",
    "load_spec",
    "validate_spec",
]
