"""Access to the process's Runtime from request handlers (of every package that serves HTTP)."""

from __future__ import annotations

from typing import cast

from flask import current_app

from ca_core.runtime import Runtime


def runtime() -> Runtime:
    """The Runtime of the current app (one per worker process; psre.app puts it there)."""
    return cast("Runtime", current_app.extensions["psre"])
