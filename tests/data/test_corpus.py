"""`pepland-hpo data corpus`: merged, deduplicated by canonical SMILES, no validation/test molecule."""

from __future__ import annotations

import csv

import optuna
from typer.testing import CliRunner

from pepland_hpo.cli import app
from pepland_hpo.data.corpus import canonical_smiles

runner = CliRunner()


def _smiles(path) -> list[str]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["smiles"]
    return [r[0] for r in rows[1:]]


def test_corpus_drops_the_studys_validation_and_test_molecules(pepland_dir, write_slice, tmp_path):
    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    cpp = write_slice(pepland_dir / "c-CPP.txt", 40, header=False, name="cpp40.txt")
    made = runner.invoke(app, ["create", "ablation", "--data", str(cpp), "--variants", "gcn", "--seeds", "0",
                               "--name", "s", "--storage", url])
    assert made.exit_code == 0, made.output
    split = optuna.load_study(study_name="s", storage=url).user_attrs["split"]

    # the same peptides as sequences (one a line, the study read them from `sequence,label`),
    # then again as canonical SMILES in a CSV: every one is a duplicate the second time
    sequences = [line.split(",")[0] for line in cpp.read_text().splitlines()]
    seq_file = tmp_path / "peptides.txt"
    seq_file.write_text("\n".join(sequences + ["NOTAPEPTIDE1"]) + "\n")
    canon = [canonical_smiles(s, "sequence") for s in sequences]
    smi_file = tmp_path / "peptides.csv"
    smi_file.write_text("id,smiles\n" + "".join(f"m{i},{s}\n" for i, s in enumerate(canon)))
    # a third file with unrelated molecules and one of the held-out ones hidden among them
    other = write_slice(pepland_dir / "pretrained" / "train.csv", 12, name="other.csv")
    held_idx = split["test"][0]
    with open(other, "a") as fh:
        fh.write(canon[held_idx] + "\n")

    out = tmp_path / "corpus.csv"
    built = runner.invoke(app, ["data", "corpus", str(seq_file), str(smi_file), str(other), "--out", str(out),
                                "--study", "s", "--storage", url])
    assert built.exit_code == 0, built.output
    written = _smiles(out)
    held = {canon[i] for i in split["valid"] + split["test"]}
    train = {canon[i] for i in split["train"]}
    assert held and not held & set(written)  # nothing the study scores models on
    assert train <= set(written)  # and every training peptide kept
    assert len(written) == len(set(written)) == len(train) + 12
    # counts are reported per file
    assert f"{len(sequences) + 1} rows, 1 invalid, 0 duplicates, {len(held)} held out" in built.output
    assert f"{len(sequences)} rows, 0 invalid, {len(train)} duplicates, {len(held)} held out, 0 written" in built.output
    assert "13 rows, 0 invalid, 0 duplicates, 1 held out, 12 written" in built.output


def test_corpus_exclude_file_and_bad_input(pepland_dir, write_slice, tmp_path):
    src = write_slice(pepland_dir / "pretrained" / "train.csv", 30, name="train30.csv")
    # upstream valid.csv repeats train.csv: excluding its first 10 rows removes exactly those
    excl = write_slice(pepland_dir / "pretrained" / "valid.csv", 10, name="valid10.csv")
    out = tmp_path / "c.csv"
    built = runner.invoke(app, ["data", "corpus", str(src), "--out", str(out), "--exclude", str(excl)])
    assert built.exit_code == 0, built.output
    assert len(_smiles(out)) == 20 and "10 held out, 20 written" in built.output

    # everything held out: an error, and no output file
    out2 = tmp_path / "none.csv"
    empty = runner.invoke(app, ["data", "corpus", str(excl), "--out", str(out2), "--exclude", str(src)])
    assert empty.exit_code == 2 and "no molecule left" in empty.output
    assert not out2.exists() and not list(tmp_path.glob(".none.csv.*"))
    missing = runner.invoke(app, ["data", "corpus", str(tmp_path / "nope.csv"), "--out", str(out2)])
    assert missing.exit_code == 2 and "nope.csv" in missing.output


def test_inputs_are_streamed_not_read_whole(pepland_dir, tmp_path):
    from pepland_hpo.data.corpus import molecule_texts

    lines = (pepland_dir / "pretrained" / "train.csv").read_text().splitlines()  # 998 molecules
    big = tmp_path / "big.csv"
    big.write_text("\n".join(lines) + "\n")
    read = []
    texts = molecule_texts(big, on_bytes=read.append)
    text, kind = next(texts)
    assert kind == "smiles" and text == lines[1]
    # the header and a 50-record sample to pick the column: a small part of the file
    assert 0 < sum(read) < big.stat().st_size / 10
    assert sum(1 for _ in texts) == len(lines) - 2 and sum(read) == big.stat().st_size
