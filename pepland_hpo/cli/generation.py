"""`pepland-hpo create generation` and `pepland-hpo design`: generator trials as a study, then guided design."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pepland_hpo.cli.app import StorageOption, app, console, create_app, user_errors_exit_2
from pepland_hpo.cli.parsing import parse_settings
from pepland_hpo.errors import UserInputError


def _parse_space(text: Optional[str]) -> Optional[dict]:
    """``--space``: a YAML mapping, inline (``"{hidden_dim: [64, 128], lr: {low: 1e-3, high: 1e-2, log: true}}"``)
    or ``@FILE``."""
    if text is None:
        return None
    import yaml

    source = "--space"
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            raise UserInputError(f"--space {path}: cannot read the file ({exc.strerror or exc})") from None
        source = f"--space {path}"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserInputError(f"{source}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict) or not raw:
        raise UserInputError(f"{source}: expected a mapping of setting: [choices] or {{low, high[, log]}}")
    return raw


@create_app.command("generation")
@user_errors_exit_2
def create_generation(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Peptide sequences with a label: c-CPP.txt, a "
                                       "CSV with a sequence column, FASTA with label=, or builtin:amp."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="The label the generator is conditioned on."),
    task: Optional[str] = typer.Option(None, "--task", help="classification or regression (inferred if omitted)."),
    trials: Optional[int] = typer.Option(None, "--trials", "--n-trials", help="Generator trials, shared by all "
                                         "workers (default: the spec's n_trials)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs per trial (early stopping on "
                                         "the validation NLL may end a trial sooner)."),
    space: Optional[str] = typer.Option(None, "--space", help="Search space replacing the spec's, as YAML: "
                                        "\"{hidden_dim: [64, 128], lr: {low: 1e-3, high: 1e-2, log: true}}\" or "
                                        "@FILE. Keys: hidden_dim, num_layers, embed_dim, dropout, lr, batch_size, "
                                        "weight_decay, temperature, ..."),
    settings: Optional[List[str]] = typer.Option(None, "--set", help="Fixed generator setting KEY=VALUE "
                                                 "(takes the key out of the search space)."),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median, hyperband or none (on the per-epoch "
                                         "validation NLL)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Generator seed of every trial."),
    name: Optional[str] = typer.Option(None, "--name", help="Study name (default: generation)."),
    spec: Path = typer.Option(Path("studies/generation.yaml"), "--spec", help="Base study spec (YAML)."),
    replace: bool = typer.Option(False, "--replace", help="Delete an existing study of that name first."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Create a generation study: trials train the conditional peptide generator (a GRU over residue tokens,
    D- and N-methyl residues and caps where the data has them) over a search space of hidden size, layers,
    lr, dropout and sampling temperature; the objective is the validation NLL per token (minimised).

    Workers run these trials like any other (`pepland-hpo worker`); then `pepland-hpo design --study NAME`
    designs peptides with the best generator and `pepland-hpo report NAME` evaluates it.

    Example: `pepland-hpo create generation --data c-CPP.txt --name cpp-gen --trials 12`
    """
    from pepland_hpo.hpo.services import create_study_from_spec
    from pepland_hpo.hpo.study import build_generation_spec

    study_spec = build_generation_spec(base_path=spec, data=data, target=target, task=task, n_trials=trials,
                                       epochs=epochs, settings=parse_settings(settings), space=_parse_space(space),
                                       name=name, pruner=pruner, seed=seed)
    result = create_study_from_spec(storage, study_spec, replace=replace)
    for line in result.data_lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"study [bold]{result.study_name}[/]: generation, {result.enqueued} trial(s) queued "
                  f"({result.already} already there); objective: validation NLL (minimise)")
    console.print(f"next: [cyan]pepland-hpo worker --study {result.study_name}[/]")


@app.command()
@user_errors_exit_2
def design(
    study: str = typer.Option(..., "--study", "-s", help="Generation study whose best generator (lowest "
                              "validation NLL) samples the starting peptides."),
    from_study: Optional[str] = typer.Option(None, "--from-study", help="Ablation (or search) study whose best "
                                             "variant, chosen on validation, guides the design as the ensemble of "
                                             "its seeds; it must be a classifier. Default: a composition model "
                                             "fitted on the generator's training rows."),
    n: int = typer.Option(1000, "--n", help="Designs to return."),
    min_length: Optional[int] = typer.Option(None, "--min-length", help="Fewest residues (caps not counted; "
                                             "default 5)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Most residues (default 30)."),
    max_identity: float = typer.Option(1.0, "--max-identity", help="Largest identity (1 - normalised edit "
                                       "distance) to any sequence of the study's data; 0.7 asks every design to "
                                       "differ from each known peptide in 30 % of its positions. 1: no limit."),
    residues: Optional[str] = typer.Option(None, "--residues", help="Residues a design may use: one-letter "
                                           "(ACDEFGHIKLMNPQRSTVWY) or a comma list of tokens (K,dK,meA,Ac,NH2). "
                                           "Default: every token the generator learned."),
    generations: int = typer.Option(20, "--generations", help="Rounds of the genetic algorithm."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling of the starting peptides (1: off)."),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling and of the genetic algorithm."),
    out: Path = typer.Option(..., "--out", help="Folder for designs.csv, report.md, report.csv, identity.png."),
    storage: Optional[str] = StorageOption,
) -> None:
    """Design peptides: sample 2n from the best generator, improve them with a genetic algorithm over
    substitutions, insertions, deletions and D-swaps scored by the guide, under the constraints, and write
    the n best with an evaluation against the baselines (independent fingerprint oracle, bootstrap intervals).

    Example: `pepland-hpo design --study cpp-gen --from-study cpp-ablation --n 1000 --max-identity 0.7
    --out designs/cpp`
    """
    from pepland_hpo.hpo.services import design_from_study

    outcome = design_from_study(storage, study, out, n, from_study=from_study, min_length=min_length,
                                max_length=max_length, max_identity=max_identity, residues=residues,
                                generations=generations, top_p=top_p, seed=seed)
    row = next((v for k, v in outcome.results.items() if k.startswith("designs")), {})
    summary = ", ".join(f"{k} {row[k]}" for k in ("validity", "uniqueness", "oracle_positive_rate",
                                                   "identity_below_0.7") if k in row)
    console.print(f"{outcome.n} designs (guide: {outcome.guide}) in {outcome.seconds['design']:.1f} s: {summary}",
                  highlight=False)
    console.print(f"wrote {outcome.files['designs']} and {outcome.files['markdown']}", highlight=False)


__all__ = ["create_generation", "design"]
