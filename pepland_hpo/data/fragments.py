"""The fragment view of a molecule: residues (and pieces of non-canonical ones) as nodes.

PepLand describes a peptide twice, as atoms and as fragments. Here a molecule is
cut into fragments by these rules, applied to its heavy-atom graph:

1. **Amide bonds** ``[#6]C(=O)–N`` whose nitrogen carries one or two heavy atoms
   besides the carbonyl and at least one sp3 carbon: every backbone peptide bond
   (N-methylated, proline and peptoid nitrogens included), N-terminal acyl caps
   (acetyl, fatty acids) and side-chain lactam or isopeptide bridges. Primary
   amides (Asn, Gln, C-terminal ``C(=O)NH2``) are not cut — they stay with their
   residue — and nor are anilides or ureas.
2. **Disulfide bonds** S–S, so each cysteine of a bridge is its own fragment.
3. Bonds in a ring of fewer than 8 atoms are never cut (a lactam ring would not come
   apart); macrocycle bonds are, so a head-to-tail cyclic peptide becomes a ring of
   residues. A cut bond whose two ends stay connected through other bonds (a ring
   closed twice) is not a cut.
4. **Large fragments**: a fragment with more than ``MAX_FRAGMENT_ATOMS`` (20) heavy
   atoms — tryptophan, the largest canonical residue, has 15 — is cut further at the
   bonds RDKit's BRICS rules select inside it (ring–chain junctions, ethers, amines,
   …), once. Lipid tails, fluorophores and drug-like side chains become several
   fragments; a molecule without any such bond stays whole.

A molecule without amide or disulfide bonds is one fragment (or a few, by rule 4).

Each fragment gets ``FRAG_DIM`` features:

=============================================================  ====
which of the 20 canonical residues (one-hot, ``RESIDUES`` order)  20
non-canonical                                                      1
canonical constitution with non-L stereochemistry (D-residue)      1
heavy atoms / 10                                                   1
formal charge + ionisable groups at pH 7 (amines, guanidines +1,   1
carboxylic acids −1)
aromatic atoms / 6                                                 1
hashed Morgan counts (radius ≤ 2 environments inside the fragment,  32
from the WL labels below, label mod 32, log1p)
=============================================================  ====

**Residue identity** is a canonical-SMILES match of the fragment (open valences
filled with hydrogens) against the fragments of reference peptides built by RDKit
from one-letter sequences, in every position (internal, N-terminal, C-terminal acid,
C-terminal amide, free). It is **chirality-aware**: a fragment is a canonical
residue if its isomeric SMILES is that of the L-residue (glycine: achiral); if only
its constitution matches (non-isomeric SMILES) it is that residue with the D flag
set when its stereocentres are specified (D-Arg counts as Arg, flagged), and
unflagged when the SMILES leaves them unspecified. An N-methylated residue matches
nothing: non-canonical. Computing SMILES per fragment is slow, so each fragment is
first keyed by a Weisfeiler–Lehman hash (radius 2) of its atoms (every atom feature, CIP label
included) and bonds; the SMILES lookup runs once per new key and is remembered.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rdkit import Chem
from rdkit.Chem import BRICS
from rdkit.Chem import rdFingerprintGenerator

from pepland_hpo.data import FP_RADIUS, FP_SIZE, FRAG_DIM  # noqa: F401  (re-exported)

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
NONCANONICAL = len(RESIDUES)  # label of a fragment that is no canonical residue
MAX_FRAGMENT_ATOMS = 20
MORGAN_BINS = 32
MIN_CUT_RING = 8
_F_NONCANON, _F_D, _F_SIZE, _F_CHARGE, _F_AROM, _F_MORGAN = 20, 21, 22, 23, 24, 25

_AMIDE = Chem.MolFromSmarts("[#6][CX3](=[OX1])-[NX3;D2,D3]-[CX4]")
_DISULFIDE = Chem.MolFromSmarts("[SX2]-[SX2]")
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_SIZE)

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass
class Fragmentation:
    """``atom_frag [N]`` fragment of each atom; ``frag_x [F, FRAG_DIM]``; ``frag_edge_index
    [2, 2C]`` one pair of directed edges per bond between two fragments (bond order);
    ``residue [F]`` index into ``RESIDUES`` or ``NONCANONICAL``; ``d_residue [F]`` bool;
    ``fp_index``/``fp_count``: the molecule's Morgan count fingerprint, sparse."""

    atom_frag: np.ndarray
    frag_x: np.ndarray
    frag_edge_index: np.ndarray
    residue: np.ndarray
    d_residue: np.ndarray
    fp_index: np.ndarray
    fp_count: np.ndarray

    @property
    def num_fragments(self) -> int:
        return int(self.frag_x.shape[0])

    def labels(self) -> list[str]:
        """One string per fragment: ``A``, ``dA`` (D-alanine), ``X`` (non-canonical)."""
        return [("d" if d else "") + (RESIDUES[r] if r < NONCANONICAL else "X")
                for r, d in zip(self.residue.tolist(), self.d_residue.tolist())]


# ---------------------------------------------------------------- cutting


def _small_ring_bonds(mol: Chem.Mol) -> set[int]:
    out: set[int] = set()
    for ring in mol.GetRingInfo().BondRings():
        if len(ring) < MIN_CUT_RING:
            out.update(ring)
    return out


def _bond_lookup(n: int, begin: np.ndarray, end: np.ndarray):
    """``f(u, v) → bond ids`` for arrays of atom pairs, by a sorted key (no per-bond RDKit call)."""
    keys = np.minimum(begin, end) * n + np.maximum(begin, end)
    order = np.argsort(keys)
    sorted_keys = keys[order]

    def find(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return order[np.searchsorted(sorted_keys, np.minimum(u, v) * n + np.maximum(u, v))]

    return find


def _match_bonds(mol: Chem.Mol, query: Chem.Mol, i: int, j: int, find) -> np.ndarray:
    """Bond ids between match positions ``i`` and ``j`` of every match of ``query``."""
    matches = mol.GetSubstructMatches(query)
    if not matches:
        return np.zeros(0, dtype=np.int64)
    m = np.array(matches, dtype=np.int64)
    return find(m[:, i], m[:, j])


def _components(n: int, begin: np.ndarray, end: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Connected component of every atom over the bonds in ``keep``, numbered by lowest atom.

    Union–find in plain Python: for ~150 bonds it is several times faster than building a
    scipy sparse matrix (whose validation alone costs more)."""
    parent = list(range(n))
    for u, v in zip(begin[keep].tolist(), end[keep].tolist()):
        while parent[u] != u:
            u = parent[u]
        while parent[v] != v:
            v = parent[v]
        if u < v:  # the root of a component is its lowest atom
            parent[v] = u
        elif v < u:
            parent[u] = v
    root = parent
    for i in range(n):
        r = root[i]
        while root[r] != r:
            r = root[r]
        root[i] = r
    return np.unique(np.asarray(root, dtype=np.int64), return_inverse=True)[1].reshape(-1)


def _candidate_bonds_smarts(mol: Chem.Mol, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Bonds matching the amide or disulfide pattern, by SMARTS (the reference definition)."""
    find = _bond_lookup(mol.GetNumAtoms(), begin, end)
    cut = np.zeros(len(begin), dtype=bool)
    cut[_match_bonds(mol, _AMIDE, 1, 3, find)] = True
    cut[_match_bonds(mol, _DISULFIDE, 0, 1, find)] = True
    return cut


def _candidate_bonds(x: np.ndarray, begin: np.ndarray, end: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The same bonds as :func:`_candidate_bonds_smarts`, from the featuriser's arrays.

    Two substructure searches cost more than the rest of the fragment view on a busy
    machine; every atom property the patterns test is already a column of ``x``.
    ``code`` is RDKit's bond type code (1 single, 2 double, 12 aromatic)."""
    n = x.shape[0]
    el = x[:, :11].argmax(1)  # 0 C, 1 N, 2 O, 3 S
    deg = x[:, 11:17].argmax(1)
    conn = deg + x[:, 25:30].argmax(1)  # SMARTS X: heavy neighbours + hydrogens
    src, dst = np.concatenate([begin, end]), np.concatenate([end, begin])
    bc = np.concatenate([code, code])

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(src[mask], minlength=n)

    # [#6][CX3](=[OX1]): a carbonyl carbon with a carbon neighbour
    carbonyl = (el == 0) & (conn == 3) & (count((bc == 2) & (el[dst] == 2) & (conn[dst] == 1)) > 0) \
        & (count(el[dst] == 0) > 0)
    # [NX3;D2,D3]-[CX4]: a secondary or tertiary amide nitrogen with an sp3 carbon neighbour
    amide_n = (el == 1) & (conn == 3) & ((deg == 2) | (deg == 3)) & (count((el[dst] == 0) & (conn[dst] == 4)) > 0)
    single = code == 1
    amide = single & ((carbonyl[begin] & amide_n[end]) | (carbonyl[end] & amide_n[begin]))
    sulfur = (el == 3) & (conn == 2)
    return amide | (single & sulfur[begin] & sulfur[end])


def cut_bonds(mol: Chem.Mol, begin: np.ndarray, end: np.ndarray, candidates: np.ndarray | None = None,
              small_ring: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(atom_frag [N], cut [num_bonds] bool)`` by the rules of the module docstring.

    ``candidates`` (amide and disulfide bonds) and ``small_ring`` (bonds in a ring of
    fewer than 8 atoms only) are computed from ``mol`` when not given."""
    n = mol.GetNumAtoms()
    cut = _candidate_bonds_smarts(mol, begin, end) if candidates is None else candidates.copy()
    if cut.any():
        if small_ring is None:
            small = sorted(_small_ring_bonds(mol))
            cut[small] = False
        else:
            cut &= ~small_ring
    frag = _components(n, begin, end, ~cut)
    sizes = np.bincount(frag)
    if sizes.max() > MAX_FRAGMENT_ATOMS:
        big = sizes > MAX_FRAGMENT_ATOMS
        extra = []
        for (a, b), _ in BRICS.FindBRICSBonds(mol):
            if big[frag[a]] and frag[a] == frag[b]:
                extra.append(mol.GetBondBetweenAtoms(a, b).GetIdx())
        if extra:
            cut[extra] = True
            frag = _components(n, begin, end, ~cut)
    # a "cut" inside one fragment (its ends joined through other bonds) is no cut
    cut &= frag[begin] != frag[end]
    return frag, cut


def fragment_edges(edge_index: np.ndarray, atom_frag: np.ndarray) -> np.ndarray:
    """Fragment–fragment edges ``[2, E']``: the atom edges whose ends lie in different fragments.

    These are exactly the cut bonds, both directions, in edge order — which is how an
    augmentation that dropped bonds or atoms rebuilds them."""
    f = atom_frag[edge_index]
    return np.ascontiguousarray(f[:, f[0] != f[1]])


# ---------------------------------------------------------------- identity


def _mix(v: np.ndarray) -> np.ndarray:
    """A multiply–xorshift hash, elementwise on uint64 (wrapping arithmetic): three numpy
    operations, since this runs several times per molecule."""
    with np.errstate(over="ignore"):
        v = v * np.uint64(0xBF58476D1CE4E5B9)
        return v ^ (v >> np.uint64(31))


_BITS = (2.0 ** np.arange(37)).astype(np.float64)


def _fragment_keys(x: np.ndarray, src: np.ndarray, dst: np.ndarray, btype: np.ndarray,
                   frag: np.ndarray, num_frags: int) -> tuple[np.ndarray, np.ndarray]:
    """A Weisfeiler–Lehman hash per fragment (2 rounds over intra-fragment bonds) and the
    atom labels of rounds 0..2 ``[3, N]``: the environments of radius 0..2 inside the
    fragment, i.e. the fragment's own Morgan identifiers (ECFP is this iteration)."""
    n = x.shape[0]
    bits = (x[:, :37].astype(np.float64) @ _BITS).astype(np.uint64)
    deg = np.bincount(src, minlength=n).astype(np.uint64)
    label = _mix(bits ^ (deg << np.uint64(40)))
    bt = btype.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    rounds = [label]
    by_src = _Segments(src, n)
    with np.errstate(over="ignore"):
        for _ in range(2):
            agg = by_src.sum(_mix(label[dst] + bt))
            label = _mix(label * np.uint64(31) + agg)
            rounds.append(label)
        keys = _Segments(frag, num_frags).sum(_mix(label + np.uint64(7)))
        keys += np.bincount(frag, minlength=num_frags).astype(np.uint64) * np.uint64(0x632BE59BD9B4E019)
    return keys, np.stack(rounds)


class _Segments:
    """Sums of uint64 values grouped by an index, as ``np.add.at`` but several times faster:
    sort once, then one ``np.add.reduceat`` per sum. Sums wrap modulo 2^64 in any order,
    so the result is exactly ``np.add.at``'s."""

    def __init__(self, index: np.ndarray, size: int):
        self.size = size
        self.order = np.argsort(index, kind="stable")
        ordered = index[self.order]
        self.starts = np.flatnonzero(np.diff(ordered, prepend=-1)) if ordered.size else ordered
        self.targets = ordered[self.starts]

    def sum(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.uint64)
        if self.starts.size:
            out[self.targets] = np.add.reduceat(values[self.order], self.starts)
        return out


def _fragment_smiles(mol: Chem.Mol, atoms: list[int], isomeric: bool) -> str:
    """Canonical SMILES of the fragment as a molecule of its own.

    ``MolFragmentToSmiles`` alone is not enough: its atom ranking still sees the parent
    molecule (ring membership), so a residue cut out of a macrocycle got another string
    than the same residue cut out of a linear peptide. Parsing the string again and
    writing it anew ranks the fragment by itself."""
    smi = Chem.MolFragmentToSmiles(mol, atomsToUse=atoms, isomericSmiles=isomeric, canonical=True)
    alone = Chem.MolFromSmiles(smi)
    return smi if alone is None else Chem.MolToSmiles(alone, isomericSmiles=isomeric)


def _c_terminal_amide(mol: Chem.Mol) -> Chem.Mol:
    """The same peptide with its C-terminal acid made a primary amide."""
    rw = Chem.RWMol(mol)
    for m in mol.GetSubstructMatches(Chem.MolFromSmarts("[NX3][CX4][CX3](=O)[OX2H1]")):
        rw.GetAtomWithIdx(m[4]).SetAtomicNum(7)
        break
    out = rw.GetMol()
    Chem.SanitizeMol(out)
    return out


@lru_cache(maxsize=1)
def _references() -> tuple[dict[str, int], dict[str, int]]:
    """``(isomeric SMILES → residue, non-isomeric SMILES → residue)`` of canonical L-residues
    in every position, from RDKit's own peptides cut by the same rules."""
    iso: dict[str, int] = {}
    flat: dict[str, int] = {}
    for r, aa in enumerate(RESIDUES):
        for seq in (f"G{aa}G", f"{aa}G", f"G{aa}", aa):
            base = Chem.MolFromSequence(seq)  # atoms numbered residue by residue
            for mol in (base, _c_terminal_amide(base)):
                frag, _ = cut_bonds(mol, *_bond_ends(mol))
                pos = seq.index(aa) if seq != "G" + aa else 1
                atoms = [int(i) for i in np.flatnonzero(frag == _residue_fragment(mol, frag, pos))]
                iso[_fragment_smiles(mol, atoms, True)] = r
                flat[_fragment_smiles(mol, atoms, False)] = r
    return iso, flat


def _residue_fragment(mol: Chem.Mol, frag: np.ndarray, position: int) -> int:
    """Fragment id of the ``position``-th residue (0-based) of a peptide from ``MolFromSequence``,
    whose atoms are numbered residue by residue from the N-terminus."""
    seen: list[int] = []
    for f in frag.tolist():
        if f not in seen:
            seen.append(f)
    return seen[position]


_IDENTITY: dict[int, tuple[int, bool]] = {}


def _identify(mol: Chem.Mol, atoms: list[int]) -> tuple[int, bool]:
    iso, flat = _references()
    smi = _fragment_smiles(mol, atoms, True)
    if smi in iso:
        return iso[smi], False
    plain = _fragment_smiles(mol, atoms, False)
    if plain in flat:
        return flat[plain], "@" in smi
    return NONCANONICAL, False


# ---------------------------------------------------------------- features


def _bond_ends(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray]:
    nb = mol.GetNumBonds()
    begin = np.fromiter((b.GetBeginAtomIdx() for b in mol.GetBonds()), dtype=np.int64, count=nb)
    end = np.fromiter((b.GetEndAtomIdx() for b in mol.GetBonds()), dtype=np.int64, count=nb)
    return begin, end


def _ionisable(x: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per atom +1 / −1 for groups charged at pH 7 that SMILES writes neutral: a primary
    aliphatic amine N (sp3 NH2: Lys, N-terminus; amide and aniline N are sp2), the central
    carbon of a guanidine (a carbon with three N neighbours: Arg), the carbon of a
    carboxylic acid (two O neighbours, one of them an OH: Asp, Glu, C-terminus)."""
    n = x.shape[0]
    el = x[:, :11].argmax(1)
    h = x[:, 25:30].argmax(1)
    src, dst = np.concatenate([begin, end]), np.concatenate([end, begin])
    n_nbr = np.bincount(src[el[dst] == 1], minlength=n)
    o_nbr = np.bincount(src[el[dst] == 2], minlength=n)
    oh_nbr = np.bincount(src[(el[dst] == 2) & (h[dst] == 1)], minlength=n)
    out = np.zeros(n)
    out[(el == 1) & (h == 2) & (x[:, 32] > 0)] += 1.0
    out[(el == 0) & (n_nbr == 3)] += 1.0
    out[(el == 0) & (o_nbr == 2) & (oh_nbr == 1) & (n_nbr == 0)] -= 1.0
    return out


def fragment_arrays(mol: Chem.Mol, x: np.ndarray, begin: np.ndarray, end: np.ndarray,
                    bond_type: np.ndarray, small_ring: np.ndarray | None = None) -> Fragmentation:
    """The fragment view of ``mol`` given the featuriser's atom rows ``x``, bond lists and
    RDKit bond type codes (1, 2, 3, 12 aromatic); ``small_ring``: bonds only in rings of
    fewer than 8 atoms (None: from RDKit's ring info)."""
    n = mol.GetNumAtoms()
    frag, cut = cut_bonds(mol, begin, end, _candidate_bonds(x, begin, end, bond_type), small_ring)
    F = int(frag.max()) + 1 if n else 0
    keep = ~cut
    src = np.concatenate([begin[keep], end[keep]])
    dst = np.concatenate([end[keep], begin[keep]])
    keys, envs = _fragment_keys(x, src, dst, np.concatenate([bond_type[keep]] * 2), frag, F)
    residue = np.full(F, NONCANONICAL, dtype=np.int64)
    d_res = np.zeros(F, dtype=bool)
    members = None
    for f, key in enumerate(keys.tolist()):
        hit = _IDENTITY.get(key)
        if hit is None:
            if members is None:
                members = np.argsort(frag, kind="stable")
                starts = np.searchsorted(frag[members], np.arange(F + 1))
            hit = _identify(mol, members[starts[f]:starts[f + 1]].tolist())
            _IDENTITY[key] = hit
        residue[f], d_res[f] = hit
    fx = np.zeros((F, FRAG_DIM), dtype=np.float32)
    fx[np.arange(F), residue] = 1.0  # column 20 is "non-canonical"
    fx[:, _F_D] = d_res
    fx[:, _F_SIZE] = np.bincount(frag, minlength=F) / 10.0
    # formal charge from the atom rows (columns 17-20: -1, 0, +1, other), then the groups
    # that are charged at pH 7 although the SMILES writes them neutral
    ion = (x[:, 19] - x[:, 17]).astype(np.float64)
    for i in np.flatnonzero(x[:, 20]).tolist():
        ion[i] = mol.GetAtomWithIdx(i).GetFormalCharge()
    ion += _ionisable(x, begin, end)
    fx[:, _F_CHARGE] = np.bincount(frag, weights=ion, minlength=F)
    fx[:, _F_AROM] = np.bincount(frag, weights=x[:, 36], minlength=F) / 6.0
    # the fragment's Morgan environments (radius 0..2, within the fragment), hashed into bins
    bins = (envs % np.uint64(MORGAN_BINS)).astype(np.int64)
    morgan = np.bincount((frag * MORGAN_BINS + bins).reshape(-1), minlength=F * MORGAN_BINS)
    fx[:, _F_MORGAN:] = np.log1p(morgan.reshape(F, MORGAN_BINS).astype(np.float32))
    fp = _MORGAN.GetCountFingerprintAsNumPy(mol)  # the molecule's, for fingerprint fusion
    fp_index = np.flatnonzero(fp)
    edge_index = np.empty((2, 2 * len(begin)), dtype=np.int64)
    edge_index[0, 0::2], edge_index[1, 0::2] = begin, end
    edge_index[0, 1::2], edge_index[1, 1::2] = end, begin
    # float16-exact, so a graph from the cache (which stores float16) equals a fresh one
    fx = fx.astype(np.float16).astype(np.float32)
    return Fragmentation(
        atom_frag=frag, frag_x=fx, frag_edge_index=fragment_edges(edge_index, frag),
        residue=residue, d_residue=d_res,
        fp_index=fp_index.astype(np.int64), fp_count=np.minimum(fp[fp_index], 255).astype(np.int64),
    )


def dense_fingerprint(index: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``[1, FP_SIZE]`` float32 counts from the sparse form the cache stores."""
    out = np.zeros((1, FP_SIZE), dtype=np.float32)
    out[0, index] = count
    return out


def residue_labels(frag_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each fragment's residue index (``NONCANONICAL`` for any other) and whether it is a D-residue."""
    return frag_x[:, : NONCANONICAL + 1].argmax(1), frag_x[:, _F_D] > 0


__all__ = [
    "FP_SIZE", "FRAG_DIM", "MAX_FRAGMENT_ATOMS", "NONCANONICAL", "RESIDUES", "Fragmentation",
    "cut_bonds", "dense_fingerprint", "fragment_arrays", "fragment_edges", "residue_labels",
]
