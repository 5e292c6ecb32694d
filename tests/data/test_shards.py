"""The sharded cache: same shards for any --jobs, no half-written shard, distances recomputed exactly."""

from __future__ import annotations

import json

import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Batch
from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.data import build, cache
from pepland_hpo.data.dataset import load_dataset
from pepland_hpo.data.featurize import featurize_mol
from pepland_hpo.models import build_model, variant_model_config


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("PEPLAND_HPO_CACHE", str(path))
    return path


@pytest.fixture
def cpp48(pepland_dir, tmp_path):
    """48 c-CPP peptides (both classes) plus one unparsable row, as a sequence,label CSV."""
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()
    rows = lines[:24] + lines[-24:]
    rows.insert(30, "KXZ,1")  # invalid inside the second chunk
    path = tmp_path / "cpp48.csv"
    path.write_text("sequence,label\n" + "\n".join(rows) + "\n")
    return path


def _entry_contents(folder):
    manifest = json.loads((folder / cache.MANIFEST).read_text())
    shards = {}
    for item in manifest["shards"]:
        shards[item["file"]] = torch.load(folder / item["file"], weights_only=True)
    return manifest, shards


def test_jobs_1_and_2_write_the_same_shards(cpp48, tmp_path, monkeypatch):
    monkeypatch.setattr(build, "CHUNK_RECORDS", 16)  # 49 rows: 4 chunks, so the pool really runs
    entries = []
    for jobs in (1, 2):
        monkeypatch.setenv("PEPLAND_HPO_CACHE", str(tmp_path / f"cache{jobs}"))
        ds = load_dataset(cpp48, target="label", jobs=jobs)
        assert len(ds) == 48 and [r.row for r in ds.invalid] == [32]
        entries.append(_entry_contents(ds.cache_path))
    (m1, s1), (m2, s2) = entries
    assert m1 == m2 and len(m1["shards"]) == 4 and sorted(s1) == sorted(s2)
    for name in s1:
        assert s1[name].keys() == s2[name].keys()
        for key, value in s1[name].items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, s2[name][key]) and value.dtype == s2[name][key].dtype, (name, key)
            else:
                assert value == s2[name][key], (name, key)


def test_crash_leaves_no_partial_shard_and_rebuild_reuses_whole_ones(cpp48, private_cache, monkeypatch,
                                                                      count_featurize):
    monkeypatch.setattr(build, "CHUNK_RECORDS", 16)
    real_save = torch.save
    saves = {"n": 0}

    def crash_on_third(obj, fh):
        saves["n"] += 1
        if saves["n"] == 3:
            fh.write(b"half a shard")
            raise OSError("killed")
        real_save(obj, fh)

    monkeypatch.setattr(torch, "save", crash_on_third)
    with pytest.raises(OSError, match="killed"):
        load_dataset(cpp48, target="label", jobs=1)
    monkeypatch.setattr(torch, "save", real_save)
    (folder,) = private_cache.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["shard-00000.pt", "shard-00001.pt"]  # no temp, no manifest
    assert cache.load(folder) is None  # incomplete: not an entry yet
    done = count_featurize["molecules"]
    ds = load_dataset(cpp48, target="label", jobs=1)
    assert count_featurize["molecules"] - done == 48 - 31  # the two whole shards (31 valid rows) were reused
    fresh_cache = private_cache.parent / "fresh"
    monkeypatch.setenv("PEPLAND_HPO_CACHE", str(fresh_cache))
    fresh = load_dataset(cpp48, target="label", jobs=1)
    assert ds.smiles == fresh.smiles and ds.rows == fresh.rows
    for i in (0, 20, 47):
        assert torch.equal(ds[i].pair_path, fresh[i].pair_path) and torch.equal(ds[i].x, fresh[i].x)


def test_cached_graphs_give_the_dense_models_outputs(cpp48, private_cache):
    """No distances are cached: recomputed from the bonds they match the featuriser's dense
    matrix, and the real encoder (spatial + edge encodings, softmax and FAVOR+) gives the same outputs."""
    ds = load_dataset(cpp48, target="label")
    picks = [0, 5, 30, 47]
    cached = [ds[i] for i in picks]
    lines = cpp48.read_text().splitlines()
    # the same molecules in the same atom order: built from their sequences, as the cache did
    dense = [featurize_mol(Chem.MolFromSequence(lines[ds.rows[i] - 1].split(",")[0])) for i in picks]
    for c, d in zip(cached, dense):
        assert torch.equal(c.spd, d.spd) and c.spd.dtype == d.spd.dtype
        for key in ("x", "edge_index", "edge_attr", "degree", "pair_index", "pair_dist", "pair_path",
                    "atom_frag", "frag_x", "frag_edge_index", "fp"):
            assert torch.equal(c[key], d[key]), key
    tiny = dict(hidden_dim=32, num_layers=2, num_heads=4, dropout=0.0, pool_seeds=2)
    for variant in ("graphormer", "fragments"):
        torch.manual_seed(0)
        model = build_model(variant_model_config(variant, **tiny)).eval()
        with torch.no_grad():
            out_cached = model(Batch.from_data_list(cached))
            out_dense = model(Batch.from_data_list(dense))
        assert torch.equal(out_cached, out_dense), variant


def test_cache_grows_linearly_with_atoms(tmp_path, private_cache, pepland_dir):
    """Long peptides (c-CPP sequences joined, ~300-700 atoms) cost about as many cache bytes per atom
    as short ones: nothing quadratic is stored."""
    seqs = [line.split(",")[0] for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[:40]]
    short = tmp_path / "short.csv"
    short.write_text("sequence\n" + "\n".join(seqs[:8]) + "\n")
    long = tmp_path / "long.csv"
    long.write_text("sequence\n" + "\n".join("".join(seqs[i:i + 4]) for i in range(8, 40, 4)) + "\n")
    per_atom = []
    for f in (short, long):
        ds = load_dataset(f)
        atoms = int(ds.num_atoms.sum())
        shard = ds.cache_path / "shard-00000.pt"
        per_atom.append(shard.stat().st_size / atoms)
        if f is long:
            assert ds.num_atoms.min() > 250 and ds.num_atoms.max() < 1000
    # with N² bytes of distances per molecule the long ones would cost ~1.5x per atom
    assert abs(per_atom[1] / per_atom[0] - 1) < 0.2, per_atom


def test_featurize_jobs_option(cpp48, private_cache):
    res = CliRunner().invoke(app, ["data", "featurize", str(cpp48), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert "48 molecules cached" in res.output
    bad = CliRunner().invoke(app, ["data", "featurize", str(cpp48), "--jobs", "0"])
    assert bad.exit_code == 2


def test_shards_load_on_first_use_and_pickle_without_their_tensors(cpp48, private_cache, monkeypatch):
    import pickle

    monkeypatch.setattr(build, "CHUNK_RECORDS", 16)
    ds = load_dataset(cpp48, target="label", jobs=1)
    again = load_dataset(cpp48, target="label")
    assert again._shards._loaded == {}  # reopening read the manifest only
    assert again.num_atoms.tolist() == ds.num_atoms.tolist() and again.num_atoms.min() > 0
    g = again[40]
    assert sorted(again._shards._loaded) == [2]
    blob = pickle.dumps(again)  # what a spawned loader worker receives
    assert len(blob) < 20_000
    assert torch.equal(pickle.loads(blob)[40].pair_path, g.pair_path)


def test_recomputed_distances_are_kept_up_to_a_byte_budget(cpp48, private_cache, monkeypatch):
    ds = load_dataset(cpp48, target="label")
    first = [ds[i].spd for i in range(48)]
    budget = int(sum(s.numel() for s in first[:10]))
    monkeypatch.setattr(cache, "SPD_MEMO_BYTES", budget)
    fresh = load_dataset(cpp48, target="label")
    again = [fresh[i].spd for i in range(48)]
    assert 0 < fresh._shards._spd_bytes <= budget and len(fresh._shards._spd) >= 10
    g = fresh[0]
    g.spd.zero_()  # a caller writing into its graph does not touch the kept copy
    for i in range(48):
        assert torch.equal(fresh[i].spd, first[i]) and torch.equal(again[i], first[i])
