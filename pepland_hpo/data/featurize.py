"""Molecule → graph tensors (DESIGN.md §3), vectorised with numpy.

Speed comes from few Python↔C++ crossings (that crossing is the cost) and
doing every one-hot, lookup and path reconstruction on whole arrays. Atom
properties come from one-atom substructure queries, one C++ call per property
value for the whole molecule (see ``_ATOM_QUERIES``); bonds are read with one
getter per property. All-pair distances use the tree-plus-few-rings shape of
peptides (see :func:`_hop_matrix`) instead of a BFS from every atom, several
times faster than both scipy's all-sources Dijkstra and RDKit's Floyd–Warshall
distance matrix.

Atom features (38):

==========================================  ====  =======
feature                                      dims  columns
==========================================  ====  =======
element C N O S P F Cl Br I Se, other         11   0-10
heavy-atom degree 0..4, 5+                     6   11-16
formal charge -1, 0, +1, other                 4   17-20
chirality none, R, S, other (see below)        4   21-24
total H 0..3, 4+                               5   25-29
hybridisation sp sp2 sp3 sp3d sp3d2 other      6   30-35
aromatic                                       1   36
standard atomic weight / 100                   1   37
==========================================  ====  =======

Chirality is the CIP label of RDKit's legacy stereo perception (``_CIPCode``),
which does not depend on atom order: the same molecule read from a sequence
and from any SMILES gets the same rows, and L- and D-residues differ.
"other" is an atom with a chiral tag but no R/S label. Perception runs on the
molecule if it has not run yet (``MolFromSmiles`` runs it; ``MolFromSequence``
does not).

Bond features (14): type single/double/triple/aromatic (4, from RDKit's bond
order: dative bonds count as single, orders other than 1/1.5/2/3 leave all four 0), conjugated (1), in ring (1), stereo
none/any/Z/E/cis/trans (6; atropisomer tags count as "any"), peptide backbone
amide (1), in a ring of size >= 8 (1, macrocycle).

Fragment view (``atom_frag``, ``frag_x``, ``frag_edge_index``) and the Morgan count
fingerprint (``fp_index``, ``fp_count``): see :mod:`pepland_hpo.data.fragments`.

Edges: bond ``b`` gives edge ``2b`` (begin→end) and ``2b+1`` (end→begin), both
with the bond's features, so ``edge_id // 2`` is the bond index.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from itertools import chain

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import rdqueries
from rdkit.rdBase import BlockLogs
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from pepland_hpo.data.fragments import dense_fingerprint, fragment_arrays
from pepland_hpo.data.graph import PeptideGraph
from pepland_hpo.errors import UserInputError

# Bump whenever the output of featurize_mol changes: it is part of the cache key.
FEATURIZER_VERSION = "3"  # 3: fragment view and Morgan counts
ATOM_DIM = 38
BOND_DIM = 14
PAIR_HOPS = 5
# spd is uint8: 255 marks "unreachable" (another fragment); longer paths clip to 254.
SPD_UNREACHABLE = 255

# Backbone amide between two α-amino acids: N–Cα–C(=O)–N–Cα. Requiring a
# nitrogen on the carbonyl side's Cα excludes the side-chain amides of Asn and
# Gln; accepting any trivalent N keeps N-methylated residues, proline and
# peptoid nitrogens. The matched bond is atoms 2–4 (carbonyl C – amide N).
PEPTIDE_BOND_SMARTS = "[#7][CX4][CX3](=[OX1])[#7X3][CX4]"
_PEPTIDE_QUERY = Chem.MolFromSmarts(PEPTIDE_BOND_SMARTS)
_Bond = Chem.Bond
MACROCYCLE_MIN_RING = 8

# ---------------------------------------------------------------- lookup tables
# Each table maps an RDKit integer code to a column inside its one-hot block.


def _table(size: int, default: int, mapping: dict[int, int]) -> np.ndarray:
    out = np.full(size, default, dtype=np.int64)
    for code, col in mapping.items():
        out[code] = col
    return out


_ELEMENTS = {6: 0, 7: 1, 8: 2, 16: 3, 15: 4, 9: 5, 17: 6, 35: 7, 53: 8, 34: 9}
_ELEMENT_COL = _table(256, 10, _ELEMENTS)
# HybridizationType: 2 SP, 3 SP2, 4 SP3, 6 SP3D, 7 SP3D2; the rest (S, SP2D, ...) "other"
_HYBRID_COL = _table(16, 5, {2: 0, 3: 1, 4: 2, 6: 3, 7: 4})
# BondType: 1 single, 2 double, 3 triple, 12 aromatic; others → a dump column (4) dropped later
_BOND_TYPE_COL = _table(32, 4, {1: 0, 2: 1, 3: 2, 12: 3})
# BondStereo: 0 none, 1 any, 2 Z, 3 E, 4 cis, 5 trans; atropisomers (6, 7) → "any"
_STEREO_COL = _table(16, 1, {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5})
_PT = Chem.GetPeriodicTable()
_ATOMIC_WEIGHT = np.array([_PT.GetAtomicWeight(z) for z in range(119)] + [0.0] * (256 - 119))
_MASS_COL = (_ATOMIC_WEIGHT / 100.0).astype(np.float32)

# offsets of the atom blocks inside x
_A_ELEM, _A_DEG, _A_CHG, _A_CHI, _A_HS, _A_HYB, _A_AROM, _A_MASS = 0, 11, 17, 21, 25, 30, 36, 37
# offsets of the bond blocks inside edge_attr (before the dump column is dropped)
_B_TYPE, _B_CONJ, _B_RING, _B_STEREO, _B_PEPTIDE, _B_MACRO = 0, 4, 5, 6, 12, 13

# ---------------------------------------------------------------- atom queries
# Atom properties come from one-atom queries instead of per-atom getters: one
# C++ call returns the indices of every atom with a property value, while a
# getter costs a Python↔C++ crossing per atom (and the enum getters, chiral tag
# and hybridisation, cost several). Each block starts at its most common value
# (C, charge 0, no chirality, 0 H, sp3); a query per other common value (N, O;
# 1, 2, 3 H; sp2; R, S) overwrites it. One more query finds the rare atoms
# (other elements, charged, neither sp2 nor sp3, 4+ H, a chiral tag without an
# R/S label), whose features are read with getters. SMARTS ``h<k>`` is
# ``GetTotalNumHs()`` (explicit plus implicit H, not H neighbours), ``^2``/``^3``
# are SP2/SP3 (tests/data/test_featurize.py checks both against the getters).


def _query(query: str | Chem.Atom) -> Chem.Mol:
    if isinstance(query, str):
        return Chem.MolFromSmarts(query)
    mol = Chem.RWMol()
    mol.AddAtom(query)
    return mol.GetMol()


def _rare_atom_query() -> Chem.Mol:
    rare = Chem.MolFromSmarts("[!#6&!#7&!#8,!+0,!^2&!^3,!h0&!h1&!h2&!h3]").GetAtomWithIdx(0)
    odd_chiral = rdqueries.HasChiralTagQueryAtom()
    for code in ("R", "S"):
        odd_chiral.ExpandQuery(
            rdqueries.HasStringPropWithValueQueryAtom("_CIPCode", code, negate=True), Chem.CompositeQueryType.COMPOSITE_AND
        )
    rare.ExpandQuery(odd_chiral, Chem.CompositeQueryType.COMPOSITE_OR)
    return _query(rare)


# (query, block, column inside x)
_ATOM_QUERIES = [
    (_query("[#7]"), 0, _A_ELEM + _ELEMENTS[7]),
    (_query("[#8]"), 0, _A_ELEM + _ELEMENTS[8]),
    (_query("[h1]"), 4, _A_HS + 1),
    (_query("[h2]"), 4, _A_HS + 2),
    (_query("[h3]"), 4, _A_HS + 3),
    (_query("[^2]"), 5, _A_HYB + 1),
    (_query(rdqueries.HasStringPropWithValueQueryAtom("_CIPCode", "R")), 3, _A_CHI + 1),
    (_query(rdqueries.HasStringPropWithValueQueryAtom("_CIPCode", "S")), 3, _A_CHI + 2),
]
_Q_RARE = _rare_atom_query()
# default column of each block: C, degree 0 (the degree is added), charge 0, no chirality, 0 H, sp3
_ATOM_DEFAULT = np.array([_A_ELEM, _A_DEG, _A_CHG + 1, _A_CHI, _A_HS, _A_HYB + 2], dtype=np.int64)
_ELEMENT_Z = np.array([6, 7, 8, 16, 15, 9, 17, 35, 53, 34, 0])  # element column → Z (0: other, set by getter)


_ALL_MATCHES = Chem.SubstructMatchParameters()
_ALL_MATCHES.uniquify = False
_ALL_MATCHES.maxMatches = 1 << 30


def _hits(mol: Chem.Mol, query: Chem.Mol) -> np.ndarray:
    """Indices of the atoms matching a one-atom query."""
    return np.fromiter(chain.from_iterable(mol.GetSubstructMatches(query, _ALL_MATCHES)), dtype=np.intp)


def _rare_atom_cols(atom: Chem.Atom) -> tuple[int, list[int]]:
    """Atomic number and the columns of blocks element, charge, chirality, H, hybridisation, by getters."""
    z = atom.GetAtomicNum()
    charge = atom.GetFormalCharge()
    cip = atom.GetProp("_CIPCode") if atom.HasProp("_CIPCode") else ""
    chiral = 1 if cip == "R" else 2 if cip == "S" else 3 if int(atom.GetChiralTag()) else 0
    return z, [
        _A_ELEM + int(_ELEMENT_COL[min(z, 255)]),
        _A_CHG + (charge + 1 if -1 <= charge <= 1 else 3),
        _A_CHI + chiral,
        _A_HS + min(atom.GetTotalNumHs(), 4),
        _A_HYB + int(_HYBRID_COL[int(atom.GetHybridization())]),
    ]


def _ensure_stereo(mol: Chem.Mol) -> None:
    """Run RDKit's (legacy) stereo perception unless it has run: it sets ``_CIPCode``.

    ``MolFromSmiles`` runs it while parsing; ``MolFromSequence`` and hand-built
    molecules do not. ``cleanIt`` drops chiral tags on atoms that are no
    stereocentres, as SMILES parsing does.
    """
    if not mol.HasProp("_StereochemDone"):
        Chem.AssignStereochemistry(mol, cleanIt=True, force=False)


def _atom_features(
    mol: Chem.Mol, n: int, begin: np.ndarray, end: np.ndarray, aromatic_bond: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``x [N, 38]`` float32 and heavy-atom degree ``[N]`` int64."""
    cols = np.empty((n, 6), dtype=np.int64)
    cols[:] = _ATOM_DEFAULT
    for query, block, col in _ATOM_QUERIES:
        cols[_hits(mol, query), block] = col
    z = _ELEMENT_Z[cols[:, 0]]
    for i in _hits(mol, _Q_RARE).tolist():
        z[i], cols[i, [0, 2, 3, 4, 5]] = _rare_atom_cols(mol.GetAtomWithIdx(i))
    # heavy degree from the bond list: count neighbours that are not hydrogen
    heavy = z > 1
    degree = np.bincount(begin[heavy[end]], minlength=n) + np.bincount(end[heavy[begin]], minlength=n)
    cols[:, 1] += np.minimum(degree, 5)
    cols += np.arange(0, n * ATOM_DIM, ATOM_DIM)[:, None]
    x = np.zeros((n, ATOM_DIM), dtype=np.float32)
    x.put(cols, 1.0)
    # RDKit marks an atom aromatic exactly when it has an aromatic bond
    x[begin[aromatic_bond], _A_AROM] = 1.0
    x[end[aromatic_bond], _A_AROM] = 1.0
    x[:, _A_MASS] = _MASS_COL[z]
    return x, degree


def _bond_features(
    mol: Chem.Mol, nb: int, code: np.ndarray, conj: np.ndarray, stereo: np.ndarray, edge_id: np.ndarray
) -> np.ndarray:
    """``[num_bonds, 14]`` float32, one row per bond (edges repeat it)."""
    # one extra dump column for bond types outside the four named ones
    attr = np.zeros((nb, BOND_DIM + 1), dtype=np.float32)
    type_col = _BOND_TYPE_COL[code]
    type_col[type_col == 4] = BOND_DIM - _B_TYPE
    row = np.arange(0, nb * (BOND_DIM + 1), BOND_DIM + 1)
    attr.put(row + type_col, 1.0)
    attr.put(row + (_B_STEREO + _STEREO_COL[stereo]), 1.0)
    attr[:, _B_CONJ] = conj
    rings = mol.GetRingInfo().BondRings()
    if rings:
        sizes = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
        members = np.fromiter(chain.from_iterable(rings), dtype=np.int64, count=int(sizes.sum()))
        attr[members, _B_RING] = 1.0
        if sizes.max() >= MACROCYCLE_MIN_RING:
            attr[members[np.repeat(sizes >= MACROCYCLE_MIN_RING, sizes)], _B_MACRO] = 1.0
    matches = mol.GetSubstructMatches(_PEPTIDE_QUERY, _ALL_MATCHES)
    if matches:
        m = np.array(matches, dtype=np.int64)
        attr[edge_id[m[:, 2], m[:, 4]] >> 1, _B_PEPTIDE] = 1.0
    return attr[:, :BOND_DIM]


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


@lru_cache(maxsize=512)
def _upper_mask(n: int) -> np.ndarray:
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
    if n <= SPD_UNREACHABLE and hop[0].min() >= 0:  # connected, so every distance is below 255
        spd = hop.astype(np.uint8).reshape(-1)
    else:
        spd = np.where(hop >= 0, np.minimum(hop, SPD_UNREACHABLE - 1), SPD_UNREACHABLE).astype(np.uint8).reshape(-1)
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


def mol_arrays(mol: Chem.Mol, hops: int = PAIR_HOPS) -> dict[str, np.ndarray]:
    """Every graph field of one molecule as numpy arrays (full dtypes).

    The cache stores these in compact dtypes; :func:`featurize_mol` wraps them in
    a :class:`PeptideGraph`. Atom order is the molecule's own order. Runs RDKit's
    stereo perception on ``mol`` if it has not run yet (for the R/S labels).
    """
    _ensure_stereo(mol)
    n = mol.GetNumAtoms()
    nb = mol.GetNumBonds()
    bonds = list(map(mol.GetBondWithIdx, range(nb)))
    begin = np.fromiter(map(_Bond.GetBeginAtomIdx, bonds), dtype=np.int64, count=nb)
    end = np.fromiter(map(_Bond.GetEndAtomIdx, bonds), dtype=np.int64, count=nb)
    order = np.fromiter(map(_Bond.GetBondTypeAsDouble, bonds), dtype=np.float64, count=nb)  # no enum to build
    conj = np.fromiter(map(_Bond.GetIsConjugated, bonds), dtype=np.float32, count=nb)
    # stereo exists only on double bonds: ask RDKit about those alone
    stereo = np.zeros(nb, dtype=np.int64)
    for k in np.flatnonzero(order == 2.0).tolist():
        stereo[k] = int(bonds[k].GetStereo())
    # bond order → RDKit's BondType code (1, 2, 3; 1.5 aromatic → 12; anything else → 0)
    code = order.astype(np.int64)
    code[(order != code) | (code > 3)] = 0
    code[order == 1.5] = 12
    edge_id = _edge_ids(n, begin, end)
    x, degree = _atom_features(mol, n, begin, end, code == 12)
    battr = _bond_features(mol, nb, code, conj, stereo, edge_id)
    edge_index = np.empty((2, 2 * nb), dtype=np.int64)
    edge_index[0, 0::2], edge_index[1, 0::2] = begin, end
    edge_index[0, 1::2], edge_index[1, 1::2] = end, begin
    spd, pair_index, pair_dist, pair_path = _paths(n, begin, end, edge_id, hops)
    small_ring = (battr[:, _B_RING] > 0) & (battr[:, _B_MACRO] == 0)
    frags = fragment_arrays(mol, x, begin, end, code, small_ring)
    return {
        "x": x,
        "edge_index": edge_index,
        "edge_attr": np.repeat(battr, 2, axis=0),
        "degree": degree,
        "spd": spd,
        "pair_index": pair_index,
        "pair_dist": pair_dist,
        "pair_path": pair_path,
        # the fragment view (data/fragments.py) and the molecule's Morgan counts, sparse
        "atom_frag": frags.atom_frag,
        "frag_x": frags.frag_x,
        "frag_edge_index": frags.frag_edge_index,
        "fp_index": frags.fp_index,
        "fp_count": frags.fp_count,
    }


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


def graph_from_arrays(arrays: dict[str, np.ndarray], y: np.ndarray | None = None) -> PeptideGraph:
    arrays = dict(arrays)
    if "fp_index" in arrays:  # the graph carries the fingerprint dense, one row per molecule
        arrays["fp"] = dense_fingerprint(arrays.pop("fp_index"), arrays.pop("fp_count"))
    g = PeptideGraph(**{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()})
    if y is not None:
        g.y = torch.as_tensor(y, dtype=torch.float32).reshape(1, -1)
    return g


def featurize_mol(mol: Chem.Mol) -> PeptideGraph:
    """Graph of an RDKit molecule (as parsed: hydrogens implicit unless given as atoms)."""
    return graph_from_arrays(mol_arrays(mol))


def featurize_smiles(smiles: str) -> PeptideGraph:
    """Parse a SMILES string with RDKit and featurise it.

    Raises :class:`UserInputError` when RDKit cannot parse it (reading whole
    files goes through ``data.readers``, which skips and reports such rows).
    """
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise UserInputError(f"RDKit cannot parse SMILES {smiles!r}")
    return featurize_mol(mol)


@contextmanager
def quiet_rdkit():
    """Silence RDKit's parse warnings for a block (the readers report reasons themselves)."""
    block = BlockLogs()
    try:
        yield
    finally:
        del block
