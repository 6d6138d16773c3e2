"""Verifications in progress per client address (issue 16: ten concurrent uploads of a 54 KB
document from one address kept the public /verify busy for half a minute).

A slot is taken before the upload is read, so a client trickling a body in also holds one.
Counted per server worker process (the process's one :class:`ClientSlots` is built by
``psre.services``): with ``server.workers`` workers an address can have up to that many times
``pdf.verify_per_client`` verifications in progress.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from ca_core.errors import CaError


class TooManyAtOnceError(CaError):
    """This address already has its share of verifications in progress (4291, HTTP 429)."""

    code = "too_many_at_once"
    api_code = 4291


class ClientSlots:
    """Verifications in progress per client address, at most ``per_client`` each."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, address: str | None) -> Iterator[None]:
        key = address or "?"
        with self._lock:
            if self._held[key] >= self.per_client:
                raise TooManyAtOnceError(
                    f"at most {self.per_client} verifications at a time from one address"
                )
            self._held[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                if not self._held[key]:
                    del self._held[key]
