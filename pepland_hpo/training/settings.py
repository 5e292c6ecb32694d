"""Flat ``key=value`` settings (``--set``, a spec's ``settings:``) as typed model and training overrides.

One parser for every route: ``pepland-hpo train``/``pretrain`` and a study spec
call :func:`parse_settings` once; afterwards values are typed (``"32"`` is 32)
and the worker, the stored spec and the experiment pass them on unchanged. A key
is a field of :class:`~pepland_hpo.models.config.ModelConfig` or
:class:`~pepland_hpo.training.config.TrainConfig` (``-`` may stand for ``_``);
its type and range are the ones declared on that field
(:mod:`pepland_hpo.validation`), so a new field is settable with no edit here.
Rules that tie fields together (``hidden_dim`` divisible by ``num_heads``) are
checked when a variant's config is built, since they depend on the variant.

>>> parse_settings({"hidden_dim": "32", "lr": "5e-4"})
Settings(model={'hidden_dim': 32}, train={'lr': 0.0005})
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, NamedTuple

from pepland_hpo.models.config import ModelConfig
from pepland_hpo.training.config import TrainConfig, applies_only_when_pretraining
from pepland_hpo.validation import FieldError, field_types, parse_fields

# ModelConfig fields that follow from the data, never from a user's --set
DATA_DERIVED_MODEL_FIELDS = ("atom_dim", "bond_dim", "out_dim", "protein_dim")


class Settings(NamedTuple):
    model: dict[str, Any]  # ModelConfig overrides
    train: dict[str, Any]  # TrainConfig overrides

    def flat(self) -> dict[str, Any]:
        return {**self.model, **self.train}


@functools.lru_cache(maxsize=None)
def setting_types() -> dict[str, Any]:
    """``{key: annotation}`` of every settable key, model fields first."""
    model = {k: v for k, v in field_types(ModelConfig).items() if k not in DATA_DERIVED_MODEL_FIELDS}
    return {**model, **field_types(TrainConfig)}


def _owner(key: str):
    return ModelConfig if key in {f.name for f in fields(ModelConfig)} else TrainConfig


def normalise_key(key: Any) -> str:
    return str(key).strip().replace("-", "_")


def check_key(key: str) -> None:
    """Raise :class:`FieldError` for a key no configuration has (naming the nearest one)."""
    if key in DATA_DERIVED_MODEL_FIELDS:
        raise FieldError(key, "follows from the data and cannot be set")
    if key not in setting_types():
        known = sorted(setting_types())
        near = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        raise FieldError(key, f"unknown setting; {hint}known settings: {', '.join(known)}")


def parse_settings(values: Mapping[str, Any]) -> Settings:
    """Sort and type flat settings; an unknown key or a bad value raises :class:`FieldError` naming it."""
    model_in: dict[str, Any] = {}
    train_in: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = normalise_key(raw_key)
        check_key(key)
        (model_in if _owner(key) is ModelConfig else train_in)[key] = value.strip() if isinstance(value, str) else value
    return Settings(parse_fields(ModelConfig, model_in, DATA_DERIVED_MODEL_FIELDS),
                    parse_fields(TrainConfig, train_in))


def parse_setting(key: str, value: Any) -> Any:
    """One value parsed as ``key``'s type (``space.lr.low``, a choice of ``space.dropout``)."""
    return parse_settings({key: value}).flat()[normalise_key(key)]


def only_when_pretraining(key: str) -> bool:
    """True for a setting that acts only when the variant pretrains (declared on its field)."""
    return applies_only_when_pretraining(setting_types().get(key))


__all__ = ["DATA_DERIVED_MODEL_FIELDS", "Settings", "check_key", "normalise_key", "only_when_pretraining",
           "parse_setting", "parse_settings", "setting_types"]
