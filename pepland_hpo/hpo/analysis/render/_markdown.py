"""The ablation report in Markdown: what a reader (or the dashboard's note) sees."""

from __future__ import annotations

import datetime as _dt
import math

from pepland_hpo.hpo.analysis import AblationReport, VariantRow, better
from pepland_hpo.hpo.analysis import Difference

ALPHA = 0.05


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def fmt_diff(d: Difference | None, adjusted_only: bool = False) -> str:
    if d is None:
        return ""
    if not math.isfinite(d.diff):
        return "n/a"
    ci = f" [{d.low:+.3f}, {d.high:+.3f}]" if math.isfinite(d.low) else ""
    if adjusted_only:
        return f"{d.diff:+.3f} (p_adj {fmt_p(d.p_adjusted)})"
    return f"{d.diff:+.3f}{ci} p {fmt_p(d.p)}, adj {fmt_p(d.p_adjusted)}"


def fmt_secs(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _name(r: VariantRow) -> str:
    return f"*{r.variant}*" if r.kind != "variant" else r.variant


def _significant(d: Difference | None, direction: str, sign: int = 1) -> bool:
    """Adjusted p < 0.05 and the difference points the way ``sign`` says (1: better)."""
    if d is None or not math.isfinite(d.p_adjusted) or d.p_adjusted >= ALPHA:
        return False
    return better(d.diff, direction) if sign > 0 else better(-d.diff, direction)


def verdict(report: AblationReport) -> list[str]:
    lines = []
    m, direction = report.metric, report.direction
    done = [r for r in report.rows if r.test.get(m) and math.isfinite(r.test[m].value)]
    if not done:
        return ["No variant has a finished run yet."]
    pick = min if direction == "minimize" else max
    best = pick(done, key=lambda r: r.test[m].value)
    lines.append(f"- Highest test {m} among graph variants: **{best.variant}** ({best.test[m].fmt()}); "
                 "every statement below uses Holm-adjusted p < 0.05.")
    up = [r.variant for r in done if _significant(r.vs_baseline, direction)]
    down = [r.variant for r in done if _significant(r.vs_baseline, direction, -1)]
    lines.append(f"- Significantly better than `{report.baseline}`: {', '.join(up) or 'none'}"
                 + (f"; significantly worse: {', '.join(down)}" if down else "") + ".")
    ref = report.reference
    if ref is not None and ref.test.get(m) and math.isfinite(ref.test[m].value):
        beats = [r.variant for r in done if _significant(r.vs_reference, direction)]
        loses = [r.variant for r in done if _significant(r.vs_reference, direction, -1)]
        if beats:
            lines.append(f"- Significantly better than the fingerprint reference: {', '.join(beats)}.")
        else:
            lines.append(f"- **No graph variant is significantly better than the fingerprint reference** "
                         f"(reference test {m} {ref.test[m].fmt()}).")
        if loses:
            lines.append(f"- Significantly worse than the reference: {', '.join(loses)}.")
        adds = [e.variant.replace(" ⊕ reference", "") for e in report.ensembles
                if _significant(e.vs_reference, direction)]
        if report.ensembles:
            if adds:
                lines.append(f"- **Complementarity:** averaging with the reference significantly improves on the "
                             f"reference alone for {', '.join(adds)}: these graph models carry information the "
                             "fingerprints miss.")
            else:
                lines.append("- Complementarity: no variant ⊕ reference row is significantly better than the "
                             "reference alone - no evidence that the graph models add information the "
                             "fingerprints miss.")
    flagged = [f"{r.variant} ({'; '.join(r.flags)})" for r in report.all_rows() if r.flags]
    if flagged:
        lines.append("- Flags: " + " · ".join(flagged) + ".")
    return lines


def _budget_lines(report: AblationReport) -> list[str]:
    out = ["| variant | runs | fine-tune epochs (mean) | pretraining epochs | wall time / run | total wall time |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in report.rows:
        pre = f"{r.pretrain_epochs:g}" if r.pretrain_epochs else "0"
        if r.pretrain_epochs and r.pretrain_reused:
            pre += f" (reused in {r.pretrain_reused} run(s): its time is counted once)"
        ep = f"{r.epochs:.1f}" if math.isfinite(r.epochs) else "-"
        out.append(f"| {r.variant} | {r.n_done} | {ep} | {pre} | {fmt_secs(r.seconds_per_trial)} | "
                   f"{fmt_secs(r.total_seconds)} |")
    for r in report.references:
        out.append(f"| {_name(r)} | {r.n_done} | - | 0 | {fmt_secs(r.seconds_per_trial)} | "
                   f"{fmt_secs(r.seconds_per_trial * r.n_done)} |")
    out += ["", "Wall time runs from claim to result and includes pretraining when a run did it; "
            "a run that reused a stored pretrained encoder did not pay for it again."]
    return out


def ablation_markdown(report: AblationReport, extra: list[str] | tuple[str, ...] = ()) -> str:
    """``extra``: Markdown lines placed before the verdict (per-partition tables, published numbers)."""
    spec = report.spec
    m, m2 = report.metric, report.second_metric
    split = spec.get("split")
    split_text = split.get("kind", split) if isinstance(split, dict) else split
    sizes = report.split_sizes
    if report.partition_names:  # given partitions: each one by name, with its sizes
        source = split.get("column") or split.get("file") if isinstance(split, dict) else None
        split_text = f"{split_text}{f' (`{source}`)' if source else ''}: " + "; ".join(
            f"{report.split_name(r)} {' / '.join(f'{k} {v}' for k, v in sz.items())}"
            for r, sz in enumerate(report.all_split_sizes)) + " molecules"
    elif sizes:
        split_text = f"{split_text} ({' / '.join(f'{k} {v}' for k, v in sizes.items())} molecules)"
    seeds = spec.get("seeds") or []
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    target = spec.get("target")
    target_text = f"`{target}`" if target else "the file's label column"
    out = [
        f"# Ablation report: {report.study_name}",
        "",
        f"- data: `{spec.get('data')}`, target {target_text}, task {report.task}, split {split_text}",
        f"- runs per variant: **{report.splits_text()} × {len(seeds)} seed(s)**; every variant runs every "
        "(split, seed) pair, so rows are paired by split and seed",
        f"- metric: **{m}** ({report.direction}); model selection (best epoch, decision threshold) on validation",
        *([f"- **each variant tuned with {report.tuning['tune']} trials** first; its best configuration "
           "(see Tuning) ran the runs below"] if report.tuning else []),
        f"- split overlap: {report.overlap}",
        f"- {report.evidence_note}",
    ]
    if report.task == "classification" and report.evidence == "molecules":
        out.append("- MCC and F1 use a decision threshold chosen per run on its validation predictions "
                   "(the one with the highest validation MCC), not a fixed 0.5")
    out += [f"- generated {now}", "", f"## Test {m}", ""]
    head = ["variant", "runs", f"val {m}", f"test {m} [95 % CI]"]
    if m2:
        head.append(f"test {m2} [95 % CI]")
    head += [f"Δ vs {report.baseline}", "Δ vs previous", "Δ vs reference", "params", "flags"]
    out += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for r in report.all_rows():
        val = "-" if not math.isfinite(r.val_mean) else (
            f"{r.val_mean:.3f}" + (f" ± {r.val_sd:.3f}" if math.isfinite(r.val_sd) else ""))
        cells = [_name(r), f"{r.n_done}/{r.n_planned}", val, r.test[m].fmt() if m in r.test else "-"]
        if m2:
            cells.append(r.test[m2].fmt() if m2 in r.test else "-")
        cells += [fmt_diff(r.vs_baseline), fmt_diff(r.vs_previous), fmt_diff(r.vs_reference),
                  f"{r.param_count:,}" if r.param_count else "-", "; ".join(r.flags) or ""]
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    method = ("paired bootstrap (the same resamples for both rows)" if report.evidence == "molecules"
              else "paired t-test over seeds")
    out += [
        "",
        f"Test values: estimate [95 % interval]. Validation: mean ± sd over runs (it chose the best epoch, so "
        f"it is optimistic). Δ = row − other on test {m}, over the (split, seed) runs both rows have, with its "
        f"95 % interval; p from the {method}, two-sided; **adj: Holm-adjusted over all "
        f"{report.n_comparisons} comparisons of this table** (family-wise error 5 %). "
        "*variant ⊕ reference*: the mean of the two models' predicted probabilities per molecule "
        "(regression: of their standardised predictions).",
        "",
    ]
    if report.evidence == "molecules":
        out += ["## All metrics (test, 95 % interval)", "",
                "| variant | " + " | ".join(report.metrics) + " |",
                "| --- | " + " | ".join("---" for _ in report.metrics) + " |"]
        for r in report.all_rows():
            out.append(f"| {_name(r)} | " + " | ".join(r.test[x].fmt() if x in r.test else "-"
                                                       for x in report.metrics) + " |")
        out.append("")
    cells = sorted({c for r in report.all_rows() for c in r.cells})
    if cells:
        out += [f"## Test {m} per run (split, seed)", "",
                "| variant | " + " | ".join(f"{report.split_name(c[0])}, seed {c[1]}" for c in cells) + " |",
                "| --- | " + " | ".join("---" for _ in cells) + " |"]
        for r in report.all_rows():
            vals = [r.cells.get(c, {}).get(m) for c in cells]
            out.append(f"| {_name(r)} | " + " | ".join("-" if v is None or not math.isfinite(v) else f"{v:.3f}"
                                                       for v in vals) + " |")
        out.append("")
    out += list(extra)
    out += ["## Verdict", "", *verdict(report), ""]
    from pepland_hpo.hpo.study import tuning_markdown

    out += tuning_markdown(report.tuning, m)
    out += ["## Compute budget", "", *_budget_lines(report), ""]
    out += ["## Reference", "", report.reference_note, ""]
    failures = [(r.variant, k, v) for r in report.rows for k, v in sorted(r.failures.items())]
    out += ["## Failures", ""]
    if failures:
        out += ["| variant | reason | trials |", "| --- | --- | --- |"]
        out += [f"| {v} | {k.replace('|', '/')} | {n} |" for v, k, n in failures]
    else:
        out.append("None.")
    lost = [(r.variant, p) for r in report.rows for p in r.lost_pairs]
    if lost:
        out += ["", "**Pairs that can no longer complete** (every attempt failed; the comparison lacks them until "
                "`pepland-hpo create ... --retry-failed` queues them again): "
                + "; ".join(f"{v} seed {p['seed']} {report.split_name(p['split'])} "
                            f"(trials {', '.join(map(str, p['trials']))}: "
                            f"{p['reason'].replace('|', '/')})" for v, p in lost) + "."]
    pending = [(r.variant, r.n_running, r.n_waiting) for r in report.rows if r.n_running or r.n_waiting]
    if pending:
        out += ["", "Still in progress: " + ", ".join(f"{v} ({a} running, {w} waiting)" for v, a, w in pending) + "."]
    out += ["", "The dashboard's parameter-importance panel has nothing to rank for an ablation: variant, seed and "
            "split are trial attributes, not parameters. Compare variants with this table.", ""]
    return "\n".join(out)


__all__ = ["ablation_markdown", "fmt_diff", "fmt_p", "fmt_secs", "verdict"]
