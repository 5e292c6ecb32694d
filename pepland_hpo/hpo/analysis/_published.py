"""Published numbers set beside a report's own (``report --published published.csv``).

A CSV with the columns ``method, partition, metric, value, source``: one row
per number a paper or leaderboard reports. They were not computed here, so
they are kept apart from the report's rows - no interval, no test, never in
the Holm family - and every one is labelled "as published, not re-run" with
its source. A metric the registry does not know, a value that is not a number
or one outside the metric's range is exit 2 naming the file and the line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from pepland_hpo.errors import UserInputError
from pepland_hpo.training import metric_registry as registry

COLUMNS = ("method", "partition", "metric", "value", "source")
LABEL = "as published, not re-run"


@dataclass(frozen=True)
class PublishedRow:
    method: str
    partition: str
    metric: str
    value: float
    source: str
    line: int


def read_published(path: str | Path) -> list[PublishedRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read published numbers ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    rows = []
    for line, raw in enumerate(reader, start=2):
        rec = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        metric = rec["metric"].lower()
        if metric not in registry.REGISTRY:
            raise UserInputError(f"{path}: line {line}: unknown metric {rec['metric']!r}; known: "
                                 f"{', '.join(registry.REGISTRY)}")
        try:
            value = float(rec["value"])
        except ValueError:
            raise UserInputError(f"{path}: line {line}: value {rec['value']!r} is not a number") from None
        lo, hi = registry.bounds(metric)
        if not math.isfinite(value) or not lo <= value <= hi:
            raise UserInputError(f"{path}: line {line}: {metric} {value} is outside its range [{lo}, {hi}]")
        if not rec["method"] or not rec["partition"]:
            raise UserInputError(f"{path}: line {line}: method and partition must not be empty")
        rows.append(PublishedRow(rec["method"], rec["partition"], metric, value, rec["source"], line))
    return rows


def published_for(rows: list[PublishedRow], partition: str | None, metric: str) -> list[PublishedRow]:
    """The rows of one partition (``None``: every partition) and metric, in file order."""
    return [r for r in rows if r.metric == metric and (partition is None or r.partition == partition)]


def published_markdown(rows: list[PublishedRow], partition: str | None, metrics: tuple[str, ...]) -> list[str]:
    """Table rows (``| method | value per metric | ... |``) for one partition, each marked as published."""
    methods = list(dict.fromkeys(r.method for r in rows if partition is None or r.partition == partition))
    out = []
    for method in methods:
        cells, sources = [], set()
        for m in metrics:
            hit = [r for r in published_for(rows, partition, m) if r.method == method]
            cells.append(f"{hit[0].value:.3f}" if hit else "-")
            sources.update(r.source for r in hit if r.source)
        note = f"{LABEL}" + (f"; {', '.join(sorted(sources))}" if sources else "")
        out.append(f"| {method} ({note}) | " + " | ".join(cells) + " |")
    return out


__all__ = ["COLUMNS", "LABEL", "PublishedRow", "published_for", "published_markdown", "read_published"]
