"""Datasets that ship inside installed packages, so the demo needs no download.

modlamp's data folder holds the antimicrobial-peptide sets as plain CSV files
whose first line is a count/meta header (``412,1,TM,AMP``), followed by
``sequence,label`` rows without a header. We read the files in place; importing
modlamp itself (which pulls in sklearn/matplotlib) is not needed, so the
package is located with ``importlib.util.find_spec`` without running it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from pepland_hpo.errors import UserInputError

PREFIX = "builtin:"


@dataclass(frozen=True)
class Builtin:
    name: str
    package: str
    relpath: str
    description: str
    skip_lines: int = 1  # the meta header line
    columns: tuple[str, ...] = ("sequence", "label")
    default_target: str = "label"


BUILTINS: dict[str, Builtin] = {
    "amp": Builtin(
        "amp", "modlamp", "data/AMPvsTMset.csv",
        "antimicrobial (1) vs transmembrane (0) peptides, 412 sequences (modlamp)",
    ),
    "amp-uniprot": Builtin(
        "amp-uniprot", "modlamp", "data/AMPvsUniProt.csv",
        "antimicrobial (1) vs random UniProt (0) peptides, 5,200 sequences (modlamp)",
    ),
}


def is_builtin(source: object) -> bool:
    return isinstance(source, str) and source.startswith(PREFIX)


def builtin_spec(source: str) -> Builtin:
    name = source[len(PREFIX):]
    if name not in BUILTINS:
        known = ", ".join(PREFIX + k for k in BUILTINS)
        raise UserInputError(f"unknown builtin dataset {source!r}; known: {known}")
    return BUILTINS[name]


def builtin_path(spec: Builtin) -> Path:
    """Path of the packaged file, without importing the package."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise UserInputError(
            f"builtin:{spec.name} needs the '{spec.package}' package (pip install {spec.package})"
        )
    for root in found.submodule_search_locations:
        path = Path(root) / spec.relpath
        if path.is_file():
            return path
    raise UserInputError(f"builtin:{spec.name}: {spec.relpath} not found inside the installed {spec.package}")
