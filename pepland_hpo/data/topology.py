"""Topology of a molecular graph: all-pair hop distances and near pairs' shortest paths.

Graphormer's spatial encoding needs the hop distance of every atom pair (the
``spd`` field, ``N*N`` uint8, row-major) and its edge encoding needs, for the
pairs within ``PAIR_HOPS``, the edge ids of one shortest path. Both come from
the bond list alone, so the cache stores the near pairs (linear in atoms) and
recomputes the dense distances when a graph is read (:func:`spd_from_edges`).
All-pair distances use the tree-plus-few-rings shape of peptides (see
:func:`_hop_matrix`) instead of a BFS from every atom, several times faster
than both scipy's all-sources Dijkstra and RDKit's Floyd–Warshall distance
matrix.

Edges: bond ``b`` gives edge ``2b`` (begin→end) and ``2b+1`` (end→begin), both
with the bond's features, so ``edge_id // 2`` is the bond index.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from pepland_hpo.data import PAIR_HOPS
# spd is uint8: 255 marks "unreachable" (another fragment); longer paths clip to 254.
SPD_UNREACHABLE = 255

def _neighbours(n: int, begin: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour lists in CSR form (``indptr``, ``indices``) and as an ``[N, max degree]`` table.

    Each atom lists first the bonds it begins, then those it ends, each in bond
    order (this order breaks ties between equally short paths). The table is
    padded with the atom itself, which is never one hop closer to anything.
    """
    src = np.concatenate([begin, end])
    order = np.argsort(src, kind="stable")
    counts = np.bincount(src, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate([end, begin])[order]
    nbr = np.repeat(np.arange(n), int(counts.max()) if src.size else 0).reshape(n, -1)
    rows = src[order]
    nbr[rows, np.arange(src.size) - indptr[rows]] = indices
    return indptr, indices, nbr


def _dfs(nbr: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """DFS from atom 0 over the neighbour table: preorder, parent (root: itself) and depth.

    A plain Python loop: for ~100 atoms it is cheaper than handing scipy a
    sparse matrix (whose construction and validation alone cost more).
    """
    n = nbr.shape[0]
    adj = nbr[:, ::-1].tolist()  # pushed in reverse, so visited in table order
    parent = [0] * n
    depth = [0] * n
    seen = bytearray(n)
    order = []
    stack = [0]
    while stack:
        v = stack.pop()
        if seen[v]:
            continue
        seen[v] = 1
        order.append(v)
        d = depth[parent[v]] + 1 if order[0] != v else 0
        depth[v] = d
        for w in adj[v]:
            if not seen[w]:
                parent[w] = v
                stack.append(w)
    return order, parent, depth


def _upper_mask(n: int) -> np.ndarray:
    """``[n, n]`` bool, True above the diagonal. Remembered for the sizes a peptide dataset
    repeats (up to 256 atoms: at most 16 MB for all of them); larger ones are rebuilt,
    which costs little beside their other ``N²`` work."""
    return _small_upper_mask(n) if n <= 256 else np.triu(np.ones((n, n), dtype=bool), 1)


@lru_cache(maxsize=256)
def _small_upper_mask(n: int) -> np.ndarray:
    return np.triu(np.ones((n, n), dtype=bool), 1)


def _hop_matrix(n: int, begin: np.ndarray, end: np.ndarray, indptr, indices, nbr) -> np.ndarray:
    """All-pairs hop counts (int16, -1 = unreachable).

    A peptide is a tree plus a few rings, so instead of a BFS from every atom:
    take a DFS spanning tree and get every tree distance at once from
    ``depth_i + depth_j - 2 depth_lca``, where in DFS preorder the LCA's depth is
    one less than the smallest depth in the preorder range ``(pre_i, pre_j]``
    (a running minimum along each row of one N×N array). Then correct for the
    rings: a shortest path that leaves the tree uses some non-tree bond
    ``(u, v)`` and so passes through ``u`` and ``v``; hence
    ``d(i, j) = min(d_tree(i, j), min_u d(i, u) + d(u, j))`` over the endpoints
    ``u`` of the non-tree bonds (Floyd–Warshall over those few atoms only).
    No matrix product is involved (BLAS threads cost milliseconds on a busy
    machine). When the atom order is itself the DFS preorder (usual for atoms
    read from SMILES) no permutation is needed. Disconnected molecules (salts)
    take scipy's BFS from every atom.
    """
    order, parent, depth = _dfs(nbr)
    if len(order) < n:  # more than one fragment
        graph = csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
        dist = dijkstra(graph, directed=True, unweighted=True)
        return np.where(np.isfinite(dist), dist, -1).astype(np.int16)
    dep_pre = np.array(depth, dtype=np.int16)
    identity = order == list(range(n))  # SMILES atom order is often a DFS preorder already
    if not identity:
        rank = np.empty(n, dtype=np.intp)
        rank[order] = np.arange(n)
        dep_pre = dep_pre[order]
    # running minimum of depths over the preorder range (a, b], for b > a only
    run_min = np.minimum.accumulate(np.where(_upper_mask(n), dep_pre, np.int16(16000)), axis=1)
    hop = np.minimum(run_min, run_min.T)  # mirror: the range of (b, a) is that of (a, b)
    # depth_a + depth_b - 2 (min - 1); the diagonal (no range) is 0
    hop -= 1
    hop *= -2
    hop += dep_pre[:, None]
    hop += dep_pre
    np.fill_diagonal(hop, 0)
    if not identity:
        hop = hop[np.ix_(rank, rank)]
    # Ring correction as Floyd–Warshall restricted to the endpoints of non-tree
    # bonds: with those bonds set to 1, every shortest path splits at endpoints
    # into tree paths and single non-tree bonds, so relaxing through each
    # endpoint in turn makes every distance exact.
    parent = np.array(parent)
    off_tree = (parent[end] != begin) & (parent[begin] != end)
    if off_tree.any():
        u, v = begin[off_tree], end[off_tree]
        hop[u, v] = 1
        hop[v, u] = 1
        via = np.empty_like(hop)
        for w in np.unique(np.concatenate([u, v])).tolist():
            col = hop[w]  # the matrix is symmetric: row w is column w
            np.add(col[:, None], col, out=via)
            np.minimum(hop, via, out=hop)
    return hop


def _spd(hop: np.ndarray) -> np.ndarray:
    """Hop counts as the flat uint8 ``spd`` field: 255 unreachable, longer paths clipped to 254."""
    n = hop.shape[0]
    if n <= SPD_UNREACHABLE and (n == 0 or hop[0].min() >= 0):  # connected, so every distance is below 255
        return hop.astype(np.uint8).reshape(-1)
    return np.where(hop >= 0, np.minimum(hop, SPD_UNREACHABLE - 1), SPD_UNREACHABLE).astype(np.uint8).reshape(-1)


def spd_from_edges(edge_index: np.ndarray, num_nodes: int) -> np.ndarray:
    """The ``spd`` field (``N*N`` uint8, row-major) of a graph from its edges in this module's
    layout (bond ``b`` as edges ``2b``, ``2b + 1``): exactly what featurising the molecule gave.

    The cache keeps no dense distances (``N²`` bytes a molecule); a dataset calls this
    when it builds a graph, in the loader's worker processes."""
    n = int(num_nodes)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    begin, end = edge_index[0, 0::2].astype(np.int64), edge_index[1, 0::2].astype(np.int64)
    indptr, indices, nbr = _neighbours(n, begin, end)
    return _spd(_hop_matrix(n, begin, end, indptr, indices, nbr))


@lru_cache(maxsize=16)
def _link_rows(hops: int) -> np.ndarray:
    """``[hops + 1, hops]``: for a pair at distance d (row d), the link that holds edge s (column s).

    Link ``t`` of a pair is the pair reached by following ``t`` predecessor
    links; its last edge is the pair's edge ``d - 1 - t``. Columns past the
    path (``s >= d``) point at link ``hops``, whose edge is the padding 0.
    """
    d = np.arange(hops + 1)[:, None]
    s = np.arange(hops)[None, :]
    return np.where(s < d, d - 1 - s, hops)


def _paths(n: int, begin: np.ndarray, end: np.ndarray, edge_id: np.ndarray, hops: int):
    """All-pairs hop distances plus, for pairs within ``hops``, one shortest path's edge ids.

    The path of a pair ``(i, j)`` at distance ``d`` is the path of ``(i, k)`` plus
    the edge ``k → j``, where ``k`` is the first neighbour of ``j`` (in the order
    of :func:`_neighbours`) at distance ``d - 1`` from ``i``. All pairs pick their
    ``k`` at once; following the ``(i, k)`` links ``hops - 1`` times gives every
    path's edges from last to first.
    """
    if n == 0:
        empty = np.zeros((2, 0), dtype=np.int64)
        return np.zeros(0, np.uint8), empty, np.zeros(0, np.int64), np.zeros((0, hops), np.int64)
    indptr, indices, nbr = _neighbours(n, begin, end)
    hop = _hop_matrix(n, begin, end, indptr, indices, nbr)
    spd = _spd(hop)
    # uint8 wrap-around: spd 0 becomes 255, so one comparison keeps 1..hops
    flat = np.flatnonzero((spd - np.uint8(1)) < hops)
    p = flat.size
    pair_index = np.empty((2, p), dtype=np.int64)
    pi, pj = np.divmod(flat, n, out=(pair_index[0], pair_index[1]))  # row-major order
    pdist = spd[flat].astype(np.int64)
    if p == 0:
        return spd, pair_index, pdist, np.zeros((0, hops), dtype=np.int64)
    # k: the first neighbour of j with the smallest distance to i (d - 1: the
    # triangle inequality keeps every neighbour within d - 1..d + 1)
    cand = nbr.take(pj, axis=0)
    width = cand.shape[1]
    row_i = flat - pj
    near = hop.reshape(-1).take(row_i[:, None] + cand).argmin(axis=1)
    near += np.arange(0, p * width, width)
    k = cand.reshape(-1).take(near)
    # last edge of each path, plus the padding edge 0 at index p
    last = np.zeros(p + 1, dtype=np.int64)
    last[:p] = edge_id.reshape(-1).take(k * n + pj)
    # row of the pair (i, k); a pair at distance 1 has k == i and no such row (never followed)
    slot = np.zeros(n * n, dtype=np.intp)
    slot[flat] = np.arange(p)
    prev = slot.take(row_i + k)
    links = np.empty((hops + 1, p), dtype=np.intp)
    links[0] = np.arange(p)
    for t in range(1, hops):
        np.take(prev, links[t - 1], out=links[t])
    links[hops] = p
    path = last.take(links.reshape(-1).take(_link_rows(hops)[pdist] * p + links[0][:, None]))
    return spd, pair_index, pdist, path


def _edge_ids(n: int, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``edge_id[u, v]``: id of the directed edge u→v (bond b: 2b forward, 2b+1 backward)."""
    edge_id = np.zeros((n, n), dtype=np.int64)
    ids = np.arange(0, 2 * len(begin), 2)
    edge_id[begin, end] = ids
    edge_id[end, begin] = ids + 1
    return edge_id


def topology_arrays(edge_index: np.ndarray, num_nodes: int, hops: int = PAIR_HOPS) -> dict[str, np.ndarray]:
    """``degree``, ``spd``, ``pair_index``, ``pair_dist``, ``pair_path`` of a graph given by its edges.

    For graphs whose topology changed after featurisation (contrastive
    augmentations drop bonds and atoms): the same computation, so the same
    distances and the same choice of paths, as for a molecule. ``edge_index``
    must keep this module's layout — bond ``b`` as edges ``2b`` (begin→end) and
    ``2b + 1`` (end→begin) — which masking whole bonds out of it preserves.
    """
    n = int(num_nodes)
    begin, end = edge_index[0, 0::2], edge_index[1, 0::2]
    if not (np.array_equal(edge_index[0, 1::2], end) and np.array_equal(edge_index[1, 1::2], begin)):
        raise ValueError("edge_index must list each bond as two consecutive directed edges (2b, 2b+1)")
    degree = np.bincount(np.concatenate([begin, end]), minlength=n).astype(np.int64)
    spd, pair_index, pair_dist, pair_path = _paths(n, begin, end, _edge_ids(n, begin, end), hops)
    return {"degree": degree, "spd": spd, "pair_index": pair_index, "pair_dist": pair_dist,
            "pair_path": pair_path}
