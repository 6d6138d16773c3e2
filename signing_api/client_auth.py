"""Client applications authenticate every API request with HTTP Basic credentials.

The secret is checked against its scrypt hash (ca_core.passwords); a success is remembered for
a while in this process (signing_api.verified_cache), and the row is read on every request, so
a changed secret or a disabled app is seen at once.
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass

from flask import request

from ca_core.errors import AlreadyExistsError, NotFoundError
from ca_core.passwords import hash_secret, verify_secret
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.client_apps import ClientApps
from signing_api.esign_errors import RATE_LIMITED, UNAUTHORIZED, EsignError
from signing_api.verified_cache import VerifiedCache


@dataclass(frozen=True)
class ClientApp:
    id: int
    name: str
    username: str
    default_level: str | None
    rate_limit_per_minute: int | None


#: Client secrets: remembered for an hour (enabled/disabled is read from the database on every
#: request, so disabling an app takes effect at once).
_verified = VerifiedCache()
_CLIENT_TTL = 3600.0


@functools.cache
def _dummy_hash() -> str:
    return hash_secret(secrets.token_urlsafe(16))


def authenticate(store: ReadOnlyStore) -> ClientApp:
    """The client app of the current request, or EsignError 401 (same answer for every cause,
    so the API does not tell which usernames exist)."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or auth.password is None:
        raise EsignError(UNAUTHORIZED, "client authentication required (HTTP Basic)")
    try:
        row = store.get_client(auth.username)
    except NotFoundError:
        # Spend the same scrypt time as for a known username: no timing oracle for names.
        verify_secret(auth.password, _dummy_hash())
        raise EsignError(UNAUTHORIZED, "invalid client credentials") from None
    if not row.enabled:
        # A disabled app is refused after the same full scrypt check as a wrong secret — never
        # from the cache of verified secrets — so the answer's timing does not tell a caller
        # holding the right secret that the app exists but is disabled.
        verify_secret(auth.password, row.secret_hash)
        raise EsignError(UNAUTHORIZED, "invalid client credentials")
    key = VerifiedCache.key(f"client:{row.username}", row.secret_hash, auth.password)
    if not _verified.fresh(key, _CLIENT_TTL):
        if not verify_secret(auth.password, row.secret_hash):
            raise EsignError(UNAUTHORIZED, "invalid client credentials")
        _verified.add(key)
    return ClientApp(row.id, row.name, row.username, row.default_level, row.rate_limit_per_minute)


def check_rate(store: Store, client: ClientApp, default_per_minute: int) -> None:
    """Count one signing request in the client's current minute; 429 past its limit.

    A fixed one-minute window in the database, so all workers share it.
    """
    limit = client.rate_limit_per_minute or default_per_minute
    if limit <= 0:
        return
    try:
        _count(store, client.id, limit)
    except AlreadyExistsError:
        _count(store, client.id, limit)  # another worker opened the same minute first


def _count(store: Store, client_id: int, limit: int) -> None:
    window = int(time.time()) // 60 * 60
    if ClientApps(store).count_request(client_id, window, limit):
        return
    retry = window + 60 - int(time.time())
    raise EsignError(
        RATE_LIMITED, f"rate limit of {limit} requests per minute reached", retry_after=retry
    )
