"""Package APIs that load a module only when one of its names is first used.

Each subpackage of ``hpo/`` and ``data/`` lists its public names in its
``__init__`` and maps each to the private module that defines it. Loading
lazily keeps ``import pepland_hpo.hpo.study`` from importing torch, RDKit or
Optuna (the CLI's ``--help`` stays instant) and keeps one package from pulling
in its siblings just because a name is listed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a public name to its module's leaf name."""

    def __getattr__(name: str) -> object:
        leaf = exports.get(name)
        if leaf is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{leaf}"), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
