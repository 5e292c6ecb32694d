"""The search report: best trial and parameters, importances, plotly figures, re-train command."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

NAN = float("nan")


@dataclass
class SearchReport:
    study_name: str
    metric: str
    direction: str
    n_complete: int
    n_pruned: int
    n_failed: int
    n_total: int
    best_number: int | None
    best_value: float
    best_params: dict[str, Any]
    best_test_metrics: dict[str, float]
    importances: dict[str, float]
    importance_note: str
    retrain_command: str
    spec: dict[str, Any]
    markdown: str = ""
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    artifact_ids: dict[str, str] = field(default_factory=dict)

    kind = "search"

    def to_frame(self):
        import pandas as pd

        rows = [{"key": "best_trial", "value": self.best_number}, {"key": "best_value", "value": self.best_value}]
        rows += [{"key": f"param.{k}", "value": v} for k, v in self.best_params.items()]
        rows += [{"key": f"importance.{k}", "value": v} for k, v in self.importances.items()]
        rows += [{"key": f"test.{k}", "value": v} for k, v in self.best_test_metrics.items()]
        rows.append({"key": "retrain_command", "value": self.retrain_command})
        return pd.DataFrame(rows)


def retrain_command(spec: dict, params: dict[str, Any], user_attrs: dict[str, Any] | None = None) -> str:
    """The ``pepland-hpo train`` line that re-trains a configuration outside the study."""
    user_attrs = user_attrs or {}
    settings: dict[str, Any] = {}
    for key in ("settings", "fixed"):
        if isinstance(spec.get(key), dict):
            settings.update(spec[key])
    if spec.get("epochs") is not None:
        settings.setdefault("epochs", spec["epochs"])
    settings.update({k: v for k, v in params.items() if k not in ("variant", "seed")})
    settings.pop("fault", None)  # test-only fault injection, never part of a configuration to re-train
    spec_variants = spec.get("variants") or [spec.get("variant") or "full"]
    variant = params.get("variant") or user_attrs.get("variant") or spec_variants[0]
    seed = params.get("seed", user_attrs.get("seed"))
    if seed is None and spec.get("seeds"):
        seed = spec["seeds"][0]
    parts = ["pepland-hpo", "train", "--data", str(spec.get("data"))]
    if spec.get("target"):
        target = spec["target"]
        parts += ["--target", ",".join(target) if isinstance(target, (list, tuple)) else str(target)]
    if spec.get("task"):
        parts += ["--task", str(spec["task"])]
    if spec.get("smiles_col"):
        parts += ["--smiles-col", str(spec["smiles_col"])]
    split = spec.get("split")
    if isinstance(split, dict) and split.get("kind"):
        # `train` re-splits with this kind (default fractions 0.8/0.1/0.1, seed 0, like the specs)
        parts += ["--split", str(split["kind"])]
    if isinstance(split, dict) and split.get("kind") == "given":
        # the same partition, read the same way (a search trains on one)
        for key, option in (("column", "--split-column"), ("file", "--split-file"), ("id_column", "--split-id-column"),
                            ("format", "--split-format"), ("reading", "--split-reading")):
            value = split.get(key)
            if isinstance(value, dict):  # a reading per partition
                value = ",".join(f"{k}={v}" for k, v in value.items())
            if value not in (None, "auto"):
                parts += [option, str(value)]
        if split.get("partitions"):
            parts += ["--partition", str(split["partitions"][0])]
        if split.get("seed"):
            parts += ["--split-seed", str(split["seed"])]
    parts += ["--variant", str(variant)]
    if seed is not None:
        parts += ["--seed", str(seed)]
    for k, v in settings.items():
        parts += ["--set", f"{k}={v}"]
    return " ".join(shlex.quote(p) for p in parts)


def build_search(study: optuna.Study, spec: dict, metric: str | None) -> SearchReport:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    direction = spec.get("direction") or study.direction.name.lower()
    best = None
    if complete:
        best = study.best_trial
    importances: dict[str, float] = {}
    note = ""
    if len(complete) >= 2:
        try:
            importances = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except Exception as exc:  # e.g. every completed trial has the same params
            note = f"importances not computed: {type(exc).__name__}: {exc}"
    else:
        note = "importances need at least 2 completed trials"
    return SearchReport(
        study_name=study.study_name,
        metric=metric or spec.get("metric") or "value",
        direction=direction,
        n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        n_failed=sum(t.state == TrialState.FAIL for t in trials),
        n_total=len(trials),
        best_number=best.number if best else None,
        best_value=float(best.value) if best and best.value is not None else NAN,
        best_params=dict(best.params) if best else {},
        best_test_metrics=dict(best.user_attrs.get("test_metrics") or {}) if best else {},
        importances=importances,
        importance_note=note,
        retrain_command=retrain_command(spec, dict(best.params), dict(best.user_attrs)) if best else "",
        spec=spec,
    )


def search_markdown(report: SearchReport) -> str:
    out = [
        f"# Search report: {report.study_name}",
        "",
        f"- trials: {report.n_total} ({report.n_complete} complete, {report.n_pruned} pruned, {report.n_failed} failed)",
        f"- metric: **{report.metric}** ({report.direction})",
        "",
        "## Best trial",
        "",
    ]
    if report.best_number is None:
        out.append("No completed trial yet.")
    else:
        out += [f"Trial **{report.best_number}**, validation {report.metric} = {report.best_value:.4f}", ""]
        out += ["| parameter | value |", "| --- | --- |"]
        out += [f"| {k} | {v} |" for k, v in report.best_params.items()]
        if report.best_test_metrics:
            out += ["", "Test metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(report.best_test_metrics.items()))]
        out += ["", "Re-train this configuration:", "", "```bash", report.retrain_command, "```"]
    out += ["", "## Parameter importances", ""]
    if report.importances:
        out += ["| parameter | importance |", "| --- | --- |"]
        out += [f"| {k} | {v:.3f} |" for k, v in report.importances.items()]
    else:
        out.append(report.importance_note or "none")
    out += ["", "Optimisation history and intermediate values: `history.html`, `intermediate.html` (plotly).", ""]
    return "\n".join(out)


def search_figures(study: optuna.Study, report: SearchReport, out_dir: Path) -> dict[str, Path]:
    from optuna import visualization as vis

    from pepland_hpo.hpo.analysis.render import write_plotly

    files: dict[str, Path] = {}
    if report.n_complete == 0:
        return files
    files["history"] = write_plotly(vis.plot_optimization_history(study), out_dir / "history.html")
    files["intermediate"] = write_plotly(vis.plot_intermediate_values(study), out_dir / "intermediate.html")
    if report.importances:
        files["importances"] = write_plotly(vis.plot_param_importances(study), out_dir / "importances.html")
    return files


__all__ = ["SearchReport", "build_search", "retrain_command", "search_figures", "search_markdown"]
