"""Cached datasets: hit without featurising, atomic writes, views, DataLoader."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from pepland_hpo.atomic import atomic_torch_save
from pepland_hpo.data.dataset import load_dataset
from pepland_hpo.data.featurize import featurize_smiles
from pepland_hpo.errors import UserInputError


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache of its own, so that hits and misses are this test's."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PEPLAND_HPO_CACHE", str(path))
    return path


def test_cache_hit_does_not_featurise(cpp_slice, private_cache, count_featurize):
    ds = load_dataset(cpp_slice)
    assert count_featurize["molecules"] == 40 and len(ds) == 40
    files = list(private_cache.iterdir())
    assert len(files) == 1 and ds.cache_path == files[0]
    again = load_dataset(cpp_slice)
    assert count_featurize["molecules"] == 40  # nothing featurised the second time
    assert again.smiles == ds.smiles and again.task == "classification"
    assert torch.equal(again[7].x, ds[7].x) and torch.equal(again[7].pair_path, ds[7].pair_path)
    # another task, or the column named as typed: the same molecules, the same cache entry
    reg = load_dataset(cpp_slice, task="regression", smiles_col="SEQUENCE")
    assert reg.task == "regression" and reg.task_reason == "regression, as asked"
    assert count_featurize["molecules"] == 40 and len(list(private_cache.iterdir())) == 1


def test_cached_graph_equals_fresh_featurisation(pretrained_slice, private_cache):
    ds = load_dataset(pretrained_slice)
    g, ref = ds[3], featurize_smiles(pretrained_slice.read_text().splitlines()[4])
    for key in ("x", "edge_index", "edge_attr", "degree", "spd", "pair_index", "pair_dist", "pair_path"):
        assert torch.equal(g[key], ref[key]), key
        assert g[key].dtype == ref[key].dtype, key
    assert g.y.shape == (1, 0)


def test_changed_file_is_a_new_entry(tmp_path, private_cache, count_featurize):
    f = tmp_path / "pep.csv"
    f.write_text("sequence,label\nGAG,0\nKLK,1\n")
    assert load_dataset(f, target="label").targets.tolist() == [[0.0], [1.0]]
    f.write_text("sequence,label\nGAG,0\nKLKW,1\n")
    ds = load_dataset(f, target="label")
    assert count_featurize["molecules"] == 4 and ds.target_names == ["label"]


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "c" / "x.pt"
    atomic_torch_save({"a": torch.zeros(3), "meta": "{}"}, target)
    before = target.read_bytes()

    def boom(obj, fh):
        fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        atomic_torch_save({"a": torch.ones(3), "meta": "{}"}, target)
    assert target.read_bytes() == before  # readers still see the old, whole file
    assert [p.name for p in target.parent.iterdir()] == ["x.pt"]  # temp file removed


def test_corrupt_cache_is_rebuilt(cpp_slice, private_cache, count_featurize):
    ds = load_dataset(cpp_slice)
    (ds.cache_path / "shard-00000.pt").write_bytes(b"garbage")
    assert len(load_dataset(cpp_slice)) == 40 and count_featurize["molecules"] == 80


def test_subset_view_and_dataloader(cpp_slice, private_cache):
    ds = load_dataset(cpp_slice)
    sub = ds.subset([5, 1, 30])
    assert len(sub) == 3 and sub.smiles == [ds.smiles[i] for i in (5, 1, 30)]
    assert np.array_equal(sub.targets, ds.targets[[5, 1, 30]])
    assert torch.equal(sub[2].x, ds[30].x) and torch.equal(sub[-1].spd, ds[30].spd)
    assert sub.subset([0]).smiles == [ds.smiles[5]]
    batch = next(iter(DataLoader(sub, batch_size=3)))
    assert batch.num_graphs == 3 and batch.y.shape == (3, 1)
    assert batch.x.shape[0] == sum(int(n) for n in sub.num_atoms)


def test_missing_file_is_user_error(tmp_path):
    with pytest.raises(UserInputError, match="nope.csv"):
        load_dataset(tmp_path / "nope.csv")
