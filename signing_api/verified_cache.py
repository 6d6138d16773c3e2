"""Remembering, for a short time and in this process only, that a secret passed its scrypt check.

scrypt costs ~50 ms of CPU by design (more on a busy machine) — more than the PDF signature it
guards. A success is remembered as HMAC-SHA256 under a random per-process key of (what it
unlocks, the stored hash, the secret), so the cache holds nothing that the database does not
already protect better, and a changed hash (new passphrase or client secret) is a new entry.
Failures are never cached: every wrong guess pays scrypt and counts towards the lockout.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

_KEY = secrets.token_bytes(32)


class VerifiedCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    @staticmethod
    def key(scope: str, stored_hash: str, secret: str) -> str:
        material = "\0".join((scope, stored_hash, secret)).encode()
        return hmac.new(_KEY, material, hashlib.sha256).hexdigest()

    def fresh(self, key: str, ttl: float) -> bool:
        """Whether ``key`` was verified less than ``ttl`` seconds ago."""
        with self._lock:
            at = self._seen.get(key)
            return at is not None and time.monotonic() - at < ttl

    def add(self, key: str) -> None:
        with self._lock:
            if key not in self._seen and len(self._seen) >= self._max:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = time.monotonic()
