"""The responder's in-memory index of pre-signed responses.

Each responder process loads every response still in validity from ``ocsp_responses`` and then,
every ``index_refresh_seconds``, what was produced since its last look. Answers come from here
without touching the database or the HSM; if the database goes away, the index keeps what it
has and every answer is checked against its nextUpdate when served, so nothing stale is ever
sent (checklist: "Database down: OCSP keeps serving pre-signed responses until their
nextUpdate, never after").
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import select

from ca_core.models import OcspResponse
from ca_core.store import ReadOnlyStore
from ocsp import static
from ocsp.signing import IssuerHashes, utcnow

log = logging.getLogger(__name__)

#: Rows produced this long before the last look are read again: a batch committed late (its
#: produced_at is when it was built) is not missed. Unchanged rows are skipped by their hash.
_OVERLAP = dt.timedelta(seconds=120)

CertIdKey = tuple[str, bytes, bytes, int]


def http_date(t: dt.datetime) -> str:
    return email.utils.format_datetime(t.astimezone(dt.UTC), usegmt=True)


@dataclass(frozen=True, slots=True)
class Entry:
    """One pre-signed response, with its HTTP validators precomputed."""

    der: bytes
    etag: str
    this_update: dt.datetime
    next_update: dt.datetime
    next_update_ts: float
    last_modified: str
    expires: str
    ca_id: int

    @classmethod
    def make(
        cls, der: bytes, sha256: str, this_update: dt.datetime, next_update: dt.datetime, ca_id: int
    ) -> Entry:
        return cls(
            der,
            f'"{sha256}"',
            this_update,
            next_update,
            next_update.timestamp(),
            http_date(this_update),
            http_date(next_update),
            ca_id,
        )


@dataclass(frozen=True)
class IndexedCa:
    id: int
    name: str
    parent_id: int | None
    hashes: IssuerHashes


class ResponseIndex:
    def __init__(self, store: ReadOnlyStore, *, clock=utcnow) -> None:
        self.store = store
        self.clock = clock
        self.by_certid: dict[CertIdKey, Entry] = {}
        #: The canonical request DER (what GET URLs carry) straight to its response.
        self.by_request: dict[bytes, Entry] = {}
        self.cas: dict[int, IndexedCa] = {}
        self._issuers: dict[tuple[str, bytes, bytes], IndexedCa] = {}
        self._watermark: dt.datetime | None = None
        self._lock = threading.Lock()
        self.last_refresh_ok: dt.datetime | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def issuer(self, alg: str, name_hash: bytes, key_hash: bytes) -> IndexedCa | None:
        return self._issuers.get((alg, name_hash, key_hash))

    def _load_cas(self) -> None:
        cas = {}
        issuers = {}
        for ca in self.store.list_cas():
            if ca.certificate_der is None:
                continue
            ic = IndexedCa(ca.id, ca.name, ca.parent_id, IssuerHashes.of(ca.certificate_der))
            cas[ca.id] = ic
            for alg in ic.hashes.name:
                issuers[(alg, ic.hashes.name[alg], ic.hashes.key[alg])] = ic
        self.cas, self._issuers = cas, issuers

    def refresh(self) -> int:
        """Load what changed since the last call; returns the number of entries (re)placed.

        Raises the store's error when the database is unreachable (the caller logs it and keeps
        serving what it has)."""
        with self._lock:
            now = self.clock()
            self._load_cas()
            stmt = select(
                OcspResponse.issuer_id,
                OcspResponse.serial_hex,
                OcspResponse.hash_alg,
                OcspResponse.der,
                OcspResponse.sha256,
                OcspResponse.this_update,
                OcspResponse.next_update,
                OcspResponse.produced_at,
            ).where(OcspResponse.next_update > now)
            if self._watermark is not None:
                stmt = stmt.where(OcspResponse.produced_at >= self._watermark - _OVERLAP)
            n = 0
            newest = self._watermark
            with self.store._reads() as s:
                for issuer_id, sh, alg, der, sha, this_u, next_u, produced in s.execute(stmt):
                    if newest is None or produced > newest:
                        newest = produced
                    ca = self.cas.get(issuer_id)
                    if ca is None:
                        continue
                    serial = int(sh, 16)
                    key = (alg, ca.hashes.name[alg], ca.hashes.key[alg], serial)
                    old = self.by_certid.get(key)
                    if old is not None and old.etag == f'"{sha}"':
                        continue
                    entry = Entry.make(bytes(der), sha, this_u, next_u, issuer_id)
                    self.by_certid[key] = entry
                    self.by_request[static.canonical_request(ca.hashes, serial, alg)] = entry
                    n += 1
            self._watermark = newest
            self._drop_expired(now)
            self.last_refresh_ok = now
            return n

    def _drop_expired(self, now: dt.datetime) -> None:
        ts = now.timestamp()
        # Two loops, not one over both dicts: their key types differ.
        for k in [k for k, e in self.by_certid.items() if e.next_update_ts <= ts]:
            del self.by_certid[k]
        for r in [r for r, e in self.by_request.items() if e.next_update_ts <= ts]:
            del self.by_request[r]

    def start(self, interval: float) -> None:
        """Refresh in a daemon thread every ``interval`` seconds."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception as ex:
                    log.warning("OCSP index refresh failed (serving cached responses): %s", ex)

        self._thread = threading.Thread(target=loop, name="ocsp-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
