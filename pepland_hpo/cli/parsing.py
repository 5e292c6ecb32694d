"""Command-line values into Python values: ``--set key=value``, comma-separated lists, seeds."""

from __future__ import annotations

from typing import List, Optional

from pepland_hpo.errors import UserInputError


def parse_settings(pairs: Optional[List[str]]) -> dict[str, str]:
    """`--set key=value` pairs into a dict of strings; `training.settings.parse_settings` types them, once."""
    settings: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"--set expects key=value, got {pair!r}")
        settings[key.strip()] = value.strip()
    return settings


def parse_csv_list(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UserInputError(f"expected a comma-separated list, got {text!r}")
    return items


def parse_seeds(text: Optional[str]) -> Optional[list[int]]:
    items = parse_csv_list(text)
    if items is None:
        return None
    try:
        return [int(item) for item in items]
    except ValueError:
        raise UserInputError(f"--seeds expects integers like 0,1,2, got {text!r}") from None


__all__ = ["parse_csv_list", "parse_seeds", "parse_settings"]
