"""The e-sign API over a real test PKI (SoftHSM token, real database): client apps, signers
who set their own passphrases (enrolment code from the outbox) and have certificates, agencies
with seal certificates, and request helpers."""

from __future__ import annotations

import base64
import io
import re
import secrets
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from ca_core.config import Config, SigningConfig
from ca_core.notifier import OutboxNotifier
from ca_core.subscribers import Enrolment, issue_for
from psre.app import create_app
from signing_api.enrolment import Invitation, enrol_and_invite, redeem
from tests.pdf_support import minimal_pdf
from tests.pki_support import BASE_URL, Pki
from tests.web_support import new_nik
from web.clients import create_client

PASSPHRASE = "rahasia-tte-2026"
#: How the notifier's messages carry a TOTP and an enrolment code (signing_api.activation,
#: signing_api.enrolment).
TOTP_RE = r"Kode TOTP Anda: (\d+)"
ENROLMENT_RE = r"Kode aktivasi Anda: ([A-Z2-7-]+)"


@dataclass(frozen=True)
class Creds:
    username: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        raw = f"{self.username}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@dataclass(frozen=True)
class Person:
    nik: str
    email: str
    serial_hex: str | None


@dataclass(frozen=True)
class Agency:
    org_id: str
    email: str
    serial_hex: str


def make_esign_app(pki: Pki, db_url: str, signing: SigningConfig | None = None) -> Flask:
    """A fresh app instance (like a restarted worker) on the test PKI's database and token."""
    app = create_app(
        Config(database_url=db_url, public_base_url=BASE_URL, signing=signing or SigningConfig())
    )
    app.config["TESTING"] = True
    rt = app.extensions["psre"]
    rt.__dict__.update(store=pki.store, backend=pki.backend, issuer=pki.issuer, revoker=pki.revoker)
    return app


def new_client(pki: Pki) -> Creds:
    name = f"app-{secrets.token_hex(4)}"
    new = create_client(pki.store, name, name, actor="test")
    return Creds(new.client.username, new.secret)


def enrol_with_passphrase(pki: Pki, e: Enrolment, passphrase: str | None = PASSPHRASE) -> None:
    """Enrol as the RA does (the subscriber is sent an enrolment code), then, as the subscriber,
    set ``passphrase`` with the code from the outbox (None: the subscriber never does)."""
    enrol_and_invite(
        pki.store, OutboxNotifier(pki.store), e, Invitation(BASE_URL, 72), actor="test"
    )
    if passphrase is not None:
        redeem(pki.store, enrolment_codes(pki, e.email)[-1], passphrase)


def new_person(pki: Pki, *, issue: bool = True, passphrase: str | None = PASSPHRASE) -> Person:
    nik = new_nik()
    email = f"pns.{nik[-6:]}@kemenkeu.go.id"
    enrol_with_passphrase(
        pki,
        Enrolment(name="Budi Santoso", email=email, nik=nik, agency="Kementerian Keuangan"),
        passphrase,
    )
    serial = None
    if issue:
        serial = issue_for(
            pki.issuer, pki.backend, key=nik, ca=pki.issuing, actor="test"
        ).serial_hex
    return Person(nik, email, serial)


def new_agency(pki: Pki, passphrase: str = PASSPHRASE) -> Agency:
    org = f"NTRID-{secrets.token_hex(5).upper()}"
    email = f"segel.{org[-4:].lower()}@kemenkeu.go.id"
    enrol_with_passphrase(
        pki,
        Enrolment(
            name=f"Kementerian Keuangan {org[-4:]}",
            email=email,
            organization_identifier=org,
            kind="agency",
        ),
        passphrase,
    )
    issued = issue_for(
        pki.issuer, pki.backend, key=org, ca=pki.issuing, profile="legal-person-seal", actor="test"
    )
    return Agency(org, email, issued.serial_hex)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pdf_upload(data: bytes | None = None, name: str = "surat.pdf") -> tuple[io.BytesIO, str]:
    return io.BytesIO(data if data is not None else minimal_pdf()), name


def outbox_bodies(pki: Pki, email: str) -> list[str]:
    """Messages waiting in the default notifier's outbox for ``email``, oldest first."""
    with pki.store.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT body FROM outbox_messages WHERE recipient = :r ORDER BY id"),
                {"r": email},
            ).scalars()
        )


def codes_in(bodies: list[str], pattern: str = TOTP_RE) -> list[str]:
    return [m.group(1) for b in bodies if (m := re.search(pattern, b))]


def outbox_codes(pki: Pki, email: str) -> list[str]:
    """TOTPs delivered to ``email`` through the default notifier (the outbox table)."""
    return codes_in(outbox_bodies(pki, email))


def enrolment_codes(pki: Pki, email: str) -> list[str]:
    """Enrolment codes (to set one's passphrase) sent to ``email`` through the outbox."""
    return codes_in(outbox_bodies(pki, email), ENROLMENT_RE)


def database_text(pki: Pki) -> str:
    """Every text and binary value of every table, as one string (for "never stored" checks)."""
    from ca_core.store.models import Base

    parts: list[str] = []
    with pki.store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.extend(str(v) for v in row if v is not None)
    return "\n".join(parts)


def post_json(client: FlaskClient, url: str, creds: Creds, body: object):
    return client.post(url, json=body, headers=creds.headers)


def tiny_png(size: int = 16) -> bytes:
    """A small opaque PNG (a specimen signature image) made without an imaging library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes((20, 40, 160)) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
