"""A study's results: `report`, `export`, `predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pepland_hpo.cli.app import StorageOption, app, console, user_errors_exit_2


@app.command()
@user_errors_exit_2
def report(
    name: str = typer.Argument(..., help="Study name."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for report.md, report.csv and plots."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Metric to compare (default: the study's)."),
    published: Optional[Path] = typer.Option(
        None, "--published", help="CSV or YAML of published numbers (method or model, partition, metric, value, "
        "source; optional benchmark, overlapping yes/no) set beside ours in one table of report.md, marked as "
        "not re-run; a row on an overlapping (leaky) partition is marked 'not an anchor'."),
    samples: int = typer.Option(1000, "--samples", help="Generation studies: sequences sampled from the best "
                                "generator (and of each baseline) for the evaluation."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Compare variants with bootstrap intervals over test molecules (and splits), Holm-adjusted paired
    differences, a fingerprint reference and "variant ⊕ reference" rows.

    Recomputed from the trials' stored per-molecule predictions; safe to run while workers are busy.

    A study with several named partitions (given partitions, homology thresholds) also gets one table
    per partition, the metric per partition (table and report_partitions.png) and report_partitions.csv.

    Example: `pepland-hpo report ablation --out reports/ablation`

    Beside a leaderboard: `pepland-hpo report ccpp --published published.csv`
    """
    from pepland_hpo.hpo.analysis import build_report, render_report

    result = build_report(storage, name, out_dir=out, metric=metric, published=published, samples=samples)
    if hasattr(result, "render"):  # a generation study's report prints itself
        result.render(console)
    else:
        render_report(result, console)


@app.command()
@user_errors_exit_2
def export(
    name: str = typer.Argument(..., help="Study name."),
    csv: Path = typer.Option(..., "--csv", help="Output CSV: one row per trial."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Write every trial (params, state, values, user attributes) to CSV."""
    from pepland_hpo.hpo.services import export_trials

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
    protein_col: Optional[str] = typer.Option(
        None, "--protein-col", help="Pair studies: the file's protein column, when it is not the one the study "
        "trained with (its pair.protein, e.g. seq1). A file without it is exit 2."),
    protein_embeddings: Optional[str] = typer.Option(
        None, "--protein-embeddings", help="Pair studies with the embeddings encoder: vectors for this file's "
        "proteins (default: the study's file)."),
) -> None:
    """Predict with a finished trial's checkpoint; prints metrics when the file has labels.

    A peptide-protein pair study's trial reads each row's protein too (the study's protein column, or
    --protein-col) and writes it beside the peptide in the output.
    """
    from pepland_hpo.hpo.services import predict_with_trial

    metrics = predict_with_trial(storage, study, trial, data, out, protein_col=protein_col,
                                 protein_embeddings=protein_embeddings)
    console.print(f"wrote predictions to {out}")
    if metrics:
        console.print({k: round(v, 4) for k, v in metrics.items()})


__all__ = ["export", "predict", "report"]
