"""Residue tokens → molecules: the templates agree with RDKit's own peptide builders."""

from __future__ import annotations

import pytest
from rdkit import Chem

from pepland_hpo.data.featurize import fragment_mol
from pepland_hpo.data.fragments import RESIDUES
from pepland_hpo.errors import UserInputError
from pepland_hpo.generation import TOKENS, format_tokens, grammar_error, parse_sequence, tokens_to_mol
from pepland_hpo.generation._tokens import tokens_to_smiles


def _canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize("letter", list(RESIDUES))
def test_l_template_equals_mol_from_sequence(letter):
    # the SMILES path (non-canonical peptides) and the sequence path must build the same molecule
    assert _canonical(tokens_to_smiles(["G", letter, "G"])) == Chem.MolToSmiles(Chem.MolFromSequence(f"G{letter}G"))


@pytest.mark.parametrize("letter", [a for a in RESIDUES if a != "G"])
def test_d_template_equals_helm_d_monomer(letter):
    ref = Chem.MolFromHELM(f"PEPTIDE1{{G.[d{letter}].G}}$$$$")
    assert _canonical(tokens_to_smiles(["G", "d" + letter, "G"])) == Chem.MolToSmiles(ref)


def test_caps_equal_helm_caps():
    ref = Chem.MolFromHELM("PEPTIDE1{[ac].K.L.A.[am]}$$$$")
    assert tokens_to_mol(["Ac", "K", "L", "A", "NH2"]).smiles == Chem.MolToSmiles(ref)


def test_every_token_decodes_and_the_fragment_view_sees_it():
    for token in TOKENS:
        tokens = ["G", token, "G"] if token not in ("Ac", "NH2") else (["Ac", "G"] if token == "Ac" else ["G", "NH2"])
        decoded = tokens_to_mol(tokens)
        assert decoded.valid, (token, decoded.reason)
    labels = fragment_mol(tokens_to_mol(["K", "dL", "meA", "G"]).mol).labels()
    assert labels == ["K", "dL", "X", "G"]  # D flagged, N-methyl non-canonical, as the fragment view names them


def test_canonical_sequences_take_the_sequence_path():
    decoded = tokens_to_mol(list("KLAKLAK"))
    assert decoded.smiles == Chem.MolToSmiles(Chem.MolFromSequence("KLAKLAK"))


def test_grammar_errors_are_invalid_not_crashes():
    assert "can only come first" in tokens_to_mol(["K", "Ac", "L"]).reason
    assert "can only come last" in grammar_error(["NH2", "K"])
    assert grammar_error(["Ac", "NH2"]) == "no residue"
    assert not tokens_to_mol(["K", "Z"]).valid


def test_text_form_round_trips_and_bad_text_names_where():
    for tokens in (list("KLAK"), ["Ac", "K", "dL", "meA", "NH2"]):
        assert parse_sequence(format_tokens(tokens)) == tokens
    assert format_tokens(["Ac", "K"]) == "Ac-K"
    with pytest.raises(UserInputError, match="designs.csv line 3"):
        parse_sequence("KLBX1", where="designs.csv line 3")
