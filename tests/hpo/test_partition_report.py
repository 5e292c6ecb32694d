"""The report of a study with a partition axis: one table per partition, the metric across partitions,
published numbers beside ours - on a tiny real study (real c-CPP peptides, real workers, SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.hpo.analysis import build_report
from pepland_hpo.hpo.runner import run_worker
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.study import build_ablation_spec

ABLATION = Path(__file__).resolve().parents[2] / "studies" / "ablation.yaml"
runner = CliRunner()


def _partitions(path: Path, labels: list[int]) -> Path:
    """Two partitions of 60 rows whose test parts are disjoint and hold both classes."""
    rows = list(range(len(labels)))
    parts = {"a": {"test": rows[:15], "valid": rows[15:27], "train": rows[27:]},
             "b": {"test": rows[45:], "valid": rows[33:45], "train": rows[:33]}}
    for p in parts.values():
        assert {labels[i] for i in p["test"]} == {0, 1}
    path.write_text(json.dumps(parts))
    return path


def _study(url, data, parts, name, seeds, hpo, partitions=None):
    given = {"file": str(parts), **({"partitions": partitions} if partitions else {})}
    spec = build_ablation_spec(ABLATION, data=str(data), variants=["gcn"], seeds=seeds, settings=dict(hpo.TINY),
                               name=name, given=given, validate=False)
    create_study_from_spec(url, spec)
    summary = run_worker(url, name, gpu="cpu")
    assert summary.failed == 0
    return summary.completed


def test_a_report_speaks_per_partition(sqlite_url, cpp, hpo, tmp_path):
    data = cpp(60)
    labels = [int(line.rsplit(",", 1)[1]) for line in Path(data).read_text().splitlines()]
    parts = _partitions(tmp_path / "parts.json", labels)
    assert _study(sqlite_url, data, parts, "two", [0, 1], hpo) == 4

    report = build_report(sqlite_url, "two", out_dir=tmp_path / "two", publish=False)
    md = report.markdown
    # the pooled table is the across-partition mean: 2 partitions x 2 seeds
    assert "| gcn | 4/4 |" in md
    assert "## Test auroc per partition" in md and "## Per partition" in md
    for name in ("a", "b"):
        section = md.split(f"### Partition {name!r}")[1].split("###")[0]
        # that partition's trials only: 2 seeds; the references ran on that partition too
        assert "| gcn | 2/2 |" in section
        assert "| *reference (ECFP4 counts + HGB)* | 2/2 |" in section
        assert "Best reference by validation auroc" in section
    assert md.index("## Per partition") < md.index("## Verdict")
    frame = pd.read_csv(tmp_path / "two" / "report_partitions.csv")
    gcn = frame[frame.variant == "gcn"].set_index("partition")
    assert gcn.loc["a", "n"] == gcn.loc["b", "n"] == 2 and gcn.loc["a", "n_planned"] == 2
    # a partition's value is the mean over its seeds of the pooled report's runs on it
    pooled = next(r for r in report.rows if r.variant == "gcn")
    for r, name in enumerate(("a", "b")):
        runs = [v["auroc"] for (split, _), v in pooled.cells.items() if split == r]
        assert gcn.loc[name, "test_mean"] == pytest.approx(sum(runs) / len(runs), abs=1e-9)
    assert (tmp_path / "two" / "report_partitions.png").stat().st_size > 1000

    # published numbers through the CLI, one marked overlapping
    pub = tmp_path / "pub.csv"
    pub.write_text("benchmark,model,partition,metric,value,source,overlapping\n"
                   "toy,ECFP+LightGBM,a,auroc,0.91,leaderboard,yes\n"
                   "toy,ECFP+LightGBM,b,auroc,0.70,leaderboard,no\n"
                   "toy,ESM2,c,mcc,0.40,paper,no\n")
    out = tmp_path / "pubreport"
    res = runner.invoke(app, ["report", "two", "--out", str(out), "--published", str(pub),
                              "--storage", sqlite_url])
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text()
    table = md.split("## Beside published numbers (`pub.csv`)")[1].split("\n\n")[1]
    assert "| method | computed | a · auroc | a · mcc | b · auroc | b · mcc | c · auroc | c · mcc |" in table
    assert "| gcn | here (test, 95 % interval) |" in table
    leaky = next(line for line in table.splitlines() if line.startswith("| ECFP+LightGBM (toy)"))
    assert "as published, not re-run" in leaky and "**not an anchor** on a†" in leaky
    assert "| 0.910† | - | 0.700 | - | - | - |" in leaky

    # bad published input: exit 2 naming the file and field, nothing written
    bad = tmp_path / "bad.csv"
    bad.write_text("model,partition,metric,value,source\nx,a,auroc,1.3,p\n")
    res = runner.invoke(app, ["report", "two", "--out", str(tmp_path / "none"), "--published", str(bad),
                              "--storage", sqlite_url])
    assert res.exit_code == 2 and "bad.csv: line 2: value: auroc 1.3 is outside its range" in res.output
    assert not (tmp_path / "none").exists()


def test_a_single_partition_report_has_no_partition_sections(sqlite_url, cpp, hpo, tmp_path):
    data = cpp(60)
    labels = [int(line.rsplit(",", 1)[1]) for line in Path(data).read_text().splitlines()]
    parts = _partitions(tmp_path / "parts.json", labels)
    assert _study(sqlite_url, data, parts, "one", [0], hpo, partitions=["b"]) == 1
    report = build_report(sqlite_url, "one", out_dir=tmp_path / "one", publish=False)
    assert "Per partition" not in report.markdown and "per partition" not in report.markdown
    assert "| gcn | 1/1 |" in report.markdown
    assert not (tmp_path / "one" / "report_partitions.csv").exists()
    assert sorted(report.files) == ["csv", "markdown", "plot"]
