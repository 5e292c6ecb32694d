"""``pepland-hpo data inspect``: what is in a data file, before any training.

:func:`inspect_files` returns plain data (tests and the CLI use the same
object); :func:`render_inspection` prints it with rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pepland_hpo.data.readers import InvalidRow, MoleculeTable, load_table
from pepland_hpo.data.splits import OverlapReport, find_overlap


@dataclass
class TableSummary:
    name: str  # train / valid / test
    source: str
    rows: int
    valid: int
    invalid: list[InvalidRow]
    smiles_col: str
    kind: str
    atoms_min: int
    atoms_mean: float
    atoms_max: int
    task: str | None
    target_names: list[str]
    # per target: {"0": count, "1": count} (classification) or mean/std/min/max (regression)
    labels: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # how the file was read (delimiter, header, ...)
    task_reason: str = ""

    def to_dict(self) -> dict:
        d = dict(vars(self))
        d["invalid"] = [vars(r) for r in self.invalid]
        return d


@dataclass
class Inspection:
    files: list[TableSummary]
    overlap: OverlapReport | None

    def to_dict(self) -> dict:
        return {
            "files": [f.to_dict() for f in self.files],
            "overlap": self.overlap.to_dict() if self.overlap else None,
        }


def _labels(table: MoleculeTable) -> dict[str, dict[str, float]]:
    out = {}
    for k, name in enumerate(table.target_names):
        col = table.targets[:, k]
        if table.task == "classification":
            values, counts = np.unique(col, return_counts=True)
            out[name] = {str(int(v)): int(c) for v, c in zip(values, counts)}
        else:
            out[name] = {"mean": float(col.mean()), "std": float(col.std()),
                         "min": float(col.min()), "max": float(col.max())}
    return out


def summarize(name: str, table: MoleculeTable) -> TableSummary:
    atoms = table.num_atoms
    return TableSummary(
        name=name, source=table.source, rows=table.n_rows, valid=len(table),
        invalid=list(table.invalid), smiles_col=table.smiles_col, kind=table.kind,
        atoms_min=int(atoms.min()), atoms_mean=float(atoms.mean()), atoms_max=int(atoms.max()),
        task=table.task, target_names=list(table.target_names), labels=_labels(table),
        notes=list(table.notes), task_reason=table.task_reason,
    )


def inspect_files(file, valid=None, test=None, target=None, smiles_col=None, task=None) -> Inspection:
    """Summaries of ``file`` (and optional validation/test files) plus their overlap."""
    named = {"train": file, "valid": valid, "test": test}
    tables = {
        name: load_table(src, target=target, task=task, smiles_col=smiles_col)
        for name, src in named.items() if src is not None
    }
    overlap = find_overlap({k: t.smiles for k, t in tables.items()}) if len(tables) > 1 else None
    return Inspection([summarize(k, t) for k, t in tables.items()], overlap)


def render_inspection(report: Inspection, console) -> None:
    """Print an :class:`Inspection` (used by the CLI)."""
    from rich.table import Table

    table = Table(title="data")
    for col in ("set", "file", "rows", "valid", "invalid", "column", "atoms min/mean/max", "labels"):
        table.add_column(col)
    for f in report.files:
        labels = "; ".join(f"{k}: " + ", ".join(f"{a}={b:g}" for a, b in v.items()) for k, v in f.labels.items())
        table.add_row(
            f.name, f.source, str(f.rows), str(f.valid), str(len(f.invalid)), f"{f.smiles_col} ({f.kind})",
            f"{f.atoms_min}/{f.atoms_mean:.1f}/{f.atoms_max}", labels or "-",
        )
    console.print(table)
    for f in report.files:
        for note in f.notes:
            console.print(f"{f.name}: read: {note}", markup=False, highlight=False)
        if f.task:
            console.print(f"{f.name}: task: {f.task} ({f.task_reason})", markup=False, highlight=False)
        for r in f.invalid[:20]:
            console.print(f"[yellow]{f.name}: skipped row {r.row}: {r.text!r}: {r.reason}[/yellow]")
        if len(f.invalid) > 20:
            console.print(f"[yellow]{f.name}: ... and {len(f.invalid) - 20} more invalid rows[/yellow]")
    if report.overlap is not None:
        lines = report.overlap.messages()
        for line in lines:
            console.print(f"[bold red]{line}[/bold red]")
        if not lines:
            console.print("[green]no overlap between the sets (by canonical SMILES)[/green]")
        for name, dup in report.overlap.duplicates.items():
            if dup:
                console.print(f"[yellow]{name}: {dup} repeated molecule(s) within the set[/yellow]")


# the earlier name, kept for its callers; same function
inspect_table = inspect_files
