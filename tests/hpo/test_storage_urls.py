"""Storage URLs: passwords masked by SQLAlchemy's rendering, passwords from PGPASSFILE, no DB created by readers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.storage import mask_text, mask_url, open_storage

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pepland_hpo.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=REPO, timeout=300)


def test_mask_url_uses_sqlalchemy_and_never_half_prints():
    assert mask_url("postgresql+psycopg://bob:s3cret@db:5432/x") == "postgresql+psycopg://bob:***@db:5432/x"
    # a raw '@' in the password: SQLAlchemy would split it and print 'pw@db'; the whole password goes
    raw = mask_url("postgresql+psycopg://u:ret@pw@db/x")
    assert raw == "postgresql+psycopg://u:***@db/x" and "ret" not in raw and "pw" not in raw
    encoded = mask_url("postgresql+psycopg://u:p%40ss@db/x?password=again")
    assert "p%40ss" not in encoded and "again" not in encoded and encoded.startswith("postgresql+psycopg://u:***@db/x")
    assert mask_url("postgresql+psycopg://u@db/x") == "postgresql+psycopg://u@db/x"  # nothing to hide
    msg = mask_text('connection to "postgresql://u:ret@pw@db/x" failed for ret@pw', "postgresql://u:ret@pw@db/x")
    assert "ret" not in msg and "pw@" not in msg


def test_raw_at_in_password_is_refused_with_the_password_masked():
    with pytest.raises(UserInputError, match="percent-encode") as info:
        open_storage("postgresql+psycopg://u:se@cret@127.0.0.1:1/x")
    assert "se@cret" not in str(info.value) and "cret@" not in str(info.value)


@pytest.mark.parametrize("command", [["worker", "--study", "nope"], ["status"], ["report", "nope"],
                                     ["export", "nope", "--csv", "out.csv"]])
def test_readers_never_create_a_database(tmp_path, command, monkeypatch):
    from typer.testing import CliRunner

    from pepland_hpo.cli import app

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "missing.db"
    res = CliRunner().invoke(app, [*command, "--storage", f"sqlite:///{db}"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no study storage" in lines[0] and str(db) in lines[0]
    assert not db.exists() and not (tmp_path / "out.csv").exists()


@pytest.mark.postgres
def test_password_from_pgpassfile_with_a_url_without_password(pg_server, tmp_path):
    url = pg_server.fresh_database("pgpass_test")
    bare = url.replace(f":{pg_server.password}@", "@")
    assert pg_server.password not in bare
    with pytest.raises(UserInputError) as info:  # no password anywhere: the server refuses
        open_storage(bare, create=True, heartbeat=False)
    assert "cannot open storage" in str(info.value)

    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_server.port}:pgpass_test:pepland:{pg_server.password}\n")
    passfile.chmod(0o600)  # libpq ignores a password file others can read
    env = {"PGPASSFILE": str(passfile)}
    os.environ.update(env)
    try:
        storage = open_storage(bare, create=True, heartbeat=False)
        optuna.create_study(study_name="from-pgpass", storage=storage)
        storage.engine.dispose()
        # a libpq service file names host, port, database and user; the URL only the service
        service = tmp_path / "pg_service.conf"
        service.write_text(f"[pep]\nhost=127.0.0.1\nport={pg_server.port}\ndbname=pgpass_test\nuser=pepland\n")
        os.environ["PGSERVICEFILE"] = str(service)
        storage = open_storage("postgresql+psycopg:///?service=pep", heartbeat=False)
        assert [s.study_name for s in storage.get_all_studies()] == ["from-pgpass"]
        storage.engine.dispose()
    finally:
        os.environ.pop("PGPASSFILE", None)
        os.environ.pop("PGSERVICEFILE", None)
    # the README's way: the URL (without password) in the environment, the password in the file
    res = _cli("status", env={**env, "PEPLAND_HPO_STORAGE": bare})
    assert res.returncode == 0, res.stderr
    assert "from-pgpass" in res.stdout and pg_server.password not in res.stdout + res.stderr


@pytest.mark.postgres
def test_percent_encoded_at_in_password_connects_and_never_prints(pg_server):
    import psycopg

    secret = "p@ss:w/rd"
    with psycopg.connect(host="127.0.0.1", port=pg_server.port, user="pepland", password=pg_server.password,
                         dbname="postgres", autocommit=True) as con:
        con.execute(f"CREATE ROLE at_user LOGIN PASSWORD '{secret}'")
        con.execute('CREATE DATABASE "at_db" OWNER at_user')
    url = f"postgresql+psycopg://at_user:p%40ss%3Aw%2Frd@127.0.0.1:{pg_server.port}/at_db"
    storage = open_storage(url, create=True, heartbeat=False)
    optuna.create_study(study_name="at", storage=storage)
    storage.engine.dispose()
    wrong = url.replace("p%40ss", "p%40sx")
    with pytest.raises(UserInputError) as info:
        open_storage(wrong, heartbeat=False)
    text = str(info.value)
    assert "at_user:***@" in text and "p@s" not in text and "p%40s" not in text and "w%2Frd" not in text
