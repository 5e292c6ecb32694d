"""Graphormer's attention bias evaluated inside FlexAttention, never as a dense tensor.

The dense path (``attention_backend="dense"``) builds ``bias [B, H, T, T]`` in float32 and
hands it to ``scaled_dot_product_attention`` as its mask: ``4·H`` bytes per padded pair for
the bias, as much again for its masked copy, and as much for its gradient in backward.
Here the same numbers come from a lookup made by the attention kernel itself
(``torch.nn.attention.flex_attention`` with a ``score_mod``):

* ``code [Σ n_b²]`` int32, one entry per *real* pair, laid out like ``batch.spd`` (graph
  after graph, row-major): the row of ``table`` that holds the pair's bias;
* ``table [R, H]``: rows ``0..C-1`` are the spatial buckets (the embedding's own weight),
  rows ``C..`` the near pairs (spatial bias + edge-path encoding of that pair);
* the graph token's row and column read ``token_bias[h]``;
* padding: a ``BlockMask`` built from the graphs' lengths (blocks of 128 keys; only the
  last, partial block of a graph evaluates the ``mask_mod``), so padded keys cost nothing.

Gradients reach ``table`` (and through it the spatial and edge parameters) and
``token_bias`` from the kernel's backward. Where flex cannot run — PyTorch without it,
backward on CPU (PyTorch's CPU kernel is inference-only) — :func:`resolve_backend`
answers ``"dense"`` and the encoder takes today's path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

log = logging.getLogger(__name__)

try:  # torch >= 2.5
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
except ImportError:  # pragma: no cover - old torch: the dense path only
    BlockMask = flex_attention = None

BLOCK = 128  # FlexAttention's default sparse block size
# The compiled CPU kernel costs tens of seconds of compilation per process and shape family;
# the eager kernel is PyTorch's exact reference (it forms the scores densely). Tests use the
# reference; users asking for flex on CPU get the kernel that saves memory.
CPU_COMPILE = True
# PyTorch refuses flex backward on CPU; True only where a test runs the eager reference's
# backward to check gradients (it is exact, just dense).
CPU_BACKWARD = False

_compiled = None
_warned: set[str] = set()


def flex_available() -> bool:
    return flex_attention is not None


def resolve_backend(backend: str, device: torch.device, needs_grad: bool, head_dim: int = 16) -> str:
    """``"dense"`` or ``"flex"`` for a forward pass on ``device``.

    ``auto`` takes flex on CUDA only (where a compiled kernel exists for training);
    ``flex`` takes it wherever it runs and falls back to dense, with one warning, where not."""
    if backend == "dense":
        return "dense"
    reason = None
    if not flex_available():
        reason = f"torch {torch.__version__} has no torch.nn.attention.flex_attention"
    elif device.type == "cuda" and head_dim < 16:
        reason = f"the CUDA kernel needs a head dimension of at least 16, not {head_dim}"
    elif device.type == "cuda":
        return "flex"
    elif backend == "auto":
        return "dense"
    elif device.type != "cpu":
        reason = f"no FlexAttention kernel for {device.type}"
    elif needs_grad and not CPU_BACKWARD:
        reason = "PyTorch's CPU FlexAttention has no backward"
    if reason is None:
        return "flex"
    if reason not in _warned:
        _warned.add(reason)
        log.warning("attention_backend=%s: %s; using the dense bias", backend, reason)
    return "dense"


def _kernel(device: torch.device, needs_grad: bool):
    global _compiled
    if torch.compiler.is_compiling():  # inside a compiled model: dynamo traces flex itself
        return flex_attention
    if device.type == "cpu" and (needs_grad or not CPU_COMPILE):
        return flex_attention
    if _compiled is None:
        # shapes change every batch (T = largest graph): after the first recompilation
        # torch.compile marks the sizes that changed dynamic and stops recompiling.
        # (dynamic=True from the start marks every size, head dim included, and the CPU
        # kernel of torch 2.13 then fails to build)
        _compiled = torch.compile(flex_attention)
    return _compiled


@dataclass
class PairCodes:
    """The batch's bias lookup: ``code`` per real pair (``batch.spd`` layout) → ``table`` row."""

    code: Tensor | None  # int32 [Σ n²], None: no spatial or edge bias
    table: Tensor | None  # float32 [R, H]
    spd_offsets: Tensor  # long [B]: where graph b's n² entries start
    counts: Tensor  # long [B]


def pair_codes(spd: Tensor | None, spatial, counts: Tensor, batch_vec: Tensor,
               near_i: Tensor | None, near_j: Tensor | None, near_rows: Tensor | None,
               num_heads: int) -> PairCodes:
    """Codes and table for a whole batch.

    ``spatial``: the :class:`~pepland_hpo.models.encodings.SpatialEncoding` or None;
    ``near_rows [P, H]``: the full bias of the near pairs ``(near_i, near_j)`` (global atom
    ids), or None when there is no edge encoding (their spatial bias is in the buckets)."""
    device = counts.device
    sq = counts * counts
    offsets = torch.cumsum(sq, 0) - sq
    if spatial is None and near_rows is None:
        return PairCodes(None, None, offsets, counts)
    total = int(sq.sum())
    if spatial is not None:
        if spd.numel() != total:
            raise ValueError("spd does not hold N*N distances per graph")
        d = spd.to(torch.int32)
        code = torch.where(d == 255, spatial.unreachable_bucket, d.clamp(0, spatial.cap)).to(torch.int32)
        parts = [spatial.embedding.weight.float()]
    else:
        code = torch.zeros(total, dtype=torch.int32, device=device)
        parts = [torch.zeros(1, num_heads, device=device)]
    if near_rows is not None and near_rows.shape[0]:
        ptr = torch.cumsum(counts, 0) - counts
        g = batch_vec[near_i]
        flat = offsets[g] + (near_i - ptr[g]) * counts[g] + (near_j - ptr[g])
        first = parts[0].shape[0]
        code[flat] = torch.arange(first, first + near_rows.shape[0], device=device, dtype=torch.int32)
        parts.append(near_rows.float())
    return PairCodes(code, torch.cat(parts), offsets, counts)


@dataclass
class FlexBias:
    """One softmax group's bias for :func:`flex_attention` (the group's graphs, in order)."""

    codes: PairCodes
    spd_offsets: Tensor  # long [Bg]
    counts: Tensor  # long [Bg] atoms per graph
    T: int  # dense length, graph token included
    token_bias: Tensor | None  # [H], or None without a graph token

    def block_mask(self) -> "BlockMask":
        """Keys past each graph's length are skipped block-wise; query blocks past it too
        (their rows are padding and never read back)."""
        device = self.counts.device
        B, T = self.counts.numel(), self.T
        tok = 0 if self.token_bias is None else 1
        lengths = self.counts + tok
        nb = (T + BLOCK - 1) // BLOCK
        q_block = torch.arange(nb, device=device)
        live = (q_block.view(1, -1) * BLOCK < lengths.view(-1, 1))  # [B, nb] query blocks with real rows
        full = torch.where(live, (lengths // BLOCK).view(-1, 1), 0)
        partial = torch.where(live, (lengths % BLOCK > 0).long().view(-1, 1), 0)
        idx = torch.arange(nb, device=device, dtype=torch.int32).expand(B, 1, nb, nb).contiguous()
        # the partial block of graph b is block number lengths // BLOCK
        part_idx = (lengths // BLOCK).clamp(max=nb - 1).to(torch.int32).view(B, 1, 1, 1).expand(B, 1, nb, nb)
        length_of = lengths

        def mask_mod(b, h, q, k):
            return k < length_of[b]

        return BlockMask.from_kv_blocks(
            partial.to(torch.int32).view(B, 1, nb), part_idx.contiguous(),
            full.to(torch.int32).view(B, 1, nb), idx,
            BLOCK_SIZE=BLOCK, mask_mod=mask_mod, seq_lengths=(T, T),
        )

    def score_mod(self):
        code, table = self.codes.code, self.codes.table
        offsets, counts, token = self.spd_offsets, self.counts, self.token_bias
        tok = 0 if token is None else 1
        if code is None and token is None:
            return None

        def mod(score, b, h, q, k):
            i, j = q - tok, k - tok
            n = counts[b]
            real = (i >= 0) & (j >= 0) & (i < n) & (j < n)
            if code is None:
                bias = torch.zeros_like(score)
            else:
                flat = torch.where(real, offsets[b] + i * n + j, 0)
                bias = table[code[flat], h]
            if token is not None:
                bias = torch.where(real, bias, token[h])
            return score + bias

        return mod

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """``[Bg, H, T, d]`` each → ``[Bg, H, T, d]`` (rows of padding are unspecified)."""
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
        if not needs_grad:
            # PyTorch's CPU kernel checks requires_grad, not grad mode
            q, k, v = q.detach(), k.detach(), v.detach()
        kernel = _kernel(q.device, needs_grad)
        return kernel(q, k, v, score_mod=self.score_mod(), block_mask=self.block_mask())
