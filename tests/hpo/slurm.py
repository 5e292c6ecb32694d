"""A private, throw-away one-node Slurm cluster for the tests (like ``pg.py`` for PostgreSQL).

Debian's ``slurm-wlm`` (22.05) runs a controller and a node daemon on localhost
from a ``slurm.conf`` written into a fresh folder under the system temp dir:
its own cluster name and ports (so it never meets another cluster on the
machine), state and spool folders inside that folder, no cgroups
(``proctrack/linuxproc``, ``task/none``: containers and CI runners seldom
delegate cgroups), no accounting, and ``auth/none`` -- one machine, one user,
nothing to authenticate against, so no munge daemon or key is needed (22.05 is
the last release that ships auth/none). Both daemons run in the foreground
(``-D``) as children of the test process; the clients (sbatch, squeue,
scancel) find the cluster through ``SLURM_CONF`` in :meth:`PrivateSlurm.env`.

    with PrivateSlurm() as slurm:
        job = slurm.sbatch(["--array=0-1", "script.sh"], cwd=work)
        slurm.wait_gone(job, timeout=60)

Runs as root (the daemons need it to start jobs); CI runs as root.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo", "scontrol")
INSTALL_HINT = "install them (Debian: apt-get install slurm-wlm) -- scripts/setup.sh --with-slurm and .ci/run do"


def _sbin_on_path() -> None:
    """The daemons live in /usr/sbin, which a non-login shell may not have on PATH."""
    path = os.environ.get("PATH", "")
    for folder in ("/usr/sbin", "/usr/local/sbin"):
        if folder not in path.split(os.pathsep) and Path(folder).is_dir():
            path = f"{path}{os.pathsep}{folder}"
    os.environ["PATH"] = path


def missing_binaries() -> list[str]:
    _sbin_on_path()
    return [b for b in (*DAEMONS, *CLIENTS) if shutil.which(b) is None]


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _real_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            # a little under the total: a node that reports less memory than slurm.conf
            # claims is drained as "Low RealMemory"
            return max(256, int(line.split()[1]) // 1024 - 256)
    return 1024


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class SlurmError(RuntimeError):
    """The private cluster did not start or a client command failed (the message says why)."""


class PrivateSlurm:
    def __init__(self, cpus: int | None = None) -> None:
        self.cpus = int(cpus or os.cpu_count() or 1)
        self.cluster = "pep" + secrets.token_hex(3)
        self.base: Path | None = None
        self.procs: dict[str, subprocess.Popen] = {}

    # -- configuration ---------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        assert self.base is not None, "start() first"
        return self.base / "slurm.conf"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for client commands (and, exported by sbatch, for the jobs)."""
        env = dict(os.environ, SLURM_CONF=str(self.conf))
        env.update(extra or {})
        return env

    def _write_conf(self) -> None:
        base = self.base
        ctld_port, slurmd_port = _free_ports(2)
        for sub in ("state", "spool", "log"):
            (base / sub).mkdir()
        lines = {
            "ClusterName": self.cluster,
            "SlurmctldHost": "localhost(127.0.0.1)",
            "SlurmctldPort": ctld_port,
            "SlurmdPort": slurmd_port,
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/none",
            "CredType": "cred/none",
            "MpiDefault": "none",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres",
            # CPUs, not cores, are the unit: two 1-CPU tasks share a 2-CPU node
            "SelectTypeParameters": "CR_CPU",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "StateSaveLocation": base / "state",
            "SlurmdSpoolDir": base / "spool",
            "SlurmctldPidFile": base / "slurmctld.pid",
            "SlurmdPidFile": base / "slurmd.pid",
            "SlurmctldLogFile": base / "log" / "slurmctld.log",
            "SlurmdLogFile": base / "log" / "slurmd.log",
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
            "ReturnToService": 2,
            # a cancelled task gets SIGTERM, then this many seconds before SIGKILL
            "KillWait": 20,
            "MinJobAge": 600,
            "SlurmctldTimeout": 30,
            "SlurmdTimeout": 30,
            "InactiveLimit": 0,
            "PlugStackConfig": base / "plugstack.conf",
        }
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        text += (f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_real_memory_mb()} "
                 "State=UNKNOWN\n")
        text += "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO\n"
        (base / "plugstack.conf").write_text("")  # not the system's /etc/slurm/plugstack.conf
        self.conf.write_text(text)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "PrivateSlurm":
        missing = missing_binaries()
        if missing:
            raise SlurmError(f"Slurm binaries not found: {', '.join(missing)}; {INSTALL_HINT}")
        if os.geteuid() != 0:
            raise SlurmError("the private Slurm cluster needs root (slurmd starts jobs as their user)")
        self.base = Path(tempfile.mkdtemp(prefix="pepland-slurm-"))
        self._write_conf()
        env = self.env()
        for name, cmd in (("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)]),
                          ("slurmd", ["slurmd", "-D", "-N", "localhost", "-f", str(self.conf)])):
            out = open(self.base / "log" / f"{name}.stdout", "wb")
            # own session: the test's Ctrl-C does not hit the daemons, stop() ends them
            self.procs[name] = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)
            out.close()
        try:
            self._wait_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SlurmError(f"{name} exited with code {proc.returncode}: {self._logs(name)}")
            res = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=self.env(), capture_output=True,
                                 text=True, timeout=30)
            state = (res.stdout.strip() or res.stderr.strip())
            if res.returncode == 0 and state == "idle":
                return
            time.sleep(0.5)
        raise SlurmError(f"the node is not idle after {timeout:.0f} s (sinfo: {state!r}); "
                         f"slurmctld: {self._logs('slurmctld')} slurmd: {self._logs('slurmd')}")

    def _logs(self, name: str) -> str:
        logdir = self.base / "log"
        return (_tail(logdir / f"{name}.log") + _tail(logdir / f"{name}.stdout", 500)).strip()

    def stop(self) -> None:
        if self.base is None:
            return
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user", "root"], env=self.env(), capture_output=True,
                           timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.jobs():
                time.sleep(0.5)
        for name in reversed(DAEMONS):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    def __enter__(self) -> "PrivateSlurm":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------------
    def run(self, cmd: list[str], extra_env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
        res = subprocess.run(cmd, env=self.env(extra_env), capture_output=True, text=True, timeout=60, **kw)
        if res.returncode != 0:
            raise SlurmError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()[-1000:]}")
        return res

    def sbatch(self, args: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> str:
        """Submit; the job id (``--parsable``)."""
        res = self.run(["sbatch", "--parsable", *args], extra_env=extra_env, cwd=str(cwd))
        return res.stdout.strip().split(";")[0]

    def jobs(self) -> list[dict[str, str]]:
        """The jobs (array tasks one by one) the controller still lists as pending or running."""
        res = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%N"], env=self.env(), capture_output=True,
                             text=True, timeout=30)
        rows = []
        for line in res.stdout.splitlines():
            job, state, nodes = (line.split("|") + ["", ""])[:3]
            rows.append({"id": job.strip(), "state": state.strip(), "nodes": nodes.strip()})
        return rows

    def state(self, job: str) -> str:
        """``JobState`` of a job or array task (``123_1``), e.g. RUNNING, COMPLETED, CANCELLED, FAILED."""
        res = self.run(["scontrol", "-o", "show", "job", job])
        for field in res.stdout.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return ""

    def wait_gone(self, job: str, timeout: float) -> None:
        """Wait until no task of ``job`` is pending or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(j["id"].split("_")[0] == job for j in self.jobs()):
                return
            time.sleep(0.5)
        raise SlurmError(f"job {job} still queued or running after {timeout:.0f} s: {self.jobs()}")


if __name__ == "__main__":  # manual use: start a cluster, print its SLURM_CONF, wait for Ctrl-C
    with PrivateSlurm() as cluster:
        print(f"export SLURM_CONF={cluster.conf}   # Ctrl-C stops the cluster")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
