"""The end of a study: the table a paper can use.

:func:`build_report` reads a study from storage and, depending on its ``kind``
user attribute, builds

* an :class:`AblationReport` - one row per variant in spec order: seeds
  finished / planned, validation and test metric as mean ± sd with a 95 %
  t interval, paired-by-seed differences to the baseline (``gcn``, else the
  first variant), to the previous variant and to the fingerprint reference,
  parameter count, wall time per trial, failures by reason; plus the
  reference row (:mod:`pepland_hpo.hpo.reference`);
* a :class:`SearchReport` - best trial and parameters, parameter importances,
  optimisation history and intermediate values as plotly HTML, and the
  command that re-trains the best configuration.

Either way it writes ``report.md`` and ``report.csv`` (plus figures) into
``out_dir``, saves the Markdown as the study's note in optuna-dashboard and
uploads the figure(s) as study artifacts. Paired tests are computed on the
*test* metric: validation values chose each trial's best epoch, so they are
optimistically biased and a poor basis for a significance statement.

The report only reads trials; it never changes their state, so it is safe to
run while workers are still busy (rows then show n < planned).
"""

from __future__ import annotations

import datetime as _dt
import math
import shlex
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from pepland_hpo import paths
from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.reference import REFERENCE_LABEL
from pepland_hpo.hpo.stats import WILCOXON_MIN_PAIRS, PairedResult, Summary, paired_test, summarize

NAN = float("nan")
BASELINE_VARIANT = "gcn"
# shown beside the study's metric for classification: MCC is threshold-based and
# robust to imbalance, AUROC threshold-free; together they stop a cherry-picked metric
CLASSIFICATION_EXTRA = ("mcc", "auroc")


# ----------------------------------------------------------------- data classes


@dataclass
class VariantRow:
    variant: str
    n_done: int
    n_planned: int
    val: Summary
    test: Summary
    val_by_seed: dict[int, float]
    test_by_seed: dict[int, float]
    extra: dict[str, tuple[Summary, Summary]] = field(default_factory=dict)  # metric -> (val, test)
    vs_baseline: PairedResult | None = None
    vs_previous: PairedResult | None = None
    vs_reference: PairedResult | None = None
    param_count: int | None = None
    seconds_per_trial: float = NAN
    failures: dict[str, int] = field(default_factory=dict)
    n_running: int = 0
    n_waiting: int = 0
    is_reference: bool = False


@dataclass
class AblationReport:
    study_name: str
    metric: str
    direction: str
    task: str
    baseline: str
    rows: list[VariantRow]
    reference: VariantRow | None
    reference_note: str  # why the reference is missing, or how it was obtained
    spec: dict[str, Any]
    split_sizes: dict[str, int] = field(default_factory=dict)
    markdown: str = ""
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    artifact_ids: dict[str, str] = field(default_factory=dict)

    kind = "ablation"

    def all_rows(self) -> list[VariantRow]:
        return self.rows + ([self.reference] if self.reference is not None else [])

    def to_frame(self):
        return _ablation_frame(self)


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


# ----------------------------------------------------------------- loading


def _open_study(storage_url: str | None, study_name: str) -> optuna.Study:
    from pepland_hpo.hpo.storage import open_storage

    # heartbeat off: a report is a reader and must not look like a worker
    storage = open_storage(storage_url, heartbeat=False)
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise UserInputError(
            f"no study named {study_name!r} in the storage; studies: {', '.join(names) or '(none)'}"
        ) from None


def _attr(trial: FrozenTrial, name: str) -> Any:
    if name in trial.user_attrs:
        return trial.user_attrs[name]
    return trial.params.get(name)


def _seed(trial: FrozenTrial) -> int | None:
    value = _attr(trial, "seed")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _metric_value(trial: FrozenTrial, key: str, metric: str, study_metric: str) -> float:
    metrics = trial.user_attrs.get(key) or {}
    value = metrics.get(metric) if isinstance(metrics, dict) else None
    if value is None and key == "val_metrics" and metric == study_metric and trial.value is not None:
        value = trial.value  # the trial value is the validation metric at the best epoch
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN


def _duration_s(trial: FrozenTrial) -> float:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return NAN
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _planned_seeds(spec: dict, trials: list[FrozenTrial]) -> list[int]:
    seeds = spec.get("seeds")
    if isinstance(seeds, int):
        return list(range(seeds))
    if isinstance(seeds, (list, tuple)) and seeds:
        return [int(s) for s in seeds]
    return sorted({s for t in trials if (s := _seed(t)) is not None})


def _short_reason(reason: str, width: int = 80) -> str:
    reason = " ".join(str(reason).split())
    return reason if len(reason) <= width else reason[: width - 1] + "…"


# ----------------------------------------------------------------- ablation


def _variant_row(
    variant: str,
    trials: list[FrozenTrial],
    planned: list[int],
    metric: str,
    study_metric: str,
    extras: tuple[str, ...],
) -> VariantRow:
    done: dict[int, FrozenTrial] = {}
    for t in sorted(trials, key=lambda t: t.number):
        seed = _seed(t)
        if t.state == TrialState.COMPLETE and seed is not None:
            done[seed] = t  # a re-run of the same seed: the latest completed attempt counts
    val = {s: _metric_value(t, "val_metrics", metric, study_metric) for s, t in done.items()}
    test = {s: _metric_value(t, "test_metrics", metric, study_metric) for s, t in done.items()}
    extra = {}
    for m in extras:
        extra[m] = (
            summarize(_metric_value(t, "val_metrics", m, study_metric) for t in done.values()),
            summarize(_metric_value(t, "test_metrics", m, study_metric) for t in done.values()),
        )
    failures: Counter[str] = Counter()
    for t in trials:
        if t.state == TrialState.FAIL:
            failures[_short_reason(t.user_attrs.get("failure_reason") or "unknown")] += 1
        elif t.state == TrialState.PRUNED:
            failures["pruned"] += 1
    counts = [t.user_attrs.get("param_count") for t in done.values()]
    counts = [int(c) for c in counts if isinstance(c, (int, float))]
    durations = [d for t in done.values() if math.isfinite(d := _duration_s(t))]
    return VariantRow(
        variant=variant,
        n_done=len(done),
        n_planned=len(planned),
        val=summarize(val.values()),
        test=summarize(test.values()),
        val_by_seed=val,
        test_by_seed=test,
        extra=extra,
        # identical across seeds for one variant; the max guards against a mixed-size rerun
        param_count=max(counts) if counts else None,
        seconds_per_trial=sum(durations) / len(durations) if durations else NAN,
        failures=dict(failures),
        n_running=sum(t.state == TrialState.RUNNING for t in trials),
        n_waiting=sum(t.state == TrialState.WAITING for t in trials),
    )


def _seed_splits(study: optuna.Study, seeds: list[int]) -> dict[int, dict[str, list[int]]]:
    split = study.user_attrs.get("split")
    if not isinstance(split, dict):
        raise UserInputError(f"study {study.study_name!r} has no stored split (user attribute 'split')")
    if {"train", "valid", "test"} <= set(split):
        return {s: split for s in seeds}  # one split shared by every seed (the usual case)
    # per-seed splits, keyed by the seed as a string (JSON keys)
    return {s: split[str(s)] for s in seeds if str(s) in split}


def _reference_row(
    study: optuna.Study, spec: dict, task: str, seeds: list[int], metric: str, extras: tuple[str, ...]
) -> tuple[VariantRow | None, str]:
    """Train/score the fingerprint reference on the study's split; never fails the report."""
    from pepland_hpo.hpo.reference import reference_results

    if not seeds:
        return None, "reference not computed: the study has no seeds"
    data = spec.get("data")
    try:
        from pepland_hpo.data.dataset import load_dataset

        # the same arguments the study's creation used (hpo.spec.load_spec_data), so rows and indices agree
        kwargs = {k: spec[k] for k in ("target", "smiles_col") if spec.get(k) is not None}
        ds = load_dataset(data, task=task, **kwargs)
        expected = study.user_attrs.get("data_hash")
        if expected and getattr(ds, "content_hash", expected) != expected:
            return None, (
                f"reference not computed: {data} changed since the study was created "
                f"(hash {str(ds.content_hash)[:12]} != {str(expected)[:12]})"
            )
        splits = _seed_splits(study, seeds)
        results = reference_results(ds.smiles, ds.targets, task, splits, data_hash=ds.content_hash)
    except Exception as exc:  # missing file, no split, one-class fold...: say so in the report
        return None, f"reference not computed: {type(exc).__name__}: {exc}"

    def get(seed: int, key: str, m: str) -> float:
        value = results[seed].get(key, {}).get(m)
        return NAN if value is None else float(value)

    val = {s: get(s, "val_metrics", metric) for s in results}
    test = {s: get(s, "test_metrics", metric) for s in results}
    extra = {
        m: (summarize(get(s, "val_metrics", m) for s in results), summarize(get(s, "test_metrics", m) for s in results))
        for m in extras
    }
    secs = [results[s].get("seconds", NAN) for s in results]
    cached = sum(bool(results[s].get("cached")) for s in results)
    row = VariantRow(
        variant=REFERENCE_LABEL,
        n_done=len(results),
        n_planned=len(seeds),
        val=summarize(val.values()),
        test=summarize(test.values()),
        val_by_seed=val,
        test_by_seed=test,
        extra=extra,
        seconds_per_trial=sum(secs) / len(secs) if secs else NAN,
        is_reference=True,
    )
    note = (
        f"Morgan count fingerprint (radius 2, 2048 bits) + scikit-learn HistGradientBoosting, "
        f"trained on the study's train rows, random_state = seed; {cached}/{len(results)} seed(s) from cache."
    )
    if row.test.n >= 2 and row.test.sd == 0:
        note += (
            " Its spread over seeds is 0: without early stopping (scikit-learn enables it only above "
            "10,000 training rows) the model does not depend on random_state."
        )
    return row, note


def _build_ablation(study: optuna.Study, spec: dict, metric: str | None, reference: bool) -> AblationReport:
    trials = study.get_trials(deepcopy=False)
    task = spec.get("task") or "classification"
    study_metric = spec.get("metric") or ""
    metric = metric or study_metric
    if not metric:
        raise UserInputError(f"study {study.study_name!r} names no metric; pass --metric")
    direction = spec.get("direction")
    if metric != study_metric or not direction:
        from pepland_hpo.training.metrics import metric_direction

        direction = metric_direction(metric)
    extras = tuple(m for m in CLASSIFICATION_EXTRA if m != metric) if task == "classification" else ()
    recorded: set[str] = set()
    for t in trials:
        if t.state == TrialState.COMPLETE:
            for key in ("val_metrics", "test_metrics"):
                recorded.update((t.user_attrs.get(key) or {}).keys())
    if recorded and metric not in recorded:
        # a typo in --metric would otherwise give a table of dashes
        raise UserInputError(f"metric {metric!r} was not recorded by the trials; recorded: {', '.join(sorted(recorded))}")
    extras = tuple(m for m in extras if not recorded or m in recorded)

    order = [str(v) for v in (spec.get("variants") or [])]
    by_variant: dict[str, list[FrozenTrial]] = defaultdict(list)
    for t in trials:
        v = _attr(t, "variant")
        if v is not None:
            by_variant[str(v)].append(t)
    order += sorted(v for v in by_variant if v not in order)  # trials of variants the spec no longer lists
    planned = _planned_seeds(spec, trials)
    rows = [_variant_row(v, by_variant.get(v, []), planned, metric, study_metric, extras) for v in order]
    if not rows:
        raise UserInputError(f"study {study.study_name!r} has no variants to report")

    baseline = BASELINE_VARIANT if BASELINE_VARIANT in order else order[0]
    base_row = rows[order.index(baseline)]
    ref_row, ref_note = (None, "reference not computed (disabled)")
    if reference:
        ref_row, ref_note = _reference_row(study, spec, task, planned, metric, extras)
    for i, row in enumerate(rows):
        if row is not base_row:
            row.vs_baseline = paired_test(base_row.test_by_seed, row.test_by_seed)
        if i > 0:
            row.vs_previous = paired_test(rows[i - 1].test_by_seed, row.test_by_seed)
        if ref_row is not None:
            row.vs_reference = paired_test(ref_row.test_by_seed, row.test_by_seed)
    if ref_row is not None:
        ref_row.vs_baseline = paired_test(base_row.test_by_seed, ref_row.test_by_seed)
    return AblationReport(
        study_name=study.study_name,
        metric=metric,
        direction=direction,
        task=task,
        baseline=baseline,
        rows=rows,
        reference=ref_row,
        reference_note=ref_note,
        spec=spec,
        split_sizes=_split_sizes(study.user_attrs.get("split")),
    )


def _split_sizes(split: Any) -> dict[str, int]:
    if isinstance(split, dict) and {"train", "valid", "test"} <= set(split):
        return {k: len(split[k]) for k in ("train", "valid", "test")}
    return {}


def _ablation_frame(report: AblationReport):
    import pandas as pd

    def p(r: PairedResult | None, attr: str) -> float:
        return getattr(r, attr) if r is not None else NAN

    records = []
    for row in report.all_rows():
        rec: dict[str, Any] = {
            "variant": row.variant,
            "kind": "reference" if row.is_reference else "variant",
            "n": row.n_done,
            "n_planned": row.n_planned,
        }
        for part in ("val", "test"):
            s: Summary = getattr(row, part)
            rec.update(
                {f"{part}_mean": s.mean, f"{part}_sd": s.sd, f"{part}_ci_low": s.ci_low, f"{part}_ci_high": s.ci_high}
            )
        for m, (sv, st) in row.extra.items():
            rec.update({f"val_{m}_mean": sv.mean, f"val_{m}_sd": sv.sd, f"test_{m}_mean": st.mean, f"test_{m}_sd": st.sd})
        for name, res in (("baseline", row.vs_baseline), ("previous", row.vs_previous), ("reference", row.vs_reference)):
            rec[f"diff_vs_{name}"] = p(res, "mean_diff")
            rec[f"n_pairs_vs_{name}"] = p(res, "n_pairs") if res is not None else 0
            rec[f"p_vs_{name}"] = p(res, "p_ttest")
            rec[f"wilcoxon_p_vs_{name}"] = p(res, "p_wilcoxon")
        rec["param_count"] = row.param_count
        rec["seconds_per_trial"] = row.seconds_per_trial
        rec["failures"] = "; ".join(f"{k}: {v}" for k, v in sorted(row.failures.items()))
        rec["seeds"] = " ".join(str(s) for s in sorted(row.test_by_seed))
        records.append(rec)
    return pd.DataFrame.from_records(records)


# ----------------------------------------------------------------- Markdown


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def _fmt_diff(res: PairedResult | None) -> str:
    if res is None:
        return ""
    if not math.isfinite(res.mean_diff):
        return "n/a"
    text = f"{res.mean_diff:+.3f} (p {_fmt_p(res.p_ttest)}"
    if math.isfinite(res.p_wilcoxon):
        text += f", W {_fmt_p(res.p_wilcoxon)}"
    return text + f", n={res.n_pairs})"


def _fmt_secs(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _better(diff: float, direction: str) -> bool:
    return diff < 0 if direction == "minimize" else diff > 0


def _verdict(report: AblationReport) -> list[str]:
    lines = []
    done = [r for r in report.rows if math.isfinite(r.test.mean)]
    if not done:
        return ["No variant has a finished seed yet."]
    pick = min if report.direction == "minimize" else max
    best = pick(done, key=lambda r: r.test.mean)
    lines.append(f"- Best variant on test {report.metric}: **{best.variant}** ({best.test.fmt()}).")
    ref = report.reference
    if ref is not None and math.isfinite(ref.test.mean):
        beats = [
            r.variant
            for r in done
            if r.vs_reference is not None
            and math.isfinite(r.vs_reference.p_ttest)
            and r.vs_reference.p_ttest < 0.05
            and _better(r.vs_reference.mean_diff, report.direction)
        ]
        above = [r.variant for r in done if _better(r.test.mean - ref.test.mean, report.direction)]
        if beats:
            lines.append(f"- Significantly better than the fingerprint reference (paired t-test, p < 0.05): {', '.join(beats)}.")
        else:
            lines.append(
                "- **No graph variant is significantly better than the fingerprint reference** "
                f"(reference test {report.metric} {ref.test.fmt()})."
            )
        if above and not beats:
            lines.append(f"- Better on the mean but not significantly: {', '.join(above)}.")
        if not above:
            lines.append("- No variant beats the reference even on the mean.")
    lines.append(f"- Baseline for Δ: `{report.baseline}`.")
    return lines


def ablation_markdown(report: AblationReport) -> str:
    spec = report.spec
    extras = list(report.rows[0].extra) if report.rows else []
    split = spec.get("split")
    split_text = split.get("kind", split) if isinstance(split, dict) else split
    max_pairs = max((r.n_done for r in report.all_rows()), default=0)
    test_text = "paired t-test (two-sided, scipy.stats.ttest_rel)"
    if max_pairs >= WILCOXON_MIN_PAIRS:
        test_text += " and Wilcoxon signed-rank (W)"
    else:
        test_text += f"; Wilcoxon signed-rank is added from {WILCOXON_MIN_PAIRS} paired seeds on"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    target = spec.get("target")
    target_text = f"`{target}`" if target else "the file's label column"
    sizes = report.split_sizes
    if sizes:
        split_text = f"{split_text} ({' / '.join(f'{k} {v}' for k, v in sizes.items())} molecules)"
    out = [
        f"# Ablation report: {report.study_name}",
        "",
        f"- data: `{spec.get('data')}`, target {target_text}, task {report.task}, split {split_text}",
        f"- metric: **{report.metric}** ({report.direction}); seeds planned: {report.rows[0].n_planned}",
        f"- generated {now}",
        "",
        f"## Test {report.metric}",
        "",
        f"| variant | n | val {report.metric} | test {report.metric} | Δ vs {report.baseline} | Δ vs previous | Δ vs reference | params | time/trial |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.all_rows():
        name = f"*{r.variant}*" if r.is_reference else r.variant
        params = f"{r.param_count:,}" if r.param_count else "-"
        out.append(
            f"| {name} | {r.n_done}/{r.n_planned} | {r.val.fmt()} | {r.test.fmt()} | {_fmt_diff(r.vs_baseline)} | "
            f"{_fmt_diff(r.vs_previous)} | {_fmt_diff(r.vs_reference)} | {params} | {_fmt_secs(r.seconds_per_trial)} |"
        )
    out += [
        "",
        "Values are mean ± sd [95 % confidence interval, t distribution] over seeds. "
        "Δ is the mean over seeds of (row − other) on the test metric, paired by seed; "
        f"p from the {test_text}; n = paired seeds; fewer than 2 pairs give n/a. "
        "Validation values picked each trial's best epoch and are therefore optimistic.",
        "",
    ]
    if extras:
        out += [
            "## Other metrics",
            "",
            "| variant | " + " | ".join(f"val {m} | test {m}" for m in extras) + " |",
            "| --- | " + " | ".join("--- | ---" for _ in extras) + " |",
        ]
        for r in report.all_rows():
            cells = " | ".join(f"{r.extra[m][0].fmt()} | {r.extra[m][1].fmt()}" for m in extras)
            out.append(f"| {r.variant} | {cells} |")
        out.append("")
    out += ["## Verdict", "", *_verdict(report), ""]
    out += ["## Reference", "", f"*{REFERENCE_LABEL}*: {report.reference_note}", ""]
    failures = [(r.variant, k, v) for r in report.rows for k, v in sorted(r.failures.items())]
    out += ["## Failures", ""]
    if failures:
        out += ["| variant | reason | trials |", "| --- | --- | --- |"]
        out += [f"| {v} | {k.replace('|', '/')} | {n} |" for v, k, n in failures]
    else:
        out.append("None.")
    pending = [(r.variant, r.n_running, r.n_waiting) for r in report.rows if r.n_running or r.n_waiting]
    if pending:
        out += ["", "Still in progress: " + ", ".join(f"{v} ({a} running, {w} waiting)" for v, a, w in pending) + "."]
    out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------- search


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
    parts += ["--variant", str(variant)]
    if seed is not None:
        parts += ["--seed", str(seed)]
    for k, v in settings.items():
        parts += ["--set", f"{k}={v}"]
    return " ".join(shlex.quote(p) for p in parts)


def _build_search(study: optuna.Study, spec: dict, metric: str | None) -> SearchReport:
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


def _search_figures(study: optuna.Study, report: SearchReport, out_dir: Path) -> dict[str, Path]:
    from optuna import visualization as vis

    from pepland_hpo.hpo.plots import write_plotly

    files: dict[str, Path] = {}
    if report.n_complete == 0:
        return files
    files["history"] = write_plotly(vis.plot_optimization_history(study), out_dir / "history.html")
    files["intermediate"] = write_plotly(vis.plot_intermediate_values(study), out_dir / "intermediate.html")
    if report.importances:
        files["importances"] = write_plotly(vis.plot_param_importances(study), out_dir / "importances.html")
    return files


# ----------------------------------------------------------------- entry points


def build_report(
    storage_url: str | None,
    study_name: str,
    out_dir: str | Path | None = None,
    metric: str | None = None,
    *,
    reference: bool = True,
    publish: bool = True,
) -> AblationReport | SearchReport:
    """Build, write and publish the report of one study.

    ``out_dir`` defaults to ``<storage root>/reports/<study>``. ``metric``
    overrides the study's metric (a key of the trials' ``val_metrics`` /
    ``test_metrics``). ``publish=False`` skips the dashboard note and artifacts.
    """
    study = _open_study(storage_url, study_name)
    spec = dict(study.user_attrs.get("spec") or {})
    kind = study.user_attrs.get("kind") or spec.get("kind") or "ablation"
    out = Path(out_dir) if out_dir is not None else paths.storage_root() / "reports" / study_name
    out.mkdir(parents=True, exist_ok=True)

    report: AblationReport | SearchReport
    if kind == "search":
        report = _build_search(study, spec, metric)
        report.files.update(_search_figures(study, report, out))
        report.markdown = search_markdown(report)
    elif kind == "ablation":
        report = _build_ablation(study, spec, metric, reference)
        from pepland_hpo.hpo.plots import ablation_plot

        report.files["plot"] = ablation_plot(report, out / "report.png")
        report.markdown = ablation_markdown(report)
    else:
        raise UserInputError(f"study {study_name!r} has unknown kind {kind!r} (expected ablation or search)")
    report.out_dir = out
    md_path = out / "report.md"
    md_path.write_text(report.markdown)
    csv_path = out / "report.csv"
    report.to_frame().to_csv(csv_path, index=False)
    report.files.update({"markdown": md_path, "csv": csv_path})
    if publish:
        from pepland_hpo.hpo.notes import artifact_store, save_study_note, upload_study_file

        save_study_note(study, report.markdown)
        store = artifact_store()
        for key, path in report.files.items():
            if key not in ("markdown", "csv"):
                report.artifact_ids[key] = upload_study_file(study, path, store)
    return report


def render_report(report: AblationReport | SearchReport, console) -> None:
    """Print the report as a rich table (and where the files went)."""
    from rich.markup import escape
    from rich.table import Table

    if isinstance(report, SearchReport):
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
        table = Table(title=f"ablation {report.study_name}: {report.metric} ({report.direction})")
        for col, just in (
            ("variant", "left"),
            ("n", "right"),
            (f"val {report.metric}", "right"),
            (f"test {report.metric}", "right"),
            (f"Δ vs {report.baseline}", "right"),
            ("Δ vs reference", "right"),
            ("params", "right"),
            ("time/trial", "right"),
            ("failures", "left"),
        ):
            table.add_column(col, justify=just)
        for r in report.all_rows():
            table.add_row(
                f"[italic]{escape(r.variant)}[/]" if r.is_reference else escape(r.variant),
                f"{r.n_done}/{r.n_planned}",
                r.val.fmt(),
                r.test.fmt(),
                _fmt_diff(r.vs_baseline),
                _fmt_diff(r.vs_reference),
                f"{r.param_count:,}" if r.param_count else "-",
                _fmt_secs(r.seconds_per_trial),
                escape(", ".join(f"{k}×{v}" for k, v in r.failures.items())),
            )
        console.print(table)
        for line in _verdict(report):
            console.print(line.replace("**", ""))
        if report.reference is None:
            console.print(f"[yellow]{report.reference_note}[/]")
    if report.out_dir is not None:
        console.print(f"written to {report.out_dir}/ (report.md, report.csv, figures)")


__all__ = [
    "AblationReport",
    "SearchReport",
    "VariantRow",
    "build_report",
    "render_report",
    "retrain_command",
]
