"""Signed documents kept for one download (signing_api.documents: the v1 ``id_dokumen``).

A download first *claims* the document (a hold with a time stamp), then settles the claim:
the bytes are forgotten once delivered, or the hold is released if the answer failed. Each
step is one transaction; the settling UPDATEs apply only while the hold is still ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update

from ca_core.store import Store
from ca_core.store.models import SignedDocument


@dataclass(frozen=True)
class ClaimResult:
    """``held``: the document is now held for this download (``filename`` and ``data`` set);
    ``unknown``: no such document of this client; ``gone``: downloaded or expired (its bytes
    are blanked); ``busy``: another download holds it."""

    outcome: Literal["held", "unknown", "gone", "busy"]
    filename: str = ""
    data: bytes = b""


class Documents:
    def __init__(self, store: Store) -> None:
        self._store = store

    def keep(
        self,
        *,
        document_id: str,
        client_id: int,
        subscriber_id: int,
        filename: str,
        sha256: str,
        data: bytes,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        """Store ``data`` under ``document_id`` until ``expires_at``."""
        with self._store.session() as s:
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
                    sha256=sha256,
                    data=data,
                    expires_at=expires_at,
                )
            )

    def claim(
        self, client_id: int, document_id: str, now: datetime, hold: timedelta
    ) -> ClaimResult:
        """Hold the document for one download at ``now`` unless another download has held it
        for less than ``hold``. Another client's document is ``unknown``."""
        with self._store.session() as s:
            doc = s.execute(
                select(SignedDocument)
                .where(
                    SignedDocument.document_id == document_id,
                    SignedDocument.client_id == client_id,
                )
                .with_for_update()
            ).scalar_one_or_none()
            if doc is None:
                return ClaimResult("unknown")
            if doc.data is None or doc.expires_at <= now:
                doc.data = None
                return ClaimResult("gone")
            if doc.downloaded_at is not None and doc.downloaded_at > now - hold:
                return ClaimResult("busy")
            doc.downloaded_at = now
            return ClaimResult("held", doc.filename, doc.data)

    def forget_bytes(self, document_id: str, claimed_at: datetime) -> None:
        """The download held at ``claimed_at`` was delivered: blank the bytes (the row and
        the hash stay)."""
        self._settle(document_id, claimed_at, data=None)

    def release(self, document_id: str, claimed_at: datetime) -> None:
        """The download held at ``claimed_at`` failed: the document may be downloaded again."""
        self._settle(document_id, claimed_at, downloaded_at=None)

    def _settle(self, document_id: str, claimed_at: datetime, **values: object) -> None:
        # Only while our hold is the current one and the bytes are there: a hold that ran out
        # and was taken by another download is not ours to settle.
        with self._store.session() as s:
            s.execute(
                update(SignedDocument)
                .where(
                    SignedDocument.document_id == document_id,
                    SignedDocument.downloaded_at == claimed_at,
                    SignedDocument.data.is_not(None),
                )
                .values(**values)
            )
