"""The Cloud Signature Consortium API's records (signing_api.csc): bearer tokens, Signature
Activation Data (SAD) and credentials (a signer's or agency's certificates with a key in the HSM).

Tokens and SADs are stored only as SHA-256 digests. Spending a SAD is one conditional UPDATE
committed with the signing's audit event, so of two concurrent requests with one SAD only one
commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.db import rows_changed
from ca_core.store.models import Certificate, ClientApplication, CscSad, CscToken, Subscriber
from ca_core.store.repo import read_session


class CscReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self._store = store

    def token(self, token_sha256: str) -> tuple[CscToken, ClientApplication] | None:
        """The token with this digest and the client app it was given to."""
        with read_session(self._store) as s:
            found = s.execute(
                select(CscToken, ClientApplication)
                .join(ClientApplication, ClientApplication.id == CscToken.client_id)
                .where(CscToken.token_sha256 == token_sha256)
            ).first()
        return None if found is None else (found[0], found[1])

    def sad(self, sad_sha256: str) -> CscSad | None:
        """The SAD with this digest, used or not."""
        with read_session(self._store) as s:
            return s.execute(
                select(CscSad).where(CscSad.sad_sha256 == sad_sha256)
            ).scalar_one_or_none()

    def credential(
        self, fingerprint: str, profiles: Iterable[str]
    ) -> tuple[Certificate, Subscriber] | None:
        """The certificate with this SHA-256 fingerprint, of one of ``profiles`` and with its
        key in the HSM, and its subscriber — whatever the certificate's state."""
        with read_session(self._store) as s:
            found = s.execute(
                select(Certificate, Subscriber)
                .join(Subscriber, Subscriber.id == Certificate.subscriber_id)
                .where(
                    Certificate.fingerprint_sha256 == fingerprint,
                    Certificate.key_label.is_not(None),
                    Certificate.profile.in_(tuple(profiles)),
                )
            ).first()
        return None if found is None else (found[0], found[1])

    def credential_ids(self, subscriber_id: int, profile: str, now: datetime) -> list[str]:
        """Fingerprints of the subscriber's ``profile`` certificates with a key in the HSM that
        have not expired at ``now``, newest first."""
        with read_session(self._store) as s:
            return list(
                s.execute(
                    select(Certificate.fingerprint_sha256)
                    .where(
                        Certificate.subscriber_id == subscriber_id,
                        Certificate.profile == profile,
                        Certificate.key_label.is_not(None),
                        Certificate.not_after > now,
                    )
                    .order_by(Certificate.not_before.desc(), Certificate.id.desc())
                ).scalars()
            )


@dataclass(frozen=True)
class NewSad:
    """What a SAD authorises: this client app, this certificate's key, exactly ``hashes``
    (sorted hex, comma-separated; ``num_signatures`` of them) under ``hash_oid``."""

    sad_sha256: str
    client_id: int
    subscriber_id: int
    certificate_id: int
    hash_oid: str
    hashes: str
    num_signatures: int
    expires_at: datetime


class Csc:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add_token(
        self, client_id: int, token_sha256: str, expires_at: datetime, *, actor: str
    ) -> None:
        """Record a bearer token given to the client app ``actor`` (audited ``csc.login``)."""
        with self._store.session() as s:
            s.add(CscToken(client_id=client_id, token_sha256=token_sha256, expires_at=expires_at))
            self._store.audit.append(actor, "csc.login", actor, {}, session=s)

    def revoke_token(self, token_sha256: str, client_id: int, now: datetime, *, actor: str) -> int:
        """Revoke the client's live token with this digest (audited ``csc.token_revoked``);
        returns how many were revoked (0 or 1)."""
        with self._store.session() as s:
            n = rows_changed(
                s,
                update(CscToken)
                .where(
                    CscToken.token_sha256 == token_sha256,
                    CscToken.client_id == client_id,
                    CscToken.revoked_at.is_(None),
                )
                .values(revoked_at=now),
            )
            self._store.audit.append(actor, "csc.token_revoked", actor, {"revoked": n}, session=s)
        return n

    def add_sad(self, sad: NewSad, *, actor: str, subject: str, details: Mapping[str, Any]) -> None:
        """Record a SAD with its audit event ``csc.authorize``."""
        with self._store.session() as s:
            s.add(
                CscSad(
                    sad_sha256=sad.sad_sha256,
                    client_id=sad.client_id,
                    subscriber_id=sad.subscriber_id,
                    certificate_id=sad.certificate_id,
                    hash_oid=sad.hash_oid,
                    hashes=sad.hashes,
                    num_signatures=sad.num_signatures,
                    expires_at=sad.expires_at,
                )
            )
            self._store.audit.append(actor, "csc.authorize", subject, details, session=s)

    def spend_sad(
        self,
        sad_id: int,
        now: datetime,
        *,
        actor: str,
        subject: str,
        details: Mapping[str, Any],
    ) -> bool:
        """Spend SAD ``sad_id`` and audit the signing (``csc.sign_hash``) in one transaction.
        False, with nothing written, if it was spent or expired meanwhile."""
        with self._store.session() as s:
            taken = rows_changed(
                s,
                update(CscSad)
                .where(CscSad.id == sad_id, CscSad.used_at.is_(None), CscSad.expires_at > now)
                .values(used_at=now),
            )
            if taken != 1:
                return False
            self._store.audit.append(actor, "csc.sign_hash", subject, details, session=s)
        return True
