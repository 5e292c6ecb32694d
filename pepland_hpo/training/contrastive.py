"""Contrastive objectives: SimCLR (NT-Xent over 2N views) and MoCo (momentum encoder + queue).

Why this cannot overflow, at any temperature and under autocast:

* embeddings are cast to float32 and L2-normalised with an epsilon *inside a
  region where autocast is disabled* -- autocast would otherwise run the
  similarity matmul in bf16/fp16 even on float32 inputs;
* the loss is ``F.cross_entropy`` on the logits ``sim / tau``: cross-entropy
  subtracts the row maximum before exponentiating (log-sum-exp), so a logit of
  1/0.05 = 20 (exp(20) ~ 4.9e8, far past fp16's 65,504) is harmless;
* there is no hand-written exp and no clamping of similarities; self
  similarities are removed by indexing, not by a -inf fill.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

NORM_EPS = 1e-8
DEFAULT_QUEUE_FRACTION = 0.25
MAX_QUEUE = 65536


class ProjectionHead(nn.Module):
    """hidden -> hidden -> out (SimCLR's two-layer MLP; 256 -> 128 at the default size)."""

    def __init__(self, in_dim: int, out_dim: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(), nn.Linear(in_dim, out_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


def _normalised_f32(z: torch.Tensor) -> torch.Tensor:
    return F.normalize(z.float(), dim=-1, eps=NORM_EPS)


def _no_autocast(device_type: str):
    return torch.autocast(device_type=device_type, enabled=False)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR) over the 2N views: view i's positive is its partner, the other 2N-2 are negatives."""
    n = z1.size(0)
    with _no_autocast(z1.device.type):
        z = _normalised_f32(torch.cat([z1, z2], dim=0))
        sim = z @ z.t()  # float32, autocast off
        two_n = 2 * n
        # drop the diagonal (self-similarity) by indexing: [2N, 2N-1]
        off_diag = ~torch.eye(two_n, dtype=torch.bool, device=z.device)
        logits = sim[off_diag].view(two_n, two_n - 1) / temperature
        partner = torch.arange(two_n, device=z.device)
        partner = (partner + n) % two_n
        # column of the partner after removing column i: shifts down by one when partner > i
        target = partner - (partner > torch.arange(two_n, device=z.device)).long()
        return F.cross_entropy(logits, target)


def moco_logits_loss(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE of queries against in-batch keys (positive on the diagonal) plus queued negatives.

    In-batch keys as extra negatives (as in MoCo v3) keep the loss meaningful
    while the queue is still empty, which matters for corpora of a few hundred
    peptides.
    """
    with _no_autocast(q.device.type):
        qn = _normalised_f32(q)
        kn = _normalised_f32(k).detach()
        logits = qn @ kn.t()
        if queue.numel():
            logits = torch.cat([logits, qn @ queue.float().t()], dim=1)
        logits = logits / temperature
        target = torch.arange(q.size(0), device=q.device)
        return F.cross_entropy(logits, target)


def moco_queue_size(
    corpus_size: int, fraction: float = DEFAULT_QUEUE_FRACTION, max_size: int = MAX_QUEUE
) -> int:
    """Queue length from the corpus: at most ``fraction`` of it (and never more than ``max_size``).

    A queue as large as the corpus would hold an older key of every query's
    own molecule, i.e. copies of the positive labelled as negatives.
    """
    return max(0, min(max_size, int(math.floor(fraction * corpus_size))))


def _same_rows(z: torch.Tensor) -> torch.Tensor:
    return z


class ContrastiveObjective(nn.Module):
    """Base: owns the projection head; ``loss(encode, view1, view2)`` returns a scalar.

    ``gather`` maps this process's rows to the rows of the whole (global)
    batch. It is the identity in one process; data-parallel training sets a
    differentiable all-gather, so every process computes the loss of the
    concatenated batch with all of its negatives. ``project`` (a callable
    ``view -> head(encode(view))``, e.g. the DistributedDataParallel wrapper of
    encoder and head) replaces the default projection when given.
    """

    def __init__(self, embed_dim: int, temperature: float, proj_dim: int = 128):
        super().__init__()
        self.temperature = float(temperature)
        self.head = ProjectionHead(embed_dim, proj_dim)
        self.gather = _same_rows

    def _projector(self, encode, project):
        return project if project is not None else (lambda view: self.head(encode(view)))

    def after_step(self, encoder: nn.Module) -> None:  # MoCo: momentum update + enqueue
        pass

    def discard_step(self) -> None:  # a skipped step must not leave state behind
        pass


class SimCLR(ContrastiveObjective):
    def loss(self, encode, view1, view2, project=None) -> torch.Tensor:
        project = self._projector(encode, project)
        z1 = self.gather(project(view1))
        z2 = self.gather(project(view2))
        return nt_xent(z1, z2, self.temperature)


class MoCo(ContrastiveObjective):
    """Momentum encoder (a frozen copy updated by EMA) and a negative queue sized from the corpus."""

    def __init__(
        self,
        encoder: nn.Module,
        embed_dim: int,
        temperature: float,
        queue_size: int,
        momentum: float = 0.99,
        proj_dim: int = 128,
    ):
        super().__init__(embed_dim, temperature, proj_dim)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        # the key encoder is kept outside the module tree so a state_dict of
        # the objective stays small and the optimiser never sees it
        self._key_encoder = [copy.deepcopy(encoder).requires_grad_(False)]
        self._key_head = [copy.deepcopy(self.head).requires_grad_(False)]
        self.queue_size = int(queue_size)
        self.register_buffer("queue", torch.zeros(self.queue_size, proj_dim))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))
        self._pending: torch.Tensor | None = None

    @property
    def key_encoder(self) -> nn.Module:
        return self._key_encoder[0]

    def _apply(self, fn, *args, **kwargs):  # keep the key copies on the same device
        super()._apply(fn, *args, **kwargs)
        self._key_encoder[0]._apply(fn, *args, **kwargs)
        self._key_head[0]._apply(fn, *args, **kwargs)
        return self

    def key_encode(self, encode_key, view) -> torch.Tensor:
        with torch.no_grad():
            return self._key_head[0](encode_key(view))

    def loss(self, encode, view1, view2, encode_key=None, project=None) -> torch.Tensor:
        """Symmetrised: q(view1) vs k(view2) and q(view2) vs k(view1).

        Gathered keys are enqueued, so every process holds the same queue."""
        encode_key = encode_key or self.default_key_encode
        project = self._projector(encode, project)
        q1, q2 = self.gather(project(view1)), self.gather(project(view2))
        k1 = self.gather(self.key_encode(encode_key, view1))
        k2 = self.gather(self.key_encode(encode_key, view2))
        queue = self.queue[: int(self.queue_filled)]
        loss = 0.5 * (
            moco_logits_loss(q1, k2, queue, self.temperature)
            + moco_logits_loss(q2, k1, queue, self.temperature)
        )
        with _no_autocast(k1.device.type):
            self._pending = _normalised_f32(k2).detach()
        return loss

    def default_key_encode(self, view):
        enc = self.key_encoder
        return enc.encode(view) if hasattr(enc, "encode") else enc(view)

    @torch.no_grad()
    def after_step(self, encoder: nn.Module) -> None:
        m = self.momentum
        for pk, pq in zip(self.key_encoder.parameters(), encoder.parameters()):
            pk.mul_(m).add_(pq.detach(), alpha=1.0 - m)
        for bk, bq in zip(self.key_encoder.buffers(), encoder.buffers()):
            bk.copy_(bq)
        for pk, pq in zip(self._key_head[0].parameters(), self.head.parameters()):
            pk.mul_(m).add_(pq.detach(), alpha=1.0 - m)
        if self._pending is not None:
            self._enqueue(self._pending)
        self._pending = None

    def discard_step(self) -> None:
        self._pending = None

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Add keys (normalised here, in float32) to the queue; non-finite keys are never queued."""
        with _no_autocast(keys.device.type):
            self._enqueue(_normalised_f32(keys))

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        if self.queue_size == 0 or not torch.isfinite(keys).all():
            return
        keys = keys[-self.queue_size :]
        b = keys.size(0)
        ptr = int(self.queue_ptr)
        idx = (torch.arange(b, device=keys.device) + ptr) % self.queue_size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.fill_((ptr + b) % self.queue_size)
        self.queue_filled.fill_(min(self.queue_size, int(self.queue_filled) + b))
