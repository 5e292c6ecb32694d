"""The retry wrapper on its own: which errors are waited out, which stop at once, and the bound."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from pepland_hpo.hpo.resilient import (
    BACKOFF_CAP_S,
    EnvironmentFailure,
    Resilient,
    SqliteIdentity,
    StorageOutage,
    classify,
    failure_kind,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _operational(text: str) -> Exception:
    import sqlalchemy.exc

    return sqlalchemy.exc.OperationalError("UPDATE trials ...", {}, sqlite3.OperationalError(text))


def test_classification_of_real_driver_errors():
    assert classify(_operational("database is locked")) == "transient"
    assert classify(_operational("database or disk is full")) == "environment"
    assert classify(_operational("attempt to write a readonly database")) == "environment"
    assert classify(OSError(errno.ENOSPC, "No space left on device")) == "environment"
    assert classify(ValueError("a bug")) is None
    wrapped = RuntimeError("unexpected pos 704 vs 598")  # how torch.save reports a full disk
    wrapped.__context__ = OSError(errno.ENOSPC, "No space left on device")
    assert classify(wrapped) == "environment" and failure_kind(wrapped) == "environment"
    assert failure_kind(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/trial-1")) == \
        failure_kind(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/trial-2"))


def test_transient_errors_are_retried_with_capped_backoff_until_success():
    clock = FakeClock()
    res = Resilient(300, wait=clock.wait, clock=clock)
    attempts = iter([_operational("server closed the connection")] * 8 + [None])

    def flaky():
        exc = next(attempts)
        if exc is not None:
            raise exc
        return "ok"

    assert res.call("heartbeat", flaky) == "ok"
    assert clock.waits[:4] == [0.5, 1.0, 2.0, 4.0] and max(clock.waits) == BACKOFF_CAP_S
    assert res.down_since is None  # the outage is over


def test_outage_past_the_bound_raises_and_the_bound_is_shared_by_calls():
    clock = FakeClock()
    res = Resilient(20, wait=clock.wait, clock=clock)

    def down():
        raise _operational("connection refused")

    with pytest.raises(StorageOutage, match="unreachable for 20s"):
        res.call("report", down)
    assert clock.now == pytest.approx(20)  # never waits past the bound


def test_environment_errors_and_bugs_are_not_retried():
    clock = FakeClock()
    res = Resilient(300, wait=clock.wait, clock=clock)

    def full():
        raise _operational("database or disk is full")

    with pytest.raises(EnvironmentFailure, match="disk is full"):
        res.call("tell", full)
    with pytest.raises(KeyError):
        res.call("tell", lambda: {}["missing"])
    assert clock.waits == []


def test_sqlite_identity_notices_deletion_and_replacement(tmp_path):
    db = tmp_path / "pepland.db"
    sqlite3.connect(db).close()
    ident = SqliteIdentity(db)
    ident.check()
    db.rename(tmp_path / "moved.db")
    sqlite3.connect(db).close()  # a new, empty file under the same name
    with pytest.raises(EnvironmentFailure, match="replaced"):
        ident.check()
    db.unlink()
    with pytest.raises(EnvironmentFailure, match="deleted"):
        ident.check()
