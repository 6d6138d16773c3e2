"""Access to the process's Runtime from request handlers."""

from __future__ import annotations

from flask import current_app

from ca_core.runtime import Runtime


def runtime() -> Runtime:
    """The Runtime of the current app (one per worker process)."""
    return current_app.extensions["psre"]
