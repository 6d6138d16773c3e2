"""Signed documents kept for exactly one download (v1 ``id_dokumen``).

The bytes are blanked once the first download was delivered and when the retention time runs
out; the row stays (with the document's hash) so that a second download gets the documented
4044. A download whose answer failed does not count: a signature once made is never lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from ca_core.clock import Clock, utcnow
from ca_core.store import Store
from ca_core.store.documents import Documents
from signing_api.esign_errors import DOCUMENT_GONE, NOT_FOUND, EsignError

log = logging.getLogger(__name__)


def keep(
    store: Store,
    client_id: int,
    subscriber_id: int,
    filename: str,
    data: bytes,
    minutes: int,
    *,
    clock: Clock = utcnow,
) -> str:
    """Store ``data`` for one download by ``client_id``; returns the new ``id_dokumen``."""
    now = clock()
    document_id = secrets.token_hex(16)
    Documents(store).keep(
        document_id=document_id,
        client_id=client_id,
        subscriber_id=subscriber_id,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        now=now,
        expires_at=now + dt.timedelta(minutes=minutes),
    )
    return document_id


#: A download in progress holds the document this long; a server that died mid-answer gives it
#: back when the hold runs out.
CLAIM_SECONDS = 120


@dataclass(frozen=True)
class Claim:
    """A document handed to one download that has not been delivered yet."""

    document_id: str
    filename: str
    data: bytes
    claimed_at: dt.datetime


def claim(store: Store, client_id: int, document_id: str, *, clock: Clock = utcnow) -> Claim:
    """Hold the document for one download: 4044 if already taken, expired or being downloaded.

    The bytes are only blanked by :func:`spend` once the answer's body went out; an answer that
    failed (the client went away, the server could not send it) calls :func:`release` and the
    document stays downloadable. ``downloaded_at`` marks the hold while the bytes are still there.
    Another client's document is answered as unknown (4040), not as gone.
    """
    now = clock()
    found = Documents(store).claim(client_id, document_id, now, _HOLD)
    if found.outcome == "unknown":
        raise EsignError(NOT_FOUND, "dokumen tidak ditemukan (no such document)")
    if found.outcome == "busy":
        raise EsignError(
            DOCUMENT_GONE, "file sedang diunduh (a download of this file is in progress)"
        )
    if found.outcome == "gone":
        raise EsignError(DOCUMENT_GONE, "file sudah tidak tersedia (already downloaded or expired)")
    return Claim(document_id, found.filename, found.data, now)


def spend(store: Store, c: Claim) -> None:
    """The download was delivered: forget the bytes (the row and the hash stay)."""
    Documents(store).forget_bytes(c.document_id, c.claimed_at)


def release(store: Store, c: Claim) -> None:
    """The download failed before its body went out: the document may be downloaded again."""
    Documents(store).release(c.document_id, c.claimed_at)


_HOLD = dt.timedelta(seconds=CLAIM_SECONDS)


class DeliverOnce:
    """A WSGI body that spends the claim when the server asked for more after sending the bytes.

    The server iterates, writes each piece, and asks for the next: only then do we know the
    bytes went out. If it stops before (client gone, headers or write failed) it closes the body
    instead, and the claim is released.
    """

    def __init__(self, store: Store, c: Claim) -> None:
        self._store = store
        self._claim = c
        self._delivered = False
        self._settled = False

    def __iter__(self) -> Iterator[bytes]:
        yield self._claim.data
        self._delivered = True
        self._settle()

    def close(self) -> None:
        self._settle()

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        try:
            (spend if self._delivered else release)(self._store, self._claim)
        except Exception:
            log.exception("document %s: could not settle its download", self._claim.document_id)
