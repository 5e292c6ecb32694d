"""`pepland-hpo design` and `report` on a tiny generation study of real c-CPP peptides: the happy path
with an ablation's classifier as the guide, and the bad requests (one line, exit 2, nothing written)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pepland_hpo.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def cpp_every_7th(pepland_dir, tmp_path):
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()[::7][:200]
    path = tmp_path / "cpp200.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def studies(sqlite_url, cpp_every_7th):
    """A 1-trial generation study and a 1-trial gcn ablation (the guide), both finished, on the same peptides."""
    from pepland_hpo.hpo.runner import run_worker

    made = invoke("create", "generation", "--data", cpp_every_7th, "--name", "gen", "--trials", 1, "--epochs", 2,
                  "--set", "embed_dim=8", "--set", "num_layers=1", "--space", "{hidden_dim: [16]}",
                  "--storage", sqlite_url)
    assert made.exit_code == 0, made.output
    assert "generation, 1 trial(s) queued" in made.output
    ablation = invoke("create", "ablation", "--data", cpp_every_7th, "--name", "abl", "--variants", "gcn",
                      "--seeds", "0", "--split-repeats", 1, "--epochs", 1, "--set", "hidden_dim=8", "--set", "num_layers=1",
                      "--storage", sqlite_url)
    assert ablation.exit_code == 0, ablation.output
    for name in ("gen", "abl"):
        assert run_worker(sqlite_url, name, "cpu", wait=False).completed == 1
    return sqlite_url


def test_design_with_an_ablation_guide_writes_designs_and_an_evaluation(studies, tmp_path):
    out = tmp_path / "designs"
    result = invoke("design", "--study", "gen", "--from-study", "abl", "--n", 24, "--generations", 3,
                    "--min-length", 6, "--max-length", 20, "--max-identity", 0.8, "--out", out, "--storage", studies)
    assert result.exit_code == 0, result.output
    assert "24 designs (guide: gcn (abl))" in result.output
    rows = list(csv.DictReader((out / "designs.csv").open()))
    assert len(rows) == 24 and len({r["sequence"] for r in rows}) == 24
    feasible = [r for r in rows if r["feasible"] == "True"]
    assert feasible and all(6 <= int(r["length"]) <= 20 and float(r["max_identity"]) <= 0.8 + 1e-6
                            for r in feasible)
    scores = [float(r["guide_score"]) for r in feasible]
    assert scores == sorted(scores, reverse=True)
    report = (out / "report.md").read_text()
    for row in ("real positives", "random (positives' length + composition)", "single-point mutants",
                "generator alone (no guide)", "designs (guide: gcn (abl))"):
        assert row in report
    assert "oracle_positive_rate" in report and "guide_positive_rate" in report
    assert (out / "identity.png").stat().st_size > 0

    # report on the generation study dispatches to the generation evaluation
    rep = invoke("report", "gen", "--samples", 40, "--out", tmp_path / "rep", "--storage", studies)
    assert rep.exit_code == 0, rep.output
    text = (tmp_path / "rep" / "report.md").read_text()
    assert text.startswith("# Generation report: gen") and "generator (trial 0" in text
    assert "oracle_positive_rate" in text


BAD_REQUESTS = [
    (["--study", "nope"], "no study named 'nope'"),
    (["--study", "abl"], "is a ablation study; design and the generation report need a generation study"),
    (["--study", "gen", "--from-study", "gen"], "the guide must be the classifier of an ablation"),
    (["--study", "gen", "--from-study", "reg"], "trains regression models, not a classifier"),
    (["--study", "gen", "--n", 0], "--n must be at least 1"),
    (["--study", "gen", "--min-length", 12, "--max-length", 8], "no peptide can meet both"),
    (["--study", "gen", "--max-identity", 0], "--max-identity must be in (0, 1]"),
    (["--study", "gen", "--residues", "XZ"], "--residues: unknown token(s) X, Z"),
]


def test_bad_design_requests_are_one_line_exit_2(studies, cpp_every_7th, tmp_path):
    regression = invoke("create", "ablation", "--data", cpp_every_7th, "--name", "reg", "--task", "regression",
                        "--variants", "gcn", "--epochs", 1, "--storage", studies)
    assert regression.exit_code == 0, regression.output
    out = tmp_path / "never"
    for args, message in BAD_REQUESTS:
        n = [] if "--n" in args else ["--n", 5]
        result = invoke("design", *args, *n, "--generations", 1, "--out", out, "--storage", studies)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert not out.exists()


def test_bad_create_generation_requests_are_one_line_exit_2(sqlite_url, cpp_every_7th):
    import optuna

    cases = [
        (["--space", "{hiden_dim: [16]}"], "space.hiden_dim: unknown generator setting; did you mean hidden_dim"),
        (["--space", "{hidden_dim: [16"], "--space: not valid YAML"),
        (["--set", "temperature=0"], "settings.temperature"),
        (["--trials", 0], "--trials must be positive"),
    ]
    for args, message in cases:
        result = invoke("create", "generation", "--data", cpp_every_7th, *args, "--storage", sqlite_url)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
        assert len(result.output.strip().splitlines()) == 1
    missing = invoke("create", "generation", "--data", cpp_every_7th.with_name("none.txt"), "--storage", sqlite_url)
    assert missing.exit_code == 2 and "none.txt" in missing.output
    # nothing half-written: no study (and no database, since create validates before it opens the storage)
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    assert not db.exists() or optuna.get_all_study_summaries(sqlite_url) == []
