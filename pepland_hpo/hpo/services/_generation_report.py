"""``pepland-hpo report`` of a generation study: samples of the best generator against the baselines.

The best generator is the COMPLETE trial with the lowest validation NLL (the study's
objective; the test split is never looked at to choose it). ``n`` samples conditioned on
the positive class, at the trial's own temperature, are judged with the baselines —
the real positives (the ceiling for distribution match), modlamp-style random
sequences with the positives' length and composition, and single-point mutants of real
positives — by :func:`pepland_hpo.generation.evaluate_generation`: validity, uniqueness,
novelty and identity to the nearest training sequence, diversity, Wasserstein distances
to the positives, and the positive rate of an *independent oracle* (a fingerprint model
fitted on every labelled row, never a model a design was guided by), each with a
bootstrap interval over the set. Written as ``report.md``, ``report.csv`` and
``samples.csv`` (and ``identity.png``) in ``out_dir``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pepland_hpo.errors import UserInputError


@dataclass
class BestGenerator:
    study_name: str
    trial: Any  # optuna FrozenTrial
    checkpoint: Path
    spec: dict[str, Any]
    temperature: float

    @property
    def value(self) -> float:
        return float(self.trial.value)


def open_generation_study(storage_url: str | None, study_name: str):
    """The study, refused (one line) unless it is a generation study."""
    import optuna

    from pepland_hpo.hpo.queue import open_storage

    storage = open_storage(storage_url, heartbeat=False)  # a reader, not a worker
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in storage.get_all_studies()]
        raise UserInputError(f"no study named {study_name!r} in the storage; studies: "
                             f"{', '.join(names) or '(none)'}") from None
    kind = study.user_attrs.get("kind")
    if kind != "generation":
        raise UserInputError(f"study {study_name!r} is a {kind or 'foreign'} study; design and the generation "
                             "report need a generation study (`pepland-hpo create generation`)")
    return study


def best_generator(study) -> BestGenerator:
    """The COMPLETE trial with the lowest validation NLL and its stored generator checkpoint."""
    import optuna

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None]
    if not done:
        raise UserInputError(f"study {study.study_name!r} has no finished generator trial yet; run "
                             f"`pepland-hpo worker --study {study.study_name}` first")
    best = min(done, key=lambda t: (t.value, t.number))
    path = best.user_attrs.get("checkpoint")
    if not path or not Path(path).is_file():
        raise UserInputError(f"study {study.study_name!r}: trial {best.number}'s generator checkpoint "
                             f"{path or '(none recorded)'} is missing; is PEPLAND_HPO_HOME the study's storage root?")
    spec = dict(study.user_attrs.get("spec") or {})
    temperature = float((best.user_attrs.get("job") or {}).get("generation", {}).get("temperature", 1.0))
    return BestGenerator(study.study_name, best, Path(path), spec, temperature)


def study_sequences(spec: dict[str, Any]):
    """The generation study's peptides, read as the trials read them."""
    from pepland_hpo.generation import load_sequences

    return load_sequences(spec["data"], target=spec.get("target"), task=spec.get("task"),
                          smiles_col=spec.get("smiles_col"))


def write_sequences(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def identity_figure(path: Path, sets: dict[str, list[list[str]]], reference: list[list[str]]) -> Path:
    """Histogram of each set's identity to its nearest training sequence (the novelty a reader checks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from pepland_hpo.generation import max_identity

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 21)
    for name, seqs in sets.items():
        ax.hist(max_identity(seqs, reference), bins=bins, histtype="step", linewidth=1.5, label=name)
    ax.axvline(0.7, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("identity to the nearest training sequence")
    ax.set_ylabel("sequences")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


ORACLE_NOTES = [
    "Oracle: a fingerprint model (Morgan bits) fitted on every labelled row of the study's data; it never "
    "guided a design, so its positive rate is an independent judgement of the property.",
    "Baselines: the real positives (the ceiling for distribution match), random sequences with the positives' "
    "length and composition (modlamp's random-sequence baseline), single-point mutants of real positives.",
    "Identity: 1 - normalised edit distance to the nearest sequence of the study's data; novelty = share not "
    "in the data.",
]


@dataclass
class GenerationReport:
    out_dir: Path
    results: dict[str, dict[str, Any]]
    best: BestGenerator
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def markdown(self) -> str:
        return self.files["markdown"].read_text()

    def render(self, console) -> None:
        """The main numbers as a table, and where the files went."""
        from rich.table import Table

        columns = ("validity", "uniqueness", "novelty", "diversity_edit", "oracle_positive_rate")
        table = Table(title=f"generation {self.best.study_name}: trial {self.best.trial.number} "
                            f"(val NLL {self.best.value:.4f})")
        for col in ("method", *columns):
            table.add_column(col)
        for method, metrics in self.results.items():
            table.add_row(method, *(str(metrics[c]) if c in metrics else "-" for c in columns))
        console.print(table)
        console.print(f"wrote {self.files['markdown']}, {self.files['csv']}", highlight=False)


def generation_report(storage_url: str | None, study_name: str, out_dir=None, *, n: int = 1000, seed: int = 0,
                      top_p: float = 1.0, n_boot: int = 200) -> GenerationReport:
    """Evaluate ``n`` samples of the study's best generator beside the baselines (module docstring)."""
    from pepland_hpo import paths
    from pepland_hpo.generation import evaluate_generation, format_tokens, sample_from, write_report

    if n < 1:
        raise UserInputError(f"--n must be at least 1 (got {n})")
    study = open_generation_study(storage_url, study_name)
    best = best_generator(study)
    data = study_sequences(best.spec)
    samples, _ = sample_from(best.checkpoint, n, temperature=best.temperature, top_p=top_p, seed=seed)
    name = f"generator (trial {best.trial.number}, T={best.temperature:.2f})"
    results = evaluate_generation(data, {name: samples}, n=n, seed=seed, n_boot=n_boot)
    out = Path(out_dir) if out_dir is not None else paths.storage_root() / "reports" / study_name
    out.mkdir(parents=True, exist_ok=True)
    notes = [f"Generator: trial {best.trial.number} of study {study_name!r}, the lowest validation NLL "
             f"({best.value:.4f} nats per token); {n} samples conditioned on the positive class, seed {seed}, "
             f"top-p {top_p:g}.", *ORACLE_NOTES]
    csv_path, md_path = write_report(out, results, title=f"Generation report: {study_name}", notes=notes)
    rows = [{"sequence": format_tokens(s), "length": len(s)} for s in samples]
    files = {"markdown": md_path, "csv": csv_path, "samples": write_sequences(out / "samples.csv", rows)}
    files["identity"] = identity_figure(out / "identity.png", {name: samples}, data.tokens)
    return GenerationReport(out, results, best, files)


__all__ = ["BestGenerator", "GenerationReport", "best_generator", "generation_report", "open_generation_study",
           "study_sequences", "write_sequences"]
