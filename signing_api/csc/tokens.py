"""Bearer tokens: ``auth/login`` (HTTP Basic with a client app's credentials) gives one; every
other call but ``info`` presents it. 256 random bits; only the SHA-256 is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from ca_core import audit_objects
from ca_core.clock import Clock, utcnow
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.csc import Csc, CscReads
from signing_api.client_auth import ClientApp
from signing_api.csc.errors import INVALID_TOKEN, CscError


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    store: Store, client: ClientApp, seconds: int, *, clock: Clock = utcnow
) -> tuple[str, int]:
    token = secrets.token_urlsafe(32)
    expires = clock() + dt.timedelta(seconds=seconds)
    Csc(store).add_token(
        client.id, _sha256(token), expires, actor=audit_objects.client(client.username)
    )
    return token, seconds


def client_of(store: ReadOnlyStore, token: str | None, *, clock: Clock = utcnow) -> ClientApp:
    """The enabled client app holding the live ``token``; 401 invalid_token otherwise."""
    if not token:
        raise CscError(INVALID_TOKEN, "bearer token required (POST auth/login first)")
    now = clock()
    found = CscReads(store).token(_sha256(token))
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


def revoke(store: Store, client: ClientApp, token: str, *, clock: Clock = utcnow) -> int:
    return Csc(store).revoke_token(
        _sha256(token), client.id, clock(), actor=audit_objects.client(client.username)
    )
