"""The `pepland-hpo` command line: parses, validates, calls the layers below.

Every command imports its layer lazily so that `pepland-hpo --help` and a
worker's start stay fast and never touch CUDA before the worker has pinned
its device. Bad input raises :class:`~pepland_hpo.errors.UserInputError`
somewhere below; it is printed as one line and the command exits with code 2.
"""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path
from typing import Callable, List, Optional

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
    help="Optuna storage URL (default: sqlite under ./storage/pepland.db). To share a study between machines: "
    "postgresql+psycopg://user@host/db, best set in PEPLAND_HPO_STORAGE, with the password in ~/.pgpass "
    "(or PGPASSFILE / PGPASSWORD), never on the command line where `ps` shows it.",
    show_default=False,
)


# Commands that install their own graceful SIGTERM handling once they are ready.
_LONG_RUNNING = ("worker", "launch")


@app.callback()
def _startup(ctx: typer.Context) -> None:
    """Until a worker or `launch` installs its own handler, SIGTERM ends the start-up cleanly.

    Imports take seconds; a scheduler cancelling a job (or `launch` stopping its
    workers) in that window would otherwise kill the process mid-import with
    exit status 143. Nothing has been claimed yet, so a clean exit 0 is right.
    """
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


def parse_settings(pairs: Optional[List[str]]) -> dict[str, str]:
    """`--set key=value` pairs into a dict; types are checked by the layer that owns the key."""
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


# --------------------------------------------------------------------------- create


def _print_data_lines(lines: list[str]) -> None:
    """What create read and inferred (task and why, labels, split, skipped rows), before the result."""
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@create_app.command("ablation")
@user_errors_exit_2
def create_ablation(
    data: Optional[str] = typer.Option(
        None, "--data", "-d", help="CSV/TXT file with SMILES or sequences, or builtin:amp / builtin:amp-uniprot."
    ),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Label column(s), comma-separated."),
    task: Optional[str] = typer.Option(None, "--task", help="classification or regression (inferred if omitted)."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="Column holding SMILES or sequences."),
    variants: Optional[str] = typer.Option(
        None, "--variants", help="Comma-separated variants: gcn, graphormer, performer, hierpool, fragments, full, fusion, full-minus-X; "
        "or leave-one-out (full and every full-minus-X)."
    ),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Comma-separated seeds, e.g. 0,1,2."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs per trial."),
    split: Optional[str] = typer.Option(None, "--split", help="random, stratified or similarity."),
    split_repeats: Optional[int] = typer.Option(
        None, "--split-repeats", help="Number of different splits of that kind (each variant runs every "
        "split x seed; repeat r uses split seed + r)."
    ),
    settings: Optional[List[str]] = typer.Option(
        None, "--set", help="Override a model or training setting: --set hidden_dim=32 (repeatable)."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Study name (default from the spec)."),
    spec: Path = typer.Option(Path("studies/ablation.yaml"), "--spec", help="Base study spec (YAML)."),
    replace: bool = typer.Option(False, "--replace", help="Delete an existing study of that name first."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Queue again every (variant, seed) whose trials all failed (after a fix)."
    ),
    storage: Optional[str] = StorageOption,
) -> None:
    """Create an ablation study: one queued trial per variant x split x seed.

    Running it again adds no trial; `--retry-failed` re-queues failed pairs; `--replace` starts over.

    Example: `pepland-hpo create ablation --data builtin:amp --variants gcn,graphormer --seeds 0,1 --epochs 5`
    """
    from pepland_hpo.hpo.create import create_study_from_spec
    from pepland_hpo.hpo.spec import build_ablation_spec

    study_spec = build_ablation_spec(
        base_path=spec,
        data=data,
        target=target,
        task=task,
        smiles_col=smiles_col,
        variants=parse_csv_list(variants),
        seeds=parse_seeds(seeds),
        epochs=epochs,
        settings=parse_settings(settings),
        name=name,
        split=split,
        split_repeats=split_repeats,
    )
    result = create_study_from_spec(storage, study_spec, replace=replace, retry_failed=retry_failed)
    _print_data_lines(result.data_lines)
    console.print(
        f"study [bold]{result.study_name}[/]: {result.enqueued} trial(s) queued, "
        f"{result.already} already present"
    )
    console.print(f"next: [cyan]pepland-hpo worker --study {result.study_name}[/]")


@create_app.command("search")
@user_errors_exit_2
def create_search(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Data file or builtin:amp."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Label column(s), comma-separated."),
    task: Optional[str] = typer.Option(None, "--task", help="classification or regression (inferred if omitted)."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="Column holding SMILES or sequences."),
    variant: Optional[str] = typer.Option(None, "--variant", help="Variant whose hyperparameters are searched."),
    n_trials: Optional[int] = typer.Option(None, "--n-trials", help="Global trial budget shared by all workers."),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median, hyperband or none."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="tpe or random."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs per trial."),
    split: Optional[str] = typer.Option(None, "--split", help="random, stratified or similarity."),
    settings: Optional[List[str]] = typer.Option(None, "--set", help="Fixed setting outside the search space."),
    name: Optional[str] = typer.Option(None, "--name", help="Study name (default from the spec)."),
    spec: Path = typer.Option(Path("studies/search.yaml"), "--spec", help="Base study spec (YAML)."),
    replace: bool = typer.Option(False, "--replace", help="Delete an existing study of that name first."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Create a hyperparameter search (TPE + pruning) over the training plan's space.

    Example: `pepland-hpo create search --data peptides.csv --target label --n-trials 100`
    """
    from pepland_hpo.hpo.create import create_study_from_spec
    from pepland_hpo.hpo.spec import build_search_spec

    study_spec = build_search_spec(
        base_path=spec,
        data=data,
        target=target,
        task=task,
        smiles_col=smiles_col,
        variant=variant,
        n_trials=n_trials,
        pruner=pruner,
        sampler=sampler,
        epochs=epochs,
        settings=parse_settings(settings),
        name=name,
        split=split,
    )
    result = create_study_from_spec(storage, study_spec, replace=replace)
    _print_data_lines(result.data_lines)
    console.print(f"study [bold]{result.study_name}[/]: search with a budget of {study_spec.n_trials} trials")
    console.print(f"next: [cyan]pepland-hpo worker --study {result.study_name}[/]")


# --------------------------------------------------------------------------- run


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
    from pepland_hpo.hpo.resilient import WorkerMustStop
    from pepland_hpo.hpo.worker import run_worker

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
    from pepland_hpo.hpo.launcher import launch as launch_workers

    code = launch_workers(storage, parse_csv_list(gpus) or [], per_gpu=per_gpu, study_name=study)
    raise typer.Exit(code=code)


@app.command()
@user_errors_exit_2
def status(
    name: Optional[str] = typer.Argument(None, help="Study name (default: every study)."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Trials by state, best value, failures, what runs where, and an ETA."""
    from pepland_hpo.hpo.status import collect_status, render_status

    render_status(collect_status(storage, name), console)


@app.command()
@user_errors_exit_2
def dashboard(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind. The dashboard has no login: keep it local."),
    port: int = typer.Option(8080, "--port", help="Port."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Open optuna-dashboard on the same storage (reports, curves, checkpoints)."""
    from pepland_hpo.hpo.dashboard import run_dashboard

    run_dashboard(storage, host=host, port=port)


# --------------------------------------------------------------------------- results


@app.command()
@user_errors_exit_2
def report(
    name: str = typer.Argument(..., help="Study name."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for report.md, report.csv and plots."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Metric to compare (default: the study's)."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Compare variants with bootstrap intervals over test molecules (and splits), Holm-adjusted paired
    differences, a fingerprint reference and "variant ⊕ reference" rows.

    Recomputed from the trials' stored per-molecule predictions; safe to run while workers are busy.

    Example: `pepland-hpo report ablation --out reports/ablation`
    """
    from pepland_hpo.hpo.report import build_report, render_report

    result = build_report(storage, name, out_dir=out, metric=metric)
    render_report(result, console)


@app.command()
@user_errors_exit_2
def export(
    name: str = typer.Argument(..., help="Study name."),
    csv: Path = typer.Option(..., "--csv", help="Output CSV: one row per trial."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Write every trial (params, state, values, user attributes) to CSV."""
    from pepland_hpo.hpo.export import export_trials

    rows = export_trials(storage, name, csv)
    console.print(f"wrote {rows} trial(s) to {csv}")


@app.command()
@user_errors_exit_2
def predict(
    trial: int = typer.Option(..., "--trial", help="Trial number whose best checkpoint to use."),
    data: str = typer.Option(..., "--data", help="File to predict on."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", help="Output CSV."),
    study: Optional[str] = typer.Option(None, "--study", "-s", help="Study name (default: the only one)."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Predict with a finished trial's checkpoint; prints metrics when the file has labels."""
    from pepland_hpo.hpo.predict import predict_with_trial

    metrics = predict_with_trial(storage, study, trial, data, out)
    console.print(f"wrote predictions to {out}")
    if metrics:
        console.print({k: round(v, 4) for k, v in metrics.items()})


# --------------------------------------------------------------------------- single jobs


@app.command()
@user_errors_exit_2
def train(
    data: str = typer.Option(..., "--data", "-d", help="Data file or builtin:amp."),
    variant: str = typer.Option("gcn", "--variant", help="gcn, graphormer, performer, hierpool, fragments, full, fusion or full-minus-X."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Label column(s)."),
    task: Optional[str] = typer.Option(None, "--task", help="classification or regression."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="Column holding SMILES or sequences."),
    split: str = typer.Option("random", "--split", help="random, stratified or similarity."),
    seed: int = typer.Option(0, "--seed", help="Seed of the model and the training."),
    settings: Optional[List[str]] = typer.Option(None, "--set", help="Model or training setting key=value."),
    pretrain_data: Optional[str] = typer.Option(None, "--pretrain-data", help="Unlabelled corpus for `full`."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the best checkpoint (default: storage/artifacts/checkpoints)."),
) -> None:
    """Train one variant once, outside any study, with a progress bar.

    Example: `pepland-hpo train --data c-CPP.txt --variant performer --set hidden_dim=64 --set epochs=20`
    """
    from pepland_hpo.training.run import ExperimentConfig, run_experiment

    cfg = ExperimentConfig(
        data=data, target=target, task=task, smiles_col=smiles_col, split=split, seed=seed,
        variant=variant, pretrain_data=pretrain_data, device=device,
        checkpoint_dir=str(out) if out else None,
    ).with_settings(parse_settings(settings))
    result = run_experiment(cfg, progress=True)
    console.print(
        f"[bold]{result.variant}[/] seed {result.seed}: best {result.metric} {result.best_value:.4f} "
        f"at epoch {result.best_epoch}/{result.epochs_run}, {result.param_count:,} parameters, {result.device}"
    )
    if result.test_metrics:
        console.print("test: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.test_metrics.items())))
    if result.extra.get("pretrain_key"):
        state = "reused" if result.extra.get("pretrain_reused") else "pretrained"
        console.print(f"encoder {state}: key {result.extra['pretrain_key'][:12]}")
    if result.checkpoint:
        console.print(f"checkpoint: {result.checkpoint}")


@app.command()
@user_errors_exit_2
def pretrain(
    data: str = typer.Option(..., "--data", "-d", help="Unlabelled corpus (SMILES or sequences), e.g. PepLand's pretrained/train.csv."),
    variant: str = typer.Option("full", "--variant", help="Encoder configuration to pretrain."),
    settings: Optional[List[str]] = typer.Option(
        None, "--set", help="e.g. --set temperature=0.07 --set pretrain_method=moco --set precision=bf16"
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    nproc: int = typer.Option(
        1, "--nproc", help="Data-parallel processes on this machine (one per GPU; gloo on CPU). "
        "pretrain_batch_size stays the global batch. Ignored under torchrun."
    ),
    checkpoint_every: int = typer.Option(
        0, "--checkpoint-every", help="Save a resumable checkpoint every N steps (0: never)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint of the same run."),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", envvar="PEPLAND_HPO_DDP_TIMEOUT",
        help="Seconds a collective may wait for the other processes before the job fails (default 600).",
    ),
) -> None:
    """Contrastively pretrain an encoder, or reuse the stored one with the same key.

    The encoder is stored under storage/artifacts/pretrained/<key>.pt, keyed by encoder
    configuration, corpus and pretraining settings; trials with the same key reuse it
    (or name it: `--set pretrained=KEY`). Several machines: run this command under
    `torchrun` (see the README).

    Example: `pepland-hpo pretrain --data corpus.csv --nproc 4 --checkpoint-every 500 --set precision=bf16`
    """
    from pepland_hpo.training.distributed import DistributedJobFailed
    from pepland_hpo.training.pretrain import pretrain_file

    try:
        result = pretrain_file(data, variant=variant, settings=parse_settings(settings), device=device,
                               progress=True, nproc=nproc, checkpoint_every=checkpoint_every, resume=resume,
                               timeout_s=timeout)
    except DistributedJobFailed as exc:  # a rank died or timed out: one line, not a traceback per rank
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        if checkpoint_every:
            err_console.print("continue from the last checkpoint with --resume")
        raise typer.Exit(code=1) from None
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 speaks for the job
    state = "reused" if result["reused"] else f"pretrained by {result['nproc']} process(es)"
    losses = ", ".join(f"{x:.3f}" for x in result["loss_per_epoch"])
    console.print(f"encoder {state}: key {result['key']} -> {result['path']}")
    console.print(f"loss per epoch: {losses}; non-finite steps skipped: {result['non_finite_steps']}")
    console.print(f"use it in a study: [cyan]--set pretrained={result['key']}[/]")


# --------------------------------------------------------------------------- data


@data_app.command("inspect")
@user_errors_exit_2
def data_inspect(
    file: str = typer.Argument(..., help="Data file or builtin:amp."),
    valid: Optional[str] = typer.Option(None, "--valid", help="Validation file, to check overlap."),
    test: Optional[str] = typer.Option(None, "--test", help="Test file, to check overlap."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Label column(s)."),
    task: Optional[str] = typer.Option(None, "--task", help="classification or regression (inferred if omitted)."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="Column holding SMILES or sequences."),
) -> None:
    """Rows, invalid rows with reasons, atoms per molecule, label balance and split overlap.

    Also says how each file was read (delimiter, header or not, FASTA) and why the task is what it is.
    """
    from pepland_hpo.data.inspect import inspect_files, render_inspection

    render_inspection(
        inspect_files(file, valid=valid, test=test, target=target, smiles_col=smiles_col, task=task), console
    )


@data_app.command("featurize")
@user_errors_exit_2
def data_featurize(
    file: str = typer.Argument(..., help="Data file or builtin:amp."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Label column(s)."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="Column holding SMILES or sequences."),
    jobs: Optional[int] = typer.Option(
        None, "--jobs", "-j", min=1,
        help="Featurising processes (default: PEPLAND_HPO_FEATURIZE_JOBS, else the CPUs); same cache for any N.",
    ),
) -> None:
    """Featurise a file into the shared cache ahead of the workers.

    Large files are cut into chunks of 128 rows, featurised by a pool of processes and written as
    memory-mapped shards as they finish. Example: `pepland-hpo data featurize corpus.csv --jobs 4`
    """
    from pepland_hpo.data.dataset import load_dataset

    dataset = load_dataset(file, target=target, smiles_col=smiles_col, progress=True, jobs=jobs)
    console.print(f"{len(dataset)} molecules cached ({len(dataset.invalid)} invalid row(s) skipped)")


@data_app.command("corpus")
@user_errors_exit_2
def data_corpus(
    files: List[str] = typer.Argument(..., help="Input files: CSV/TSV with a SMILES or sequence column, or one molecule a line."),
    out: Path = typer.Option(..., "--out", "-o", help="Output CSV (one 'smiles' column), written when complete."),
    study: Optional[str] = typer.Option(
        None, "--study", "-s", help="Leave out this study's validation and test molecules."
    ),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Leave out the molecules of this file (repeatable)."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="Column holding SMILES or sequences."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Merge files into one pretraining corpus, deduplicated by canonical SMILES, without held-out molecules.

    Streams the inputs (bounded memory: a 16-byte digest per distinct molecule).

    Example: `pepland-hpo data corpus a.csv b.txt --out corpus.csv --study ablation --exclude test.csv`
    """
    from pepland_hpo.data.corpus import build_corpus, canonical_set, digest

    held = canonical_set(exclude or [], smiles_col)
    if study:
        from pepland_hpo.hpo.heldout import study_held_out

        held |= {digest(s) for s in study_held_out(storage, study)}
    report = build_corpus(list(files), out, exclude=held, smiles_col=smiles_col, progress=True)
    for f in report.files:
        console.print(f"{f.path}: {f.rows} rows, {f.invalid} invalid, {f.duplicates} duplicates, "
                      f"{f.held_out} held out, {f.written} written")
    console.print(f"[bold]{report.total('written')}[/] molecules -> {out} "
                  f"({report.excluded_molecules} held-out molecules checked against)")


# --------------------------------------------------------------------------- demo


@app.command()
@user_errors_exit_2
def quickstart(
    storage: Optional[str] = StorageOption,
) -> None:
    """The demo: a small ablation on builtin:amp, one worker, then the status table (under 3 minutes on 2 cores)."""
    from pepland_hpo.hpo.quickstart import run_quickstart

    run_quickstart(storage, console)


def main() -> None:  # pragma: no cover - entry point for `python -m pepland_hpo.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
