"""Structure-aware FAVOR+ attention: linear-time attention that keeps Graphormer's biases.

Graphormer attends with ``A_ij ∝ exp(q_i·k_j/√d + b_ij)``, where ``b_ij`` is the
spatial bias of the pair's distance bucket plus the edge-path encoding. FAVOR+
(Choromanski et al., ICLR 2021) replaces ``exp(q·k/√d)`` by ``φ(q)ᵀφ(k)`` with the
positive orthogonal random features

    φ(x) = exp(Ωx − ‖x‖²/2) / √m,   x = q·d^(-1/4) or k·d^(-1/4),   Ω ∈ R^{m×d},

rows of Ω orthogonal in blocks of d and rescaled to chi(d) norms, so that
``E[φ(q)ᵀφ(k)] = exp(q·k/√d)``. An ``N×N`` bias cannot be kernelised, so we split it:
every pair farther than ``near_hops`` (or unreachable) gets the one learned far bias
``b_far`` (the last spatial bucket), and only pairs within ``near_hops`` (``pair_index``),
each atom with itself, and every pair involving the graph token carry their own bias.
Then, per head and query ``i``,

    num_i = e^{b_far} φ(q_i)ᵀ Σ_j φ(k_j) v_jᵀ + Σ_{j∈S(i)} (e^{b_ij} − e^{b_far}) φ(q_i)ᵀφ(k_j) v_j
    den_i = e^{b_far} φ(q_i)ᵀ Σ_j φ(k_j)       + Σ_{j∈S(i)} (e^{b_ij} − e^{b_far}) φ(q_i)ᵀφ(k_j)
    out_i = num_i / den_i

which equals softmax attention with the bias ``b_ij`` on ``S(i)`` and ``b_far`` elsewhere,
in expectation over Ω: every pair's weight is exactly ``e^{b_ij} φ(q_i)ᵀφ(k_j) ≥ 0``.
The first terms cost ``O(N·m·d)`` per head (dense per graph, padded keys have φ = 0 so
they enter neither numerator nor normaliser). The correction costs ``O(|S|·(m + d))``:
one sampled dense-dense product (SDDMM, ``φ(q_i)ᵀφ(k_j)`` for the listed pairs only)
and one CSR × dense product over a block-diagonal all-heads pattern built once per
forward pass (:class:`PairCorrection`, with its own backward on the transposed pattern);
no ``[|S|, m]`` gather and no ``N×N`` tensor exists. A molecule's pairs within k hops
grow linearly with its atoms, so time and memory are ``O(N·m + |S|)`` = linear. In
training, the random-feature maps are recomputed in backward (activation
checkpointing) rather than stored per layer, since ``m ≈ 4d`` would otherwise dominate.

Cost model: exact attention ≈ ``2N²d`` per head, FAVOR+ ≈ ``4Nmd`` plus the pair term,
so FAVOR+ only pays above a few hundred atoms; ``attention="auto"`` picks exact softmax
per graph up to ``auto_crossover_atoms`` (measured by scripts/bench/attention_scaling.py)
and FAVOR+ above. Limitation: under FAVOR+ all distances beyond ``near_hops`` share one
bias (softmax distinguishes them up to ``max_distance``).

Numerics: everything runs in float32, also under autocast. Before ``exp`` the
exponent ``Ωx − ‖x‖²/2`` is shifted by its maximum over features for each query row
(cancels in ``num_i/den_i``) and by its maximum over features and keys per graph and
head for keys (a constant inside each graph's sums, so it cancels too); both shifts
are detached. The pair coefficients use ``e^{b − c}`` with ``c`` the largest bias per
head, another per-row constant. Ω is redrawn every ``redraw_interval`` training
forward passes and fixed in eval (it is a buffer, saved with the model).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn


def default_num_features(head_dim: int) -> int:
    """``m = d·⌈ln d⌉`` (the Performer paper's ``d log d``), at least ``d``."""
    return max(head_dim, head_dim * math.ceil(math.log(max(head_dim, 2))))


def orthogonal_gaussian(m: int, d: int, generator: torch.Generator | None = None) -> Tensor:
    """``Ω [m, d]``: blocks of ``d`` orthonormal rows (QR of a Gaussian matrix), each row
    rescaled to the norm of an independent ``N(0, I_d)`` vector, so rows are marginally
    Gaussian and exactly orthogonal within a block."""
    blocks = []
    for _ in range(math.ceil(m / d)):
        g = torch.randn(d, d, generator=generator)
        q, _ = torch.linalg.qr(g)
        blocks.append(q.t())
    omega = torch.cat(blocks)[:m]
    norms = torch.randn(m, d, generator=generator).norm(dim=1, keepdim=True)
    return omega * norms


class FavorFeatures(nn.Module):
    """Holds Ω for one attention layer (shared by its heads) and redraws it during training."""

    def __init__(self, head_dim: int, num_features: int = 0, redraw_interval: int = 1000):
        super().__init__()
        self.head_dim = head_dim
        self.redraw_interval = redraw_interval
        m = num_features or default_num_features(head_dim)
        self.register_buffer("omega", orthogonal_gaussian(m, head_dim))
        self.steps = 0

    @property
    def num_features(self) -> int:
        return self.omega.shape[0]

    @torch.no_grad()
    def redraw(self, num_features: int | None = None) -> None:
        m = num_features or self.num_features
        self.omega = orthogonal_gaussian(m, self.head_dim).to(self.omega.device)

    @torch.compiler.disable  # a compiled layer would guard on (and recompile for) every step count
    def step(self) -> None:
        """Call once per training forward; redraws every ``redraw_interval`` calls."""
        if self.steps and self.steps % self.redraw_interval == 0:
            self.redraw()
        self.steps += 1


class PairPattern:
    """The listed pairs as one block-diagonal CSR pattern over ``H·R`` rows (head ``h``,
    row ``r`` → ``h·R + r``), built once per forward pass and shared by all layers, so
    each sparse kernel runs once for all heads. ``crow/col`` are sorted by query row; the
    transposed pattern ``crow_t/col_t`` uses ``perm_t`` to reorder values.

    ``order`` sorts the caller's pairs by (query, key); pair tensors handed to
    :class:`PairCorrection` must be in that order."""

    def __init__(self, qi: Tensor, kj: Tensor, num_rows: int, num_heads: int):
        R, H = num_rows, num_heads
        self.num_rows, self.num_heads = R, H
        self.order = torch.argsort(qi * R + kj)
        qi, kj = qi[self.order], kj[self.order]
        P = qi.numel()
        self.num_pairs = P
        heads = torch.arange(H, device=qi.device).view(H, 1) * R
        perm_t = torch.argsort(kj * R + qi)
        self.col = (kj.view(1, P) + heads).reshape(-1)
        self.crow = _crow((qi.view(1, P) + heads).reshape(-1), H * R)
        self.perm_t = (perm_t.view(1, P) + torch.arange(H, device=qi.device).view(H, 1) * P).reshape(-1)
        self.col_t = (qi[perm_t].view(1, P) + heads).reshape(-1)
        self.crow_t = _crow((kj[perm_t].view(1, P) + heads).reshape(-1), H * R)

    def csr(self, values: Tensor) -> Tensor:
        """``values [H, P]`` (pair order) → CSR ``[H·R, H·R]``."""
        return _csr_tensor(self.crow, self.col, values.reshape(-1), self.num_heads * self.num_rows)

    def csr_t(self, values: Tensor) -> Tensor:
        """The transpose of :meth:`csr` ``(values)``, again as CSR."""
        return _csr_tensor(
            self.crow_t, self.col_t, values.reshape(-1)[self.perm_t], self.num_heads * self.num_rows
        )

    def sddmm(self, a: Tensor, b: Tensor) -> Tensor:
        """``a, b [H, R, k]`` → ``[H, P]`` with entries ``a[h, i]·b[h, j]`` for every pair,
        without a ``[P, k]`` gather."""
        H, R, k = a.shape
        empty = self.csr(a.new_zeros(H, self.num_pairs))
        out = torch.sparse.sampled_addmm(empty, a.reshape(H * R, k), b.reshape(H * R, k).t(), beta=0.0)
        return out.values().view(H, self.num_pairs)


def _crow(rows_sorted: Tensor, num_rows: int) -> Tensor:
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=rows_sorted.device)
    crow[1:] = torch.cumsum(torch.bincount(rows_sorted, minlength=num_rows), 0)
    return crow


def _csr_tensor(crow: Tensor, col: Tensor, values: Tensor, n: int) -> Tensor:
    # torch flags CSR tensors "beta" with a UserWarning; the two kernels used here
    # (sampled_addmm, CSR @ dense) are long-standing and covered by our gradcheck test
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)


class PairCorrection(torch.autograd.Function):
    """Sparse pair term of the structure-aware FAVOR+ (module docstring).

    Inputs, head-major: ``phi_q, phi_k [H, R, m]``, ``v_aug [H, R, d+1]`` (values with a
    ones column, which turns the normaliser into the same product), ``coef [H, P]``
    (pairs in ``pattern`` order). Returns ``[H, R, d+1]``: ``Σ_j coef_ij s_ij v_j`` and, in
    the last column, ``Σ_j coef_ij s_ij``, with ``s_ij = φ(q_i)ᵀφ(k_j)``. One sampled
    dense-dense product (SDDMM) and one CSR × dense product over all heads; the backward
    uses the same kernels on the transposed pattern. Nothing of size ``[P, m]`` exists."""

    @staticmethod
    def forward(ctx, phi_q, phi_k, v_aug, coef, pattern: PairPattern):
        H, R, _ = phi_q.shape
        s = pattern.sddmm(phi_q, phi_k)
        out = (pattern.csr(coef * s) @ v_aug.reshape(H * R, -1)).view(H, R, -1)
        ctx.save_for_backward(phi_q, phi_k, v_aug, coef, s)
        ctx.pattern = pattern
        return out

    @staticmethod
    def backward(ctx, g_out):
        pq, pk, va, coef, s = ctx.saved_tensors
        pattern = ctx.pattern
        H, R, m = pq.shape
        g_out = g_out.contiguous()
        g_w = pattern.sddmm(g_out, va)  # dL/dw_ij = g_num_i·v_j + g_den_i
        g_v = (pattern.csr_t(coef * s) @ g_out.view(H * R, -1)).view(H, R, -1)
        g_s = g_w * coef
        g_q = (pattern.csr(g_s) @ pk.reshape(H * R, m)).view(H, R, m)
        g_k = (pattern.csr_t(g_s) @ pq.reshape(H * R, m)).view(H, R, m)
        return g_q, g_k, g_v, g_w * s, None


def favor_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_mask: Tensor,
    omega: Tensor,
    far_bias: Tensor | None = None,
    pattern: PairPattern | None = None,
    pair_bias: Tensor | None = None,
) -> Tensor:
    """Structure-aware FAVOR+ on a padded dense batch.

    Args:
        q, k, v: ``[B, T, H, d]`` (any float dtype; computed in float32).
        key_mask: bool ``[B, T]``, True for real atoms/tokens.
        omega: ``[m, d]`` random features.
        far_bias: ``[H]`` bias ``b_far`` of every pair not listed (None = 0).
        pattern: :class:`PairPattern` of the listed pairs over flat positions ``b*T + t``.
        pair_bias: ``[P, H]`` their bias ``b_ij``, in ``pattern`` order.
    Returns:
        ``[B, T, H, d]`` float32 (rows of padded queries are meaningless).
    """
    with torch.autocast(device_type=q.device.type, enabled=False):
        B, T, H, d = q.shape
        m = omega.shape[0]
        # head-major [H, B, T, ·] throughout: B·T rows per head are then contiguous, which
        # the sparse kernels of PairCorrection want, without extra copies
        q, k, v = (t.float().permute(2, 0, 1, 3) for t in (q, k, v))
        omega = omega.float()
        mask = key_mask.view(1, B, T, 1)
        phi_q = _positive_features(q * d**-0.25, omega, per_row=True)
        phi_k = _positive_features(k * d**-0.25, omega, per_row=False, mask=mask)
        v = v * mask

        if far_bias is None:
            far_bias = q.new_zeros(H)
        far_bias = far_bias.float()
        shift = far_bias.detach()
        if pair_bias is not None and pair_bias.numel():
            shift = torch.maximum(shift, pair_bias.detach().float().amax(0))
        base = torch.exp(far_bias - shift).view(H, 1, 1, 1)

        kv = torch.einsum("hbtm,hbtd->hbmd", phi_k, v)
        ksum = phi_k.sum(2, keepdim=True).transpose(2, 3)  # [H, B, m, 1]
        num = torch.matmul(phi_q, torch.cat([kv, ksum], -1)) * base  # [H, B, T, d+1]

        if pair_bias is not None and pair_bias.numel():
            coef = (torch.exp(pair_bias.float() - shift) - base.view(1, H)).t().contiguous()  # [H, P]
            v_aug = torch.cat([v, v.new_ones(H, B, T, 1)], -1).reshape(H, B * T, d + 1)
            corr = PairCorrection.apply(
                phi_q.reshape(H, B * T, m), phi_k.reshape(H, B * T, m), v_aug, coef, pattern
            )
            num = num + corr.view(H, B, T, d + 1)
        # the last column is the normaliser, a sum of non-negative weights; the clamp only
        # guards rounding and underflow
        out = num[..., :d] / num[..., d:].clamp_min(torch.finfo(torch.float32).tiny)
        return out.permute(1, 2, 0, 3)  # [B, T, H, d]


def _positive_features(x: Tensor, omega: Tensor, per_row: bool, mask: Tensor | None = None) -> Tensor:
    """``φ(x) ∝ exp(Ωx − ‖x‖²/2 − c)`` for ``x [H, B, T, d]`` → ``[H, B, T, m]``.

    The factor ``1/√m`` and ``e^{-c}`` are constants of each query row (or of each
    graph's keys) and cancel in ``num_i/den_i``, so they are left out. ``c`` is the detached maximum of the exponent over features (``per_row``, queries) or
    over features and keys of each graph and head (keys); masked keys get φ = 0. In-place
    steps keep one ``[H, B, T, m]`` buffer alive instead of four."""
    logits = x @ omega.t()
    logits.sub_(0.5 * (x * x).sum(-1, keepdim=True))
    if mask is not None:
        logits.masked_fill_(~mask, float("-inf"))
    with torch.no_grad():
        c = logits.amax(-1, keepdim=True) if per_row else logits.amax(dim=(2, 3), keepdim=True)
    return logits.sub_(c).exp_()
