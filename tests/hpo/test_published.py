"""Published numbers: read, checked against the metric registry, and always marked as not re-run."""

from __future__ import annotations

import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.analysis._published import LABEL, published_markdown, read_published


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
    ("a,0.3,aucroc,0.9,x\n", "line 2: unknown metric 'aucroc'"),
    ("a,0.3,auroc,high,x\n", "line 2: value 'high' is not a number"),
    ("a,0.3,auroc,1.7,x\n", "line 2: auroc 1.7 is outside its range"),
])
def test_bad_rows_name_the_line(tmp_path, body, message):
    with pytest.raises(UserInputError, match=message):
        read_published(_csv(tmp_path, body))


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("method,value\na,0.5\n")
    with pytest.raises(UserInputError, match="missing column.*partition, metric, source"):
        read_published(path)
