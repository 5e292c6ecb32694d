"""The report printed as a rich table in the terminal."""

from __future__ import annotations

from pepland_hpo.hpo.analysis import AblationReport
from pepland_hpo.hpo.analysis.render._markdown import fmt_diff, fmt_secs, verdict
from pepland_hpo.hpo.analysis import SearchReport


def render_report(report: AblationReport | SearchReport, console) -> None:
    """Print the report as a rich table (and where the files went)."""
    from rich.markup import escape
    from rich.table import Table

    from pepland_hpo.hpo.analysis import FrontReport

    if isinstance(report, FrontReport):
        table = Table(title=f"search {report.study_name}: Pareto front of {len(report.front)} trial(s) "
                            f"({report.n_complete} complete)")
        params = sorted({k for row in report.front for k in row["params"]})
        for col in ("trial", *(f"{o} ({d[:3]})" for o, d in zip(report.objectives, report.directions)), *params):
            table.add_column(col)
        for row in report.front:
            table.add_row(str(row["number"]), *(f"{v:.4g}" for v in row["values"]),
                          *(str(row["params"].get(k, "-")) for k in params))
        console.print(table)
    elif isinstance(report, SearchReport):
        table = Table(title=f"search {report.study_name}: best trial {report.best_number}")
        table.add_column("parameter")
        table.add_column("value")
        table.add_column("importance", justify="right")
        for k, v in report.best_params.items():
            imp = report.importances.get(k)
            table.add_row(k, str(v), f"{imp:.3f}" if imp is not None else "")
        console.print(table)
        console.print(f"best validation {report.metric}: {report.best_value:.4f}")
        if report.retrain_command:
            console.print(f"re-train: [cyan]{report.retrain_command}[/]", soft_wrap=True)
    else:
        m = report.metric
        table = Table(title=f"ablation {report.study_name}: test {m} ({report.direction}), "
                            f"{report.splits_text()}; Δ with Holm-adjusted p")
        for col, just in (("variant", "left"), ("runs", "right"), (f"test {m} [95 % CI]", "right"),
                          (f"Δ vs {report.baseline}", "right"), ("Δ vs reference", "right"),
                          ("params", "right"), ("time/run", "right"), ("flags / failures", "left")):
            table.add_column(col, justify=just)
        for r in report.all_rows():
            notes = list(r.flags) + [f"{k}×{v}" for k, v in r.failures.items()]
            table.add_row(
                f"[italic]{escape(r.variant)}[/]" if r.kind != "variant" else escape(r.variant),
                f"{r.n_done}/{r.n_planned}",
                r.test[m].fmt() if m in r.test else "-",
                fmt_diff(r.vs_baseline, adjusted_only=True),
                fmt_diff(r.vs_reference, adjusted_only=True),
                f"{r.param_count:,}" if r.param_count else "-",
                fmt_secs(r.seconds_per_trial),
                escape("; ".join(notes)),
            )
        console.print(table)
        if report.tuning:
            console.print(f"each variant tuned with {report.tuning['tune']} trials; chosen configurations:")
            for variant, p in report.tuning["variants"].items():
                from pepland_hpo.hpo.study import config_text

                config = config_text(p["params"]) or "none (tuning failed)"
                console.print(f"  {escape(variant)}: {escape(config)}")
        console.print(report.evidence_note.replace("**", ""))
        for line in verdict(report):
            console.print(escape(line.replace("**", "")))
        if report.reference is None:
            console.print(f"[yellow]{escape(report.reference_note)}[/]")
    if report.out_dir is not None:
        console.print(f"written to {report.out_dir}/ (report.md, report.csv, figures)")


__all__ = ["render_report"]
