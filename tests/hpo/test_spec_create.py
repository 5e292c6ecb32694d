"""Specs, validation and `create`: bad input leaves no study; create is idempotent."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.services import create_study_from_spec
from pepland_hpo.hpo.study import build_ablation_spec, build_search_spec, load_spec
from pepland_hpo.hpo.queue import mask_url, open_storage

REPO = Path(__file__).resolve().parents[2]
ABLATION = REPO / "studies" / "ablation.yaml"
SEARCH = REPO / "studies" / "search.yaml"


def _study_names(url: str) -> list[str]:
    return [s.study_name for s in open_storage(url, create=True).get_all_studies()]


def test_shipped_specs_load():
    ab = load_spec(ABLATION)
    assert ab.kind == "ablation" and ab.variants == ["gcn", "graphormer", "performer", "hierpool", "fragments", "full", "fusion"]
    se = load_spec(SEARCH)
    assert se.kind == "search" and se.variants == ["full"]
    space = se.to_dict()["space"]  # the default search grid, as the stored spec keeps it
    assert space["hidden_dim"] == [128, 256, 512]
    assert space["num_layers"] == [4, 6, 8, 12]
    assert space["num_heads"] == [4, 8, 16]
    assert space["dropout"] == [0.0, 0.1, 0.2]
    assert space["lr"] == [1e-5, 5e-5, 1e-4, 5e-4]
    assert space["temperature"] == [0.05, 0.07, 0.1, 0.2]
    assert se.sampler.model_dump() == {"kind": "tpe", "multivariate": True, "constant_liar": True,
                                       "n_startup_trials": 10, "group": False}
    assert se.pruner.kind == "median"


def test_unknown_key_and_bad_value_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(ABLATION.read_text() + "\nlearning_rat: 0.1\n")
    with pytest.raises(UserInputError, match=r"bad\.yaml: learning_rat: unknown key"):
        load_spec(bad)
    bad.write_text(ABLATION.read_text().replace("kind: random ", "kind: sideways "))
    with pytest.raises(UserInputError, match=r"bad\.yaml: split\.kind"):
        load_spec(bad)
    bad.write_text(SEARCH.read_text().replace("kind: median", "kind: medianish"))
    with pytest.raises(UserInputError, match=r"pruner\.kind"):
        load_spec(bad)
    # lax coercion refused: YAML's `true` is no layer count and no learning rate ("32" from --set still parses)
    for key in ("hidden_dim", "lr"):
        bad.write_text(ABLATION.read_text() + f"\nsettings:\n  {key}: true\n")
        with pytest.raises(UserInputError, match=rf"bad\.yaml: settings\.{key}: input should be a number, not true"):
            load_spec(bad)


def test_bad_variant_bad_setting_bad_file_leave_no_study(sqlite_url, cpp, tmp_path):
    data = str(cpp(24))
    with pytest.raises(UserInputError, match=r"unknown variant 'gcnn'.*gcn, graphormer"):
        build_ablation_spec(ABLATION, data=data, variants=["gcnn"])
    with pytest.raises(UserInputError, match="hidden_dimm"):
        build_ablation_spec(ABLATION, data=data, variants=["gcn"], settings={"hidden_dimm": "8"})
    with pytest.raises(UserInputError, match="dropout"):
        build_ablation_spec(ABLATION, data=data, variants=["gcn"], settings={"dropout": "2"})
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(UserInputError):
        build_ablation_spec(ABLATION, data=str(empty), variants=["gcn"])
    with pytest.raises(UserInputError):
        build_ablation_spec(ABLATION, data=str(tmp_path / "missing.csv"), variants=["gcn"])
    assert _study_names(sqlite_url) == []


def test_create_twice_adds_nothing_and_replace_recreates(sqlite_url, cpp, hpo):
    spec = build_ablation_spec(ABLATION, data=str(cpp(24)), variants=["gcn"], seeds=[0, 1],
                               settings=hpo.TINY, name="ab", split_repeats=1)
    first = create_study_from_spec(sqlite_url, spec)
    assert (first.enqueued, first.already) == (2, 0)
    second = create_study_from_spec(sqlite_url, spec)
    assert (second.enqueued, second.already) == (0, 2)
    study = optuna.load_study(study_name="ab", storage=open_storage(sqlite_url))
    assert len(study.trials) == 2
    attrs = study.user_attrs
    assert attrs["kind"] == "ablation" and attrs["spec"]["variants"] == ["gcn"]
    assert len(attrs["data_hash"]) >= 32
    assert set(attrs["split"]) == {"train", "valid", "test"} and attrs["split"]["train"]
    # more seeds: only the new pairs are queued
    more = build_ablation_spec(ABLATION, data=spec.data, variants=["gcn"], seeds=[0, 1, 2],
                               settings=hpo.TINY, name="ab", split_repeats=1)
    assert create_study_from_spec(sqlite_url, more).enqueued == 1
    # other settings under the same name: refused, nothing written
    other = build_ablation_spec(ABLATION, data=spec.data, variants=["gcn"], seeds=[0],
                                settings={**hpo.TINY, "hidden_dim": "16"}, name="ab", split_repeats=1)
    with pytest.raises(UserInputError, match="already exists"):
        create_study_from_spec(sqlite_url, other)
    rep = create_study_from_spec(sqlite_url, other, replace=True)
    assert (rep.enqueued, rep.already) == (1, 0)


def test_search_budget_is_queued_once(sqlite_url, cpp, hpo):
    spec = build_search_spec(SEARCH, data=str(cpp(24)), variant="gcn", n_trials=5,
                             settings=hpo.TINY, name="se")
    assert create_study_from_spec(sqlite_url, spec).enqueued == 5
    assert create_study_from_spec(sqlite_url, spec).enqueued == 0
    study = optuna.load_study(study_name="se", storage=open_storage(sqlite_url))
    assert len(study.trials) == 5


def test_mask_url():
    assert mask_url("postgresql+psycopg://bob:s3cret@db:5432/x") == "postgresql+psycopg://bob:***@db:5432/x"
    assert "s3cret" not in mask_url("postgresql://u:s3cret@h/x?password=s3cret")
    assert mask_url("sqlite:///storage/pepland.db") == "sqlite:///storage/pepland.db"


def test_bad_pg_password_is_masked(pg_server):
    url = pg_server.url.replace(pg_server.password, "wrong-pw-123")
    with pytest.raises(UserInputError) as info:
        open_storage(url)
    assert "wrong-pw-123" not in str(info.value)
