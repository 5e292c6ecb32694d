"""Positive numbers read from environment variables, with one error wording for all of them."""

from __future__ import annotations

import os
from typing import Callable, TypeVar

from pepland_hpo.errors import UserInputError

Number = TypeVar("Number", int, float)


def positive_from_env(name: str, default: Number, kind: Callable[[str], Number], what: str) -> Number:
    """``name``'s value as a positive ``kind`` (``int`` or ``float``), ``default`` when unset or empty.

    ``what`` says what the number counts ("seconds", "heavy atoms") in the error a bad value raises.
    """
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        article = "a whole number" if kind is int else "a number"
        raise UserInputError(f"{name} must be {article} of {what}, got {raw!r}") from None
    if not value > 0:
        raise UserInputError(f"{name} must be positive, got {raw!r}")
    return value
