"""Every setting added for the fragment view, the counting readout, fusion and the training
recipe is reachable by ``--set``; a misspelling or a bad value is exit code 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.training.settings import parse_settings

NEW = {
    "sum_readout": "true", "sum_scale": "50", "fragments": "true", "fragment_every": "2",
    "fragment_max_distance": "6", "fragment_sum_scale": "10", "fingerprint": "true",
    "lr_schedule": "plateau", "warmup_epochs": "0.5", "min_lr_ratio": "0.05",
    "plateau_factor": "0.3", "plateau_patience": "2",
}


def test_new_settings_parse_to_their_types():
    model, train = parse_settings(NEW)
    assert model == {"sum_readout": True, "sum_scale": 50.0, "fragments": True, "fragment_every": 2,
                     "fragment_max_distance": 6, "fragment_sum_scale": 10.0, "fingerprint": True}
    assert train == {"lr_schedule": "plateau", "warmup_epochs": 0.5, "min_lr_ratio": 0.05,
                     "plateau_factor": 0.3, "plateau_patience": 2}


@pytest.mark.parametrize("key", sorted(NEW))
def test_misspelled_setting_exits_2_and_names_the_right_one(key, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(app, ["create", "ablation", "--data", "builtin:amp", "--storage", url,
                                      "--set", f"{key}x={NEW[key]}"])
    assert result.exit_code == 2, result.output
    assert f"{key}x" in result.output and key in result.output.replace(f"{key}x", "")


@pytest.mark.parametrize("bad", ["lr_schedule=linear", "fragments=maybe", "fragment_every=0", "sum_scale=-1"])
def test_bad_values_exit_2(bad, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(app, ["create", "ablation", "--data", "builtin:amp", "--storage", url,
                                      "--set", bad])
    assert result.exit_code == 2, result.output
    assert bad.split("=")[0] in result.output
