"""Where the processes of one installation write their Prometheus metrics.

Kept apart from ca_core/metrics.py because it must run before prometheus_client is imported:
the library picks in-memory or multiprocess values at import, from PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_dir(data_path: Path) -> Path:
    return data_path / "metrics"


def prepare_multiproc_dir(data_path: Path) -> Path:
    """``psre serve`` at start: empty data_dir/metrics (files of processes of an earlier run
    would be summed in) and point this process and its children at it."""
    d = metrics_dir(data_path)
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(d)
    return d


def join_running_server(data_path: Path) -> None:
    """A CLI command on an installation whose ``psre serve`` collects metrics counts into the
    same directory (certificates issued with ``psre issue`` show up in /metrics). Nothing when
    there is no such directory or this user cannot write it."""
    if MULTIPROC_ENV in os.environ:
        return
    d = metrics_dir(data_path)
    if d.is_dir() and os.access(d, os.W_OK | os.X_OK):
        os.environ[MULTIPROC_ENV] = str(d)
