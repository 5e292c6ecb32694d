"""The typer application, its two sub-groups, the consoles and the options every command shares.

Command modules (:mod:`.create`, :mod:`.workers`, :mod:`.results`,
:mod:`.jobs`, :mod:`.data`, :mod:`.demo`) register themselves on these objects when
:mod:`pepland_hpo.cli` imports them.
"""

from __future__ import annotations

import functools
import signal
from typing import Callable

import typer
from rich.console import Console

from pepland_hpo.errors import UserInputError

# Piped output (logs, CI, `| less`) would be cut to 80 columns; tables need more.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)

app = typer.Typer(
    name="pepland-hpo",
    help=(
        "Ablation studies and hyperparameter search for ImprovedPepLand on Optuna.\n\n"
        "A day's work: `create ablation` writes a study and its queued trials; "
        "`worker` (one per GPU) or `launch` runs them; `status` shows progress; "
        "`report` compares the variants; `dashboard` opens optuna-dashboard."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
)
create_app = typer.Typer(help="Create a study and its queued trials in the storage.", no_args_is_help=True)
data_app = typer.Typer(help="Look at and prepare peptide data files.", no_args_is_help=True)
app.add_typer(create_app, name="create")
app.add_typer(data_app, name="data")

StorageOption = typer.Option(
    None,
    "--storage",
    envvar="PEPLAND_HPO_STORAGE",
    help="Optuna storage URL (default: sqlite under ./storage/pepland.db), or @FILE to read it from a file. "
    "To share a study between machines: postgresql+psycopg://user@host/db, best set in PEPLAND_HPO_STORAGE "
    "or @FILE, with the password in ~/.pgpass (or PGPASSFILE / PGPASSWORD). A password given here is moved "
    "into the environment at once (the command restarts itself without it), so `ps` never shows it; "
    "special characters in it must be percent-encoded (@ as %40, : as %3A, / as %2F).",
    show_default=False,
)


# Commands that install their own graceful SIGTERM handling once they are ready.
_LONG_RUNNING = ("worker", "launch")


def _storage_argument(argv: list[str]) -> tuple[int, int] | None:
    """Where ``--storage URL`` / ``--storage=URL`` stands in ``argv``: (index, how many items), or None."""
    for i, arg in enumerate(argv):
        if arg == "--storage" and i + 1 < len(argv):
            return i, 2
        if arg.startswith("--storage="):
            return i, 1
    return None


def _keep_password_off_the_command_line() -> None:
    """A URL with a password on the command line: check it, move it into the environment, and re-exec.

    ``ps`` shows every process's arguments to every user, and a worker's trial
    children (forked) inherit them; after ``execve`` the process's arguments no
    longer hold the URL, and children get it from the environment like ``launch``'s workers.
    """
    import os
    import sys

    from pepland_hpo.hpo.queue import ENV_STORAGE, check_url, has_password

    where = _storage_argument(sys.argv)
    if where is None:
        return
    i, n = where
    url = sys.argv[i + 1] if n == 2 else sys.argv[i].split("=", 1)[1]
    if not has_password(url):
        return
    try:
        check_url(url)
    except UserInputError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    rest = sys.argv[1:i] + sys.argv[i + n:]
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "pepland_hpo.cli", *rest], {**os.environ, ENV_STORAGE: url})


@app.callback()
def _startup(ctx: typer.Context) -> None:
    """Until a worker or `launch` installs its own handler, SIGTERM ends the start-up cleanly.

    First of all, a password given with ``--storage`` leaves the command line
    (:func:`_keep_password_off_the_command_line`).

    Imports take seconds; a scheduler cancelling a job (or `launch` stopping its
    workers) in that window would otherwise kill the process mid-import with
    exit status 143. Nothing has been claimed yet, so a clean exit 0 is right.
    """
    if not ctx.resilient_parsing:
        _keep_password_off_the_command_line()
    if ctx.invoked_subcommand not in _LONG_RUNNING:
        return

    def stopped(_signum, _frame):  # noqa: ANN001
        err_console.print(f"{ctx.invoked_subcommand} stopped by SIGTERM during start-up; nothing was claimed")
        raise SystemExit(0)

    try:
        previous = signal.signal(signal.SIGTERM, stopped)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        return
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


def user_errors_exit_2(func: Callable) -> Callable:
    """Turn bad input into a one-line message and exit code 2 (typer's usage-error code)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserInputError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper



__all__ = ["StorageOption", "app", "console", "create_app", "data_app", "err_console", "user_errors_exit_2"]
