"""Where a responder process finds pre-signed responses: a bounded cache in front of the
database, with the static file tree as the fallback when the database is away.

Until issue 18 each process held every valid response in memory (two per certificate, ~1.3 KB
each: ~26 GB per worker at 10 million certificates). Now a process keeps only the CA list and
at most ``ocsp.cache_entries`` responses, least recently used first out:

1. the cache, trusted for ``ocsp.index_refresh_seconds`` after it was read — the same bound on
   how late a re-signed (revoked) response is seen that the old periodic reload had;
2. one indexed row of ``ocsp_responses`` (the unique (issuer_id, serial_hex, hash_alg) key);
3. if the database does not answer: the cached entry even if older than that bound, then the
   file the refresher wrote under ``data_dir/public/ocsp/`` at the request's GET URL.

Every entry is checked against its nextUpdate when served, so nothing stale is ever sent
(checklist: "Database down: OCSP keeps serving pre-signed responses until their nextUpdate,
never after").
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.x509 import ocsp

from ca_core.errors import CaError
from ca_core.store import ReadOnlyStore, serial_hex
from ca_core.store.ocsp_responses import OcspResponseReads
from ocsp import static
from ocsp.signing import IssuerHashes

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class _Cached:
    entry: Entry
    #: time.monotonic() when the row was read: trusted for ``ttl`` seconds after.
    read_at: float


class ResponseIndex:
    """Per process: the CAs we answer for, and a bounded cache of pre-signed responses."""

    def __init__(
        self,
        store: ReadOnlyStore,
        *,
        capacity: int = 10_000,
        ttl: float = 5.0,
        static_root: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._rows = OcspResponseReads(store)
        self.capacity = max(1, capacity)
        self.ttl = ttl
        self.static_root = static_root
        #: Wall-clock seconds; every nextUpdate is judged against it (tests move it forward).
        self.clock = clock
        self._cache: OrderedDict[CertIdKey, _Cached] = OrderedDict()
        #: A canonical request's exact bytes (what GET URLs carry) to its CertID: no parsing.
        self._requests: OrderedDict[bytes, CertIdKey] = OrderedDict()
        self.cas: dict[int, IndexedCa] = {}
        self._issuers: dict[tuple[str, bytes, bytes], IndexedCa] = {}
        self._lock = threading.Lock()
        self.last_refresh_ok: dt.datetime | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def __len__(self) -> int:
        return len(self._cache)

    def issuer(self, alg: str, name_hash: bytes, key_hash: bytes) -> IndexedCa | None:
        return self._issuers.get((alg, name_hash, key_hash))

    def refresh(self) -> None:
        """Reload the CA list and forget cached responses (the next request reads its row).

        Raises the store's error when the database is unreachable; the cache is then kept."""
        self._reload_cas()
        with self._lock:
            self._cache.clear()
            self._requests.clear()

    # -- look-ups ---------------------------------------------------------------------------------
    def key_for_request(self, request_der: bytes) -> CertIdKey | None:
        """The CertID of a request seen before (exact bytes), without parsing it."""
        with self._lock:
            key = self._requests.get(request_der)
            if key is not None:
                self._requests.move_to_end(request_der)
            return key

    def lookup(self, key: CertIdKey, request_der: bytes | None = None) -> Entry | None:
        """The valid pre-signed response for ``key`` or None (none, or none reachable)."""
        now = self.clock()
        mono = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is not None and mono - cached.read_at < self.ttl:
            return _valid(cached.entry, now)
        ca = self.issuer(*key[:3])
        if ca is None:
            return None
        try:
            entry = self._read_row(ca, key, now)
        except (CaError, OSError) as ex:
            # The database is away: what we read last, else the refresher's file.
            log.warning("OCSP response row unreadable (%s); using cache or static file", ex)
            if cached is not None and _valid(cached.entry, now) is not None:
                return cached.entry
            return _valid(self._read_file(ca, key), now)
        if entry is None:
            with self._lock:
                self._cache.pop(key, None)
            return None
        self._remember(key, entry, mono, request_der)
        return _valid(entry, now)

    def _read_row(self, ca: IndexedCa, key: CertIdKey, now: float) -> Entry | None:
        alg, _n, _k, serial = key
        row = self._rows.current(ca.id, serial_hex(serial), alg)
        if row is None or row.next_update.timestamp() <= now:
            return None
        return Entry.make(row.der, row.sha256, row.this_update, row.next_update, ca.id)

    def _read_file(self, ca: IndexedCa, key: CertIdKey) -> Entry | None:
        if self.static_root is None:
            return None
        alg, _n, _k, serial = key
        path = static.file_for(self.static_root, static.canonical_request(ca.hashes, serial, alg))
        try:
            der = path.read_bytes()
            resp = ocsp.load_der_ocsp_response(der)
            this_u, next_u = resp.this_update_utc, resp.next_update_utc
        except (OSError, ValueError):
            return None
        if next_u is None or resp.serial_number != serial:
            return None
        return Entry.make(der, hashlib.sha256(der).hexdigest(), this_u, next_u, ca.id)

    def _remember(
        self, key: CertIdKey, entry: Entry, read_at: float, request_der: bytes | None
    ) -> None:
        with self._lock:
            self._cache[key] = _Cached(entry, read_at)
            self._cache.move_to_end(key)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
            if request_der is not None:
                self._requests[request_der] = key
                self._requests.move_to_end(request_der)
                while len(self._requests) > self.capacity:
                    self._requests.popitem(last=False)

    # -- the CA list, reloaded in the background --------------------------------------------------
    def start(self, interval: float) -> None:
        """Reload the CA list every ``interval`` seconds in a daemon thread (new CAs, new
        certificates of a CA). Cached responses are not dropped: they age out by ``ttl``."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self._reload_cas()
                except Exception as ex:
                    log.warning("OCSP CA list reload failed (serving cached responses): %s", ex)

        self._thread = threading.Thread(target=loop, name="ocsp-index", daemon=True)
        self._thread.start()

    def _reload_cas(self) -> None:
        cas = {}
        issuers = {}
        for ca in self.store.list_cas():
            if ca.certificate_der is None:
                continue
            ic = IndexedCa(ca.id, ca.name, ca.parent_id, IssuerHashes.of(ca.certificate_der))
            cas[ca.id] = ic
            for alg in ic.hashes.name:
                issuers[(alg, ic.hashes.name[alg], ic.hashes.key[alg])] = ic
        with self._lock:
            self.cas, self._issuers = cas, issuers
        self.last_refresh_ok = dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def stop(self) -> None:
        self._stop.set()


def _valid(entry: Entry | None, now: float) -> Entry | None:
    return entry if entry is not None and entry.next_update_ts > now else None
