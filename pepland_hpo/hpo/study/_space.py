"""Search spaces as users write them, and the one function that samples them.

In a spec (``space:``), each key is a setting (a field of ``ModelConfig`` or
``TrainConfig``) and its value one of:

* a list of choices - categorical, as before: ``dropout: [0.0, 0.1, 0.2]``;
* a range ``{low, high}`` with ``log: true`` (log-uniform) or ``step: S`` (a
  grid from low to high): ``lr: {low: 1.0e-5, high: 1.0e-3, log: true}``,
  ``num_layers: {low: 2, high: 12, step: 2}``. The setting's declared type
  decides the kind: an ``int`` setting is sampled with ``suggest_int`` (its
  bounds and step must be whole numbers), a ``float`` one with
  ``suggest_float``. Strings and switches take lists only.

Every bound and choice is parsed with the setting's own type and range
(``dropout: {low: 0, high: 1}`` fails: dropout must be below 1), so a space
that passes ``create`` holds no value the training layer would refuse alone.

**Conditional parameters.** A setting declared as acting only in pretraining
(``PRETRAINING`` on its ``TrainConfig`` field: ``temperature``,
``pretrain_lr``, ...) is suggested only when the variant's configuration
pretrains (its preset, or a fixed ``pretraining`` setting), so a search over a
variant that does not pretrain never spends samples on it. **Combinations
that cannot be built** - ``num_heads`` choices that do not divide the sampled
``hidden_dim``, ``fragment_every`` above ``num_layers`` - are found by building
the trial's ``ModelConfig`` before anything trains (:func:`infeasible_reason`);
the worker then marks the trial PRUNED with the reason in ``pruned_reason``.
Pruned, not failed, and not resampled: Optuna freezes a parameter's
distribution, so a trial cannot draw ``num_heads`` again, and TPE learns from
pruned trials (ranked below every completed one) but ignores failed ones, so
it moves away from the impossible region instead of sampling it again. Such a
trial costs a slot of the budget and no training.
"""

from __future__ import annotations

import itertools
import math
import random
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from pepland_hpo.errors import UserInputError
from pepland_hpo.training.settings import (
    check_key,
    normalise_key,
    only_when_pretraining,
    parse_setting,
    parse_settings,
    setting_types,
)
from pepland_hpo.validation import FieldError

_RANGE_KEYS = ("low", "high", "step", "log")


class Vocabulary(typing.NamedTuple):
    """The settings a space may name: their types, the key check and the one-value parser.

    The model's (``ModelConfig`` and ``TrainConfig`` fields) by default; a generation study
    passes the generator's (:mod:`._generation`)."""

    types: typing.Callable[[], dict[str, Any]]
    check_key: typing.Callable[[str], None]
    parse_setting: typing.Callable[[str, Any], Any]


MODEL_SETTINGS = Vocabulary(setting_types, check_key, parse_setting)


@dataclass(frozen=True)
class Choices:
    values: tuple[Any, ...]

    def to_yaml(self) -> list[Any]:
        return list(self.values)

    def suggest(self, trial, key: str) -> Any:
        return trial.suggest_categorical(key, list(self.values))

    def corners(self) -> list[Any]:
        return list(self.values)


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out

    def suggest(self, trial, key: str) -> int:
        return trial.suggest_int(key, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> list[Any]:
        return sorted({self.low, self.high, self.low + (self.high - self.low) // self.step // 2 * self.step})


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    step: float | None = None
    log: bool = False

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out

    def suggest(self, trial, key: str) -> float:
        return trial.suggest_float(key, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> list[Any]:
        return [self.low, self.high]


Param = Union[Choices, IntRange, FloatRange]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(key: str, part: str, value: Any) -> int | float:
    """A bound or step as a number; YAML reads ``1e-5`` (no dot) as a string, so numeric text counts."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                value = kind(value.strip())
                break
            except ValueError:
                continue
    if not _is_number(value) or not math.isfinite(value):
        raise FieldError(f"{key}.{part}", f"expected a number, got {value!r}")
    return value


def _base_type(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def parse_param(key: str, raw: Any, vocabulary: Vocabulary = MODEL_SETTINGS) -> Param:
    """One space entry; raises :class:`FieldError` naming ``KEY`` or ``KEY.low`` etc."""
    parse_setting = vocabulary.parse_setting
    if isinstance(raw, Param.__args__):  # already parsed (a spec built in code)
        return raw
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise FieldError(key, "expected a non-empty list of choices or a range {low, high[, step | log]}")
        values = []
        for choice in raw:
            if not isinstance(choice, (int, float, str, bool)):
                raise FieldError(key, f"choices must be numbers, strings or true/false, got {choice!r}")
            try:
                values.append(parse_setting(key, choice))
            except FieldError as exc:
                raise FieldError(key, exc.problem) from None
        if len(set(values)) != len(values):
            raise FieldError(key, f"a choice is listed twice: {raw!r}")
        return Choices(tuple(values))
    if not isinstance(raw, Mapping):
        raise FieldError(key, f"expected a list of choices or a range {{low, high[, step | log]}}, got {raw!r}")
    unknown = sorted(set(map(str, raw)) - set(_RANGE_KEYS))
    if unknown:
        raise FieldError(f"{key}.{unknown[0]}", f"unknown key; a range has {', '.join(_RANGE_KEYS)}")
    for part in ("low", "high"):
        if part not in raw:
            raise FieldError(key, f"a range needs low and high, got {dict(raw)!r}")
    low, high = _number(key, "low", raw["low"]), _number(key, "high", raw["high"])
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise FieldError(f"{key}.log", f"expected true or false, got {log!r}")
    step = None if raw.get("step") is None else _number(key, "step", raw["step"])
    if step is not None and step <= 0:
        raise FieldError(f"{key}.step", f"expected a positive number, got {step!r}")
    kind = _base_type(vocabulary.types()[key])
    if kind not in (int, float):
        raise FieldError(key, "a range needs a number setting; give a list of choices")
    for part, value in (("low", low), ("high", high)):
        try:
            parse_setting(key, value)  # the setting's own range (dropout < 1, lr > 0, ...)
        except FieldError as exc:
            raise FieldError(f"{key}.{part}", exc.problem) from None
    if not low < high:
        raise FieldError(key, f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise FieldError(f"{key}.low", f"a log range needs low > 0, got {low}")
    if log and step is not None:
        raise FieldError(key, "give step or log, not both")
    if kind is int:
        for part, value in (("low", low), ("high", high), ("step", step)):
            if value is not None and not float(value).is_integer():
                raise FieldError(f"{key}.{part}", f"{key} is an integer setting, got {value!r}")
        low, high, step = int(low), int(high), int(step) if step is not None else 1
        if (high - low) % step:
            raise FieldError(f"{key}.step", f"step {step} does not divide high - low = {high - low}")
        return IntRange(low, high, step, log)
    if step is not None:
        count = (high - low) / step
        if abs(count - round(count)) > 1e-9 * max(1.0, count):
            raise FieldError(f"{key}.step", f"step {step} does not divide high - low = {high - low:g}")
    return FloatRange(float(low), float(high), float(step) if step is not None else None, log)


def parse_space(raw: Mapping[str, Any] | None, vocabulary: Vocabulary = MODEL_SETTINGS) -> dict[str, Param]:
    """A spec's ``space:`` mapping; every key must be a setting of ``vocabulary``."""
    out: dict[str, Param] = {}
    for raw_key, value in (raw or {}).items():
        key = normalise_key(raw_key)
        vocabulary.check_key(key)
        if key in out:
            raise FieldError(key, "listed twice")
        out[key] = parse_param(key, value, vocabulary)
    return out


def space_to_yaml(space: Mapping[str, Param]) -> dict[str, Any]:
    """The form a user writes (and the stored spec keeps): lists and ``{low, high, ...}`` mappings."""
    return {key: param.to_yaml() for key, param in space.items()}


def _pretrains(variant: str, settings: Mapping[str, Any]) -> bool:
    from pepland_hpo.models.variants import variant_model_config

    return settings.get("pretraining", variant_model_config(variant).pretraining) != "none"


def suggest(trial, space: Mapping[str, Param], variant: str, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Sample ``space`` for one trial (Optuna's ``suggest_*``); returns only the parameters that apply.

    Settings that act only in pretraining are sampled after the others, and only
    when the variant (with ``fixed`` settings and the parameters sampled so far)
    pretrains.
    """
    first = [k for k in space if not only_when_pretraining(k)]
    params = {key: space[key].suggest(trial, key) for key in first}
    if _pretrains(variant, {**fixed, **params}):
        params.update({key: space[key].suggest(trial, key) for key in space if key not in params})
    return params


def infeasible_reason(variant: str, settings: Mapping[str, Any]) -> str | None:
    """Why ``variant`` cannot be built or trained with ``settings`` (typed), or None when it can."""
    from pepland_hpo.models.variants import variant_model_config
    from pepland_hpo.training.config import TrainConfig

    try:
        model, train = parse_settings(settings)
        variant_model_config(variant, **model).validate()
        TrainConfig.from_dict(train)
    except UserInputError as exc:
        return str(exc)
    return None


def check_some_feasible(space: Mapping[str, Param], variant: str, fixed: Mapping[str, Any],
                        tries: int = 256) -> None:
    """Refuse a space in which no tried combination of choices and range ends can be built.

    Tries every combination when there are at most ``tries`` of them, else a
    seeded random ``tries``; raises naming the space and the first reason.
    """
    keys = list(space)
    options = [space[k].corners() for k in keys]
    total = math.prod(len(o) for o in options) if options else 1
    if total <= tries:
        combos: Any = itertools.product(*options)
    else:
        rng = random.Random(0)
        combos = (tuple(rng.choice(o) for o in options) for _ in range(tries))
    first_reason = None
    for combo in combos:
        reason = infeasible_reason(variant, {**fixed, **dict(zip(keys, combo))})
        if reason is None:
            return
        first_reason = first_reason or reason
    raise FieldError("space", f"no combination tried can be built for variant {variant}: {first_reason}")


__all__ = ["MODEL_SETTINGS", "Choices", "FloatRange", "IntRange", "Param", "Vocabulary", "check_some_feasible", "infeasible_reason",
           "parse_param", "parse_space", "space_to_yaml", "suggest"]
