"""Fixtures of the generation tests: a few hundred real c-CPP peptides and a tiny trained generator."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cpp_file(pepland_dir, tmp_path_factory) -> Path:
    """300 c-CPP rows, every 7th line of the file (both classes; the file is grouped by source)."""
    lines = (pepland_dir / "c-CPP.txt").read_text().splitlines()
    out = tmp_path_factory.mktemp("cpp") / "c-CPP-300.txt"
    out.write_text("\n".join(lines[::7][:300]) + "\n")
    return out


@pytest.fixture(scope="session")
def cpp(cpp_file):
    from pepland_hpo.generation import load_sequences

    return load_sequences(cpp_file)


@pytest.fixture(scope="session")
def tiny_generator(cpp_file, tmp_path_factory):
    """``(checkpoint path, summary)`` of a 2-epoch, 32-unit generator on the 300 rows."""
    from pepland_hpo.generation import GenerationJob, GeneratorSettings, run_generation_job

    out = tmp_path_factory.mktemp("generator")
    job = GenerationJob(data=str(cpp_file), out_dir=str(out), model={"hidden_dim": 32, "embed_dim": 16},
                        settings=GeneratorSettings(epochs=2, batch_size=32))
    _, summary = run_generation_job(job)
    return out / "best.pt", summary
