"""A private, throw-away PostgreSQL server for the tests (and `scripts/postgres.sh`).

``initdb`` refuses to run as root and CI runs as root, so as root the server
runs as the ``postgres`` OS user (created if missing) through ``runuser``.
Its data directory and socket directory live in a fresh folder under the
system temp dir (not pytest's, which is private to root), it listens on
127.0.0.1 on a free port, and TCP logins need a password (so the tests can
check that the password never shows up in output).

    with PrivatePostgres() as pg:
        url = pg.url  # postgresql+psycopg://pepland:<secret>@127.0.0.1:<port>/pepland
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_USER_OS = "postgres"
DB_USER = "pepland"
DB_NAME = "pepland"


def _add_debian_bindir() -> None:
    """Debian's `postgresql` package keeps the server binaries off PATH, in /usr/lib/postgresql/N/bin."""
    if shutil.which("initdb"):
        return
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        os.environ["PATH"] = f"{found[-1].parent}{os.pathsep}{os.environ.get('PATH', '')}"


def binaries_available() -> bool:
    _add_debian_bindir()
    return all(shutil.which(b) for b in ("initdb", "pg_ctl", "postgres"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_USER_OS)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", PG_USER_OS], check=True)
        return pwd.getpwnam(PG_USER_OS)


class PrivatePostgres:
    def __init__(self, max_connections: int = 200) -> None:
        self.password = "pw-" + secrets.token_hex(8)
        self.port = _free_port()
        self.max_connections = max_connections
        self.base: Path | None = None
        self.started = False

    # -- helpers -------------------------------------------------------------------------
    def _as_owner(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", PG_USER_OS, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, **kw)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "PrivatePostgres":
        self.base = Path(tempfile.mkdtemp(prefix="pepland-pg-"))
        data, sock, pwfile = self.base / "data", self.base / "sock", self.base / "pw"
        sock.mkdir()
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            user = _ensure_os_user()
            for p in (self.base, sock, pwfile):
                os.chown(p, user.pw_uid, user.pw_gid)
        res = self._as_owner([
            "initdb", "-D", str(data), "-U", DB_USER, f"--pwfile={pwfile}", "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
        ])
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {res.stderr[-2000:]}")
        self._opts = opts = (
            f"-k {sock} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={self.max_connections}"
        )
        res = self._as_owner(["pg_ctl", "-D", str(data), "-o", opts, "-l", str(self.base / "log"), "-w",
                              "-t", "60", "start"])
        if res.returncode != 0:
            log = (self.base / "log").read_text()[-2000:] if (self.base / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {res.stderr[-1000:]} {log}")
        self.started = True
        self._create_db(DB_NAME)
        return self

    def pause(self) -> None:
        """Stop the server, keeping its data (a database restart as an operator does it)."""
        res = self._as_owner(["pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "stop"])
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {res.stderr[-1000:]}")

    def resume(self) -> None:
        res = self._as_owner(["pg_ctl", "-D", str(self.base / "data"), "-o", self._opts, "-l",
                              str(self.base / "log"), "-w", "-t", "60", "start"])
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {res.stderr[-1000:]}")

    def _create_db(self, name: str) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user=DB_USER, password=self.password,
                                     dbname="postgres", autocommit=True, connect_timeout=5) as con:
                    con.execute(f'CREATE DATABASE "{name}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def fresh_database(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        self._create_db(name)
        return self.url_for(name)

    def stop(self) -> None:
        if self.base is None:
            return
        if self.started:
            self._as_owner(["pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop"])
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    def __enter__(self) -> "PrivatePostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # manual use: start a server, print its URL (masked), wait for Ctrl-C
    with PrivatePostgres() as pg:
        print(f"PostgreSQL on 127.0.0.1:{pg.port}, database {DB_NAME}, user {DB_USER}; Ctrl-C stops it")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
