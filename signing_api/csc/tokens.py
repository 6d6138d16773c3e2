"""Bearer tokens: ``auth/login`` (HTTP Basic with a client app's credentials) gives one; every
other call but ``info`` presents it. 256 random bits; only the SHA-256 is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update

from ca_core import audit_objects
from ca_core.store import Store
from ca_core.store.db import rows_changed, utcnow
from ca_core.store.models import ClientApplication, CscToken
from signing_api.activation import reading
from signing_api.client_auth import ClientApp
from signing_api.csc.errors import INVALID_TOKEN, CscError


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(store: Store, client: ClientApp, seconds: int) -> tuple[str, int]:
    token = secrets.token_urlsafe(32)
    with store.session() as s:
        s.add(
            CscToken(
                client_id=client.id,
                token_sha256=_sha256(token),
                expires_at=utcnow() + dt.timedelta(seconds=seconds),
            )
        )
        store.audit.append(
            f"client:{client.username}",
            "csc.login",
            audit_objects.client(client.username),
            {},
            session=s,
        )
    return token, seconds


def client_of(store: Store, token: str | None) -> ClientApp:
    """The enabled client app holding the live ``token``; 401 invalid_token otherwise."""
    if not token:
        raise CscError(INVALID_TOKEN, "bearer token required (POST auth/login first)")
    now = utcnow()
    with reading(store) as s:
        found = s.execute(
            select(CscToken, ClientApplication)
            .join(ClientApplication, ClientApplication.id == CscToken.client_id)
            .where(CscToken.token_sha256 == _sha256(token))
        ).first()
    if found is None:
        raise CscError(INVALID_TOKEN, "unknown access token")
    row, app = found
    if row.revoked_at is not None:
        raise CscError(INVALID_TOKEN, "the access token was revoked")
    if row.expires_at <= now:
        raise CscError(INVALID_TOKEN, "the access token expired")
    if not app.enabled:
        raise CscError(INVALID_TOKEN, "the client application is disabled")
    return ClientApp(app.id, app.name, app.username, app.default_level, app.rate_limit_per_minute)


def revoke(store: Store, client: ClientApp, token: str) -> int:
    with store.session() as s:
        n = rows_changed(
            s,
            update(CscToken)
            .where(
                CscToken.token_sha256 == _sha256(token),
                CscToken.client_id == client.id,
                CscToken.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow()),
        )
        store.audit.append(
            f"client:{client.username}",
            "csc.token_revoked",
            audit_objects.client(client.username),
            {"revoked": n},
            session=s,
        )
    return n
