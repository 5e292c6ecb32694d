"""Running a study: `worker`, `launch`, `status`, `dashboard`."""

from __future__ import annotations

from typing import Optional

import typer

from pepland_hpo.cli.app import StorageOption, app, console, err_console, user_errors_exit_2
from pepland_hpo.cli.parsing import parse_csv_list


@app.command()
@user_errors_exit_2
def worker(
    study: Optional[str] = typer.Option(None, "--study", "-s", help="Study to work on (default: the only one)."),
    gpu: str = typer.Option("cpu", "--gpu", help="GPU index, 'cpu', or 'auto' (the GPU with least memory in use)."),
    n_trials: Optional[int] = typer.Option(None, "--n-trials", help="Stop after this many trials (default: until none is left)."),
    threads: Optional[int] = typer.Option(
        None, "--threads", envvar="PEPLAND_HPO_THREADS",
        help="torch CPU threads per trial; with several workers on one machine give each cores / workers "
        "(`launch` does). Default: torch's own (all cores).",
    ),
    name: Optional[str] = typer.Option(None, "--name", envvar="PEPLAND_HPO_WORKER_NAME", help="Worker name in status and logs."),
    storage_outage_s: Optional[float] = typer.Option(
        None, "--storage-outage-s", envvar="PEPLAND_HPO_STORAGE_OUTAGE_S",
        help="How long to keep retrying the database through an outage (restart, fail-over) while the "
        "trial keeps training; past it the worker stops with exit code 3 and the trial is retried later. "
        "Default 300.",
    ),
    storage: Optional[str] = StorageOption,
) -> None:
    """Pull queued trials and run each in its own process until the study is done.

    The worker pins itself to one GPU through CUDA_VISIBLE_DEVICES before CUDA is
    touched. A crashing trial (OOM, NaN, segfault) is recorded and the worker goes on;
    SIGTERM or Ctrl-C hands the running trial back to the queue, where it resumes
    from its last saved epoch. A database outage longer than --storage-outage-s, a
    full disk or a deleted database file stop the worker with exit code 3.
    """
    from pepland_hpo.hpo.queue import WorkerMustStop
    from pepland_hpo.hpo.runner import run_worker

    try:
        summary = run_worker(storage_url=storage, study_name=study, gpu=gpu, n_trials=n_trials, threads=threads,
                             worker_name=name, outage_s=storage_outage_s)
    except WorkerMustStop as exc:
        err_console.print(f"error: worker stopped: {exc}")
        raise typer.Exit(exc.exit_code) from None
    console.print(str(summary))


@app.command()
@user_errors_exit_2
def launch(
    gpus: str = typer.Option(..., "--gpus", help="Comma-separated GPU indices (or 'cpu'), e.g. 0,1,4,5."),
    per_gpu: int = typer.Option(1, "--per-gpu", help="Workers per GPU."),
    study: Optional[str] = typer.Option(None, "--study", "-s", help="Study to work on."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Start and supervise one worker per GPU slot; Ctrl-C stops them all."""
    from pepland_hpo.hpo.runner import launch as launch_workers

    code = launch_workers(storage, parse_csv_list(gpus) or [], per_gpu=per_gpu, study_name=study)
    raise typer.Exit(code=code)


@app.command()
@user_errors_exit_2
def status(
    name: Optional[str] = typer.Argument(None, help="Study name (default: every study)."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Trials by state, best value, failures, what runs where, and an ETA."""
    from pepland_hpo.hpo.services import collect_status, render_status

    render_status(collect_status(storage, name), console)


@app.command()
@user_errors_exit_2
def dashboard(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind. The dashboard has no login: keep it local."),
    port: int = typer.Option(8080, "--port", help="Port."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Open optuna-dashboard on the same storage (reports, curves, checkpoints)."""
    from pepland_hpo.hpo.services import run_dashboard

    run_dashboard(storage, host=host, port=port)


__all__ = ["dashboard", "launch", "status", "worker"]
