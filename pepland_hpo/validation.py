"""One validator for every typed configuration: pydantic v2 over the project's dataclasses.

Why pydantic and not a hand-written checker: the configurations
(:class:`~pepland_hpo.models.config.ModelConfig`,
:class:`~pepland_hpo.training.config.TrainConfig`, the experiment, the study
spec) already declare their fields with types (``int``, ``Literal[...]``,
``bool``); a field's range is declared beside it with ``Annotated[int, Gt(0)]``.
pydantic reads exactly those declarations, parses command-line strings into
them (``"32"`` -> 32, ``"on"`` -> True, ``"2.5"`` is not an int, ``"nan"`` is
not a finite number) and reports every problem with the key it belongs to. The
dataclasses stay plain dataclasses - a new field is one line, with no second
list of keys to update - and this module is the only place that turns their
declarations into checks.

* :func:`parse_fields` parses a partial mapping (``--set`` pairs, a YAML
  ``settings:`` block) into typed values; unknown keys name the nearest known one.
* :func:`check_fields` checks a built instance against its declarations
  (``ModelConfig(...).validate()`` calls it before its cross-field rules).
* :func:`error_line` turns a :class:`pydantic.ValidationError` into the one
  line a user sees: ``where: key.sub: problem, got VALUE``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from pepland_hpo.errors import UserInputError

# Forbid unknown keys and NaN/inf (a NaN learning rate passes every `<= 0` test).
STRICT_KEYS = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True)


class FieldError(UserInputError):
    """A bad value for one key; ``key`` is dotted (``space.lr.low``), ``problem`` says what is wrong."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def field_types(cls) -> dict[str, Any]:
    """``{field name: annotation}`` of a dataclass, ``Annotated`` constraints kept."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _refuse_bool(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic's lax mode reads True as 1: `hidden_dim: true` is a slip, not a size
        raise ValueError(f"input should be a number, not {str(value).lower()}")
    return value


def _is_number(annotation: Any) -> bool:
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    members = typing.get_args(base) if typing.get_origin(base) in (typing.Union, types.UnionType) else (base,)
    return any(m in (int, float) for m in members)


def _strict_numbers(annotation: Any) -> Any:
    return typing.Annotated[annotation, BeforeValidator(_refuse_bool)] if _is_number(annotation) else annotation


@functools.lru_cache(maxsize=None)
def fields_model(cls, exclude: tuple[str, ...] = ()) -> type[BaseModel]:
    """A pydantic model with ``cls``'s fields (types, constraints, defaults), minus ``exclude``."""
    defaults = {f.name: f for f in dataclasses.fields(cls)}
    spec: dict[str, Any] = {}
    for name, annotation in field_types(cls).items():
        if name in exclude:
            continue
        f = defaults[name]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else ...)  # type: ignore[misc]
        spec[name] = (_strict_numbers(annotation), default)
    return create_model(f"{cls.__name__}Fields", __config__=STRICT_KEYS, **spec)


def _plain(loc: Iterable[Any]) -> str:
    # pydantic adds the member of a union it tried ("list[...]", "function-after[...]"): not a key
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float", "bool"))))


def first_problem(exc: ValidationError, known: Iterable[str] = ()) -> tuple[str, str]:
    """``(dotted key, problem)`` of the first error; an unknown key gets the nearest known names."""
    err = exc.errors()[0]
    key = _plain(err["loc"])
    original = (err.get("ctx") or {}).get("error")
    if isinstance(original, FieldError):  # raised by a validator, already naming its key
        return (f"{key}.{original.key}" if key else original.key), original.problem
    if isinstance(original, Exception):  # a validator's own message
        return key, str(original)
    if err["type"] == "extra_forbidden":
        name = str(err["loc"][-1])
        known = sorted(known)
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        return key, f"unknown key; {hint}expected one of {', '.join(known)}" if known else "unknown key"
    message = err["msg"]
    message = message[0].lower() + message[1:] if message else message
    if err["type"] not in ("missing",):
        message += f", got {err['input']!r}"
    return key, message


def error_line(exc: ValidationError, where: str | None = None, known: Iterable[str] = ()) -> str:
    key, problem = first_problem(exc, known)
    return ": ".join(p for p in (where, key, problem) if p)


def parse_fields(cls, values: Mapping[str, Any], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys given in ``values``, parsed to ``cls``'s field types; raises :class:`FieldError`."""
    model = fields_model(cls, tuple(exclude))
    try:
        parsed = model.model_validate(dict(values))
    except ValidationError as exc:
        key, problem = first_problem(exc, model.model_fields)
        raise FieldError(key, problem) from None
    return {name: getattr(parsed, name) for name in parsed.model_fields_set}


def check_fields(obj: Any) -> None:
    """Check a dataclass instance against its declared types and constraints; raises :class:`FieldError`."""
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    parse_fields(type(obj), values)


__all__ = ["FieldError", "STRICT_KEYS", "check_fields", "error_line", "field_types", "fields_model",
           "first_problem", "parse_fields"]
