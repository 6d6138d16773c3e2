"""Signature Activation Data (CSC SCAL 2): the proof of sole control a signHash presents.

A SAD is 256 random bits given once by credentials/authorize after the signer's PIN or OTP
(or, for a seal, the agency's activation) checked out. Only its SHA-256 is stored, with what it
authorises: this client app, this certificate, exactly these hashes (and so their number),
for ``csc.sad_seconds``. signHash spends it in one conditional UPDATE committed with the
signing's audit event, so a replay — even a concurrent one — finds it spent. Any mismatch is
refused and counted as a failed activation of the credential's signer (signing_api.lockout),
as a wrong passphrase would be.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from ca_core.clock import Clock, utcnow
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.csc import Csc, CscReads, NewSad
from signing_api.client_auth import ClientApp
from signing_api.lockout import subject_key


def joined(hashes: list[bytes]) -> str:
    """The authorised hashes as stored: sorted hex, so the order of signing does not matter
    but every hash, and each as many times as authorised, does."""
    return ",".join(sorted(h.hex() for h in hashes))


def _sha256(sad: str) -> str:
    return hashlib.sha256(sad.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    client: ClientApp
    subscriber_id: int
    certificate_id: int
    hashes: list[bytes]
    hash_oid: str


def issue(
    store: Store,
    grant: Grant,
    seconds: int,
    actor: str,
    audit: dict,
    *,
    clock: Clock = utcnow,
) -> tuple[str, int]:
    """A new SAD for ``grant``; the audit event (with the hashes) in the same transaction."""
    sad = secrets.token_urlsafe(32)
    new = NewSad(
        sad_sha256=_sha256(sad),
        client_id=grant.client.id,
        subscriber_id=grant.subscriber_id,
        certificate_id=grant.certificate_id,
        hash_oid=grant.hash_oid,
        hashes=joined(grant.hashes),
        num_signatures=len(grant.hashes),
        expires_at=clock() + dt.timedelta(seconds=seconds),
    )
    subject = audit.pop("subject")
    Csc(store).add_sad(new, actor=actor, subject=subject, details=audit)
    return sad, seconds


def check(
    store: ReadOnlyStore, sad: str, grant: Grant, *, clock: Clock = utcnow
) -> tuple[int, str | None]:
    """(row id, None) when ``sad`` authorises ``grant`` now, else (0, why not). The reason
    names no secret: it goes to the answer and the audit log alike."""
    now = clock()
    row = CscReads(store).sad(_sha256(sad))
    if row is None:
        return 0, "unknown SAD"
    if row.client_id != grant.client.id:
        return 0, "the SAD was given to another client application"
    if row.certificate_id != grant.certificate_id:
        return 0, "the SAD was given for another credential"
    if row.used_at is not None:
        return 0, "the SAD was already used"
    if row.expires_at <= now:
        return 0, "the SAD expired"
    if row.hash_oid and row.hash_oid != grant.hash_oid:
        return 0, "the SAD was given for another hash algorithm"
    if row.hashes != joined(grant.hashes):
        return 0, "the SAD was given for other hashes"
    return row.id, None


def spend(
    store: Store,
    row_id: int,
    *,
    actor: str,
    subject: str,
    details: dict[str, Any],
    clock: Clock = utcnow,
) -> bool:
    """Spend the SAD and audit the signing (``csc.sign_hash``, ``details``) in one transaction:
    one conditional UPDATE, so of two concurrent requests with one SAD only one commits. The
    caller hands out its signatures only if this is true; otherwise they are discarded."""
    return Csc(store).spend_sad(row_id, clock(), actor=actor, subject=subject, details=details)


__all__ = ["Grant", "check", "issue", "joined", "spend", "subject_key"]
