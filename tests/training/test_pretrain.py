"""Contrastive pretraining: stable at every searched temperature under bf16, skips poison, reuses by key."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from pepland_hpo.training import encoder_store as store
from pepland_hpo.training import pretrain as pt
from pepland_hpo.training.pretrain_corpus import corpus_from_split
from pepland_hpo.training.config import TrainConfig
from pepland_hpo.training.errors import NonFiniteLoss

N_MOLECULES = 16


def _featurize(smiles: str):
    from pepland_hpo.data.featurize import featurize_smiles

    return featurize_smiles(smiles)


class _List(list):
    """A corpus double: indexable graphs with a content hash, like a dataset subset."""

    content_hash = "test-corpus"


@pytest.fixture(scope="module")
def corpus(pepland_dir):
    """The 16 smallest of the first 120 molecules (~59 atoms each): the suite runs on 2 shared cores."""
    lines = (pepland_dir / "pretrained" / "train.csv").read_text().splitlines()[1:121]
    return _List(_featurize(s.strip()) for s in sorted(lines, key=len)[:N_MOLECULES])


# ---------------------------------------------------------------- tiny encoder


def _tiny_config():
    """The `full` variant (FAVOR+, structure encodings, hierarchical pooling) at test size."""
    from pepland_hpo.models import variant_model_config

    return variant_model_config("full", hidden_dim=16, num_layers=2, num_heads=2, dropout=0.0)


def _stability_config():
    """Tiny GCN encoder for the 8-run temperature x method matrix (the cheapest encoder)."""
    from pepland_hpo.models import variant_model_config

    return variant_model_config("gcn", hidden_dim=32, num_layers=2, dropout=0.0)


def _build(cfg):
    from pepland_hpo.models import build_model

    return build_model(cfg)


def _cfg(**kw):
    base = dict(
        pretrain_epochs=8, pretrain_lr=5e-4, pretrain_batch_size=8, precision="bf16", seed=0,
        max_non_finite_steps=0,
    )
    base.update(kw)
    return TrainConfig(**base)


# ---------------------------------------------------------------- stability


@pytest.mark.parametrize("method", ["simclr", "moco"])
@pytest.mark.parametrize("tau", [0.05, 0.07, 0.1, 0.2])
def test_pretraining_is_stable_under_bf16(corpus, method, tau):
    """The plan's failing regime (lr 5e-4, mixed precision, tau 0.05-0.2): no skips, loss goes down.

    max_non_finite_steps=0 makes a single non-finite step raise.
    """
    torch.manual_seed(0)
    model = _build(_stability_config())
    res = pt.pretrain_encoder(model, corpus, _cfg(pretrain_method=method, temperature=tau), "cpu")
    assert res.non_finite_steps == 0
    assert all(math.isfinite(v) for v in res.loss_per_epoch)
    assert res.loss_per_epoch[-1] < res.loss_per_epoch[0], res.loss_per_epoch
    assert set(res.state_dict) == set(model.encoder.state_dict())


def test_poisoned_batch_is_skipped_and_counted(corpus):
    poisoned = _List(corpus[:12])
    bad = poisoned[3].clone()
    bad.x = torch.full_like(bad.x, float("inf"))
    poisoned[3] = bad
    cfg = _cfg(pretrain_epochs=3, pretrain_batch_size=4, max_non_finite_steps=20)
    torch.manual_seed(0)
    res = pt.pretrain_encoder(_build(_stability_config()), poisoned, cfg, "cpu")
    # one batch of three per epoch holds the poisoned molecule
    assert res.non_finite_steps == 3
    assert len(res.loss_per_epoch) == 3 and all(math.isfinite(v) for v in res.loss_per_epoch)
    assert all(torch.isfinite(v).all() for v in res.state_dict.values() if v.is_floating_point())
    # past the threshold the run stops with a clear reason
    with pytest.raises(NonFiniteLoss, match="max_non_finite_steps=1"):
        pt.pretrain_encoder(_build(_stability_config()), poisoned, _cfg(pretrain_epochs=3, pretrain_batch_size=4,
                                                                    max_non_finite_steps=1), "cpu")


# ---------------------------------------------------------------- reuse


def test_same_key_pretrains_once(corpus, storage_home):
    small = _List(corpus[:8])
    cfg = _cfg(pretrain_epochs=1, pretrain_batch_size=4)
    calls = []
    pt.PRETRAIN_HOOKS.append(calls.append)
    try:
        first = store.pretrain_or_reuse(_tiny_config(), small, "corpus-a", cfg, "cpu", build=_build)
        second = store.pretrain_or_reuse(_tiny_config(), small, "corpus-a", cfg, "cpu", build=_build)
    finally:
        pt.PRETRAIN_HOOKS.remove(calls.append)
    assert len(calls) == 1
    assert first["reused"] is False and second["reused"] is True
    assert first["key"] == second["key"]
    assert second["loss_per_epoch"] == pytest.approx(first["loss_per_epoch"])
    for k, v in first["state_dict"].items():
        assert torch.equal(v, second["state_dict"][k])
    # the file sits under the storage root, content-addressed
    path = storage_home / "artifacts" / "pretrained" / f"{first['key']}.pt"
    assert path.is_file() and second["path"] == str(path)
    # another temperature is another key: pretrains again
    third = store.pretrain_or_reuse(_tiny_config(), small, "corpus-a", _cfg(pretrain_epochs=1, pretrain_batch_size=4,
                                                                         temperature=0.2), "cpu", build=_build)
    assert third["reused"] is False and third["key"] != first["key"]


def test_two_workers_same_key_pretrain_once(corpus, tmp_path):
    """Two concurrent callers (separate lock file handles, as two processes would have)."""
    small = _List(corpus[:8])
    cfg = _cfg(pretrain_epochs=1, pretrain_batch_size=4)
    calls = []
    pt.PRETRAIN_HOOKS.append(calls.append)
    results = []

    def work():
        results.append(store.pretrain_or_reuse(_tiny_config(), small, "c", cfg, "cpu", store_dir=tmp_path,
                                               build=_build))

    try:
        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        pt.PRETRAIN_HOOKS.remove(calls.append)
    assert len(calls) == 1
    assert sorted(r["reused"] for r in results) == [False, True]
    assert not list(tmp_path.glob("*.tmp"))


def test_pretrain_key_covers_encoder_corpus_and_settings():
    mc = _tiny_config().to_dict()
    s = store.pretrain_settings(_cfg())
    k = store.pretrain_key(mc, "h", s)
    assert len(k) == 64 and k == store.pretrain_key(dict(reversed(list(mc.items()))), "h", s)
    assert k != store.pretrain_key(mc, "other-corpus", s)
    assert k != store.pretrain_key({**mc, "hidden_dim": 32}, "h", s)
    assert k != store.pretrain_key(mc, "h", store.pretrain_settings(_cfg(temperature=0.2)))
    assert k != store.pretrain_key(mc, "h", store.pretrain_settings(_cfg(pretrain_method="moco")))
    # fine-tuning settings and the task head do not change the encoder
    assert k == store.pretrain_key(mc, "h", store.pretrain_settings(_cfg(lr=1e-2, freeze_layers=2, epochs=3)))
    assert k == store.pretrain_key({**mc, "out_dim": 3}, "h", s)


# ---------------------------------------------------------------- corpus


class _Split:
    def __init__(self, train, valid, test):
        self.train, self.valid, self.test = (np.asarray(a) for a in (train, valid, test))


class _Dataset(list):
    content_hash = "data-hash"

    @property
    def smiles(self):
        return [g.smiles for g in self]


def test_corpus_from_split_is_training_rows_without_labels(corpus):
    ds = _Dataset()
    for i, g in enumerate(corpus[:10]):
        g = g.clone()
        g.y = torch.tensor([[float(i)]])
        g.smiles = f"S{i}"
        ds.append(g)
    ds[7].smiles = "S1"  # a training molecule duplicated in validation must not leak
    split = _Split(train=[0, 2, 4, 6, 8, 7], valid=[1, 3], test=[5, 9])
    c = corpus_from_split(ds, split)
    assert c.indices == [0, 2, 4, 6, 8]
    assert len(c) == 5 and all("y" not in c[i].keys() for i in range(len(c)))
    assert c.content_hash != corpus_from_split(ds, _Split([0, 2, 4, 6], [1, 3], [5, 9])).content_hash
    with pytest.raises(ValueError):
        corpus_from_split(ds, _Split([0, 1], [1], [2]))
