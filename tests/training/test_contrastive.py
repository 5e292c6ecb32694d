"""Contrastive objectives: float32 similarities, cross-entropy on logits, no fp16 overflow, MoCo queue."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pepland_hpo.training.contrastive import (
    MoCo,
    ProjectionHead,
    SimCLR,
    moco_logits_loss,
    moco_queue_size,
    nt_xent,
)

FP16_MAX = torch.finfo(torch.float16).max  # 65,504


def _reference_nt_xent(z1, z2, tau):
    """Textbook NT-Xent in float64 with an explicit loop (a reference, not the implementation)."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n = z1.size(0)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        logits = torch.stack([z[i] @ z[k] / tau for k in range(2 * n) if k != i])
        pos = z[i] @ z[j] / tau
        total += -(pos - torch.logsumexp(logits, 0))
    return total / (2 * n)


@pytest.mark.parametrize("tau", [0.05, 0.07, 0.1, 0.2])
def test_nt_xent_matches_reference(tau):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    assert torch.allclose(nt_xent(z1, z2, tau).double(), _reference_nt_xent(z1, z2, tau), atol=1e-5)


def _near_duplicates(n=8, dim=32, cos=0.99, seed=0):
    """Embeddings whose pairwise cosines are all about ``cos``: logits ~ cos / tau."""
    g = torch.Generator().manual_seed(seed)
    common = torch.randn(dim, generator=g)
    common = common / common.norm()
    noise = torch.randn(2 * n, dim, generator=g)
    noise = noise - (noise @ common)[:, None] * common  # orthogonal to the common direction
    noise = noise / noise.norm(dim=1, keepdim=True)
    z = math.sqrt(cos) * common + math.sqrt(1 - cos) * noise
    return (z * 3.0)[:n], (z * 3.0)[n:]  # not unit length: the loss normalises


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_similarities_that_overflow_fp16_exp_stay_finite(dtype):
    tau = 0.05
    z1, z2 = _near_duplicates()
    logit = float(F.cosine_similarity(z1[0], z2[1], dim=0)) / tau
    # the premise: a hand-written exp in fp16 overflows at these similarities
    assert logit > math.log(FP16_MAX)  # 19.8 > 11.09
    assert torch.isinf(torch.exp(torch.tensor(logit, dtype=torch.float16)))

    head = ProjectionHead(32, 16)
    z1 = z1.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=dtype):
        # inputs in half precision, as an encoder under autocast would produce them
        loss = nt_xent(z1.to(dtype), z2.to(dtype), tau)
        loss_head = nt_xent(head(z1), head(z2), tau)
    assert loss.dtype == torch.float32 and loss_head.dtype == torch.float32
    assert torch.isfinite(loss) and torch.isfinite(loss_head)
    loss.backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0  # no clamp killed the gradient
    # and the value equals the float64 reference (up to the half-precision inputs)
    ref = _reference_nt_xent(z1.detach().to(dtype).float(), z2.to(dtype).float(), tau)
    assert abs(float(loss.detach()) - float(ref)) < 1e-3


def test_similarity_matmul_is_float32_under_autocast():
    # autocast would run a plain matmul in bf16 even on float32 inputs; the loss must not
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (z1 @ z2.t()).dtype == torch.bfloat16  # what we avoid
        got = nt_xent(z1, z2, 0.07)
    assert torch.allclose(got, nt_xent(z1, z2, 0.07), atol=1e-6)


def test_zero_embedding_does_not_produce_nan():
    # the eps in the normalisation: an all-zero embedding is a legal (if useless) input
    z1 = torch.zeros(4, 8, requires_grad=True)
    loss = nt_xent(z1, torch.randn(4, 8), 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()


def test_moco_queue_is_sized_from_corpus():
    assert moco_queue_size(998) == 249  # 25 % of the corpus, not MoCo's 65,536
    assert moco_queue_size(998, fraction=0.5) == 499
    assert moco_queue_size(10_000_000) == 65536
    assert moco_queue_size(3) == 0  # tiny corpus: in-batch negatives only
    for n in (10, 100, 998, 5000):
        assert moco_queue_size(n) < n


class _Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 16)

    def encode(self, x):
        return self.lin(x)


def test_moco_queue_momentum_and_discard():
    torch.manual_seed(0)
    enc = _Enc()
    moco = MoCo(enc, 16, 0.07, queue_size=10, momentum=0.9)
    opt = torch.optim.SGD(list(enc.parameters()) + list(moco.head.parameters()), lr=0.5)
    assert moco.key_encoder is not enc
    assert not any(p.requires_grad for p in moco.key_encoder.parameters())
    assert "_key_encoder" not in dict(moco.named_modules())  # not in the objective's state/optimiser
    for step in range(4):
        x1, x2 = torch.randn(4, 8), torch.randn(4, 8)
        opt.zero_grad()
        loss = moco.loss(enc.encode, x1, x2)
        assert torch.isfinite(loss) and loss.dtype == torch.float32
        loss.backward()
        opt.step()
        before = moco.key_encoder.lin.weight.clone()
        moco.after_step(enc)
        expected = 0.9 * before + 0.1 * enc.lin.weight.detach()
        assert torch.allclose(moco.key_encoder.lin.weight, expected)
        assert int(moco.queue_filled) == min(10, 4 * (step + 1))
    assert moco.queue.shape == (10, 128)
    norms = moco.queue.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    # a skipped step leaves no keys behind
    ptr = int(moco.queue_ptr)
    moco.loss(enc.encode, torch.randn(4, 8), torch.randn(4, 8))
    moco.discard_step()
    moco.after_step(enc)
    assert int(moco.queue_ptr) == ptr


def test_moco_loss_with_queue_matches_cross_entropy():
    g = torch.Generator().manual_seed(1)
    q, k, queue = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g), torch.randn(7, 8, generator=g)
    queue = F.normalize(queue, dim=1)
    got = moco_logits_loss(q, k, queue, 0.1)
    qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
    logits = torch.cat([qn @ kn.t(), qn @ queue.t()], dim=1) / 0.1
    assert torch.allclose(got, F.cross_entropy(logits, torch.arange(5)), atol=1e-6)


def test_simclr_head_default_width():
    s = SimCLR(256, 0.1)
    assert s.head.net[0].in_features == 256 and s.head.net[-1].out_features == 128
