"""The ablation report's numbers: rows, intervals, differences, flags.

Rows, in this order: one per variant (spec order), one per reference
(:data:`pepland_hpo.hpo.analysis._reference.REFERENCES`), and one "variant ⊕ reference"
per variant - the mean of the variant's and the primary reference's predicted
probabilities per molecule (for regression, the mean of the two predictions
after standardising each with its own validation mean and sd, mapped back to
the target's units), fitted and scored on the same split and seed. That last
row answers whether the graph model carries information fingerprints miss.

Every number comes from the stored per-molecule predictions through one shared
bootstrap plan (:mod:`.bootstrap`). A study made before predictions were
stored falls back to seed-level statistics (a t interval over seeds, paired
t-tests) and its report says that those intervals ignore test-set sampling.
All p-values of the table are Holm-adjusted as one family; the verdict reads
the adjusted values only.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.analysis._evidence import Part, decode_predictions
from pepland_hpo.hpo.study import lost_pairs, partition_names, trial_identity
from pepland_hpo.hpo.analysis import _bootstrap as bs
from pepland_hpo.hpo.analysis import _loading as ld
from pepland_hpo.hpo.analysis._tables import ablation_frame
from pepland_hpo.hpo.analysis._weighted_metrics import best_threshold, metric_names
from pepland_hpo.hpo.analysis._stats import holm, paired_test, summarize
from pepland_hpo.training import metric_registry as _registry

NAN = float("nan")
BASELINE_VARIANT = "gcn"
# beside the study's metric in the Markdown table: MCC (threshold-based, robust to
# imbalance) for classification, R² for regression
SECOND_METRIC = {"classification": "mcc", "regression": "r2"}
# an uninformative model's value per metric (None where it depends on the data), from the registry
CHANCE = {name: m.chance for name, m in _registry.REGISTRY.items()}
ONE_CLASS_SHARE = 0.95  # predicting one class for at least this share of test molecules is flagged


@dataclass
class VariantRow:
    variant: str
    kind: str  # "variant", "reference" or "ensemble"
    n_done: int
    n_planned: int
    val_mean: float = NAN  # study metric on validation, mean over runs (chose the epoch: optimistic)
    val_sd: float = NAN
    test: dict[str, bs.Estimate] = field(default_factory=dict)  # metric -> estimate
    cells: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)  # per (split, seed)
    vs_baseline: bs.Difference | None = None
    vs_previous: bs.Difference | None = None
    vs_reference: bs.Difference | None = None
    param_count: int | None = None
    seconds_per_trial: float = NAN
    total_seconds: float = NAN
    epochs: float = NAN  # fine-tuning epochs run, mean over runs
    pretrain_epochs: float = 0.0
    pretrain_reused: int = 0
    thresholds: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    lost_pairs: list[dict[str, Any]] = field(default_factory=list)  # hpo.identity.lost_pairs
    n_running: int = 0
    n_waiting: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def is_reference(self) -> bool:
        return self.kind == "reference"

    def comparisons(self) -> list[bs.Difference]:
        return [d for d in (self.vs_baseline, self.vs_previous, self.vs_reference) if d is not None]


# what a pair split kind means, in the report's title and text
PAIR_SPLIT_TEXT = {"target": "unseen proteins: no test protein has a pair in training",
                   "pair-random": "random pairs: test proteins may have pairs in training"}


def pair_setup_text(spec: dict[str, Any]) -> str:
    """How a target split grouped proteins, and the protein encoder (the same for every variant)."""
    split = spec.get("split") or {}
    identity = split.get("identity") or 0.9  # data.pairs.DEFAULT_IDENTITY when the spec leaves it out
    grouped = "" if split.get("kind") != "target" else (
        ", proteins grouped by exact sequence" if identity == "exact"
        else f", proteins at sequence identity >= {identity:g} kept on one side")
    encoder = "tuned" if "protein_encoder" in (spec.get("space") or {}) else (
        (spec.get("settings") or {}).get("protein_encoder") or "composition")
    return f"{grouped}; protein encoder {encoder}"


@dataclass
class AblationReport:
    study_name: str
    metric: str
    direction: str
    task: str
    baseline: str
    rows: list[VariantRow]
    references: list[VariantRow]
    ensembles: list[VariantRow]
    reference_note: str
    spec: dict[str, Any]
    metrics: tuple[str, ...] = ()
    second_metric: str | None = None
    evidence: str = "molecules"  # "molecules": bootstrap over stored predictions; "seeds": seed-only fallback
    evidence_note: str = ""
    n_splits: int = 1
    n_resamples: int = 0
    split_sizes: dict[str, int] = field(default_factory=dict)
    # given partitions (split kind given): their names and every split's sizes, in split order
    partition_names: list[str] | None = None
    all_split_sizes: list[dict[str, int]] = field(default_factory=list)
    overlap: str = ""
    n_comparisons: int = 0
    compared_reference: str | None = None  # the reference row every "Δ vs reference" is against
    tuning: dict[str, Any] | None = None  # a tuned ablation's stage 1 (hpo.tuning_summary)
    markdown: str = ""
    out_dir: Any = None
    files: dict[str, Any] = field(default_factory=dict)
    artifact_ids: dict[str, str] = field(default_factory=dict)

    kind = "ablation"

    def splits_text(self) -> str:
        """``3 split(s)``, or ``2 partition(s) ('0.3', 'random')`` for given partitions."""
        if self.partition_names:
            return (f"{len(self.partition_names)} partition(s) "
                    f"({', '.join(repr(n) for n in self.partition_names)})")
        kind = (self.spec.get("split") or {}).get("kind")
        if kind in PAIR_SPLIT_TEXT:  # pairs: which of the two kinds is the finding, so say it
            return f"{self.n_splits} {kind} split(s) ({PAIR_SPLIT_TEXT[kind]}{pair_setup_text(self.spec)})"
        return f"{self.n_splits} split(s)"

    def split_name(self, repeat: int) -> str:
        names = self.partition_names
        return f"partition {names[repeat]!r}" if names and 0 <= repeat < len(names) else f"split {repeat}"

    @property
    def reference(self) -> VariantRow | None:
        return self.references[0] if self.references else None

    def all_rows(self) -> list[VariantRow]:
        return self.rows + self.references + self.ensembles

    def to_frame(self):
        return ablation_frame(self)


def better(diff: float, direction: str) -> bool:
    return diff < 0 if direction == "minimize" else diff > 0


# ----------------------------------------------------------------- per-row evidence


class _Evidence:
    """One row's per-cell resampled metrics: ``values[metric][cell] -> [1 + B]``."""

    def __init__(self) -> None:
        self.values: dict[str, dict[tuple[int, int], np.ndarray]] = {}
        self.thresholds: dict[tuple[int, int], float] = {}
        self.positive_share: list[float] = []

    def add(self, task: str, plan: bs.Plan, cell, parts: dict[str, Part]) -> bool:
        test = bs.align(parts["test"], plan.index.get(cell[0], np.empty(0, dtype=np.int64)))
        if test is None:
            return False  # another split's molecules: never pooled
        threshold = 0.5
        if task == "classification" and "valid" in parts:
            valid = parts["valid"]
            threshold = best_threshold(valid.true[:, 0], valid.pred[:, 0])
        self.thresholds[cell] = threshold
        if task == "classification":
            self.positive_share.append(float(np.mean(test.pred[:, 0] >= threshold)))
        for m, arr in bs.cell_metrics(task, test, plan.weights[cell[0]], threshold).items():
            self.values.setdefault(m, {})[cell] = arr
        return True


def _ensemble_parts(task: str, a: dict[str, Part], b: dict[str, Part]) -> dict[str, Part] | None:
    """Per-molecule mean of two models' predictions (standardised for regression)."""
    out = {}
    scale = None
    if task == "regression":
        if "valid" not in a or "valid" not in b:
            return None
        stats = [(p["valid"].pred.mean(axis=0), p["valid"].pred.std(axis=0) + 1e-12) for p in (a, b)]
        scale = stats
    for name in ("valid", "test"):
        if name not in a or name not in b:
            continue
        pa, pb = a[name], b[name]
        order_a, order_b = np.argsort(pa.index, kind="stable"), np.argsort(pb.index, kind="stable")
        if not np.array_equal(pa.index[order_a], pb.index[order_b]):
            return None
        x, y = pa.pred[order_a], pb.pred[order_b]
        if scale is None:
            pred = (x + y) / 2
        else:
            (ma, sa), (mb, sb) = scale
            z = ((x - ma) / sa + (y - mb) / sb) / 2
            pred = (ma + mb) / 2 + z * (sa + sb) / 2
        out[name] = Part(index=pa.index[order_a], true=pa.true[order_a], pred=pred)
    return out if "test" in out else None


# ----------------------------------------------------------------- rows from trials


def _trial_row(variant: str, trials: list[FrozenTrial], n_planned: int, metric: str, study_metric: str,
               spec_epochs: int | None) -> tuple[VariantRow, dict]:
    done = ld.completed_cells(trials)
    vals = [ld.metric_value(t, "val_metrics", metric, study_metric) for t in done.values()]
    val = summarize(vals)
    failures: Counter[str] = Counter()
    for t in trials:
        if t.state == TrialState.FAIL:
            failures[ld.short_reason(t.user_attrs.get("failure_reason") or "unknown")] += 1
        elif t.state == TrialState.PRUNED:
            failures["pruned"] += 1
    counts = [int(c) for t in done.values() if isinstance(c := t.user_attrs.get("param_count"), (int, float))]
    durations = [d for t in done.values() if math.isfinite(d := ld.duration_s(t))]
    epochs = [int(t.user_attrs.get("epochs_run") or 0) for t in done.values()]
    pretrain = [len(t.user_attrs.get("pretrain_loss") or []) for t in done.values()]
    row = VariantRow(
        variant=variant, kind="variant", n_done=len(done), n_planned=n_planned,
        val_mean=val.mean, val_sd=val.sd,
        # identical across runs of one variant; the max guards against a mixed-size rerun
        param_count=max(counts) if counts else None,
        seconds_per_trial=sum(durations) / len(durations) if durations else NAN,
        total_seconds=sum(durations) if durations else NAN,
        epochs=float(np.mean(epochs)) if epochs else NAN,
        pretrain_epochs=float(np.mean(pretrain)) if pretrain else 0.0,
        pretrain_reused=sum(bool(t.user_attrs.get("pretrain_reused")) for t in done.values()),
        failures=dict(failures),
        lost_pairs=lost_pairs(trials),
        n_running=sum(t.state == TrialState.RUNNING for t in trials),
        n_waiting=sum(t.state == TrialState.WAITING for t in trials),
    )
    # still improving: the best epoch was the last of the full budget
    if spec_epochs:
        last = sum(1 for t in done.values()
                   if t.user_attrs.get("best_epoch") is not None
                   and int(t.user_attrs["best_epoch"]) >= int(t.user_attrs.get("epochs_run") or 0) >= spec_epochs)
        if done and last * 2 > len(done):
            row.flags.append(f"still improving: best epoch was the last in {last}/{len(done)} runs "
                             "(more epochs would change this row)")
    return row, done


# ----------------------------------------------------------------- the report


def _spec_epochs(spec: dict) -> int | None:
    for key in ("settings", "fixed"):
        settings = spec.get(key)
        if isinstance(settings, dict) and settings.get("epochs") is not None:
            try:
                return int(settings["epochs"])
            except (TypeError, ValueError):
                return None
    return int(spec["epochs"]) if spec.get("epochs") is not None else None


def _references(task: str, splits, cells, ds) -> tuple[list[tuple[str, dict]], str]:
    """``[(label, {cell: parts})]`` for every registered reference, and a note."""
    from pepland_hpo.hpo.analysis._reference import PRIMARY, REFERENCES, reference_results

    out = []
    notes = []
    split_of = {c: splits[c[0]] for c in cells if c[0] < len(splits)}
    # pairs: every reference also reads the protein's composition, so Δ vs reference is fair
    protein_features = getattr(ds, "protein_features", None)
    with_protein = " + protein composition" if protein_features is not None else ""
    for name, ref in sorted(REFERENCES.items(), key=lambda kv: kv[0] != PRIMARY):
        try:
            results = reference_results(ds.smiles, ds.targets, task, split_of, data_hash=ds.content_hash,
                                        reference=name, extra_features=protein_features)
        except Exception as exc:  # one-class fold, a feature module missing...: say so
            notes.append(f"{ref.label} not computed: {type(exc).__name__}: {exc}")
            continue
        parts = {c: p for c, e in results.items() if (p := decode_predictions(e.get("predictions")))}
        cached = sum(bool(e.get("cached")) for e in results.values())
        secs = [e.get("seconds", NAN) for e in results.values()]
        label = ref.label.replace(" + HGB)", f"{with_protein} + HGB)") if with_protein else ref.label
        out.append((label, {"parts": parts, "results": results, "seconds": secs}))
        notes.append(f"*{label}*: {ref.description}"
                     f"{', beside the protein residue + dipeptide composition (422 features)' if with_protein else ''}"
                     " + scikit-learn HistGradientBoosting, trained on each "
                     f"split's train rows with random_state = seed; {cached}/{len(results)} run(s) from cache.")
    return out, " ".join(notes)


def build_ablation(study: optuna.Study, spec: dict, metric: str | None, reference: bool,
                   n_resamples: int = bs.N_RESAMPLES, *, partition: int | None = None,
                   vs_reference: str = "primary", data: tuple[Any, str] | None = None) -> AblationReport:
    """The ablation report of ``study``; ``partition``: of that split alone (its trials, its Holm
    family), as :mod:`pepland_hpo.hpo.analysis.partitions` builds one table per partition.
    ``vs_reference``: ``primary`` (Δ vs the ECFP4 reference) or ``best-valid`` (vs the reference
    with the best validation metric). ``data``: ``(dataset, why)`` already loaded, to load it once."""
    from pepland_hpo.hpo.study import final_trials, tuning_summary

    all_trials = study.get_trials(deepcopy=False)
    trials = final_trials(all_trials)  # a tuned ablation's search trials never enter the comparison
    if partition is not None:
        trials = [t for t in trials if (i := trial_identity(t)) is not None and i.split_repeat == partition]
    task = spec.get("task") or "classification"
    study_metric = spec.get("metric") or ""
    metric = metric or study_metric
    if not metric:
        raise UserInputError(f"study {study.study_name!r} names no metric; pass --metric")
    direction = spec.get("direction")
    if metric != study_metric or not direction:
        from pepland_hpo.training.metrics import metric_direction

        direction = metric_direction(metric)
    recorded = ld.recorded_metrics(trials)
    if recorded and metric not in recorded:
        # a typo in --metric would otherwise give a table of dashes
        raise UserInputError(f"metric {metric!r} was not recorded by the trials; recorded: {', '.join(sorted(recorded))}")
    splits = ld.splits_of(study)
    seeds = ld.planned_seeds(spec, trials)
    repeats = range(len(splits)) if partition is None else [partition]
    planned_cells = [(r, s) for r in repeats for s in seeds]
    by_variant = ld.trials_by_variant(trials, spec.get("variants") or [])
    if not by_variant:
        raise UserInputError(f"study {study.study_name!r} has no variants to report")
    spec_epochs = _spec_epochs(spec)
    built = [_trial_row(v, ts, len(planned_cells), metric, study_metric, spec_epochs) for v, ts in by_variant.items()]
    rows = [r for r, _ in built]
    done_by_variant = {r.variant: d for r, d in built}
    parts_by_variant = {v: ld.cell_parts(d) for v, d in done_by_variant.items()}
    n_done = sum(len(d) for d in done_by_variant.values())
    n_with = sum(len(p) for p in parts_by_variant.values())
    baseline = BASELINE_VARIANT if BASELINE_VARIANT in by_variant else next(iter(by_variant))

    metrics = tuple(metric_names(task))
    if metric not in metrics:  # a metric the bootstrap does not compute: seed-level statistics only
        metrics = (metric, *metrics)
    report = AblationReport(
        study_name=study.study_name, metric=metric, direction=direction, task=task, baseline=baseline,
        rows=rows, references=[], ensembles=[], reference_note="reference not computed (disabled)", spec=spec,
        metrics=metrics, second_metric=SECOND_METRIC.get(task) if SECOND_METRIC.get(task) != metric else None,
        n_splits=len(repeats), split_sizes={k: len(splits[repeats[0]][k]) for k in ("train", "valid", "test")},
        partition_names=partition_names(study.user_attrs),
        all_split_sizes=[{k: len(s[k]) for k in ("train", "valid", "test")} for s in splits],
        tuning=tuning_summary(all_trials, spec),
    )
    ds, why = (None, "not needed")
    if data is not None:
        ds, why = data
    elif reference or n_with:
        ds, why = ld.load_study_data(study, spec, task)
    report.overlap = _overlap_text(ds, splits, why)
    if n_done and n_with == n_done and metric in metric_names(task):
        _bootstrap_rows(report, study, splits, planned_cells, parts_by_variant, ds, why, reference, n_resamples,
                        vs_reference)
    else:
        _seed_only_rows(report, done_by_variant, study_metric, n_done, n_with)
    _holm(report)
    return report


def _overlap_text(ds, splits, why: str) -> str:
    if ds is None:
        return f"not checked ({why})"
    from pepland_hpo.data.splits import find_overlap

    smiles = list(ds.smiles)
    worst = 0
    for s in splits:
        rep = find_overlap({k: [smiles[i] for i in s[k]] for k in ("train", "valid", "test")})
        worst = max(worst, max((p.shared for p in rep.pairs), default=0))
    proteins = _protein_overlap_text(ds, splits)
    if worst == 0:
        return (f"0 molecules shared between train, valid and test (canonical SMILES) in {len(splits)} split(s)"
                + proteins)
    return (f"**{worst} molecules shared** between parts of a split (canonical SMILES): results are optimistic"
            + proteins)


def _protein_overlap_text(ds, splits) -> str:
    """Pairs: the most test proteins of one split that also have a pair in training (0 for a target split)."""
    if not hasattr(ds, "proteins"):
        return ""
    proteins = list(ds.proteins)
    shared = max((len({proteins[i] for i in s["test"]} & {proteins[i] for i in s["train"]}) for s in splits),
                 default=0)
    return f"; test proteins with a pair in training: {shared} (most in one split)"


def _bootstrap_rows(report, study, splits, planned_cells, parts_by_variant, ds, why, reference, n_resamples,
                    vs_reference="primary"):
    from threadpoolctl import threadpool_limits

    task, metric = report.task, report.metric
    labels = {}
    test_index = {r: np.sort(np.asarray(s["test"], dtype=np.int64)) for r, s in enumerate(splits)}
    if task == "classification":
        for r, idx in test_index.items():
            if ds is not None:
                labels[r] = np.asarray(ds.targets, dtype=np.float64)[idx, 0]
                continue
            for parts in parts_by_variant.values():
                aligned = [a for c, p in parts.items() if c[0] == r and (a := bs.align(p["test"], idx)) is not None]
                if aligned:
                    labels[r] = aligned[0].true[:, 0]
                    break
    plan = bs.make_plan(test_index, labels if task == "classification" else None, n_resamples)
    report.n_resamples = n_resamples
    report.evidence = "molecules"
    # BLAS threads spin badly beside busy workers; the work here is many small products
    with threadpool_limits(limits=1):
        evidence: dict[str, _Evidence] = {}
        for row in report.rows:
            ev = _Evidence()
            for cell, parts in sorted(parts_by_variant[row.variant].items()):
                ev.add(task, plan, cell, parts)
            evidence[row.variant] = ev
        ref_parts: list[tuple[str, dict]] = []
        if reference and ds is not None:
            ref_parts, report.reference_note = _references(task, splits, planned_cells, ds)
        elif reference:
            report.reference_note = f"reference not computed: {why}"
        for label, info in ref_parts:
            ev = _Evidence()
            for cell, parts in sorted(info["parts"].items()):
                ev.add(task, plan, cell, parts)
            evidence[label] = ev
            vals = [e.get("val_metrics", {}).get(metric, NAN) for e in info["results"].values()]
            val = summarize(vals)
            secs = [x for x in info["seconds"] if math.isfinite(x)]
            report.references.append(VariantRow(
                variant=label, kind="reference", n_done=len(info["parts"]), n_planned=len(planned_cells),
                val_mean=val.mean, val_sd=val.sd, seconds_per_trial=sum(secs) / len(secs) if secs else NAN))
        if ref_parts:
            primary_label, primary = ref_parts[0]
            for row in report.rows:
                ens = _Evidence()
                for cell, parts in sorted(parts_by_variant[row.variant].items()):
                    other = primary["parts"].get(cell)
                    joined = _ensemble_parts(task, parts, other) if other else None
                    if joined:
                        ens.add(task, plan, cell, joined)
                label = f"{row.variant} ⊕ reference"
                evidence[label] = ens
                report.ensembles.append(VariantRow(variant=label, kind="ensemble",
                                                   n_done=len(ens.thresholds), n_planned=len(planned_cells)))
        for row in report.all_rows():
            ev = evidence[row.variant]
            row.thresholds = [ev.thresholds[c] for c in sorted(ev.thresholds)]
            row.test = {m: bs.estimate(plan, ev.values.get(m, {})) for m in report.metrics}
            row.cells = {c: {m: float(ev.values[m][c][0]) for m in report.metrics if c in ev.values.get(m, {})}
                         for c in sorted(ev.thresholds)}
            _flags(report, row, ev)
        base = evidence[report.baseline]
        compared = _compared_reference(report, vs_reference)
        report.compared_reference = compared.variant if compared is not None else None
        ref_ev = evidence[compared.variant] if compared is not None else None
        for i, row in enumerate(report.rows):
            ev = evidence[row.variant].values.get(metric, {})
            if row.variant != report.baseline:
                row.vs_baseline = bs.difference(plan, ev, base.values.get(metric, {}))
            if i > 0:
                row.vs_previous = bs.difference(plan, ev, evidence[report.rows[i - 1].variant].values.get(metric, {}))
            if ref_ev is not None:
                row.vs_reference = bs.difference(plan, ev, ref_ev.values.get(metric, {}))
        for ref in report.references:
            ref.vs_baseline = bs.difference(plan, evidence[ref.variant].values.get(metric, {}), base.values.get(metric, {}))
        for ens in report.ensembles:
            if ref_ev is not None:
                ens.vs_reference = bs.difference(plan, evidence[ens.variant].values.get(metric, {}),
                                                 ref_ev.values.get(metric, {}))
    kind = "class-stratified " if task == "classification" else ""
    n_repeats = len({c[0] for c in planned_cells})
    level = (f"{n_repeats} splits and the test molecules within each (hierarchical)" if n_repeats > 1
             else "the test molecules of the study's one split")
    report.evidence_note = (
        f"Intervals: paired {kind}bootstrap over {level}, {n_resamples} resamples shared by every row, "
        "mean over seeds within a split; 95 % percentile intervals."
    )


def _compared_reference(report: AblationReport, vs_reference: str) -> VariantRow | None:
    """The reference every variant's Δ is taken against: the primary one, or (``best-valid``) the one
    with the best validation metric - chosen on validation, so the test column stays a fair test."""
    if not report.references or vs_reference == "primary":
        return report.reference
    scored = [r for r in report.references if math.isfinite(r.val_mean)]
    if not scored:
        return report.reference
    pick = min if report.direction == "minimize" else max
    return pick(scored, key=lambda r: r.val_mean)


def _flags(report: AblationReport, row: VariantRow, ev: _Evidence) -> None:
    if report.task == "classification" and ev.positive_share:
        share = float(np.mean(ev.positive_share))
        if share >= ONE_CLASS_SHARE or share <= 1 - ONE_CLASS_SHARE:
            row.flags.append(f"predicts one class for {max(share, 1 - share):.0%} of test molecules")
    for m in ("auroc", "spearman", "r2"):
        est = row.test.get(m)
        chance = CHANCE.get(m)
        if est is not None and chance is not None and math.isfinite(est.low) and est.low <= chance <= est.high:
            row.flags.append(f"at chance: the {m} interval contains {chance:g}")
            break


def _seed_only_rows(report: AblationReport, done_by_variant, study_metric: str, n_done: int, n_with: int) -> None:
    """A study made before per-molecule predictions were stored: seed-level t statistics."""
    report.evidence = "seeds"
    missing = n_done - n_with
    report.evidence_note = (
        f"**Intervals are seed-only**: {missing} of {n_done} finished trials have no stored per-molecule "
        "predictions (made before they were stored), so intervals are t intervals over seeds on a fixed "
        "split and tests are paired t-tests over seeds; they ignore that the test set is a sample and "
        "are too narrow. Re-run the trials for intervals over molecules."
    )
    report.reference_note = "reference not computed: it needs per-molecule predictions of the variants to pair with"
    metrics = [report.metric] + [m for m in report.metrics if m != report.metric]
    series: dict[str, dict[str, dict]] = {}
    for row in report.rows:
        done = done_by_variant[row.variant]
        series[row.variant] = {m: {c: ld.metric_value(t, "test_metrics", m, study_metric) for c, t in done.items()}
                               for m in metrics}
        for m in metrics:
            s = summarize(series[row.variant][m].values())
            row.test[m] = bs.Estimate(s.mean, s.ci_low, s.ci_high, s.n, len({c[0] for c in done}))
        row.cells = {c: {m: series[row.variant][m][c] for m in metrics} for c in sorted(done)}

    def diff(a: dict, b: dict) -> bs.Difference:
        r = paired_test(b, a)  # other - reference = a - b
        return bs.Difference(r.mean_diff, r.ci_low, r.ci_high, r.p_ttest, r.n_pairs, 1, "paired t-test over seeds")

    base = series[report.baseline][report.metric]
    for i, row in enumerate(report.rows):
        mine = series[row.variant][report.metric]
        if row.variant != report.baseline:
            row.vs_baseline = diff(mine, base)
        if i > 0:
            row.vs_previous = diff(mine, series[report.rows[i - 1].variant][report.metric])


def _holm(report: AblationReport) -> None:
    comps = [(row, name) for row in report.all_rows() for name in ("vs_baseline", "vs_previous", "vs_reference")
             if getattr(row, name) is not None]
    adjusted = holm(getattr(row, name).p for row, name in comps)
    for (row, name), p_adj in zip(comps, adjusted):
        d = getattr(row, name)
        setattr(row, name, bs.Difference(d.diff, d.low, d.high, d.p, d.n_cells, d.n_splits, d.method, p_adj))
    report.n_comparisons = sum(math.isfinite(getattr(row, name).p) for row, name in comps)


__all__ = ["AblationReport", "BASELINE_VARIANT", "VariantRow", "better", "build_ablation"]
