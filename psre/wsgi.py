"""Production entry points.

gunicorn from the command line::

    gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:8080 'psre.wsgi:create_wsgi()'

or ``psre serve``, which runs the same in-process. The app is built in each worker *after* the
fork (no ``--preload``): a PKCS#11 module must be initialised in the process that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from ca_core.config import Config, load_config
from ca_core.quiet import silence_dependency_warnings
from psre.app import create_app


def create_wsgi() -> Flask:
    silence_dependency_warnings()
    app = create_app(load_config())
    _start_worker(app)
    return app


def _start_worker(app: Flask) -> None:
    """What each worker starts after the fork: the OCSP responder with its index of pre-signed
    responses loaded now, so that a database outage later does not leave a worker that never
    answered OCSP without them. Background work (CRLs, pre-signing, expiry, sweeps) is not the
    workers' business: ``psre refresher`` does it, under a lease (ca_core/refresher.py)."""
    from ocsp.http import responder_of

    responder_of(app)


class _Gunicorn(BaseApplication):
    def __init__(self, cfg: Config, options: dict[str, Any]) -> None:
        self._cfg = cfg
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[..., Any]:  # a Flask app: gunicorn only needs a WSGI callable
        app = create_app(self._cfg)
        _start_worker(app)  # after the fork: PKCS#11 and the database belong to this worker
        return app


def run_gunicorn(cfg: Config, host: str, port: int) -> None:
    _Gunicorn(
        cfg,
        {
            "bind": f"{host}:{port}",
            "workers": cfg.server.workers,
            "worker_class": "gthread",
            "threads": cfg.server.threads,
            "accesslog": "-",
            "preload_app": False,
            "timeout": 60,
            # psre never drives gunicorn through gunicornc; its default socket is one file in
            # the user's home shared by every instance, which a second server would take over.
            "control_socket_disable": True,
        },
    ).run()
