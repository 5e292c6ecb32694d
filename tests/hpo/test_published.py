"""Published numbers: read, checked against the metric registry, and always marked as not re-run."""

from __future__ import annotations

import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.analysis import published_markdown, published_table, read_published
from pepland_hpo.hpo.analysis._bootstrap import Estimate
from pepland_hpo.hpo.analysis._published import LABEL


def _csv(tmp_path, body: str):
    path = tmp_path / "published.csv"
    path.write_text("method,partition,metric,value,source\n" + body)
    return path


def test_rows_per_partition_are_marked_as_published(tmp_path):
    rows = read_published(_csv(tmp_path, "ECFP+LightGBM,0.3,mcc@0.5,0.876,IBM leaderboard\n"
                                         "ECFP+LightGBM,0.3,auroc,0.95,IBM leaderboard\n"
                                         "ESM2,random,mcc@0.5,0.8,paper\n"))
    assert [(r.method, r.partition, r.metric, r.value) for r in rows][0] == ("ECFP+LightGBM", "0.3", "mcc@0.5", 0.876)
    md = published_markdown(rows, "0.3", ("auroc", "mcc@0.5", "mcc"))
    assert md == [f"| ECFP+LightGBM ({LABEL}; IBM leaderboard) | 0.950 | 0.876 | - |"]
    assert published_markdown(rows, "0.5", ("auroc",)) == []


@pytest.mark.parametrize("body, message", [
    ("a,0.3,aucroc,0.9,x\n", "line 2: metric: unknown metric 'aucroc'"),
    ("a,0.3,auroc,high,x\n", "line 2: value 'high' is not a number"),
    ("a,0.3,auroc,1.7,x\n", "line 2: value: auroc 1.7 is outside its range"),
    (",0.3,auroc,0.7,x\n", "line 2: method and partition must not be empty"),
])
def test_bad_rows_name_the_line(tmp_path, body, message):
    with pytest.raises(UserInputError, match=message):
        read_published(_csv(tmp_path, body))


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("method,value\na,0.5\n")
    with pytest.raises(UserInputError, match="missing column.*partition, metric, source"):
        read_published(path)


def test_yaml_aliases_and_the_overlapping_column(tmp_path):
    path = tmp_path / "pub.yaml"
    path.write_text("rows:\n"
                    "  - {benchmark: IBM, model: ECFP+LightGBM, partition: 0.30, metric: mcc@0.5, value: 0.876,\n"
                    "     source: leaderboard, leaky: true}\n"
                    "  - {model: ESM2, partition: random, metric: AUROC, value: 0.9, source: paper}\n")
    rows = read_published(path)
    assert [(r.benchmark, r.method, r.partition, r.metric, r.overlapping) for r in rows] == [
        ("IBM", "ECFP+LightGBM", "0.3", "mcc@0.5", True), ("", "ESM2", "random", "auroc", False)]
    # a leaky row is never an anchor, even in the per-partition rows
    assert "not an anchor" in published_markdown(rows, "0.3", ("mcc@0.5",))[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {model: a, partition: p, metric: auroc, value: 0.5, source: s, overlapping: maybe}\n")
    with pytest.raises(UserInputError, match="bad.yaml: row 1: overlapping 'maybe': expected yes or no"):
        read_published(bad)
    bad.write_text("just: a mapping\n")
    with pytest.raises(UserInputError, match="bad.yaml: expected a list of rows"):
        read_published(bad)


def test_one_table_puts_ours_beside_published_and_matches_partitions_by_value(tmp_path):
    rows = read_published(_csv(tmp_path, "ECFP+LightGBM,0.30,auroc,0.95,board\n"
                                         "ESM2,0.9,auroc,0.81,paper\n"))
    ours = {"0.3": [("gcn", {"auroc": Estimate(0.7, 0.6, 0.8, 1, 1)})],
            "0.5": [("gcn", {"auroc": Estimate(0.75, 0.65, 0.85, 1, 1)})]}
    lines = published_table(rows, ours, "p.csv")
    assert lines[2] == "| method | computed | 0.3 · auroc | 0.5 · auroc | 0.9 · auroc |"
    assert lines[4] == "| gcn | here (test, 95 % interval) | 0.700 [0.600, 0.800] | 0.750 [0.650, 0.850] | - |"
    assert lines[5] == f"| ECFP+LightGBM | {LABEL}; board | 0.950 | - | - |"
    assert lines[6] == f"| ESM2 | {LABEL}; paper | - | - | 0.810 |"
