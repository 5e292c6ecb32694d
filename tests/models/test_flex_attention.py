"""The FlexAttention backend computes today's dense-bias attention, forward and backward.

On CPU PyTorch's compiled flex kernel is inference-only and costs tens of seconds to
compile, so these tests run its eager reference (the same ``score_mod`` and block mask,
evaluated exactly): ``CPU_COMPILE=False``. For gradients, PyTorch's up-front refusal of
CPU backward (``_validate_device``) is lifted so that the reference's own backward runs —
the same autograd formula the CUDA kernel implements; the check is that our bias lookup
sends every parameter the gradient the dense bias does.
"""

from __future__ import annotations

import functools
import logging

import pytest
import torch
from model_helpers import TINY, batch_of, peptide_like_graph
from torch_geometric.data import Batch

import pepland_hpo.models.flex_bias as flex_bias
from pepland_hpo.errors import UserInputError
from pepland_hpo.models import build_model, variant_model_config

pytestmark = [
    pytest.mark.skipif(not flex_bias.flex_available(), reason="torch without FlexAttention"),
    # the eager reference is used on purpose (see the module docstring)
    pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile"),
]


@functools.lru_cache(maxsize=1)
def _cpp_batch(pepland_dir):
    """Six real c-CPP peptides of 60..170 atoms: padding, and lengths across a 128-key block."""
    from rdkit import Chem

    from pepland_hpo.data.featurize import featurize_mol

    graphs = []
    for line in (pepland_dir / "c-CPP.txt").read_text().splitlines()[::7]:
        mol = Chem.MolFromSequence(line.split(",")[0])
        if mol is not None and 60 <= mol.GetNumAtoms() <= 170:
            graphs.append(featurize_mol(mol))
        if len(graphs) == 6:
            break
    sizes = [g.num_nodes for g in graphs]
    assert min(sizes) < 127 < max(sizes), sizes
    return Batch.from_data_list(graphs)


@pytest.fixture
def eager_flex(monkeypatch):
    monkeypatch.setattr(flex_bias, "CPU_COMPILE", False)


@pytest.fixture
def flex_backward_on_cpu(monkeypatch, eager_flex):
    import torch.nn.attention.flex_attention as fa

    monkeypatch.setattr(flex_bias, "CPU_BACKWARD", True)
    monkeypatch.setattr(fa, "_validate_device", lambda *args: None)


CASES = {
    "graphormer": ("graphormer", {}),
    "full-softmax": ("full", {"attention": "softmax"}),  # fragments, hierarchical pool, every bias
    "full-auto": ("full", {"attention": "auto", "auto_crossover_atoms": 130}),  # flex beside FAVOR+
    "no-spatial": ("graphormer", {"spatial": False}),
    "token-only": ("graphormer", {"spatial": False, "edge_encoding": False}),
}


def _pair(variant, over):
    torch.manual_seed(0)
    dense = build_model(variant_model_config(variant, **{**TINY, **over})).eval()
    flex = build_model(variant_model_config(variant, **{**TINY, **over}, attention_backend="flex")).eval()
    flex.load_state_dict(dense.state_dict())
    return dense, flex


@pytest.mark.parametrize("case", list(CASES))
def test_flex_forward_matches_dense_on_cpp(case, pepland_dir, eager_flex):
    batch = _cpp_batch(pepland_dir)
    dense, flex = _pair(*CASES[case])
    with torch.no_grad():
        groups = flex.encoder.attention_groups(batch, batch.batch, batch.num_graphs)
        assert any(g.flex is not None and g.bias is None for g in groups)
        a, b = dense.encode(batch), flex.encode(batch)
    torch.testing.assert_close(b, a, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("case", ["graphormer", "full-softmax", "no-spatial"])
def test_flex_gradients_match_dense_on_cpp(case, pepland_dir, flex_backward_on_cpu):
    batch = _cpp_batch(pepland_dir)
    dense, flex = _pair(*CASES[case])
    for model in (dense, flex):
        model.encode(batch).square().sum().backward()
    checked = 0
    for (name, p), q in zip(dense.named_parameters(), flex.parameters()):
        if p.grad is None:
            assert q.grad is None, name
            continue
        scale = p.grad.abs().max().clamp(min=1e-6)
        assert (q.grad - p.grad).abs().max() <= 1e-3 * scale + 1e-6, name
        checked += 1
    # the bias parameters are among them, and they do receive a gradient
    enc = flex.encoder
    for part in (enc.spatial, enc.edge_encoding):
        if part is not None:
            assert all(p.grad.abs().sum() > 0 for p in part.parameters())
    assert enc.token_bias.grad.abs().sum() > 0 and checked > 10


def test_block_boundaries_and_padding(eager_flex):
    # 127 atoms + token = exactly one full block; 128 + token spills one key into a second
    graphs = [peptide_like_graph(127, seed=1), peptide_like_graph(128, seed=2), peptide_like_graph(9, seed=3)]
    dense, flex = _pair("graphormer", {})
    with torch.no_grad():
        for order in ([0, 1, 2], [2, 0], [1]):
            batch = batch_of(*(graphs[i] for i in order))
            torch.testing.assert_close(flex.encode(batch), dense.encode(batch), atol=2e-5, rtol=1e-4)


def test_flex_falls_back_to_dense_where_it_cannot_train(caplog, eager_flex):
    # CPU training: PyTorch's CPU flex kernel has no backward, so the dense bias is used
    dense, flex = _pair("graphormer", {})
    dense.train(), flex.train()
    batch = batch_of(peptide_like_graph(20, seed=4), peptide_like_graph(12, seed=5))
    flex_bias._warned.clear()
    with caplog.at_level(logging.WARNING, logger=flex_bias.__name__):
        groups = flex.encoder.attention_groups(batch, batch.batch, batch.num_graphs)
        loss = flex(batch).sum()
    assert all(g.flex is None and g.bias is not None for g in groups)
    assert "no backward" in caplog.text
    loss.backward()
    torch.testing.assert_close(loss, dense(batch).sum())
    cpu = torch.device("cpu")
    assert flex_bias.resolve_backend("auto", cpu, needs_grad=False) == "dense"
    assert flex_bias.resolve_backend("flex", cpu, needs_grad=False) == "flex"
    assert flex_bias.resolve_backend("dense", torch.device("cuda"), needs_grad=True) == "dense"
    assert flex_bias.resolve_backend("flex", torch.device("cuda"), needs_grad=True, head_dim=8) == "dense"


def test_torch_without_flex_takes_the_dense_path(monkeypatch):
    monkeypatch.setattr(flex_bias, "flex_attention", None)
    dense, flex = _pair("graphormer", {})
    batch = batch_of(peptide_like_graph(15, seed=6))
    with torch.no_grad():
        assert flex_bias.resolve_backend("flex", torch.device("cuda"), needs_grad=False) == "dense"
        torch.testing.assert_close(flex.encode(batch), dense.encode(batch))


def test_attention_backend_is_a_checked_setting():
    assert variant_model_config("graphormer", attention_backend="flex").attention_backend == "flex"
    with pytest.raises(UserInputError, match="attention_backend"):
        variant_model_config("graphormer", attention_backend="sparse")


@pytest.mark.gpu
def test_compiled_flex_kernel_matches_dense_on_cuda(pepland_dir):
    # the real CUDA kernel (compiled), forward and backward, against the dense bias
    batch = _cpp_batch(pepland_dir).to("cuda")
    dense, flex = (m.cuda().train() for m in _pair("graphormer", {"num_heads": 2}))  # head dim 16
    outs = []
    for model in (dense, flex):
        out = model.encode(batch)
        out.square().sum().backward()
        outs.append(out.detach())
    assert all(g.flex is not None for g in flex.encoder.attention_groups(batch, batch.batch, batch.num_graphs))
    torch.testing.assert_close(outs[1], outs[0], atol=2e-3, rtol=2e-3)  # TF32 matmuls on either side
    for (name, p), q in zip(dense.named_parameters(), flex.parameters()):
        if p.grad is not None:
            scale = p.grad.abs().max().clamp(min=1e-6)
            assert (q.grad - p.grad).abs().max() <= 2e-2 * scale + 1e-5, name
