"""Signed documents kept for exactly one download (v1 ``id_dokumen``).

The bytes are blanked on the first download and when the retention time runs out; the row
stays (with the document's hash) so that a second download gets the documented 4044.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update

from ca_core.db import utcnow
from ca_core.models import SignedDocument
from ca_core.store import Store
from signing_api.esign_errors import DOCUMENT_GONE, NOT_FOUND, EsignError


def keep(
    store: Store, client_id: int, subscriber_id: int, filename: str, data: bytes, minutes: int
) -> str:
    """Store ``data`` for one download by ``client_id``; returns the new ``id_dokumen``."""
    now = utcnow()
    document_id = secrets.token_hex(16)
    with store.session() as s:
        # Housekeeping on the way: expired documents lose their bytes.
        s.execute(
            update(SignedDocument)
            .where(SignedDocument.expires_at <= now, SignedDocument.data.is_not(None))
            .values(data=None)
        )
        s.add(
            SignedDocument(
                document_id=document_id,
                client_id=client_id,
                subscriber_id=subscriber_id,
                filename=filename,
                sha256=hashlib.sha256(data).hexdigest(),
                data=data,
                expires_at=now + dt.timedelta(minutes=minutes),
            )
        )
    return document_id


def take(store: Store, client_id: int, document_id: str) -> tuple[str, bytes]:
    """(filename, bytes) of the document, then forgotten; 4044 if already taken or expired.

    Another client's document is answered as unknown (4040), not as gone.
    """
    now = utcnow()
    with store.session() as s:
        doc = s.execute(
            select(SignedDocument)
            .where(SignedDocument.document_id == document_id, SignedDocument.client_id == client_id)
            .with_for_update()
        ).scalar_one_or_none()
        if doc is None:
            raise EsignError(NOT_FOUND, "dokumen tidak ditemukan (no such document)")
        data = doc.data
        if data is None or doc.expires_at <= now:
            doc.data = None
            gone = True
        else:
            gone = False
            doc.data = None
            doc.downloaded_at = now
        filename = doc.filename
    if gone or data is None:
        raise EsignError(DOCUMENT_GONE, "file sudah tidak tersedia (already downloaded or expired)")
    return filename, data
