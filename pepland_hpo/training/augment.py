"""Graph augmentations for contrastive pretraining of peptide graphs.

Four augmentations, MolCLR-like 25 % rates by default:

* ``mask``     -- attribute masking: the features of a fraction of atoms become
  the zero vector (no real atom one-hot encodes as all zeros, so the encoder
  sees "unknown atom");
* ``noise``    -- attribute noise: Gaussian noise added to a fraction of atoms;
* ``bond``     -- bond dropping: a fraction of undirected bonds is removed (both
  directions at once, so the graph stays symmetric);
* ``subgraph`` -- subgraph removal: a connected ball of atoms around a random
  atom is removed with its bonds (MolCLR's subgraph removal);
* ``node``     -- node dropping: random atoms are removed (GraphCL).

The topology-changing ones (``bond``, ``subgraph``, ``node``) rebuild every
Graphormer input that depends on topology -- ``degree``, ``spd``,
``pair_index`` / ``pair_dist`` / ``pair_path`` -- with
:func:`structure_from_edge_index`, so a model never sees a distance or a path
through a bond that no longer exists.

Graphs with the fragment view keep it consistent: dropped atoms leave their
fragments (a fragment without atoms is removed) and fragment edges are rebuilt
from the bonds that remain between fragments.

Every function takes a ``torch.Generator`` so a run is reproducible from its
seed. A view composes two *different* augmentations (GraphCL found that a
composition of two helps more than any single one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from pepland_hpo.data.featurize import PAIR_HOPS

AUGMENTATIONS = ("mask", "noise", "bond", "subgraph", "node")
DEFAULT_POOL = ("mask", "noise", "bond", "subgraph")


# --------------------------------------------------------------------------- structure


def structure_from_edge_index(
    edge_index: torch.Tensor, num_nodes: int, hops: int = PAIR_HOPS
) -> dict[str, torch.Tensor]:
    """Degree, shortest-path distances and near-pair paths of one graph, as tensors.

    The featuriser's own computation (:func:`pepland_hpo.data.featurize.topology_arrays`),
    so an augmented view gets distances and paths exactly as a molecule with that
    topology would. The augmentations below remove whole bonds (both directed
    edges) and keep the order of the rest, which keeps its edge layout.
    """
    from pepland_hpo.data.featurize import topology_arrays

    arrays = topology_arrays(edge_index.detach().cpu().numpy().astype(np.int64), int(num_nodes), hops)
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items()}


def _with_structure(g, edge_index: torch.Tensor, edge_attr: torch.Tensor, num_nodes: int, x):
    """A copy of ``g`` (same class, so batching increments still apply) on new topology."""
    out = g.clone()
    out.x = x
    out.edge_index = edge_index
    out.edge_attr = edge_attr
    hops = int(g.pair_path.size(1)) if getattr(g, "pair_path", None) is not None else PAIR_HOPS
    for key, value in structure_from_edge_index(edge_index, num_nodes, hops).items():
        out[key] = value.to(g.x.device)
    if getattr(out, "atom_frag", None) is not None:
        # fragment edges are the bonds between fragments that are left
        from pepland_hpo.data.fragments import fragment_edges

        fe = fragment_edges(edge_index.detach().cpu().numpy(), out.atom_frag.cpu().numpy())
        out.frag_edge_index = torch.from_numpy(fe).to(edge_index.device)
    if "num_nodes" in g.keys():
        out.num_nodes = num_nodes
    return out


def _count(rate: float, total: int) -> int:
    # MolCLR: floor(rate * n), at least one when there is anything to perturb
    if total <= 0 or rate <= 0:
        return 0
    return min(total, max(1, int(rate * total)))


def _choose(total: int, k: int, gen: torch.Generator | None) -> torch.Tensor:
    return torch.randperm(total, generator=gen)[:k]


# --------------------------------------------------------------------------- attributes


def mask_atoms(g, rate: float = 0.25, gen: torch.Generator | None = None):
    """Zero the features of ``rate`` of the atoms (attribute masking)."""
    n = g.num_nodes
    idx = _choose(n, _count(rate, n), gen).to(g.x.device)
    out = g.clone()
    x = out.x.clone()
    x[idx] = 0.0
    out.x = x
    return out


def noise_atoms(g, rate: float = 0.25, gen: torch.Generator | None = None, std: float = 0.1):
    """Add N(0, std^2) noise to the features of ``rate`` of the atoms (attribute noise)."""
    n = g.num_nodes
    idx = _choose(n, _count(rate, n), gen)
    noise = torch.randn(idx.numel(), g.x.size(1), generator=gen) * std
    out = g.clone()
    x = out.x.clone()
    x[idx.to(x.device)] += noise.to(x.device, x.dtype)
    out.x = x
    return out


# --------------------------------------------------------------------------- topology


def drop_bonds(g, rate: float = 0.25, gen: torch.Generator | None = None):
    """Remove ``rate`` of the undirected bonds (both directed edges of each)."""
    ei = g.edge_index.cpu()
    n = g.num_nodes
    src, dst = ei[0], ei[1]
    forward = (src < dst).nonzero(as_tuple=True)[0]  # one id per undirected bond
    k = _count(rate, forward.numel())
    if k == 0:
        return g.clone()
    dropped = forward[_choose(forward.numel(), k, gen)]
    # mark the reverse direction too: a bond's key is its (min, max) atom pair
    bond_key = torch.minimum(src, dst) * n + torch.maximum(src, dst)
    keep = ~torch.isin(bond_key, bond_key[dropped])
    keep_dev = keep.to(g.edge_index.device)
    return _with_structure(g, g.edge_index[:, keep_dev], g.edge_attr[keep_dev], n, g.x)


def remove_nodes(g, drop: torch.Tensor):
    """Remove the atoms in ``drop`` (index tensor) and their bonds, renumbering the rest."""
    n = g.num_nodes
    keep_node = torch.ones(n, dtype=torch.bool)
    keep_node[drop.cpu()] = False
    if not keep_node.any():  # never return an empty graph: the encoder needs an atom
        keep_node[0] = True
    new_id = torch.full((n,), -1, dtype=torch.long)
    new_id[keep_node] = torch.arange(int(keep_node.sum()))
    ei = g.edge_index.cpu()
    keep_edge = keep_node[ei[0]] & keep_node[ei[1]]
    dev = g.x.device
    edge_index = new_id[ei[:, keep_edge]].to(dev)
    keep_edge = keep_edge.to(dev)
    x = g.x[keep_node.to(dev)]
    if getattr(g, "atom_frag", None) is not None:
        # the fragment view follows: drop fragments that lost every atom, renumber the rest
        g = g.clone()
        frag = g.atom_frag.cpu()[keep_node]
        present, g.atom_frag = torch.unique(frag, return_inverse=True)
        g.atom_frag = g.atom_frag.to(dev)
        g.frag_x = g.frag_x[present.to(dev)]
    return _with_structure(g, edge_index, g.edge_attr[keep_edge], int(keep_node.sum()), x)


def drop_nodes(g, rate: float = 0.25, gen: torch.Generator | None = None):
    """Remove ``rate`` of the atoms chosen uniformly (GraphCL node dropping)."""
    n = g.num_nodes
    k = min(_count(rate, n), n - 1)
    return remove_nodes(g, _choose(n, k, gen))


def drop_subgraph(g, rate: float = 0.25, gen: torch.Generator | None = None):
    """Remove a connected ball of ``rate`` of the atoms around a random atom.

    The ball is the k atoms nearest to the start atom by the graph's own
    ``spd`` (ties broken at random), i.e. a BFS without a Python loop.
    """
    n = g.num_nodes
    k = min(_count(rate, n), n - 1)
    if k <= 0:
        return g.clone()
    start = int(torch.randint(n, (1,), generator=gen))
    row = g.spd.view(n, n)[start].cpu().float()  # 255 (unreachable) sorts last
    order = torch.argsort(row + 0.5 * torch.rand(n, generator=gen))
    return remove_nodes(g, order[:k])


AUGMENTATION_FNS: dict[str, Callable] = {
    "mask": mask_atoms,
    "noise": noise_atoms,
    "bond": drop_bonds,
    "subgraph": drop_subgraph,
    "node": drop_nodes,
}


# --------------------------------------------------------------------------- composition


@dataclass
class Augmenter:
    """Makes a view by composing ``per_view`` different augmentations from ``pool``.

    ``rate`` applies to every augmentation (MolCLR's 25 %). Attribute
    augmentations run after topology ones, so masking never hits a removed atom
    and the structure is recomputed at most once per topology change.
    """

    pool: Sequence[str] = DEFAULT_POOL
    rate: float = 0.25
    per_view: int = 2
    noise_std: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [p for p in self.pool if p not in AUGMENTATION_FNS]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; known: {list(AUGMENTATION_FNS)}")
        if not 1 <= self.per_view <= len(self.pool):
            raise ValueError(f"per_view must be in 1..{len(self.pool)}, got {self.per_view}")
        self.generator = torch.Generator().manual_seed(int(self.seed))

    def choose(self) -> list[str]:
        picks = torch.randperm(len(self.pool), generator=self.generator)[: self.per_view]
        names = [self.pool[int(i)] for i in picks]
        return sorted(names, key=AUGMENTATIONS.index)  # topology first, attributes last

    def apply(self, g, names: Sequence[str]):
        for name in sorted(names, key=lambda s: (s in ("mask", "noise"), AUGMENTATIONS.index(s))):
            if name == "noise":
                g = noise_atoms(g, self.rate, self.generator, std=self.noise_std)
            else:
                g = AUGMENTATION_FNS[name](g, self.rate, self.generator)
        return g

    def view(self, g):
        return self.apply(g, self.choose())

    def views(self, graphs: Sequence) -> tuple[list, list]:
        """Two independently augmented views of each graph (per-graph choice of augmentations)."""
        return [self.view(g) for g in graphs], [self.view(g) for g in graphs]

    def augment_batch(self, batch):
        """One augmented view of a PyG ``Batch`` (split, augment per graph, re-batch)."""
        from torch_geometric.data import Batch

        return Batch.from_data_list([self.view(g) for g in batch.to_data_list()])
