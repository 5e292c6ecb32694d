"""Single jobs outside any study: `train` and `pretrain`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from pepland_hpo.cli.app import app, console, err_console, user_errors_exit_2
from pepland_hpo.cli.pair_options import (
    BinderThresholdOption,
    ProteinColOption,
    ProteinEmbeddingsOption,
    ProteinEncoderOption,
    with_protein_encoder,
)
from pepland_hpo.cli.parsing import parse_settings


def _given_split(split, split_file, split_column, id_column, fmt, reading, partition):
    """The given split the options describe, or None (a made split); mixing them up is an error."""
    from pepland_hpo.data.splits import GivenSplit
    from pepland_hpo.data.splits import parse_reading
    from pepland_hpo.errors import UserInputError
    from pepland_hpo.validation import parse_fields

    extras = {"--split-id-column": id_column, "--split-reading": reading, "--partition": partition,
              "--split-format": None if fmt == "auto" else fmt}
    if split_file is None and split_column is None:
        if split == "given":
            raise UserInputError("--split given needs --split-file FILE or --split-column COLUMN")
        used = next((k for k, v in extras.items() if v is not None), None)
        if used:
            raise UserInputError(f"{used} applies to --split given (with --split-file or --split-column)")
        return None
    if split not in ("random", "given"):  # "random" is the default: the file or column says given
        raise UserInputError(f"--split-file / --split-column apply to --split given, not --split {split}")
    values = {"column": split_column, "file": str(split_file) if split_file else None, "id_column": id_column,
              "format": fmt, "reading": parse_reading(reading), "partitions": (partition,) if partition else None}
    given = GivenSplit(**parse_fields(GivenSplit, values))  # format and reading typed, named on error
    given.check()
    return given


@app.command()
@user_errors_exit_2
def train(
    data: str = typer.Option(..., "--data", "-d", help="Data file or builtin:amp."),
    variant: str = typer.Option("gcn", "--variant", help="gcn, graphormer, performer, hierpool, fragments, full, fusion or full-minus-X."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Label column(s)."),
    task: Optional[str] = typer.Option(None, "--task", help="classification or regression."),
    smiles_col: Optional[str] = typer.Option(None, "--smiles-col", help="Column holding SMILES or sequences."),
    protein_col: Optional[str] = ProteinColOption,
    protein_encoder: Optional[str] = ProteinEncoderOption,
    protein_embeddings: Optional[str] = ProteinEmbeddingsOption,
    binder_threshold: Optional[float] = BinderThresholdOption,
    split: str = typer.Option("random", "--split", help="random, stratified, similarity, or given (with "
                              "--split-file or --split-column); for pairs target or pair-random."),
    split_file: Optional[Path] = typer.Option(
        None, "--split-file", help="Given partitions: a JSON file {name: {train: [...], valid: [...], test: [...]}} "
        "or a hestia-good partition file. Indices are 0-based data rows: row 0 is the first data line after any "
        "header or count line, counting rows that are skipped (i.e. before skipped rows are removed). Implies "
        "--split given."),
    split_column: Optional[str] = typer.Option(
        None, "--split-column", help="Given partitions from a data column: train/valid/test (val, validation), "
        "or fold numbers 0..k-1 (partition fold-f: test f, valid (f+1) mod k, train the rest). Implies --split given."),
    split_id_column: Optional[str] = typer.Option(
        None, "--split-id-column", help="JSON split file lists values of this column instead of row indices."),
    split_format: str = typer.Option("auto", "--split-format", help="auto, json or hestia."),
    split_reading: Optional[str] = typer.Option(
        None, "--split-reading", help="hestia-good files: literal (every index a data row) or non-test-positions "
        "(train/valid index the rows not in test, as hestia-good builds them), or NAME=READING for the "
        "partition. Default: literal when that is disjoint, else an error saying which works."),
    partition: Optional[str] = typer.Option(None, "--partition", help="Which partition of a file or "
                                            "column with several (e.g. 0.3, fold-2)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the split (and of the validation rows drawn "
                                   "from train when a given partition has none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the model and the training."),
    settings: Optional[List[str]] = typer.Option(None, "--set", help="Model or training setting key=value."),
    pretrain_data: Optional[str] = typer.Option(None, "--pretrain-data", help="Unlabelled corpus for `full`."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the best checkpoint (default: storage/artifacts/checkpoints)."),
) -> None:
    """Train one variant once, outside any study, with a progress bar.

    Example: `pepland-hpo train --data c-CPP.txt --variant performer --set hidden_dim=64 --set epochs=20`

    On a benchmark's partitions: `pepland-hpo train --data bench.csv --split-file parts.gz --partition 0.3
    --split-reading non-test-positions`
    """
    from pepland_hpo.training.run import ExperimentConfig, run_experiment

    given = _given_split(split, split_file, split_column, split_id_column, split_format, split_reading, partition)
    cfg = ExperimentConfig(
        data=data, target=target, task=task, smiles_col=smiles_col, split="given" if given else split, seed=seed,
        split_seed=split_seed, given_split=given, variant=variant, pretrain_data=pretrain_data, device=device,
        checkpoint_dir=str(out) if out else None, protein_col=protein_col, protein_embeddings=protein_embeddings,
        binder_threshold=binder_threshold,
    ).with_settings(with_protein_encoder(parse_settings(settings), protein_encoder))
    result = run_experiment(cfg, progress=True)
    for line in result.split_description:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
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
    from pepland_hpo.training.pretrain_job import run_pretraining

    try:
        result = run_pretraining(data, variant=variant, settings=parse_settings(settings), device=device,
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


__all__ = ["pretrain", "train"]
