"""The report of a multi-objective search: the Pareto front (``study.best_trials``), a table and plots.

A trial is on the front when no other complete trial is at least as good on
every objective and better on one (Optuna's definition). The table lists each
front trial's objective values, configuration and test metrics (for reading
only: the front is chosen on validation and cost, never on test), and the
``pepland-hpo train`` line that re-trains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from pepland_hpo.hpo.analysis._search import retrain_command


@dataclass
class FrontReport:
    study_name: str
    objectives: list[str]
    directions: list[str]
    n_complete: int
    n_pruned: int
    n_failed: int
    n_total: int
    front: list[dict[str, Any]]  # one per front trial: number, values, params, test metrics, command
    spec: dict[str, Any]
    markdown: str = ""
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    artifact_ids: dict[str, str] = field(default_factory=dict)

    kind = "search"

    def to_frame(self):
        import pandas as pd

        rows = []
        for row in self.front:
            out = {"trial": row["number"], **dict(zip(self.objectives, row["values"]))}
            out.update({f"param.{k}": v for k, v in row["params"].items()})
            out.update({f"test.{k}": v for k, v in row["test"].items()})
            out["retrain_command"] = row["command"]
            rows.append(out)
        return pd.DataFrame(rows)


def build_front(study: optuna.Study, spec: dict[str, Any]) -> FrontReport:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    front = sorted(study.best_trials, key=lambda t: tuple(t.values)) if complete else []
    return FrontReport(
        study_name=study.study_name,
        objectives=list(spec.get("objectives") or study.metric_names or []),
        directions=[d.name.lower() for d in study.directions],
        n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        n_failed=sum(t.state == TrialState.FAIL for t in trials),
        n_total=len(trials),
        front=[{"number": t.number, "values": list(t.values), "params": dict(t.params),
                "test": dict(t.user_attrs.get("test_metrics") or {}),
                "command": retrain_command(spec, dict(t.params), dict(t.user_attrs))} for t in front],
        spec=spec,
    )


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 and float(value).is_integer() else f"{value:.4g}"


def front_markdown(report: FrontReport) -> str:
    objectives = ", ".join(f"**{o}** ({d})" for o, d in zip(report.objectives, report.directions))
    out = [
        f"# Search report: {report.study_name} (multi-objective)",
        "",
        f"- trials: {report.n_total} ({report.n_complete} complete, {report.n_pruned} pruned, "
        f"{report.n_failed} failed)",
        f"- objectives: {objectives}",
        "- no pruning: Optuna cannot report intermediate values or prune in a multi-objective study, "
        "so every trial ran its full budget",
        "",
        f"## Pareto front ({len(report.front)} trial(s))",
        "",
    ]
    if not report.front:
        out.append("No completed trial yet.")
        return "\n".join(out + [""])
    params = sorted({k for row in report.front for k in row["params"]})
    tests = sorted({k for row in report.front for k in row["test"]})
    head = ["trial", *report.objectives, *params, *(f"test {k}" for k in tests)]
    out += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for row in report.front:
        cells = [str(row["number"]), *(_fmt(v) for v in row["values"]),
                 *(str(row["params"].get(k, "-")) for k in params),
                 *(_fmt(float(row["test"][k])) if k in row["test"] else "-" for k in tests)]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "A trial is on the front when no other trial is at least as good on every objective and better "
            "on one; the front is chosen on the objectives above, test metrics are for reading only.",
            "", "Re-train a front trial:", "", "```bash"]
    out += [f"{row['command']}  # trial {row['number']}" for row in report.front]
    out += ["```", "", "Plots: `front.png`, `pareto.html` (every trial, the front highlighted).", ""]
    return "\n".join(out)


def front_figures(study: optuna.Study, report: FrontReport, out_dir: Path) -> dict[str, Path]:
    """``pareto.html`` (Optuna's plotly Pareto plot) and ``front.png`` (the first two objectives)."""
    if report.n_complete == 0:
        return {}
    import matplotlib.pyplot as plt
    from optuna import visualization as vis

    from pepland_hpo.hpo.analysis.render import write_plotly

    files: dict[str, Path] = {}
    if len(report.objectives) in (2, 3):
        files["pareto"] = write_plotly(vis.plot_pareto_front(study, target_names=report.objectives),
                                       out_dir / "pareto.html")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    on_front = {row["number"] for row in report.front}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    rest = [t for t in complete if t.number not in on_front]
    ax.scatter([t.values[1] for t in rest], [t.values[0] for t in rest], color="tab:gray", label="trial")
    front = sorted((t for t in complete if t.number in on_front), key=lambda t: t.values[1])
    ax.plot([t.values[1] for t in front], [t.values[0] for t in front], "o-", color="tab:red",
            label="Pareto front")
    for t in front:
        ax.annotate(str(t.number), (t.values[1], t.values[0]), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel(f"{report.objectives[1]} ({report.directions[1]})")
    ax.set_ylabel(f"{report.objectives[0]} ({report.directions[0]})")
    ax.set_title(f"{report.study_name}: Pareto front")
    ax.legend()
    fig.tight_layout()
    files["front"] = out_dir / "front.png"
    fig.savefig(files["front"], dpi=120)
    plt.close(fig)
    return files


__all__ = ["FrontReport", "build_front", "front_figures", "front_markdown"]
