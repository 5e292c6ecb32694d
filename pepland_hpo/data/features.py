"""Atom and bond feature rows of an RDKit molecule, vectorised with numpy.

Speed comes from few Python↔C++ crossings (that crossing is the cost) and
doing every one-hot and lookup on whole arrays. Atom properties come from
one-atom substructure queries, one C++ call per property value for the whole
molecule (see ``_ATOM_QUERIES``); bonds are read with one getter per property
(:func:`bond_lists`).

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
order: dative bonds count as single, orders other than 1/1.5/2/3 leave all
four 0), conjugated (1), in ring (1), stereo none/any/Z/E/cis/trans (6;
atropisomer tags count as "any"), peptide backbone amide (1), in a ring of
size >= 8 (1, macrocycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdqueries

from pepland_hpo.data import ATOM_DIM, BOND_DIM  # noqa: F401  (re-exported)

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


def ensure_stereo(mol: Chem.Mol) -> None:
    """Run RDKit's (legacy) stereo perception unless it has run: it sets ``_CIPCode``.

    ``MolFromSmiles`` runs it while parsing; ``MolFromSequence`` and hand-built
    molecules do not. ``cleanIt`` drops chiral tags on atoms that are no
    stereocentres, as SMILES parsing does.
    """
    if not mol.HasProp("_StereochemDone"):
        Chem.AssignStereochemistry(mol, cleanIt=True, force=False)


def atom_features(
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


def bond_features(
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


@dataclass
class Bonds:
    """The bond list of a molecule, read once: ends, RDKit bond type code (1, 2, 3, 12
    aromatic, 0 other), conjugation and stereo code per bond."""

    begin: np.ndarray
    end: np.ndarray
    code: np.ndarray
    conj: np.ndarray
    stereo: np.ndarray

    def __len__(self) -> int:
        return len(self.begin)


def bond_lists(mol: Chem.Mol) -> Bonds:
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
    return Bonds(begin, end, code, conj, stereo)


def small_ring_bonds(bond_attr: np.ndarray) -> np.ndarray:
    """Bonds in a ring but in no macrocycle (rings of fewer than 8 atoms only), from the bond rows."""
    return (bond_attr[:, _B_RING] > 0) & (bond_attr[:, _B_MACRO] == 0)
