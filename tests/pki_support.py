"""A real two-level PKI (root + issuing CA, keys in SoftHSM) over a real database, for tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.dialects.postgresql import REGCLASS

from ca_core.authority import CaSpec, chain, create_issuing, create_root
from ca_core.issuer import Issuer
from ca_core.revocation import Revoker
from ca_core.store import Store
from ca_core.store.db import make_engine
from ca_core.store.models import Base, Certificate
from ca_core.subscribers import Enrolment, enrol, issue_for
from hsm.backend import KeySpec
from hsm.pkcs11_backend import Pkcs11Backend
from policies.schema import Profile, load_profiles

BASE_URL = "http://pki.psre-uji.id"  # public-looking: the ETSI lint runs without waivers


@dataclass
class Pki:
    store: Store
    backend: Pkcs11Backend
    issuer: Issuer
    revoker: Revoker
    root: str
    issuing: str

    def chain_pem(self, path: Path) -> Path:
        """The issuing CA and the root, PEM, as `openssl verify -untrusted/-CAfile` want them."""
        certs = chain(self.store, self.issuing)
        path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return path

    def cert(self, name: str) -> x509.Certificate:
        return chain(self.store, name)[0]


def build_pki(
    store: Store,
    backend: Pkcs11Backend,
    spec: KeySpec = KeySpec.EC_P384,
    root_spec: KeySpec | None = None,
    profiles: Mapping[str, Profile] | None = None,
) -> Pki:
    """Root + issuing CA; ``root_spec`` defaults to ``spec`` (the root profile has no RSA-3072).

    ``profiles`` replaces the shipped profiles (benchmarks use a variant)."""
    tag = secrets.token_hex(3)
    issuer = Issuer(store, backend, profiles or load_profiles(), base_url=BASE_URL)
    create_root(
        store,
        backend,
        issuer,
        CaSpec(
            "root-ca",
            f"root-{tag}",
            root_spec or spec,
            {"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Root CA"},
            validity_days=3650,
        ),
        actor="test",
    )
    create_issuing(
        store,
        backend,
        issuer,
        CaSpec(
            "issuing-ca",
            f"issuing-{tag}",
            spec,
            {"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Issuing CA"},
            validity_days=1825,
        ),
        parent="root-ca",
        actor="test",
    )
    return Pki(store, backend, issuer, Revoker(store, issuer.recover), "root-ca", "issuing-ca")


# Building the two CAs (two HSM keys, two lint runs, the audit events) costs about half a second,
# and some two hundred tests start from them. So build_pki runs once per session per database
# backend, into a template database, and each test's (empty, migrated) store gets a copy of the
# template's rows; the CA keys are the session token's, which every test shares anyway. The
# Pki handed out works on the test's own store: issuing, revoking or publishing there leaves the
# template and every other test alone.


class PkiTemplates:
    """One template database holding build_pki's rows, per backend, made on first use."""

    def __init__(self, tmp: Path, backend: Pkcs11Backend) -> None:
        self._tmp = tmp
        self._backend = backend
        self._urls: dict[str, str] = {}
        self._drops: list[Iterator[str]] = []

    def url(self, dialect: str, request: pytest.FixtureRequest) -> str:
        if dialect not in self._urls:
            from tests.conftest import PG_URL_ENV, _pg_schema_url, migrated_copy

            if dialect == "sqlite":
                url = f"sqlite:///{self._tmp / 'pki.sqlite3'}"
            else:
                schema = _pg_schema_url(os.environ[PG_URL_ENV])
                url = next(schema)
                self._drops.append(schema)
            migrated_copy(url, request)
            template = Store.open(url)
            try:
                build_pki(template, self._backend)
            finally:
                template.close()
            self._urls[dialect] = url
        return self._urls[dialect]

    def close(self) -> None:
        for schema in self._drops:
            next(schema, None)  # drops the PostgreSQL schema


@pytest.fixture(scope="session")
def pki_templates(
    tmp_path_factory: pytest.TempPathFactory, backend: Pkcs11Backend
) -> Iterator[PkiTemplates]:
    templates = PkiTemplates(tmp_path_factory.mktemp("pki-template"), backend)
    yield templates
    templates.close()


def copy_rows(src_url: str, dst: Store) -> None:
    """Replace every row of ``dst`` with those of the database at ``src_url`` (same schema)."""
    tables = Base.metadata.sorted_tables  # parents before children
    src = make_engine(src_url)
    try:
        with src.connect() as s, dst.engine.begin() as d:
            for t in reversed(tables):
                d.execute(t.delete())
            for t in tables:
                rows = [dict(r._mapping) for r in s.execute(t.select().order_by(*t.primary_key))]
                if rows:
                    d.execute(t.insert(), rows)
            if d.dialect.name == "postgresql":
                # Rows came with their ids: move each serial's sequence past them.
                for t in tables:
                    for col in t.primary_key.columns:
                        if not isinstance(col.type, Integer) or col.autoincrement is False:
                            continue
                        sequence = cast(func.pg_get_serial_sequence(t.name, col.name), REGCLASS)
                        newest = select(func.max(col)).scalar_subquery()
                        d.execute(select(func.setval(sequence, newest)))
    finally:
        src.dispose()


@pytest.fixture
def pki(
    store: Store,
    backend: Pkcs11Backend,
    pki_templates: PkiTemplates,
    request: pytest.FixtureRequest,
) -> Pki:
    """Root + issuing CA (EC P-384) in the test's store: build_pki's result, copied."""
    copy_rows(pki_templates.url(store.engine.dialect.name, request), store)
    issuer = Issuer(store, backend, load_profiles(), base_url=BASE_URL)
    return Pki(store, backend, issuer, Revoker(store, issuer.recover), "root-ca", "issuing-ca")


def add_tsa_unit(pki: Pki, spec: KeySpec = KeySpec.EC_P256) -> x509.Certificate:
    """A time-stamping unit for the issuing CA (profile "tsa", key in the HSM): what ``/tsa``
    and PAdES B-T and above sign with (signing_api.tsa picks the newest valid one)."""
    from ca_core.issuer import IssueRequest

    label = f"tsa-{secrets.token_hex(3)}"
    pki.backend.generate(label, spec)
    return pki.issuer.issue(
        pki.issuing,
        IssueRequest(
            profile="tsa",
            subject={"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Time-Stamping Authority"},
            public_key=pki.backend.public_key(label),  # type: ignore[arg-type]
            validity_days=365,
            key_label=label,
            actor="test",
        ),
    ).certificate


def enrol_signer(pki: Pki, name: str, nik: str) -> Certificate:
    """Enrol civil servant ``nik`` and issue their natural-person certificate, key in the HSM;
    returns the stored certificate row."""
    email = f"{name.split()[0].lower()}.{nik[-4:]}@kemenkeu.go.id"
    enrol(
        pki.store,
        Enrolment(name=name, email=email, nik=nik, agency="Kementerian Keuangan"),
        actor="test",
    )
    issued = issue_for(pki.issuer, pki.backend, key=nik, ca=pki.issuing, actor="test")
    return pki.store.find_certificate(issued.serial_hex)
