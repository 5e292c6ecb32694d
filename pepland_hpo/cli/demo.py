"""`pepland-hpo quickstart`: the demo, end to end on builtin data."""

from __future__ import annotations

from typing import Optional

from pepland_hpo.cli.app import StorageOption, app, console, user_errors_exit_2


@app.command()
@user_errors_exit_2
def quickstart(
    storage: Optional[str] = StorageOption,
) -> None:
    """The demo: a small ablation on builtin:amp, one worker, then the status table (under 3 minutes on 2 cores)."""
    from pepland_hpo.hpo.services import run_quickstart

    run_quickstart(storage, console)


__all__ = ["quickstart"]
