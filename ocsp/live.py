"""Signing an OCSP response now, for a request the pre-signed ones do not answer (a nonce, a
serial without a pre-signed response, an issuer we do not serve).

The responder (ocsp/responder.py) holds one ``LiveSigner`` on the signing side and none on a
public server, which has no key: what it needs — the store reads that decide a status and
choose the signer, the key backend, the live-rate bucket — is here and nowhere else, so that a
public responder cannot reach the HSM by construction.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from ca_core.clock import Clock
from ca_core.store import ReadOnlyStore
from hsm.backend import KeyBackend
from ocsp.index import IndexedCa
from ocsp.signing import CertStatus, Responder, build_response, cert_status, responder_for

#: How long a chosen signer is reused before the store is asked again (a new delegated
#: responder certificate is picked up within this).
_RESPONDER_TTL = 300.0


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; thread-safe."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._t = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
            self._t = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class LiveSigner:
    """The store reads, key backend and rate limit of live OCSP signing, for one process."""

    def __init__(
        self,
        store: ReadOnlyStore,
        backend: KeyBackend,
        *,
        mode: str,
        validity: dt.timedelta,
        bucket: TokenBucket,
        clock: Clock,
    ) -> None:
        self.store = store
        self.backend = backend
        #: ``ocsp.signer``: who signs (ocsp.signing.responder_for).
        self.mode = mode
        self.validity = validity
        #: Live signatures per second: a nonce flood cannot starve the HSM.
        self.bucket = bucket
        self.clock = clock
        self._responders: dict[int, tuple[Responder, float]] = {}
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Whether a live signature may be made now (the token bucket)."""
        return self.bucket.take()

    def status(self, ca_id: int, serial: int) -> CertStatus:
        return cert_status(self.store, ca_id, serial)

    def responder(self, ca: IndexedCa) -> Responder:
        """The signer of ``ca``'s responses, chosen at most every few minutes."""
        mono = time.monotonic()
        cached = self._responders.get(ca.id)
        if (
            cached is not None
            and mono - cached[1] < _RESPONDER_TTL
            and (cached[0].valid_until > self.clock())
        ):
            return cached[0]
        with self._lock:
            row = self.store.get_ca(ca.name)
            r = responder_for(self.store, self.backend, row, self.mode, self.clock())
            self._responders[ca.id] = (r, mono)
            return r

    def sign(
        self,
        responder: Responder,
        *,
        serial: int,
        hash_alg: str,
        status: CertStatus,
        nonce: bytes | None,
    ) -> tuple[bytes, dt.datetime, dt.datetime]:
        """One response signed now: (DER, thisUpdate, nextUpdate)."""
        return build_response(
            responder,
            serial=serial,
            hash_alg=hash_alg,
            status=status,
            validity=self.validity,
            now=self.clock(),
            nonce=nonce,
        )
