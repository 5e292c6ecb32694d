"""`pepland-hpo create ablation|search`: a study and its queued trials."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pepland_hpo.cli.app import StorageOption, console, create_app, user_errors_exit_2
from pepland_hpo.cli.pair_options import (
    BinderThresholdOption,
    ProteinColOption,
    ProteinEmbeddingsOption,
    ProteinEncoderOption,
    pair_section,
    with_protein_encoder,
)
from pepland_hpo.cli.parsing import parse_csv_list, parse_seeds, parse_settings


# Given partitions (split kind given): the same options for both study kinds.
SplitFileOption = typer.Option(
    None, "--split-file", help="Given partitions: a JSON file {name: {train: [...], valid: [...], test: [...]}} or "
    "a hestia-good partition file (pickle, read without running it). Indices are 0-based data rows: row 0 is the "
    "first data line after any header or count line, counting rows that are skipped (i.e. before skipped rows are "
    "removed). Several partitions run like repeated splits. Implies --split given.")
SplitColumnOption = typer.Option(
    None, "--split-column", help="Given partitions from a data column: train/valid/test (val, validation), or fold "
    "numbers 0..k-1 (partition fold-f: test f, valid (f+1) mod k, train the rest). Implies --split given.")
SplitIdColumnOption = typer.Option(
    None, "--split-id-column", help="The JSON split file lists values of this column instead of row indices.")
SplitFormatOption = typer.Option(None, "--split-format", help="auto (default), json or hestia.")
SplitReadingOption = typer.Option(
    None, "--split-reading", help="hestia-good files: literal (every index a data row) or non-test-positions "
    "(train/valid index the rows not in test, as hestia-good builds them), or NAME=READING,... per partition "
    "(e.g. random=non-test-positions). Default: literal when disjoint, else an error saying which reading works.")
PartitionsOption = typer.Option(
    None, "--partitions", help="Use only these partitions of the file or column, comma-separated (e.g. 0.3,random).")


def _given_options(split_file, split_column, split_id_column, split_format, split_reading, partitions):
    from pepland_hpo.data.splits import parse_reading

    split_reading = parse_reading(split_reading)
    return {"file": str(split_file) if split_file is not None else None, "column": split_column,
            "id_column": split_id_column, "format": split_format, "reading": split_reading,
            "partitions": parse_csv_list(partitions)}


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
    protein_col: Optional[str] = ProteinColOption,
    protein_encoder: Optional[str] = ProteinEncoderOption,
    protein_embeddings: Optional[str] = ProteinEmbeddingsOption,
    binder_threshold: Optional[float] = BinderThresholdOption,
    variants: Optional[str] = typer.Option(
        None, "--variants", help="Comma-separated variants: gcn, graphormer, performer, hierpool, fragments, full, fusion, full-minus-X; "
        "or leave-one-out (full and every full-minus-X)."
    ),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Comma-separated seeds, e.g. 0,1,2."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs per trial."),
    split: Optional[str] = typer.Option(None, "--split", help="random, stratified, similarity or given; for "
                                        "pairs target (no test protein in training) or pair-random."),
    split_file: Optional[Path] = SplitFileOption,
    split_column: Optional[str] = SplitColumnOption,
    split_id_column: Optional[str] = SplitIdColumnOption,
    split_format: Optional[str] = SplitFormatOption,
    split_reading: Optional[str] = SplitReadingOption,
    partitions: Optional[str] = PartitionsOption,
    split_repeats: Optional[int] = typer.Option(
        None, "--split-repeats", help="Number of different splits of that kind (each variant runs every "
        "split x seed; repeat r uses split seed + r)."
    ),
    settings: Optional[List[str]] = typer.Option(
        None, "--set", help="Override a model or training setting: --set hidden_dim=32 (repeatable)."
    ),
    tune: Optional[int] = typer.Option(
        None, "--tune", help="Tune every variant first: N search trials per variant over the spec's space "
        "(default: the grid of studies/search.yaml), then each variant's best configuration runs over the "
        "splits x seeds. Default: no tuning (every variant at the same settings)."
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

    Tuned: `pepland-hpo create ablation --data builtin:amp --variants gcn,graphormer --tune 20`
    """
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_ablation_spec

    study_spec = build_ablation_spec(
        base_path=spec,
        data=data,
        target=target,
        task=task,
        smiles_col=smiles_col,
        variants=parse_csv_list(variants),
        seeds=parse_seeds(seeds),
        epochs=epochs,
        settings=with_protein_encoder(parse_settings(settings), protein_encoder),
        name=name,
        split=split,
        split_repeats=split_repeats,
        tune=tune,
        given=_given_options(split_file, split_column, split_id_column, split_format, split_reading, partitions),
        pair=pair_section(protein_col, protein_embeddings, binder_threshold),
    )
    result = create_study_from_spec(storage, study_spec, replace=replace, retry_failed=retry_failed)
    if study_spec.tune:
        console.print(f"tuned ablation: {study_spec.tune} search trial(s) per variant over "
                      f"{', '.join(study_spec.space)}; each variant's seeds follow its tuning")
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
    protein_col: Optional[str] = ProteinColOption,
    protein_encoder: Optional[str] = ProteinEncoderOption,
    protein_embeddings: Optional[str] = ProteinEmbeddingsOption,
    binder_threshold: Optional[float] = BinderThresholdOption,
    variant: Optional[str] = typer.Option(None, "--variant", help="Variant whose hyperparameters are searched."),
    n_trials: Optional[int] = typer.Option(None, "--n-trials", help="Global trial budget shared by all workers."),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median, hyperband or none."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="tpe or random."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs per trial."),
    split: Optional[str] = typer.Option(None, "--split", help="random, stratified, similarity or given; for "
                                        "pairs target (no test protein in training) or pair-random."),
    split_file: Optional[Path] = SplitFileOption,
    split_column: Optional[str] = SplitColumnOption,
    split_id_column: Optional[str] = SplitIdColumnOption,
    split_format: Optional[str] = SplitFormatOption,
    split_reading: Optional[str] = SplitReadingOption,
    partitions: Optional[str] = PartitionsOption,
    settings: Optional[List[str]] = typer.Option(None, "--set", help="Fixed setting outside the search space."),
    objectives: Optional[str] = typer.Option(
        None, "--objectives", help="Several objectives, comma-separated: one val_<metric> (e.g. val_auroc) and "
        "params (parameter count) and/or seconds_per_epoch. The report shows the Pareto front; no pruning "
        "(Optuna cannot prune multi-objective studies)."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Study name (default from the spec)."),
    spec: Path = typer.Option(Path("studies/search.yaml"), "--spec", help="Base study spec (YAML)."),
    replace: bool = typer.Option(False, "--replace", help="Delete an existing study of that name first."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Create a hyperparameter search (TPE + pruning) over the spec's search space (studies/search.yaml by default).

    Example: `pepland-hpo create search --data peptides.csv --target label --n-trials 100`
    """
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import parse_objectives
    from pepland_hpo.hpo.study import build_search_spec

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
        settings=with_protein_encoder(parse_settings(settings), protein_encoder),
        name=name,
        split=split,
        objectives=parse_objectives(objectives),
        given=_given_options(split_file, split_column, split_id_column, split_format, split_reading, partitions),
        pair=pair_section(protein_col, protein_embeddings, binder_threshold),
    )
    result = create_study_from_spec(storage, study_spec, replace=replace)
    _print_data_lines(result.data_lines)
    console.print(f"study [bold]{result.study_name}[/]: search with a budget of {study_spec.n_trials} trials")
    console.print(f"next: [cyan]pepland-hpo worker --study {result.study_name}[/]")


__all__ = ["create_ablation", "create_search"]
