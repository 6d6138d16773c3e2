"""Client applications authenticate every API request with HTTP Basic credentials.

The secret is checked against its scrypt hash (ca_core.passwords). scrypt costs ~50 ms on
purpose, which would dominate a 35 ms signature, so a successful check is remembered in this
process, keyed by a hash of (username, secret, stored hash): a changed secret or a disabled app
is seen on the very next request because the row is read every time.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from flask import request
from sqlalchemy import select

from ca_core.errors import AlreadyExistsError, NotFoundError
from ca_core.models import ClientRequestWindow
from ca_core.passwords import hash_secret, verify_secret
from ca_core.store import Store
from signing_api.esign_errors import RATE_LIMITED, UNAUTHORIZED, EsignError

_VERIFIED_MAX = 1024


@dataclass(frozen=True)
class ClientApp:
    id: int
    name: str
    username: str
    default_level: str | None
    rate_limit_per_minute: int | None


class _VerifiedCache:
    """Digests of credentials that passed scrypt in this process (bounded, thread-safe)."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, secret: str, secret_hash: str) -> str:
        material = "\0".join((username, secret, secret_hash)).encode()
        return hashlib.sha256(material).hexdigest()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._seen

    def add(self, key: str) -> None:
        with self._lock:
            if len(self._seen) >= _VERIFIED_MAX:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = None


_verified = _VerifiedCache()


@functools.cache
def _dummy_hash() -> str:
    return hash_secret(secrets.token_urlsafe(16))


def authenticate(store: Store) -> ClientApp:
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
    key = _VerifiedCache.key(row.username, auth.password, row.secret_hash)
    if key not in _verified:
        if not verify_secret(auth.password, row.secret_hash):
            raise EsignError(UNAUTHORIZED, "invalid client credentials")
        _verified.add(key)
    if not row.enabled:
        raise EsignError(UNAUTHORIZED, "invalid client credentials")
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
    with store.session() as s:
        row = s.execute(
            select(ClientRequestWindow)
            .where(ClientRequestWindow.client_id == client_id, ClientRequestWindow.window == window)
            .with_for_update()
        ).scalar_one_or_none()
        if row is None:
            s.query(ClientRequestWindow).filter(
                ClientRequestWindow.client_id == client_id, ClientRequestWindow.window < window
            ).delete()
            s.add(ClientRequestWindow(client_id=client_id, window=window, count=1))
            return
        if row.count >= limit:
            retry = window + 60 - int(time.time())
            raise EsignError(
                RATE_LIMITED,
                f"rate limit of {limit} requests per minute reached",
                retry_after=retry,
            )
        row.count += 1
