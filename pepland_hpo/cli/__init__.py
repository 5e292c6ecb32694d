"""The `pepland-hpo` command line: parses, validates, calls the layers below.

Every command imports its layer lazily so that `pepland-hpo --help` and a
worker's start stay fast and never touch CUDA before the worker has pinned
its device. Bad input raises :class:`~pepland_hpo.errors.UserInputError`
somewhere below; it is printed as one line and the command exits with code 2.

One module per command group, registered on :mod:`.app`'s typer objects when
imported here (in this order, which is the order of ``--help``):
:mod:`.create`, :mod:`.generation`, :mod:`.workers`, :mod:`.results`, :mod:`.jobs`, :mod:`.data`,
:mod:`.demo`;
value parsing in :mod:`.parsing`. The ``pepland-hpo`` script is
``pepland_hpo.cli:app``; ``python -m pepland_hpo.cli`` runs the same app.
"""

from __future__ import annotations

# imported for their commands, in the order of `--help`
from pepland_hpo.cli import create  # noqa: F401
from pepland_hpo.cli import generation  # noqa: F401
from pepland_hpo.cli import workers  # noqa: F401
from pepland_hpo.cli import results  # noqa: F401
from pepland_hpo.cli import jobs  # noqa: F401
from pepland_hpo.cli import data  # noqa: F401
from pepland_hpo.cli import demo  # noqa: F401
from pepland_hpo.cli.app import app, console, err_console, user_errors_exit_2
from pepland_hpo.cli.parsing import parse_csv_list, parse_seeds, parse_settings


def main() -> None:  # pragma: no cover - entry point for `python -m pepland_hpo.cli`
    app()


__all__ = ["app", "console", "err_console", "main", "parse_csv_list", "parse_seeds", "parse_settings",
           "user_errors_exit_2"]
