"""Certificates whose keys psre itself uses (delegated OCSP responders, TSA units, the
trusted-list signer): found by the profiles of their role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import Certificate
from ca_core.store.sessions import read_session


def newest_with_key(
    store: ReadOnlyStore,
    profiles: Collection[str],
    now: dt.datetime,
    *,
    issuer_id: int | None = None,
) -> Certificate | None:
    """The good certificate of ``profiles`` (from ``issuer_id`` if given) with its key on the
    token, not expired at ``now``, that begins last."""
    stmt = select(Certificate).where(
        Certificate.profile.in_(list(profiles)),
        Certificate.status == "good",
        Certificate.key_label.is_not(None),
        Certificate.not_after > now,
    )
    if issuer_id is not None:
        stmt = stmt.where(Certificate.issuer_id == issuer_id)
    with read_session(store) as s:
        return s.scalars(stmt.order_by(Certificate.not_before.desc()).limit(1)).first()
