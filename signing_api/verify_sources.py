"""What PDF verification reads: a trust source (the CAs a signature may chain to) and a
revocation-info source (CRLs, OCSP responses, our own certificate records, and whether the
OCSP answers of recognized PSrEs may be fetched), with a clock.

``signing_api.verify`` takes these three instead of the whole runtime. The store-backed sources
are values holding only the database URL (and the fetch limits), so they cross into the PDF
worker that reads the untrusted document (signing_api.pdf_pool) and open a read-only connection
there, once per process: the worker never touches the HSM. The clock crosses too, so it is a
module-level function (``ca_core.clock.utcnow``) or another picklable callable. It decides
"now" for our own records (expired or not); pyhanko-certvalidator still judges "now" by its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cryptography import x509

from ca_core.clock import Clock as Clock
from ca_core.errors import CaError
from signing_api.revfetch import FetchLimits

if TYPE_CHECKING:
    from ca_core.config import Config
    from ca_core.store import ReadOnlyStore
    from ca_core.store.models import Certificate


@dataclass(frozen=True)
class TrustedCas:
    """The certificates (DER) a signature may chain to."""

    #: Our roots: the trust anchors.
    roots: list[bytes]
    #: Our other CAs and the recognized PSrEs' CAs (withdrawn ones too: their revocation is
    #: what makes signatures under them fail).
    intermediates: list[bytes]
    #: Recognized CA certificate (DER) → the PSrE's display name.
    recognized: dict[bytes, str]


class TrustSource(Protocol):
    def trusted_cas(self) -> TrustedCas: ...


class RevocationSource(Protocol):
    """What is known now of revocations, newest first where it matters."""

    @property
    def fetch(self) -> FetchLimits | None:
        """Limits of fetching a recognized PSrE's OCSP answer now; None: never fetch."""
        ...

    def crls(self) -> list[bytes]:
        """Every CA's newest CRLs (complete, partitions, delta), DER."""
        ...

    def ocsp_response(self, cert: x509.Certificate) -> bytes | None:
        """The current pre-signed OCSP response of ``cert`` if we issued it, DER."""
        ...

    def record(self, serial: int) -> Certificate | None:
        """Our record of the certificate with ``serial``, or None (not ours, or ambiguous)."""
        ...


_stores: dict[tuple[str, str | None], ReadOnlyStore] = {}
_stores_lock = threading.Lock()


def _store(url: str, reader_url: str | None) -> ReadOnlyStore:
    """One read-only connection per database per process, kept for the process's life."""
    with _stores_lock:
        store = _stores.get((url, reader_url))
        if store is None:
            from ca_core.store import ReadOnlyStore

            store = _stores[url, reader_url] = ReadOnlyStore.open(url, reader_url=reader_url)
        return store


@dataclass(frozen=True)
class StoreTrust:
    """Our CAs and the recognized PSrEs' CAs, from the store at ``database_url`` (read through
    ``reader_url`` if set, config ``database_reader_url``)."""

    database_url: str
    reader_url: str | None = None

    def trusted_cas(self) -> TrustedCas:
        from ca_core.recognized import list_recognized

        store = _store(self.database_url, self.reader_url)
        roots: list[bytes] = []
        others: list[bytes] = []
        for ca in store.list_cas():
            if ca.certificate_der is not None:
                (roots if ca.parent_id is None else others).append(ca.certificate_der)
        recognized: dict[bytes, str] = {}
        for r in list_recognized(store):
            others.append(r.certificate_der)
            recognized[r.certificate_der] = r.display_name
        return TrustedCas(roots, others, recognized)


@dataclass(frozen=True)
class StoreRevocation:
    """CRLs, pre-signed OCSP responses and certificate records of the store at
    ``database_url``, straight from it (no cache: a revocation of a second ago counts)."""

    database_url: str
    reader_url: str | None = None
    fetch: FetchLimits | None = None

    def crls(self) -> list[bytes]:
        from crl.publish import crl_der, newest_crls

        store = _store(self.database_url, self.reader_url)
        out = []
        for info in newest_crls(store):
            der = crl_der(store, info.id)
            if der is not None:
                out.append(der)
        return out

    def ocsp_response(self, cert: x509.Certificate) -> bytes | None:
        from ocsp.responses import response_for_certificate

        return response_for_certificate(_store(self.database_url, self.reader_url), cert)

    def record(self, serial: int) -> Certificate | None:
        try:
            return _store(self.database_url, self.reader_url).find_certificate(serial)
        except CaError:
            return None


def store_sources(config: Config) -> tuple[StoreTrust, StoreRevocation]:
    """The trust and revocation sources of this installation's store, per ``[verify]``."""
    cfg = config.verify
    fetch = None
    if cfg.fetch_revocation:
        fetch = FetchLimits(cfg.fetch_timeout_seconds, cfg.fetch_max_bytes, cfg.fetch_max_requests)
    url, reader = config.effective_database_url, config.database_reader_url
    return StoreTrust(url, reader), StoreRevocation(url, reader, fetch)
