"""Recognized CAs as the Induk's ceremony steps write and look them up (ceremony_scripts.induk);
ca_core.recognized lists them for the trusted list and withdraws them on revocation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ca_core import audit_objects
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import RecognizedCa
from ca_core.store.sessions import read_session


@dataclass(frozen=True)
class Grant:
    """A CA the Induk's root just certified, to be recognized."""

    name: str
    kind: str  # psre | foreign-root
    display_name: str
    issuer_id: int
    serial_hex: str
    certificate_der: bytes
    fingerprint_sha256: str
    self_signed_der: bytes | None
    service_url: str | None
    granted_at: dt.datetime


def get(store: ReadOnlyStore, name: str) -> RecognizedCa | None:
    """The recognized CA named ``name``, if any."""
    with read_session(store) as s:
        row = s.scalar(select(RecognizedCa).where(RecognizedCa.name == name))
        if row is not None:
            s.expunge(row)
        return row


def grant(store: Store, g: Grant, *, actor: str, details: Mapping[str, Any]) -> None:
    """Record ``g`` as recognized (status granted), audited as psre.recognize."""
    with store.session() as s:
        s.add(
            RecognizedCa(
                name=g.name,
                kind=g.kind,
                display_name=g.display_name,
                issuer_id=g.issuer_id,
                serial_hex=g.serial_hex,
                certificate_der=g.certificate_der,
                fingerprint_sha256=g.fingerprint_sha256,
                self_signed_der=g.self_signed_der,
                service_url=g.service_url,
                status="granted",
                granted_at=g.granted_at,
            )
        )
        store.audit.append(
            actor, "psre.recognize", audit_objects.recognized(g.name), details, session=s
        )
