"""Data files as a new user brings them, through the command line: what create says, what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pepland_hpo.cli import app

runner = CliRunner()
SPEC = str(Path(__file__).resolve().parents[2] / "studies" / "ablation.yaml")


@pytest.fixture
def cpp_rows(pepland_dir) -> list[tuple[str, str]]:
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()[:40]
    return [tuple(line.split(",")) for line in lines]


def create(tmp_path: Path, data: Path, *extra: str):
    db = tmp_path / "study.db"
    result = runner.invoke(app, ["create", "ablation", "--data", str(data), "--variants", "gcn", "--seeds", "0",
                                 "--spec", SPEC, "--storage", f"sqlite:///{db}", *extra])
    return result, db


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


def test_create_prints_what_it_read_and_inferred(tmp_path, cpp_rows):
    path = tmp_path / "pm.csv"
    rows = [f"{s};{('-1', '1')[int(y)]}" for s, y in cpp_rows]
    rows[4] = f"{cpp_rows[4][0]};"  # no label
    rows[9] = "KWKLF KKIGAVLKVL;1"
    path.write_text("sequence;label\n" + "\n".join(rows) + "\n")
    result, db = create(tmp_path, path)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "delimiter: semicolon" in out and "line 1 is a header" in out
    assert "task: classification (target 'label'; labels are -1/+1" in out
    assert "label mapping: -1 -> 0, 1 -> 1" in out
    assert "class balance: 0: " in out
    assert "split: random (seed 0): train 30, valid 4, test 4" in out
    assert "skipped: 2 row(s) (" in out and "1 space inside the molecule" in out and "1 missing or bad label" in out
    assert "line 6: " in out and "missing target 'label'" in out and "line 11: 'KWKLF KKIGAVLKVL'" in out
    assert db.is_file()


@pytest.mark.parametrize(
    "content, extra, needle",
    [
        (b"\x00\x01binary\x00", [], "not a text file"),
        ("sequence,label\nGAGÉ,1\n".encode("latin-1"), [], "not UTF-8"),
        (None, [], "3 integer values"),  # three classes, no --task
        (None, ["--seeds", "-1"], "seeds must be whole numbers from 0"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_database(tmp_path, cpp_rows, content, extra, needle):
    path = tmp_path / "input.csv"
    if content is None:
        labels = [str(i % 3) for i in range(len(cpp_rows))] if not extra else [y for _, y in cpp_rows]
        path.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for (s, _), y in zip(cpp_rows, labels)))
    else:
        path.write_bytes(content)
    result, db = create(tmp_path, path, *extra)
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and needle in lines[0], result.output
    assert "input.csv" in lines[0] or "seeds" in lines[0]
    assert not db.exists() and "Traceback" not in result.output


def test_three_classes_with_task_regression_is_accepted(tmp_path, cpp_rows):
    path = tmp_path / "three.csv"
    path.write_text("sequence,label\n" + "".join(f"{s},{i % 3}\n" for i, (s, _) in enumerate(cpp_rows)))
    result, _ = create(tmp_path, path, "--task", "regression")
    assert result.exit_code == 0, result.output
    assert "task: regression (target 'label'; regression, as asked)" in result.output


def test_inspect_lists_a_20000_residue_sequence_as_skipped(tmp_path, cpp_rows):
    path = tmp_path / "long.txt"
    path.write_text("".join(f"{s},{y}\n" for s, y in cpp_rows[:10]) + "A" * 20_000 + ",1\n")
    result = runner.invoke(app, ["data", "inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "skipped row 11" in result.output and "20,000 residues" in result.output
