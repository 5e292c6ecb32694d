"""A study's data as token sequences and labels, read through the data layer.

A generator learns residues, so it reads the molecule column as peptides in the
text form of :mod:`._tokens` (one-letter sequences as in ``c-CPP.txt`` and the
builtins, or ``Ac-K-dL-...``). The file's layout, its labels and the task are
decided by the data layer (:func:`pepland_hpo.data.formats.read_layout`,
:func:`pepland_hpo.data.readers.read_labels`), so a file means the same thing to
``create generation`` as to ``create ablation``. Rows whose peptide does not parse
(an unknown token, a molecule RDKit rejects, a bad label) are skipped and listed,
never dropped silently; a SMILES column is refused (a SMILES is no residue
sequence: turning one back into residues is not done here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pepland_hpo.errors import UserInputError
from pepland_hpo.generation._tokens import format_tokens, grammar_error, tokens_to_mol


@dataclass
class SequenceSet:
    """Peptides of one file: ``tokens[i]`` with label ``labels[i]`` (NaN when unlabelled)."""

    tokens: list[list[str]]
    labels: np.ndarray  # float32 [n]
    task: str | None  # "classification" | "regression" | None (unlabelled corpus)
    source: str
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, reason)
    content_hash: str = ""  # the file's digest (data layer): a study checks its data did not change

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def texts(self) -> list[str]:
        return [format_tokens(t) for t in self.tokens]

    def subset(self, index) -> "SequenceSet":
        index = np.asarray(index, dtype=np.int64)
        return SequenceSet([self.tokens[i] for i in index], self.labels[index], self.task, self.source)

    def positives(self) -> "SequenceSet":
        """Rows labelled 1 (classification); the whole set otherwise."""
        if self.task != "classification":
            return self
        return self.subset(np.flatnonzero(self.labels == 1))


def _split_text(text: str) -> list[str]:
    return text.split("-") if "-" in text else list(text)


def load_sequences(source, target: str | None = None, task: str | None = None, labelled: bool = True,
                   smiles_col: str | None = None) -> SequenceSet:
    """Read ``source`` (a file or ``builtin:...``) as peptides plus one target column.

    ``labelled=False`` reads an unlabelled corpus (labels NaN). A file with no valid
    peptide, a SMILES column, or more than one target is a ``UserInputError`` naming it.
    """
    from pepland_hpo.data.formats import read_layout
    from pepland_hpo.data.readers import read_labels

    layout = read_layout(source, smiles_col=smiles_col)
    tokens: list[list[str]] = []
    rows: list[int] = []
    skipped: list[tuple[int, str, str]] = []
    for line, fields in layout.records:
        text = fields[layout.mol_idx] if layout.mol_idx < len(fields) else ""
        toks = _split_text(text)
        why = grammar_error(toks) if text else "empty sequence"
        if not why:
            why = tokens_to_mol(toks).reason
        if why:
            skipped.append((line, text[:80], why))
            continue
        tokens.append(toks)
        rows.append(line)
    if not tokens:
        hint = " (it holds SMILES; generation reads residue sequences)" if layout.kind == "smiles" else ""
        first = f"; line {skipped[0][0]}: {skipped[0][2]}" if skipped else ""
        raise UserInputError(f"{layout.path}: no peptide sequence in column {layout.mol_column!r}{hint}{first}")
    if not labelled:
        return SequenceSet(tokens, np.full(len(tokens), np.nan, dtype=np.float32), None, layout.path, skipped,
                           layout.digest)
    labels = read_labels(layout, rows, target=target, task=task)
    if len(labels.names) != 1:
        raise UserInputError(f"{layout.path}: generation is conditioned on one target; got "
                             f"{len(labels.names)} ({', '.join(labels.names) or 'none'}); name one with --target")
    keep = np.flatnonzero(labels.keep)
    skipped += [(r.row, r.text, r.reason) for r in labels.invalid]
    if keep.size == 0:
        raise UserInputError(f"{layout.path}: no row has a usable label {labels.names[0]!r}")
    return SequenceSet([tokens[i] for i in keep], labels.values[keep, 0].astype(np.float32), labels.task,
                       layout.path, sorted(skipped), layout.digest)


__all__ = ["SequenceSet", "load_sequences"]
