"""A PKI with a delegated OCSP responder and a few subscriber certificates, for the OCSP tests.

Module-scoped (building it costs a few seconds of HSM work): tests that change a certificate's
status issue a fresh certificate of their own with ``OcspPki.new_cert``.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from ca_core.config import Config, OcspConfig
from ca_core.issuer import Issuer, IssueRequest
from ca_core.store import Store
from hsm.backend import KeySpec
from hsm.pkcs11_backend import Pkcs11Backend
from ocsp.responses import Presigner, PresignSettings
from psre.services import Services
from tests.pki_support import Pki, build_pki


@dataclass
class OcspPki:
    pki: Pki
    signer_label: str
    signer_cert: x509.Certificate
    presigner: Presigner
    tmp: Path

    @property
    def store(self) -> Store:
        return self.pki.store

    def new_cert(self, issuer: Issuer | None = None) -> x509.Certificate:
        """A fresh S/MIME certificate from the issuing CA (through ``issuer`` if given)."""
        email = f"u{secrets.token_hex(4)}@kemenuji.go.id"
        issued = (issuer or self.pki.issuer).issue(
            self.pki.issuing,
            IssueRequest(
                profile="smime-mailbox",
                subject={"CN": email},
                emails=[email],
                public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            ),
        )
        return issued.certificate

    def pem(self, name: str, *certs: x509.Certificate) -> Path:
        path = self.tmp / name
        path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return path


def ocsp_pki_per_backend(request: Any, backend: Pkcs11Backend, tmp: Path) -> Iterator[OcspPki]:
    """Body of a module-scoped ``op`` fixture parametrized over tests.conftest._backends():
    SQLite always, PostgreSQL (a fresh schema) when PSRE_TEST_DATABASE_URL is set."""
    import os

    from tests.conftest import PG_URL_ENV, _pg_schema_url

    if request.param == "sqlite":
        yield from sqlite_ocsp_pki(backend, tmp)
        return
    urls = _pg_schema_url(os.environ[PG_URL_ENV])
    o = build_ocsp_pki(next(urls), backend, tmp)
    yield o
    o.store.close()
    next(urls, None)  # drops the schema


def sqlite_ocsp_pki(backend: Pkcs11Backend, tmp: Path) -> Iterator[OcspPki]:
    o = build_ocsp_pki(f"sqlite:///{tmp / 'psre.sqlite3'}", backend, tmp)
    yield o
    o.store.close()


@contextmanager
def running(cmd: list[str], url: str, timeout: float = 60, **popen: Any) -> Iterator[None]:
    """A server process, until its ``url`` answers and for the block; terminated after."""
    from tests.cli_support import wait_http

    proc = subprocess.Popen(cmd, **popen)
    try:
        wait_http(url, timeout=timeout)
        yield
    finally:
        proc.terminate()
        proc.wait(20)


def build_ocsp_pki(db_url: str, backend: Pkcs11Backend, tmp: Path) -> OcspPki:
    store = Store.open(db_url)
    pki = build_pki(store, backend)
    label = f"ocsp-{secrets.token_hex(3)}"
    backend.generate(label, KeySpec.EC_P256)
    issued = pki.issuer.issue(
        pki.issuing,
        IssueRequest(
            profile="ocsp-signer",
            subject={"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji OCSP Responder"},
            public_key=backend.public_key(label),  # type: ignore[arg-type]
            key_label=label,
            validity_days=30,
        ),
    )
    settings = PresignSettings(static_root=tmp / "public")
    return OcspPki(pki, label, issued.certificate, Presigner(store, backend, settings), tmp)


def make_config(op: OcspPki, db_url: str, **ocsp_overrides: object) -> Config:
    from tests.pki_support import BASE_URL

    return Config(
        database_url=db_url,
        data_dir=str(op.tmp),
        public_base_url=BASE_URL,
        ocsp=OcspConfig(**ocsp_overrides),  # type: ignore[arg-type]
    )


def make_runtime(op: OcspPki, cfg: Config) -> Services:
    """A Runtime over the test PKI's store and token (no second PKCS#11 session pool)."""
    rt = Services(cfg)
    rt.__dict__.update(
        store=op.store, backend=op.pki.backend, issuer=op.pki.issuer, revoker=op.pki.revoker
    )
    return rt


def make_app(op: OcspPki, cfg: Config) -> Flask:
    from psre.app import create_app

    app = create_app(cfg)
    app.config["TESTING"] = True
    rt = app.extensions["psre"]
    rt.__dict__.update(
        store=op.store, backend=op.pki.backend, issuer=op.pki.issuer, revoker=op.pki.revoker
    )
    return app


class ServerThread:
    """A real HTTP server (werkzeug, threaded) on a free loopback port."""

    def __init__(self, app: Any, port: int = 0) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()


def openssl_ocsp(*args: str | Path) -> str:
    """``openssl ocsp …`` and its combined output (it prints statuses on stdout, verification
    on stderr)."""
    res = subprocess.run(
        ["openssl", "ocsp", *map(str, args)], capture_output=True, text=True, timeout=60
    )
    return res.stdout + res.stderr
