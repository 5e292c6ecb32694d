"""The end of a study: the table a paper can use.

:func:`build_report` reads a study from storage and, by its ``kind``, builds

* an ablation report (:mod:`.ablation`): one row per variant, per reference
  and per "variant ⊕ reference", each metric with a bootstrap interval over
  test molecules (and splits) computed from the trials' stored predictions,
  paired differences with Holm-adjusted p-values, flags and compute budget;
* a search report (:mod:`.search`): best trial, importances, plotly figures,
  the command that re-trains the best configuration;
* a multi-objective search's report (:mod:`.front`): the Pareto front as a
  table and plots.

It writes ``report.md``, ``report.csv`` and figures into ``out_dir``, saves the
Markdown as the study's note in optuna-dashboard, uploads the figures as study
artifacts and names the objective ("val auroc") for the dashboard.

Modules: :mod:`.loading` (reading a study), :mod:`.weighted_metrics` and
:mod:`.bootstrap` (computation), :mod:`.ablation` (rows), :mod:`.tables`,
:mod:`.markdown`, :mod:`.console` (rendering), :mod:`.search`; publishing is
:func:`build_report` below with :mod:`pepland_hpo.hpo.services._notes`.
"""

from __future__ import annotations

from pathlib import Path

from pepland_hpo import paths
from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.analysis._ablation import AblationReport, VariantRow, build_ablation
from pepland_hpo.hpo.analysis.render import render_report
from pepland_hpo.hpo.analysis._front import FrontReport
from pepland_hpo.hpo.analysis._loading import open_study
from pepland_hpo.hpo.analysis._search import SearchReport, build_search, retrain_command, search_figures, search_markdown



def name_objective(study, spec: dict) -> None:
    """Name the objective in the dashboard ("val auroc" instead of "Objective 0")."""
    import warnings

    metric = spec.get("metric")
    if spec.get("objectives"):
        return  # named at create, one name per objective
    if metric and study.metric_names != [f"val {metric}"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental API warning
            study.set_metric_names([f"val {metric}"])


def build_report(
    storage_url: str | None,
    study_name: str,
    out_dir: str | Path | None = None,
    metric: str | None = None,
    *,
    reference: bool = True,
    publish: bool = True,
    published: str | Path | None = None,
    samples: int = 1000,  # a generation study's: sequences sampled from its best generator
) -> AblationReport | SearchReport:
    """Build, write and publish the report of one study.

    ``out_dir`` defaults to ``<storage root>/reports/<study>``. ``metric``
    overrides the study's metric (a key of the trials' ``val_metrics`` /
    ``test_metrics``). ``publish=False`` skips the dashboard note and artifacts.
    """
    study = open_study(storage_url, study_name)
    spec = dict(study.user_attrs.get("spec") or {})
    kind = study.user_attrs.get("kind") or spec.get("kind") or "ablation"
    if kind == "generation":  # samples of the best generator vs baselines, judged by an independent oracle
        from pepland_hpo.hpo.services import generation_report, save_study_note

        generated = generation_report(storage_url, study_name, out_dir, n=samples)
        if publish:
            save_study_note(study, generated.markdown)
        return generated
    published_rows = None
    if published is not None:  # read before anything is written: a bad file leaves nothing behind
        from pepland_hpo.hpo.analysis._published import read_published

        if kind != "ablation":
            raise UserInputError(f"--published: study {study_name!r} is a {kind} study; published numbers "
                                 "are set beside an ablation's rows")
        published_rows = read_published(published)
    out = Path(out_dir) if out_dir is not None else paths.storage_root() / "reports" / study_name
    out.mkdir(parents=True, exist_ok=True)

    report: AblationReport | SearchReport | FrontReport
    if kind == "search" and spec.get("objectives"):
        from pepland_hpo.hpo.analysis._front import build_front, front_figures, front_markdown

        report = build_front(study, spec)
        report.files.update(front_figures(study, report, out))
        report.markdown = front_markdown(report)
    elif kind == "search":
        report = build_search(study, spec, metric)
        report.files.update(search_figures(study, report, out))
        report.markdown = search_markdown(report)
    elif kind == "ablation":
        from pepland_hpo.hpo.analysis.render import ablation_plot
        from pepland_hpo.hpo.analysis.render import ablation_markdown
        from pepland_hpo.hpo.analysis.partitions import report_sections

        report = build_ablation(study, spec, metric, reference)
        report.files["plot"] = ablation_plot(report, out / "report.png")
        # a partition axis (several named partitions) and published numbers add sections; else none
        extra = report_sections(study, spec, report, out, reference, published_rows,
                                Path(published).name if published is not None else "")
        report.markdown = ablation_markdown(report, extra)
    else:
        raise UserInputError(f"study {study_name!r} has unknown kind {kind!r} (expected ablation or search)")
    report.out_dir = out
    md_path = out / "report.md"
    md_path.write_text(report.markdown)
    csv_path = out / "report.csv"
    report.to_frame().to_csv(csv_path, index=False)
    report.files.update({"markdown": md_path, "csv": csv_path})
    if publish:
        from pepland_hpo.hpo.services import artifact_store, save_study_note, upload_study_file

        name_objective(study, spec)
        save_study_note(study, report.markdown)
        store = artifact_store()
        for key, path in report.files.items():
            if key not in ("markdown", "csv"):
                report.artifact_ids[key] = upload_study_file(study, path, store)
    return report


__all__ = [
    "AblationReport",
    "FrontReport",
    "SearchReport",
    "VariantRow",
    "build_report",
    "name_objective",
    "open_study",
    "render_report",
    "retrain_command",
]
