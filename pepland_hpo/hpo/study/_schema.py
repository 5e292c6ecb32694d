"""The one typed description of a study: :class:`StudySpec` and its sections.

A pydantic model (see :mod:`pepland_hpo.validation` for why pydantic) of every
setting of a study - data, split, metric, variants, seeds, model and training
``settings``, search ``space``, sampler, pruner, budget - with its type and
range declared once. The same model reads the YAML file
(:func:`.spec.load_spec`), takes the command-line options (``--set`` values
are parsed once, into the types of the ``ModelConfig``/``TrainConfig`` fields
they name), is stored as the study's ``spec`` user attribute
(:meth:`StudySpec.to_dict`, plain JSON) and is rebuilt from it by every
worker (:meth:`StudySpec.from_dict`), which hands each trial's child a typed
:class:`~.trial_job.TrialJob`. Errors name the file and the key
(``search.yaml: space.lr.low: ...``). Adding a field is one line in
:class:`StudySpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.runner import parse_fault
from pepland_hpo.hpo.study._space import Param, parse_space, space_to_yaml
from pepland_hpo.validation import FieldError, error_line

KINDS = ("ablation", "search", "generation")  # generation: trials train the peptide generator (._generation)
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")

# Keys that are not model/training settings but travel in `settings`.
SPECIAL_SETTINGS = ("fault",)

NonNegative = Annotated[StrictInt, Ge(0)]
Name = Annotated[str, Field(min_length=1, pattern=r"\S")]
Fraction = Annotated[float, Ge(0)]
Reading = Literal["literal", "non-test-positions"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _kind_alone(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value  # `pruner: none`


class SplitSpec(_Section):
    # target / pair-random: splits of peptide-protein pairs (data.pairs; the spec needs `pair`)
    # homology (data.homology): one partition per threshold, no test molecule above it to train
    kind: Literal["random", "stratified", "similarity", "given", "target", "pair-random", "homology"] = "random"
    fractions: tuple[Fraction, Fraction, Fraction] = (0.8, 0.1, 0.1)  # train, valid, test
    seed: StrictInt = 0
    # different splits of this kind; repeat r uses seed + r (ablations only)
    repeats: Annotated[StrictInt, Ge(1)] = 1
    # kind given (data.given_split): partitions made elsewhere, from a data column or a file
    column: str | None = None
    file: str | None = None
    id_column: str | None = None
    format: Literal["auto", "json", "hestia"] = "auto"
    # hestia-good files: literal | non-test-positions, for every partition or as {name: reading}
    reading: Reading | dict[str, Reading] | None = None
    partitions: list[str] | None = None  # a subset of the file's partitions, in this order
    # kind homology: similarity thresholds ("random" adds the unrestricted partition) and the measure
    thresholds: list[float | Literal["random"]] | None = None
    similarity: Literal["auto", "identity", "tanimoto"] | None = None
    # kind target: proteins at sequence identity >= this are one group (default 0.9); exact: by exact sequence
    identity: Annotated[float, Gt(0), Le(1)] | Literal["exact"] | None = None

    @field_validator("fractions")
    @classmethod
    def _sums_to_one(cls, fr: tuple[float, float, float]) -> tuple[float, float, float]:
        if abs(sum(fr) - 1.0) > 1e-6 or fr[0] <= 0 or fr[1] <= 0:
            raise ValueError(f"expected three non-negative numbers summing to 1 (train, valid, test), got {list(fr)}")
        return fr

    @field_validator("partitions", "reading", mode="before")
    @classmethod
    def _partition_names(cls, value: Any) -> Any:
        # hestia-good names its partitions by threshold: `partitions: [0.3, random]` in YAML
        from pepland_hpo.data.splits import partition_name

        def named(n: Any) -> Any:
            return partition_name(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else n

        if isinstance(value, (list, tuple)):
            return [named(n) for n in value]
        if isinstance(value, Mapping):
            return {named(k): v for k, v in value.items()}
        return value

    @field_validator("identity", mode="before")
    @classmethod
    def _identity_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number in (0, 1] or exact (YAML true/false is not a threshold)")
        return value

    @model_validator(mode="after")
    def _given_or_made(self) -> "SplitSpec":
        if self.identity is not None and self.kind != "target":
            raise FieldError("identity", f"applies to split kind target, not {self.kind}")
        homology_keys = [k for k in HOMOLOGY_KEYS if getattr(self, k) is not None]
        if self.kind != "homology" and homology_keys:
            raise FieldError(homology_keys[0], f"applies to split kind homology, not {self.kind}")
        if self.kind == "homology":
            if self.repeats > 1:
                raise FieldError("repeats", "homology partitions are one per threshold; repeats apply to random, "
                                            "stratified and similarity splits")
            try:
                self.homology().check()
            except UserInputError as exc:
                raise FieldError("thresholds", str(exc)) from None
        given_keys = [k for k in GIVEN_KEYS if getattr(self, k) not in (None, "auto")]
        if self.kind != "given":
            if given_keys:
                raise FieldError(given_keys[0], f"applies to split kind given, not {self.kind}")
            return self
        if self.repeats > 1:
            raise FieldError("repeats", "given partitions are used as given; repeats apply to random, stratified "
                                        "and similarity splits (a file's several partitions run like repeats)")
        if "fractions" in self.model_fields_set and tuple(self.fractions) != (0.8, 0.1, 0.1):
            raise FieldError("fractions", "given partitions are used as given; fractions apply to random, "
                                          "stratified and similarity splits")
        try:
            self.given().check()
        except UserInputError as exc:
            raise FieldError("kind", str(exc)) from None
        return self

    def given(self):
        """The data layer's :class:`~pepland_hpo.data.splits._given.GivenSplit` of a ``kind: given`` split."""
        from pepland_hpo.data.splits import GivenSplit

        return GivenSplit(column=self.column, file=self.file, id_column=self.id_column, format=self.format,
                          reading=self.reading, partitions=tuple(self.partitions) if self.partitions else None,
                          seed=self.seed)

    def homology(self):
        """The data layer's :class:`~pepland_hpo.data.homology.HomologySplit` of a ``kind: homology`` split."""
        from pepland_hpo.data.homology import HomologySplit

        return HomologySplit(thresholds=tuple(self.thresholds or (0.3, 0.5, 0.7, 0.9)),
                             similarity=self.similarity or "auto", fractions=tuple(self.fractions), seed=self.seed)

    def protein_identity(self) -> float | None:
        """A target split's grouping for ``data.pairs``: an identity threshold, or None (exact sequence)."""
        from pepland_hpo.data.pairs import DEFAULT_IDENTITY

        return None if self.identity == "exact" else (DEFAULT_IDENTITY if self.identity is None else self.identity)

    @model_serializer(mode="wrap")
    def _dump(self, handler) -> dict[str, Any]:
        out = handler(self)
        if out.get("identity") is None:  # a spec without it reads as before the setting existed
            out.pop("identity", None)
        for key in HOMOLOGY_KEYS:  # a spec without homology reads as before the kind existed
            if out.get(key) is None:
                out.pop(key, None)
        if self.repeats == 1:  # a one-split spec reads exactly as before repeats existed
            out.pop("repeats", None)
        for key in GIVEN_KEYS:  # nor does a made split's gain the given-only keys
            if out.get(key) in (None, "auto"):
                out.pop(key, None)
        if self.kind == "given":
            out.pop("fractions", None)
        return out


# SplitSpec keys that only a given split uses
GIVEN_KEYS = ("column", "file", "id_column", "format", "reading", "partitions")
HOMOLOGY_KEYS = ("thresholds", "similarity")


class PairSpec(_Section):
    """Peptide-protein pairs (``pair: {peptide: seq2, protein: seq1}``): the protein is an input and
    the label is the pair's. The protein's encoder is the setting ``protein_encoder`` (default
    composition when pairs are given; ``none`` is the control)."""

    peptide: str | None = None  # the peptide column (the study's smiles_col)
    protein: Name  # the protein column
    embeddings: str | None = None  # .npz / .parquet of vectors per protein (protein_encoder: embeddings)
    binder_threshold: float | None = None  # label >= threshold is a binder (1): classification

    @model_validator(mode="before")
    @classmethod
    def _kind_alone(cls, value: Any) -> Any:
        return value  # no `kind` here: a bare string is not a pair section


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

    kind: Literal["ablation", "search", "generation"]
    name: Name
    data: Name = "builtin:amp"
    target: str | None = None
    task: Literal["classification", "regression"] | None = None
    smiles_col: str | None = None
    pair: PairSpec | None = None  # peptide-protein pairs (data.pairs)
    split: SplitSpec = Field(default_factory=SplitSpec)
    metric: str | None = None  # None: auroc (classification) / rmse (regression)
    direction: Literal["minimize", "maximize"] | None = None
    variants: list[str] = Field(min_length=1)
    seeds: list[StrictInt] = Field(default=[0], min_length=1)
    # model and training settings shared by every trial, typed (training.settings.parse_settings)
    settings: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, Param] = Field(default_factory=dict)  # hpo.space: choices or ranges
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    n_trials: Annotated[StrictInt, Ge(1)] | None = None  # a search's global budget
    max_retries: NonNegative = 2  # re-runs of a trial that failed by itself (crash, OOM, NaN, exception)
    # re-queues of a trial whose worker was lost (killed, machine gone): no retry is spent on
    # those; this larger bound only stops a trial that takes its worker down every time
    max_worker_losses: NonNegative = 8
    # ablation: tune every variant first, this many search trials each (hpo.tuning)
    tune: Annotated[StrictInt, Ge(1)] | None = None
    # search: several objectives, e.g. [val_auroc, params] (hpo.objectives)
    objectives: list[str] | None = None
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
            raw["variants"] = {"ablation": ["gcn"], "generation": ["generator"]}.get(kind, ["full"])
        epochs = raw.pop("epochs", None)
        if epochs is not None:
            raw["settings"] = {"epochs": epochs, **(raw.get("settings") or {})}
        for key, default in (("name", kind), ("data", "builtin:amp"), ("seeds", [0])):
            if raw.get(key) is None and default is not None:
                raw[key] = default
        for key in ("split", "sampler", "pruner", "settings", "space"):
            if raw.get(key) is None:
                raw.pop(key, None)
        pair = raw.get("pair")
        if isinstance(pair, Mapping) and pair.get("peptide"):  # the pair's peptide column is the molecule column
            if raw.get("smiles_col") not in (None, pair["peptide"]):
                raise FieldError("pair.peptide", f"is {pair['peptide']!r} but smiles_col is {raw['smiles_col']!r}; "
                                                 "give one of them")
            raw["smiles_col"] = pair["peptide"]
        if kind == "ablation" and raw.get("tune") and not raw.get("space"):
            from pepland_hpo.hpo.study._tuning import default_space

            raw["space"] = default_space(raw.get("settings") or {})  # the plan's grid less the fixed keys
        if raw.get("objectives"):
            # Optuna cannot prune a multi-objective study. An instance, not a mapping: on an assignment
            # (validate_assignment) this validator sees the fields as they are and its output is kept as is.
            raw["pruner"] = PrunerSpec(kind="none")
        return raw

    @field_validator("variants")
    @classmethod
    def _variants(cls, names: list[str], info: ValidationInfo) -> list[str]:
        from pepland_hpo.models.variants import known_variants

        if info.data.get("kind") == "generation":
            if names != ["generator"]:
                raise ValueError("a generation study trains the generator; it has no model variants")
            return names

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
        bad = [s for s in seeds if not 0 <= s < 2**32]
        if bad:  # numpy's and torch's seeding take 0 .. 2**32-1; a negative seed fails inside every trial
            raise UserInputError(f"seeds must be whole numbers from 0 to 2**32-1, got {bad[0]}")
        return seeds

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, raw: Any, info: ValidationInfo) -> dict[str, Any]:
        from pepland_hpo.training.settings import parse_settings

        if not isinstance(raw, Mapping):
            raise ValueError("expected a mapping of setting: value")
        fault = raw.get("fault")
        given = {k: v for k, v in raw.items() if k not in SPECIAL_SETTINGS}
        if info.data.get("kind") == "generation":  # the generator's settings, not the graph model's
            from pepland_hpo.hpo.study._generation import parse_generation_settings

            typed = parse_generation_settings(given)
        else:
            typed = parse_settings(given).flat()
        if fault is not None:  # allowed or not is checked where a spec is written (check_faults)
            parse_fault(fault)
            typed["fault"] = str(fault)
        return typed

    @field_validator("space", mode="before")
    @classmethod
    def _space(cls, raw: Any, info: ValidationInfo) -> dict[str, Param]:
        if not isinstance(raw, Mapping):
            raise ValueError("expected a mapping of setting: [choices] or {low, high, ...}")
        if info.data.get("kind") == "generation":
            from pepland_hpo.hpo.study._generation import GENERATOR_SETTINGS

            return parse_space(raw, GENERATOR_SETTINGS)
        return parse_space(raw)

    @model_validator(mode="after")
    def _together(self) -> "StudySpec":
        if self.pair is None:
            if self.split.kind in ("target", "pair-random"):
                raise FieldError("split.kind", f"{self.split.kind} splits peptide-protein pairs; it needs "
                                               "pair: {peptide: COLUMN, protein: COLUMN} (--protein-col)")
            if self.settings.get("protein_encoder", "none") != "none" or "protein_encoder" in self.space:
                raise FieldError("settings.protein_encoder", "needs pair: {protein: COLUMN} (--protein-col)")
        if self.split.repeats > 1 and self.kind != "ablation":
            raise FieldError("split.repeats", "repeated splits apply to ablation studies only")
        if self.kind != "ablation" and len(self.split.partitions or ()) > 1:
            raise FieldError("split.partitions", "a search trains on one partition; name one")
        if self.kind == "generation":
            from pepland_hpo.hpo.study._generation import generation_problem

            problem = generation_problem(self)
            if problem:
                raise FieldError(*problem)
        if self.kind in ("search", "generation"):
            if len(self.variants) != 1:
                raise FieldError("variant", "a search tunes exactly one variant")
            if self.n_trials is None:
                raise FieldError("n_trials", "a search needs a trial budget")
            if not self.space:
                raise FieldError("space", "a search needs a search space")
        elif self.space and not self.tune:
            raise FieldError("space", "an ablation has no search space (use settings, or tune: N to tune "
                                      "every variant over it first)")
        if self.tune is not None:
            if self.kind != "ablation":
                raise FieldError("tune", "applies to ablation studies only (a search is tuning already)")
            if self.pruner.kind == "hyperband":
                raise FieldError("pruner.kind", "hyperband cannot prune one variant's trials at a time in a "
                                                "tuned ablation; use median or none")
            if not self.space:
                raise FieldError("space", "every setting of the default grid is fixed by settings; nothing "
                                          "is left to tune")
        if self.objectives is not None:
            from pepland_hpo.hpo.study._objectives import objectives_problem

            problem = objectives_problem(self.objectives, self.kind)
            if problem:
                raise FieldError("objectives", problem)
        both = sorted(set(self.space) & set(self.settings))
        if both:
            raise FieldError(f"settings.{both[0]}", "also in the search space; keep it in one place")
        return self

    # --- writing ---------------------------------------------------------------------------
    @model_serializer(mode="wrap")
    def _dump(self, handler) -> dict[str, Any]:
        out = handler(self)
        if out.get("pair") is None:  # a one-molecule study stores exactly what it stored before pairs
            out.pop("pair", None)
        return out

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
    sections = {"split": SplitSpec, "sampler": SamplerSpec, "pruner": PrunerSpec, "pair": PairSpec}
    model = sections.get(str(loc[0])) if len(loc) > 1 else None
    if model:
        return sorted(model.model_fields)
    return sorted({*StudySpec.model_fields, "epochs", "variant"} - {"source"})




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


__all__ = ["KINDS", "LEAVE_ONE_OUT", "PRUNERS", "SAMPLERS", "SPECIAL_SETTINGS", "PairSpec", "PrunerSpec", "SamplerSpec",
           "SplitSpec", "StudySpec", "expand_variants"]
