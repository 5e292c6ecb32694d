"""`pepland-hpo data inspect|featurize|corpus`: look at and prepare peptide files."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pepland_hpo.cli.app import StorageOption, console, data_app, user_errors_exit_2


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
        from pepland_hpo.hpo.study import study_held_out

        held |= {digest(s) for s in study_held_out(storage, study)}
    report = build_corpus(list(files), out, exclude=held, smiles_col=smiles_col, progress=True)
    for f in report.files:
        console.print(f"{f.path}: {f.rows} rows, {f.invalid} invalid, {f.duplicates} duplicates, "
                      f"{f.held_out} held out, {f.written} written")
    console.print(f"[bold]{report.total('written')}[/] molecules -> {out} "
                  f"({report.excluded_molecules} held-out molecules checked against)")


__all__ = ["data_corpus", "data_featurize", "data_inspect"]
