"""One cache entry per file's molecules: `data featurize`, `create` and the worker share it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.data.dataset import load_dataset

SPEC = str(Path(__file__).resolve().parents[2] / "studies" / "ablation.yaml")


def test_featurize_then_create_then_worker_load_hit_one_cache_file(tmp_path, cpp_slice, count_featurize,
                                                                     monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PEPLAND_HPO_CACHE", str(cache))
    runner = CliRunner()
    res = runner.invoke(app, ["data", "featurize", str(cpp_slice)])
    assert res.exit_code == 0, res.output
    assert count_featurize["molecules"] == 40 and len(list(cache.iterdir())) == 1
    res = runner.invoke(app, ["create", "ablation", "--data", str(cpp_slice), "--target", "label",
                              "--smiles-col", "Sequence", "--variants", "gcn", "--seeds", "0", "--spec", SPEC,
                              "--storage", f"sqlite:///{tmp_path / 's.db'}"])
    assert res.exit_code == 0, res.output
    # what a worker loads from the stored spec: target and task now explicit
    ds = load_dataset(str(cpp_slice), target="label", task="classification", smiles_col="Sequence")
    assert len(ds) == 40 and ds.task == "classification"
    assert count_featurize["molecules"] == 40  # featurised once, by `data featurize`
    assert [p.name for p in cache.iterdir()] == [ds.cache_path.name]


def test_labels_are_not_in_the_molecule_cache(tmp_path, count_featurize, monkeypatch, pepland_dir):
    monkeypatch.setenv("PEPLAND_HPO_CACHE", str(tmp_path / "cache"))
    seqs = [line.split(",")[0] for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[:12]]
    path = tmp_path / "two.csv"
    path.write_text("sequence,a,b\n" + "".join(f"{s},{i % 2},{'' if i == 3 else i / 4}\n" for i, s in enumerate(seqs)))
    a = load_dataset(path, target="a")
    b = load_dataset(path, target="b")
    assert count_featurize["molecules"] == 12
    assert a.task == "classification" and len(a) == 12
    assert b.task == "regression" and len(b) == 11 and 5 not in b.rows  # line 5: the empty label
    assert [r.row for r in b.invalid] == [5]
    assert b.targets[:3, 0].tolist() == [0.0, 0.25, 0.5] and b[3].y.item() == 1.0  # row 6 -> value 4/4
