"""Storage URLs: passwords masked by SQLAlchemy's rendering, passwords from PGPASSFILE, no DB created by readers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from pepland_hpo.errors import UserInputError
from pepland_hpo.hpo.queue import mask_text, mask_url, open_storage

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
    msg = mask_text('connection to "postgresql://u:ret@pw@db/x" failed', "postgresql://u:ret@pw@db/x")
    assert "ret" not in msg and "pw@" not in msg and msg.startswith('connection to "postgresql://u:***@db/x"')


# passwords holding each character the fault campaign broke the masker or the parser with
RAW_PASSWORDS = ["p@ss:w/rd", "p@ss/wd", "pa:ss", "pp/pp", "50%off", "two words", "pass#1?", "p"]


@pytest.mark.parametrize("password", RAW_PASSWORDS)
def test_masking_works_on_the_parsed_url_never_on_the_password_text(password):
    from urllib.parse import quote

    for pw in {password, quote(password, safe="")}:
        url = f"postgresql+psycopg://bob:{pw}@db.example:5432/peps?sslmode=require"
        masked = mask_url(url)
        assert masked == "postgresql+psycopg://bob:***@db.example:5432/peps?sslmode=require"
        text = mask_text(f"https://docs.example/psycopg: could not reach {url} (pepland)", url)
        assert text == ("https://docs.example/psycopg: could not reach "
                        "postgresql+psycopg://bob:***@db.example:5432/peps?sslmode=require (pepland)")


@pytest.mark.parametrize("password", [p for p in RAW_PASSWORDS if p != "p"])
def test_an_unencoded_special_character_is_exit_2_without_any_part_of_the_password(password, tmp_path):
    url = f"postgresql+psycopg://bob:{password}@127.0.0.1:1/peps"
    with pytest.raises(UserInputError, match="percent-encode") as info:
        open_storage(url)
    assert "bob:***@" in str(info.value)
    for command in (["status", "--storage", url], ["worker", "--storage", url, "--study", "x"]):
        res = _cli(*command)
        out = res.stdout + res.stderr
        assert res.returncode == 2, out
        assert len([ln for ln in out.splitlines() if ln.strip()]) == 1 and "Traceback" not in out
        # the password does not shape the message at all: it reads as for another bad password
        other = _cli(*[a.replace(password, "x@y") for a in command])
        assert out == other.stdout + other.stderr


def test_the_storage_url_can_come_from_a_file(tmp_path, storage_home):
    from pepland_hpo.hpo.queue import resolve_url

    db = tmp_path / "peps.db"
    (tmp_path / "url.txt").write_text(f"# the study storage\nsqlite:///{db}\n")
    assert resolve_url(f"@{tmp_path / 'url.txt'}") == f"sqlite:///{db}"
    with pytest.raises(UserInputError, match="cannot read the storage URL file"):
        resolve_url(f"@{tmp_path / 'missing.txt'}")


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


def _cmdlines() -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
    return out


@pytest.mark.postgres
def test_a_password_given_with_storage_is_in_no_process_arguments(pg_server, pg_url, cpp, hpo, storage_home):
    """`ps -ww -eo args` while a worker given the URL on its command line runs a trial: no password anywhere."""
    import signal
    import time

    from optuna.trial import TrialState

    hpo.gcn_ablation(pg_url, cpp(24), [0], {**hpo.TINY, "fault": "sleep:30"})
    env = {k: v for k, v in os.environ.items() if k != "PEPLAND_HPO_STORAGE"}
    proc = subprocess.Popen([sys.executable, "-m", "pepland_hpo.cli", "worker", "--storage", pg_url,
                             "--study", "ab", "--name", "ps-check"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        study = optuna.load_study(study_name="ab", storage=open_storage(pg_url))
        hpo.wait_for(lambda: any(t.state == TrialState.RUNNING for t in study.get_trials()), timeout=120)
        time.sleep(1.0)  # the trial's child has forked
        lines = _cmdlines()
        ours = {pid: line for pid, line in lines.items() if "pepland_hpo.cli worker" in line or "ps-check" in line}
        assert proc.pid in ours and len(ours) >= 2  # the same process re-executed without the URL, and its trial child
        assert not [line for line in lines.values() if pg_server.password in line]
        # -ww: without a terminal, ps may cut each line at 80 columns (as on CI), hiding both a leak and our name
        ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
        assert pg_server.password not in ps and "ps-check" in ps
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert pg_server.password not in out
