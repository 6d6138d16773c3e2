"""A PostgreSQL cluster of the test's own, to stop and start under a running psre.

The shared server on 5432 must stay up for everybody else; a test that takes the database away
runs ``initdb`` and ``pg_ctl`` on a free port in a temporary directory. PostgreSQL refuses to
run as root, so as root the tools run as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.cli_support import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@dataclass
class PgCluster:
    bindir: Path
    datadir: Path
    port: int
    #: listen_addresses: more than loopback when other network namespaces must reach it.
    listen: str = "127.0.0.1"

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=check)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/psre"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.datadir} -c listen_addresses={self.listen}"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", opts, "-w", "-l",
                  str(self.datadir / "server.log"), "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")


@contextmanager
def own_cluster(listen: str = "127.0.0.1", allow: str | None = None) -> Iterator[PgCluster]:
    """initdb + start on a free port; stopped and removed afterwards. ``listen``: comma-separated
    addresses; ``allow``: a network (CIDR) whose clients are trusted too, replication included."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    base = Path(tempfile.mkdtemp(prefix="psre-pg-"))
    datadir = base / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(datadir, "postgres")
    cluster = PgCluster(bindir, datadir, free_port(), listen)
    try:
        cluster._run("initdb", "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if allow:
            with (datadir / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {allow} trust\nhost replication all {allow} trust\n")
        cluster.start()
        cluster._run("createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                     "psre")  # fmt: skip
        yield cluster
    finally:
        cluster._run("pg_ctl", "-D", str(datadir), "-m", "immediate", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)
