"""Graphs with the exact field layout of ``data.PeptideGraph``, built without the data layer.

Used by the model tests (shape and scaling checks on chains and rings) and by the
scaling benchmark (peptide-like graphs of up to thousands of atoms). The fields and
their batching rules follow docs/ARCHITECTURE.md:

* ``x`` float32 ``[N, atom_dim]``, ``edge_index`` long ``[2, E]`` (both directions),
  ``edge_attr`` float32 ``[E, bond_dim]``, ``degree`` long ``[N]``;
* ``spd`` uint8 ``[N*N]`` row-major, 255 = unreachable (concatenated, not incremented);
* ``pair_index`` long ``[2, P]`` ordered pairs at 1..hops (incremented by num_nodes),
  ``pair_dist`` long ``[P]``, ``pair_path`` long ``[P, hops]`` edge ids along one
  shortest path (incremented by num_edges);
* ``y`` float32 ``[1, T]``;
* a stand-in fragment view (``atom_frag``, ``frag_x``, ``frag_edge_index``) and ``fp``
  (see :func:`graph_from_edges`).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, shortest_path
from torch_geometric.data import Data

from pepland_hpo.models.config import ATOM_DIM, BOND_DIM, FP_SIZE, FRAG_DIM, PAIR_HOPS


class SyntheticGraph(Data):
    """A ``Data`` whose batching matches ``PeptideGraph`` (see module docstring)."""

    def __inc__(self, key, value, *args, **kwargs):
        if key == "pair_path":
            return self.edge_index.size(1)
        if key in ("atom_frag", "frag_edge_index"):
            return self.frag_x.size(0)
        if key in ("spd", "pair_dist", "degree"):
            return 0
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key, value, *args, **kwargs):
        if key == "atom_frag":
            return 0
        if key in ("spd", "pair_path", "pair_dist", "degree", "y"):
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)


def graph_from_edges(
    num_nodes: int,
    bonds: list[tuple[int, int]],
    x: torch.Tensor | None = None,
    bond_attr: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    hops: int = PAIR_HOPS,
    seed: int = 0,
) -> SyntheticGraph:
    """Build every field from an undirected bond list ``[(u, v), ...]``.

    Edge ``2b`` is ``u→v`` and ``2b+1`` is ``v→u`` for bond ``b``; both carry the bond's
    features. Shortest paths come from scipy (unweighted BFS); for each pair within
    ``hops`` one shortest path is recovered from the predecessor matrix.
    """
    gen = torch.Generator().manual_seed(seed)
    n = num_nodes
    if x is None:
        x = torch.randn(n, ATOM_DIM, generator=gen)
    if bond_attr is None:
        bond_attr = torch.randn(len(bonds), BOND_DIM, generator=gen)
    edge_list: list[tuple[int, int]] = []
    for u, v in bonds:
        edge_list += [(u, v), (v, u)]
    edge_index = torch.tensor(edge_list, dtype=torch.long).t().reshape(2, -1)
    edge_attr = bond_attr.repeat_interleave(2, dim=0) if len(bonds) else torch.zeros(0, BOND_DIM)
    degree = torch.bincount(edge_index[0], minlength=n) if len(bonds) else torch.zeros(n, dtype=torch.long)

    adj = csr_matrix(
        (np.ones(len(edge_list)), (edge_index[0].numpy(), edge_index[1].numpy())), shape=(n, n)
    )
    dist, pred = shortest_path(adj, directed=False, unweighted=True, return_predecessors=True)
    finite = np.isfinite(dist)
    spd = np.where(finite, np.minimum(dist, 254), 255).astype(np.uint8)

    edge_id = {e: k for k, e in enumerate(edge_list)}
    ii, jj = np.nonzero(finite & (dist >= 1) & (dist <= hops))
    paths = np.zeros((len(ii), hops), dtype=np.int64)
    dists = dist[ii, jj].astype(np.int64)
    for p, (i, j) in enumerate(zip(ii, jj)):
        # walk back from j to i along predecessors, then read the edges in order i→j
        nodes = [j]
        while nodes[-1] != i:
            nodes.append(pred[i, nodes[-1]])
        nodes.reverse()
        for h in range(len(nodes) - 1):
            paths[p, h] = edge_id[(nodes[h], nodes[h + 1])]
    # a fragment view: components after cutting the bonds whose peptide-bond column is
    # above 0.5 (random features: ~30 % of the bonds); a fragment's features are the mean of
    # its atoms' rows and its size. Follows the bonds' features, so it is atom-order invariant.
    cut = bond_attr[:, 12] > 0.5 if len(bonds) else torch.zeros(0, dtype=torch.bool)
    keep = ~cut.repeat_interleave(2).numpy() if len(bonds) else np.zeros(0, dtype=bool)
    kept = csr_matrix((np.ones(int(keep.sum())), (edge_index[0].numpy()[keep], edge_index[1].numpy()[keep])),
                      shape=(n, n))
    _, atom_frag = connected_components(kept, directed=False)
    atom_frag = torch.from_numpy(atom_frag.astype(np.int64))
    nf = int(atom_frag.max()) + 1 if n else 0
    frag_x = torch.zeros(nf, FRAG_DIM)
    size = torch.bincount(atom_frag, minlength=nf).float()
    frag_x[:, :ATOM_DIM] = torch.zeros(nf, ATOM_DIM).index_add(0, atom_frag, x.float()) / size[:, None]
    frag_x[:, ATOM_DIM] = size / 10
    fe = atom_frag[edge_index] if len(bonds) else torch.zeros(2, 0, dtype=torch.long)
    frag_edge_index = fe[:, fe[0] != fe[1]]
    return SyntheticGraph(
        atom_frag=atom_frag,
        frag_x=frag_x,
        frag_edge_index=frag_edge_index,
        fp=torch.zeros(1, FP_SIZE).index_add(1, torch.arange(n) % FP_SIZE, x[:, :1].float().abs().t()),
        x=x.float(),
        edge_index=edge_index,
        edge_attr=edge_attr.float(),
        degree=degree,
        spd=torch.from_numpy(spd.reshape(-1).copy()),
        pair_index=torch.from_numpy(np.stack([ii, jj]).astype(np.int64)).reshape(2, -1),
        pair_dist=torch.from_numpy(dists),
        pair_path=torch.from_numpy(paths),
        y=torch.zeros(1, 1) if y is None else y.reshape(1, -1).float(),
        num_nodes=n,
    )


def chain_graph(n: int, ring: bool = False, **kw) -> SyntheticGraph:
    """A path of ``n`` atoms (closed into a ring if ``ring``)."""
    bonds = [(i, i + 1) for i in range(n - 1)]
    if ring and n > 2:
        bonds.append((n - 1, 0))
    return graph_from_edges(n, bonds, **kw)


def peptide_like_graph(num_atoms: int, seed: int = 0, **kw) -> SyntheticGraph:
    """A backbone N–Cα–C(=O) repeated, each Cα carrying a short side chain (1–5 atoms,
    some closing a proline-like 5-ring through Cα), until ``num_atoms`` atoms. Degree,
    distance and near-pair statistics resemble real peptides (~8 atoms per residue)."""
    rng = np.random.default_rng(seed)
    bonds: list[tuple[int, int]] = []
    n = 0
    prev_c = None
    while n < num_atoms:
        nn_, ca, c, o = n, n + 1, n + 2, n + 3
        n += 4
        if prev_c is not None:
            bonds.append((prev_c, nn_))
        bonds += [(nn_, ca), (ca, c), (c, o)]
        side = int(rng.integers(1, 6))
        last = ca
        for _ in range(side):
            bonds.append((last, n))
            last = n
            n += 1
        if side == 4 and rng.random() < 0.5:
            # close a 5-ring through Cα (proline-like); odd rings keep shortest paths unique
            bonds.append((last, ca))
        prev_c = c
    keep = num_atoms
    bonds = [(u, v) for u, v in bonds if u < keep and v < keep]
    return graph_from_edges(keep, bonds, seed=seed, **kw)


def graph_from_mol(mol, y: float | None = None, hops: int = PAIR_HOPS) -> SyntheticGraph:
    """An RDKit molecule as a graph with simple features (element/degree/aromatic one-hots
    padded to ``ATOM_DIM``; bond-type one-hots padded to ``BOND_DIM``). A stand-in for
    ``data.featurize.featurize_smiles`` where the data layer is not wanted or not there."""
    elements = ["C", "N", "O", "S", "P", "F", "Cl", "Br", "I", "Se"]
    x = torch.zeros(mol.GetNumAtoms(), ATOM_DIM)
    for a in mol.GetAtoms():
        i = a.GetIdx()
        sym = a.GetSymbol()
        x[i, elements.index(sym) if sym in elements else 10] = 1
        x[i, 11 + min(a.GetDegree(), 5)] = 1
        x[i, 17 + min(a.GetTotalNumHs(), 4)] = 1
        x[i, 22] = float(a.GetIsAromatic())
        x[i, 23] = a.GetMass() / 100
    bonds, battr = [], []
    types = {1.0: 0, 2.0: 1, 3.0: 2, 1.5: 3}
    for b in mol.GetBonds():
        bonds.append((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
        f = torch.zeros(BOND_DIM)
        f[types.get(b.GetBondTypeAsDouble(), 0)] = 1
        f[4] = float(b.GetIsConjugated())
        f[5] = float(b.IsInRing())
        battr.append(f)
    bond_attr = torch.stack(battr) if battr else torch.zeros(0, BOND_DIM)
    yt = None if y is None else torch.tensor([[float(y)]])
    return graph_from_edges(mol.GetNumAtoms(), bonds, x=x, bond_attr=bond_attr, y=yt, hops=hops)
