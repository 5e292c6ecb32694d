"""Published numbers set beside a report's own (``report --published published.csv``).

A CSV (or YAML: a list of mappings, or ``{rows: [...]}``) with the columns ``method`` (or
``model``), ``partition``, ``metric``, ``value``, ``source`` and, optionally, ``benchmark`` and
``overlapping`` (or ``leaky``: ``true``/``yes``/``1`` when the user knows the partition's parts share
molecules, as IBM's PeptideGeneralizationBenchmarks partitions do when read literally). One row per
number a paper or leaderboard reports. They were not computed here, so they are kept apart from the
report's statistics - no interval, no test, never in the Holm family - and every one is labelled
"as published, not re-run" with its source; a row on an overlapping partition is also marked
**not an anchor**: its score was partly on training molecules, so beating or missing it says
nothing. A missing column, an unknown metric, a value that is not a number or outside the
metric's range, an empty method or partition, or an ``overlapping`` that is not yes/no is exit 2
naming the file, the line (YAML: the row) and the field.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from pepland_hpo.errors import UserInputError
from pepland_hpo.training import metric_registry as registry

COLUMNS = ("method", "partition", "metric", "value", "source")
ALIASES = {"model": "method", "leaky": "overlapping", "overlap": "overlapping"}
LABEL = "as published, not re-run"
NOT_ANCHOR = "not an anchor: its partition overlaps (train and test share molecules)"
_YES = {"true", "yes", "y", "1", "overlapping", "leaky"}
_NO = {"false", "no", "n", "0", ""}


@dataclass(frozen=True)
class PublishedRow:
    method: str
    partition: str
    metric: str
    value: float
    source: str
    line: int
    benchmark: str = ""
    overlapping: bool = False

    def note(self) -> str:
        parts = [LABEL] + ([self.source] if self.source else [])
        return "; ".join(parts)


def _records(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]], str]:
    """``(header, [(line or row number, record)], what a position is called)``."""
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserInputError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
        if isinstance(data, Mapping) and "rows" in data:
            data = data["rows"]
        if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
            raise UserInputError(f"{path}: expected a list of rows (mappings with {', '.join(COLUMNS)})")
        recs = [(i, {ALIASES.get(str(k).strip().lower(), str(k).strip().lower()): v for k, v in r.items()})
                for i, r in enumerate(data, start=1)]
        header = sorted({k for _, r in recs for k in r})
        return header, recs, "row"
    reader = csv.DictReader(text.splitlines())
    header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in (reader.fieldnames or [])]
    recs = []
    for line, raw in enumerate(reader, start=2):
        recs.append((line, {ALIASES.get(k.strip().lower(), k.strip().lower()): v for k, v in raw.items() if k}))
    return header, recs, "line"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def read_published(path: str | Path) -> list[PublishedRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read published numbers ({exc})") from None
    header, recs, where = _records(path, text)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)} "
                             "(optional: benchmark, overlapping)")
    rows = []
    for line, raw in recs:
        rec = {k: _text(v) for k, v in raw.items()}
        at = f"{path}: {where} {line}"
        metric = rec.get("metric", "").lower()
        if metric not in registry.REGISTRY:
            raise UserInputError(f"{at}: metric: unknown metric {rec.get('metric')!r}; known: "
                                 f"{', '.join(registry.REGISTRY)}")
        try:
            value = float(rec.get("value", ""))
        except ValueError:
            raise UserInputError(f"{at}: value {rec.get('value')!r} is not a number") from None
        lo, hi = registry.bounds(metric)
        if not math.isfinite(value) or not lo <= value <= hi:
            raise UserInputError(f"{at}: value: {metric} {value} is outside its range [{lo}, {hi}]")
        if not rec.get("method") or not rec.get("partition"):
            raise UserInputError(f"{at}: method and partition must not be empty")
        flag = rec.get("overlapping", "").lower()
        if flag not in _YES | _NO:
            raise UserInputError(f"{at}: overlapping {rec.get('overlapping')!r}: expected yes or no "
                                 "(true/false, 1/0)")
        rows.append(PublishedRow(rec["method"], rec["partition"], metric, value, rec.get("source", ""), line,
                                 rec.get("benchmark", ""), flag in _YES))
    return rows


def partition_key(name: str) -> str:
    """``0.30`` and ``0.3`` are one partition; other names compare without case."""
    try:
        return f"{float(name):g}"
    except ValueError:
        return name.strip().lower()


def published_for(rows: list[PublishedRow], partition: str | None, metric: str) -> list[PublishedRow]:
    """The rows of one partition (``None``: every partition) and metric, in file order."""
    return [r for r in rows if r.metric == metric
            and (partition is None or partition_key(r.partition) == partition_key(partition))]


def published_markdown(rows: list[PublishedRow], partition: str | None, metrics: tuple[str, ...]) -> list[str]:
    """Table rows (``| method | value per metric | ... |``) for one partition, each marked as published."""
    methods = list(dict.fromkeys(r.method for r in rows
                                 if partition is None or partition_key(r.partition) == partition_key(partition)))
    out = []
    for method in methods:
        cells, sources, leaky = [], set(), False
        for m in metrics:
            hit = [r for r in published_for(rows, partition, m) if r.method == method]
            cells.append(f"{hit[0].value:.3f}" if hit else "-")
            sources.update(r.source for r in hit if r.source)
            leaky |= any(r.overlapping for r in hit)
        note = f"{LABEL}" + (f"; {', '.join(sorted(sources))}" if sources else "") + (
            f"; **{NOT_ANCHOR}**" if leaky else "")
        out.append(f"| {method} ({note}) | " + " | ".join(cells) + " |")
    return out


# ---------------------------------------------------------------- beside ours, in one table

Ours = Mapping[str, Sequence[tuple[str, Mapping[str, Any]]]]  # partition -> [(row label, {metric: Estimate})]


def ours_by_partition(pooled, axis=None) -> dict[str, list[tuple[str, dict]]]:
    """Our variants' and references' test estimates per partition name: each partition's own report
    when the study has a partition axis, else the study's one split under its partition name (or
    ``this study``)."""
    def rows(report):
        return [(r.variant, dict(r.test)) for r in report.rows + report.references]

    if axis is not None:
        return {name: rows(rep) for name, rep in zip(axis.names, axis.reports)}
    names = pooled.partition_names
    return {names[0] if names and len(names) == 1 else "this study": rows(pooled)}


def published_table(rows: list[PublishedRow], ours: Ours, path_name: str) -> list[str]:
    """One table: our rows and the published ones, a column per (partition, metric) the published
    file reports; published partitions that are not ours get their own columns."""
    metrics = list(dict.fromkeys(r.metric for r in rows))
    our_keys = {partition_key(p): p for p in ours}
    partitions = list(ours) + [p for p in dict.fromkeys(r.partition for r in rows)
                               if partition_key(p) not in our_keys]
    shown = [p for p in partitions if any(partition_key(r.partition) == partition_key(p) for r in rows)
             or p in ours]
    cols = [(p, m) for p in shown for m in metrics]
    head = ["method", "computed"] + [f"{p} · {m}" for p, m in cols]
    out = [f"## Beside published numbers (`{path_name}`)", "",
           "| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    labels = list(dict.fromkeys(label for part in ours.values() for label, _ in part))
    for label in labels:
        cells = []
        for p, m in cols:
            est = dict(ours.get(p, ())).get(label, {}).get(m)
            cells.append(est.fmt() if est is not None else "-")
        out.append(f"| {label} | here (test, 95 % interval) | " + " | ".join(cells) + " |")
    methods = list(dict.fromkeys((r.benchmark, r.method) for r in rows))
    for bench, method in methods:
        mine = [r for r in rows if (r.benchmark, r.method) == (bench, method)]
        cells = []
        for p, m in cols:
            hit = [r for r in mine if r.metric == m and partition_key(r.partition) == partition_key(p)]
            mark = "†" if hit and hit[0].overlapping else ""
            cells.append(f"{hit[0].value:.3f}{mark}" if hit else "-")
        sources = sorted({r.source for r in mine if r.source})
        leaky = sorted({r.partition for r in mine if r.overlapping}, key=partition_key)
        note = LABEL + (f"; {', '.join(sources)}" if sources else "") + (
            f"; **not an anchor** on {', '.join(leaky)}†" if leaky else "")
        name = f"{method} ({bench})" if bench else method
        out.append(f"| {name.replace('|', '/')} | {note.replace('|', '/')} | " + " | ".join(cells) + " |")
    out += ["", "Published rows were not re-run here: no interval, no test, never in a Holm family; "
            f"their partitions are the publication's, matched to ours by name. † {NOT_ANCHOR}, so the "
            "number is not evidence for or against any row above.", ""]
    return out


__all__ = ["COLUMNS", "LABEL", "NOT_ANCHOR", "PublishedRow", "ours_by_partition", "partition_key",
           "published_for", "published_markdown", "published_table", "read_published"]
