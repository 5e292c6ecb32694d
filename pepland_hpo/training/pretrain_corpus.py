"""The unlabelled corpus contrastive pretraining sees, and the hash that names it.

* :func:`corpus_from_split`: by default the training rows of the study's data,
  labels removed, without any molecule that also occurs in validation or test.
* :func:`corpus_from_file`: a user-given pretraining file (``--pretrain-data``,
  ``pepland-hpo pretrain --data``).

Either way the result's ``content_hash`` enters the encoder store's key
(:mod:`pepland_hpo.training.encoder_store`), so two corpora with the same rows
share one pretrained encoder. (Building such a file from several sources is
:mod:`pepland_hpo.data.corpus`.)
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np


class Corpus:
    """An unlabelled view of some rows of a dataset: ``corpus[i]`` is a graph without ``y``."""

    def __init__(self, dataset, indices: Sequence[int] | None, content_hash: str, smiles=None):
        self.dataset = dataset
        self.indices = None if indices is None else [int(i) for i in indices]
        self.content_hash = content_hash
        base = getattr(dataset, "smiles", None)
        if smiles is not None:
            self.smiles = list(smiles)
        elif base is not None:
            self.smiles = [base[i] for i in self.indices] if self.indices is not None else list(base)
        else:
            self.smiles = None

    def __len__(self) -> int:
        return len(self.dataset) if self.indices is None else len(self.indices)

    @property
    def num_atoms(self) -> np.ndarray | None:
        sizes = getattr(self.dataset, "num_atoms", None)
        if sizes is None:
            return None
        sizes = np.asarray(sizes)
        return sizes if self.indices is None else sizes[self.indices]

    def __getitem__(self, i: int):
        g = self.dataset[self.indices[i] if self.indices is not None else i]
        if "y" in g.keys():
            g = g.clone()
            del g.y  # labels never reach pretraining
        return g


def _hash_parts(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def corpus_from_split(dataset, split) -> Corpus:
    """The training rows of ``split`` (a ``Split`` or an index array), labels removed.

    Validation and test rows never enter, and neither does a training row whose
    SMILES also occurs in the validation or test rows (a duplicate molecule
    would otherwise leak through pretraining).
    """
    train = np.asarray(getattr(split, "train", split), dtype=np.int64)
    held_out = []
    for name in ("valid", "test"):
        part = getattr(split, name, None)
        if part is not None:
            held_out.extend(int(i) for i in np.asarray(part))
    overlap = set(train.tolist()) & set(held_out)
    if overlap:
        raise ValueError(f"split's training rows overlap validation/test rows: {sorted(overlap)[:5]}")
    smiles = getattr(dataset, "smiles", None)
    if smiles is not None and held_out:
        held_smiles = {smiles[i] for i in held_out}
        train = np.array([i for i in train.tolist() if smiles[i] not in held_smiles], dtype=np.int64)
    base_hash = str(getattr(dataset, "content_hash", ""))
    corpus_hash = _hash_parts("split", base_hash, ",".join(map(str, sorted(train.tolist()))))
    return Corpus(dataset, train.tolist(), corpus_hash)


def corpus_from_file(source, progress: bool = False) -> Corpus:
    """A user-given pretraining file (``--pretrain-data``): every valid row, no target."""
    from pepland_hpo.data.dataset import load_dataset

    ds = load_dataset(source, progress=progress)
    return Corpus(ds, None, _hash_parts("file", str(ds.content_hash)))
