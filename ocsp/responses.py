"""Pre-signed OCSP responses: produce, store, publish, look up.

For every unexpired certificate — and every serial issued without a certificate row here:
reserved but never stored, or lost in a restore, with the status the store's one rule gives it
(ca_core.store.certificate_status) — two responses are signed ahead of time — one per CertID
hash (SHA-1, which most clients send, and SHA-256) — stored in ``ocsp_responses`` and written as
static files (ocsp/static.py). They are re-signed

* when ``refresh_fraction`` of their validity has passed (default 96 h x 0.5: every 48 h, within
  BR 4.9.10's "at least 8 h before nextUpdate and at most 4 days after thisUpdate"),
* at once when the certificate is issued, revoked, suspended or released (ocsp/publisher.py
  listens to the store's status events), and
* whenever the stored status differs from the certificate's (a missed event heals on the next
  refresh run).

Lint: pkilint ``lint_ocsp_response`` costs milliseconds, too slow for every answer of the hot
path but not for a batch: each run lints the first response of every (CA, status) it signs and
refuses to publish that CA's batch on a blocking finding. The tests lint every response type.

Contract for the signing area: :func:`response_for_certificate` and :func:`presign_all`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca_core import audit_objects, lint
from ca_core.clock import Clock
from ca_core.config import Config
from ca_core.store import ReadOnlyStore, Store, serial_hex
from ca_core.store.models import Certificate, CertificateAuthority
from ca_core.store.ocsp_responses import (
    ExpiredResponse,
    OcspResponseReads,
    OcspResponses,
    ResponseState,
    SignedResponse,
)
from hsm.backend import KeyBackend
from ocsp import static
from ocsp.errors import OcspError
from ocsp.signing import (
    PRESIGN_HASHES,
    CertStatus,
    IssuerHashes,
    Responder,
    build_response,
    responder_for,
    utcnow,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")

#: Rows written per transaction in a batch (readers see progress; a failure loses little).
_BATCH = 200
#: Certificates the refresher asks the database for at a time.
_PAGE = 2000
#: Certificates one pass of the full comparison returns at most (each pass reads both tables
#: once; a window holds only what signing needs, a few MB).
_FULL_WINDOW = 20_000
_RESPONDER_TTL = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class PresignSettings:
    validity: dt.timedelta = dt.timedelta(hours=96)
    refresh_fraction: float = 0.5
    signer: str = "auto"
    #: Root of published files (data_dir/public), or None to write no static files.
    static_root: Path | None = None
    #: Threads signing a batch at once (``hsm.pool_size``: one HSM session each).
    workers: int = 1

    @classmethod
    def from_config(cls, cfg: Config) -> PresignSettings:
        o = cfg.ocsp
        return cls(
            validity=dt.timedelta(hours=o.validity_hours),
            refresh_fraction=o.refresh_fraction,
            signer=o.signer,
            static_root=static.static_root(cfg.data_path) if o.static_files else None,
            workers=cfg.hsm.pool_size,
        )

    @property
    def refresh_after(self) -> dt.timedelta:
        return self.validity * self.refresh_fraction


@dataclass
class PresignReport:
    signed: int = 0
    kept: int = 0
    per_ca: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _row_status(c: Certificate) -> CertStatus:
    return CertStatus(c.status, c.revoked_at, c.revocation_reason)


def _uncertified(serial_hex: str, status: CertStatus) -> Certificate:
    """A detached row carrying what signing needs for a serial without a certificate row."""
    return Certificate(
        serial_hex=serial_hex,
        status=status.status,
        revoked_at=status.revoked_at,
        revocation_reason=status.reason,
    )


class Presigner:
    """Signs and stores pre-signed responses for the certificates of the store's CAs."""

    def __init__(
        self,
        store: Store,
        backend: KeyBackend,
        settings: PresignSettings,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.reads = OcspResponseReads(store)
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self._responders: dict[int, tuple[Responder, dt.datetime]] = {}
        self._pool: ThreadPoolExecutor | None = None
        #: Called before each write (the refresher's lease check); raising stops the run.
        self.before_write: Callable[[], None] | None = None

    def for_run(self, before_write: Callable[[], None] | None) -> Presigner:
        """A presigner over the same store, key backend, settings and clock for one run with
        its own lease check ``before_write``: the process's shared presigner (status events)
        is never changed, and the run chooses its responders afresh."""
        run = Presigner(self.store, self.backend, self.settings, clock=self.clock)
        run.before_write = before_write
        return run

    def responder(self, ca: CertificateAuthority) -> Responder:
        """The CA's signer, chosen again after a few minutes (a new delegated certificate takes
        over without a restart) or when the chosen one expires."""
        now = self.clock()
        cached = self._responders.get(ca.id)
        if cached is not None:
            r, chosen = cached
            if r.valid_until > now and now - chosen < _RESPONDER_TTL:
                return r
        r = responder_for(self.store, self.backend, ca, self.settings.signer, now)
        self._responders[ca.id] = (r, now)
        return r

    # -- one certificate (status events) -------------------------------------------------------
    def presign_certificate(self, ca_name: str, sh: str) -> int:
        """Re-sign both responses of one certificate now; returns how many were signed."""
        ca = self.store.get_ca(ca_name)
        cert = self.store.get_certificate(ca.id, sh)
        if ca.certificate_der is None or cert.fingerprint_sha256 == ca.fingerprint_sha256:
            return 0  # a root's own certificate: nothing asks for its status
        n = self._sign_and_store(ca, [cert], {}, force=True, lint_first=False)
        if n:
            self.store.audit.append(
                "ocsp", "ocsp.presign", audit_objects.certificate(ca.name, sh), {"responses": n}
            )
        return n

    # -- certificates whose status changed (the refresher's status feed) -------------------------
    def presign_changed(self, ca: CertificateAuthority, serials: Collection[str]) -> int:
        """Re-sign the responses of ``serials`` that do not say the certificate's status now
        (or are missing): the heal for a change whose own re-signing failed. Responses that
        already agree are left alone, so following the feed costs a few reads when all is well."""
        certs: list[Certificate] = []
        for sh, st in sorted(self.reads.cert_statuses(ca.id, serials).items()):
            if st.source == "certificate":
                certs.append(self.store.get_certificate(ca.id, sh))
            elif st.status != "never_issued":
                certs.append(_uncertified(sh, st))  # e.g. a serial lost in a restore
        certs = [c for c in certs if c.fingerprint_sha256 != ca.fingerprint_sha256]
        existing = self.reads.states(ca.id, [c.serial_hex for c in certs])
        stale = [
            c
            for c in certs
            if any(
                (have := existing.get((c.serial_hex, alg))) is None or have.cert_status != c.status
                for alg in PRESIGN_HASHES
            )
        ]
        if not stale:
            return 0
        return self._sign_and_store(ca, stale, {}, force=True, lint_first=False)

    # -- every certificate of a CA (scheduler, psre init) --------------------------------------
    def presign_ca(
        self, ca: CertificateAuthority, *, force: bool = False, full: bool = True
    ) -> int:
        """Sign what is due for ``ca``: missing, out of date (status, signer) or past
        ``refresh_fraction`` of its validity; everything with ``force``.

        The database picks the due certificates, a page of ``_PAGE`` at a time (issue 18: this
        ran every minute over every certificate and response as ORM objects, ~GBs and minutes
        at millions of certificates). Both responses of a due certificate are re-signed.

        ``full=False`` looks only for responses due by age, through the nextUpdate index: what
        the refresher does every round. Missing and out-of-date responses are made at once by
        the process that issues or changes a status (ocsp/publisher.py); the full comparison
        of every certificate with its responses heals the rare miss and costs a scan of the
        certificate table, so the refresher runs it only hourly (ocsp/refresh.py).
        """
        now = self.clock()
        responder = self.responder(ca)
        lint_first = True
        n = 0
        for page in self._pages(ca, responder.label, now, full=full, force=force):
            page = [c for c in page if c.fingerprint_sha256 != ca.fingerprint_sha256]
            n += self._sign_and_store(ca, page, {}, force=True, lint_first=lint_first)
            lint_first = False
        if not (full or force):
            if n:
                self.store.audit.append(
                    "ocsp", "ocsp.presign", audit_objects.ca(ca.name), {"responses": n}
                )
            return n
        # Serials issued without a certificate row here — reserved but never stored (a crash
        # between the HSM signature and the database write: good) or lost in a restore
        # (revoked, as the CRLs list them) — with the status the store decides for them
        # (ca_core.store.certificate_status), so the pre-signed answer is the live one. A
        # never-issued serial (an abandoned reservation) gets none: the live signer answers it.
        uncertified = [
            _uncertified(sh, st)
            for sh, st in sorted(self.reads.uncertified(ca.id).items())
            if st.status != "never_issued"
        ]
        existing = self.reads.states(ca.id, [c.serial_hex for c in uncertified])
        n += self._sign_and_store(ca, uncertified, existing, force=force, lint_first=lint_first)
        if n:
            self.store.audit.append(
                "ocsp", "ocsp.presign", audit_objects.ca(ca.name), {"responses": n}
            )
        return n

    def _pages(
        self, ca: CertificateAuthority, label: str, now: dt.datetime, *, full: bool, force: bool
    ) -> Iterator[list[Certificate]]:
        """Pages of at most ``_PAGE`` valid certificates to re-sign, by serial: all of them
        with ``force``; those with a response missing, out of date (status, reason, signer),
        expired or past ``refresh_fraction`` with ``full`` (one set-based pass per
        ``_FULL_WINDOW``); else only those due by age (the nextUpdate index)."""
        if force or not full:
            after = ""
            while True:
                page = (
                    self.reads.all_page(ca.id, now, after, _PAGE)
                    if force
                    else self.reads.aged_page(
                        ca.id,
                        now,
                        after,
                        _PAGE,
                        now + self.settings.validity - self.settings.refresh_after,
                    )
                )
                if not page:
                    return
                yield page
                after = page[-1].serial_hex
        yield from self.reads.due_pages(
            ca.id,
            now,
            signer_label=label,
            signed_after=now - self.settings.refresh_after,
            hash_algs=PRESIGN_HASHES,
            window=_FULL_WINDOW,
            page=_PAGE,
        )

    def _due(
        self,
        c: Certificate,
        alg: str,
        existing: dict[tuple[str, str], ResponseState],
        responder: Responder,
        now: dt.datetime,
    ) -> bool:
        have = existing.get((c.serial_hex, alg))
        if have is None:
            return True
        return (
            have.cert_status != c.status
            or have.signer_label != responder.label
            or now - have.this_update >= self.settings.refresh_after
        )

    def _sign_and_store(
        self,
        ca: CertificateAuthority,
        certs: Iterable[Certificate],
        existing: dict[tuple[str, str], ResponseState],
        *,
        force: bool,
        lint_first: bool,
    ) -> int:
        """Sign what is due of ``certs``, ``_BATCH`` responses at a time, on ``workers``
        threads (issue 18: one thread signs ~130-180/s in SoftHSM, 116/s are needed at 10^7
        certificates; the HSM call releases the GIL, and a network HSM answers several
        sessions at once), then lint the first of each status and store the batch."""
        responder = self.responder(ca)
        linted: set[str] = set()
        batch: list[tuple[Certificate, str]] = []
        total = 0
        for c in certs:
            now = self.clock()
            for alg in PRESIGN_HASHES:
                if force or self._due(c, alg, existing, responder, now):
                    batch.append((c, alg))
            if len(batch) >= _BATCH:
                total += self._sign_batch(ca, responder, batch, linted if lint_first else None)
                batch = []
        if batch:
            total += self._sign_batch(ca, responder, batch, linted if lint_first else None)
        return total

    def _sign_batch(
        self,
        ca: CertificateAuthority,
        responder: Responder,
        batch: list[tuple[Certificate, str]],
        linted: set[str] | None,
    ) -> int:
        """Sign ``batch`` (in parallel when ``workers`` > 1, results in order), lint the first
        response of each status not yet in ``linted`` (None: no lint), store them all."""

        def sign(
            job: tuple[Certificate, str],
        ) -> tuple[Certificate, str, bytes, dt.datetime, dt.datetime]:
            c, alg = job
            der, this_u, next_u = build_response(
                responder,
                serial=int(c.serial_hex, 16),
                hash_alg=alg,
                status=_row_status(c),
                validity=self.settings.validity,
                now=self.clock(),
            )
            return c, alg, der, this_u, next_u

        pending = self._map(sign, batch)
        if linted is not None:
            for c, _alg, der, _t, _n in pending:
                if c.status not in linted:
                    bad = lint.blocking(lint.lint_ocsp_response(der))
                    if bad:
                        raise lint.LintError(bad)
                    linted.add(c.status)
        return self._store(ca, responder, pending)

    def _store(
        self,
        ca: CertificateAuthority,
        responder: Responder,
        pending: list[tuple[Certificate, str, bytes, dt.datetime, dt.datetime]],
    ) -> int:
        if self.before_write is not None:
            self.before_write()
        saved = OcspResponses(self.store).save(
            ca.id,
            [
                SignedResponse(
                    c.serial_hex, alg, c.status, c.revocation_reason, this_u, next_u, der
                )
                for c, alg, der, this_u, next_u in pending
            ],
            signer_label=responder.label,
            produced_at=self.clock(),
        )
        root = self.settings.static_root
        if root is not None:

            def publish(item: tuple[Certificate, str, bytes, dt.datetime, dt.datetime]) -> None:
                c, alg, der, this_u, _next_u = item
                req = static.canonical_request(responder.hashes, int(c.serial_hex, 16), alg)
                static.write_response(root, req, der, this_u)
                # Another process may have stored a newer response since our commit and written
                # its file before ours: whoever writes last makes the file the stored row.
                row = self.reads.current(ca.id, c.serial_hex, alg)
                if row is not None and row.der != der:
                    static.write_response(root, req, row.der, row.this_update)

            # On the pool too: replacing a file waits for the disk (ext4 flushes the new
            # file's data on a rename over an old one), ~3 ms per file on a busy disk. Responses
            # superseded by a newer one (see OcspResponses.save) are not written.
            self._map(publish, [p for p in pending if (p[0].serial_hex, p[1]) in saved])
        from ca_core.metrics import OCSP_PRESIGNED

        OCSP_PRESIGNED.inc(len(saved))
        return len(saved)

    def _map(self, fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """``fn`` over ``items``, in order, on the ``workers`` threads when there are several."""
        if self.settings.workers <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.settings.workers, "presign")
        return list(self._pool.map(fn, items))

    # -- static files of responses past their validity -----------------------------------------
    def sweep_expired(self) -> int:
        """Forget responses past their nextUpdate: their static files go (nginx must never
        serve one) and so do their rows (a certificate that is still valid gets a new one on
        the next run). Returns the number of responses removed."""
        if self.before_write is not None:
            self.before_write()
        now = self.clock()
        root = self.settings.static_root
        hashes_ = {
            ca.id: IssuerHashes.of(ca.certificate_der)
            for ca in self.store.list_cas()
            if ca.certificate_der is not None
        }

        def remove_files(stale: list[ExpiredResponse]) -> None:
            if root is None:
                return
            for r in stale:
                if r.issuer_id in hashes_:
                    req = static.canonical_request(
                        hashes_[r.issuer_id], int(r.serial_hex, 16), r.hash_alg
                    )
                    static.remove_response(root, req)

        return OcspResponses(self.store).sweep_expired(now, remove_files)


def presign_all(
    presigner: Presigner,
    *,
    ca: str | None = None,
    force: bool = False,
    full: bool = True,
    before_write: Callable[[], None] | None = None,
) -> PresignReport:
    """Sign whatever responses are missing, due for refresh or out of date, for every CA (or
    ``ca``); with ``full=False`` only those due by age (see Presigner.presign_ca). Used by
    ``psre init``, ``psre ocsp presign`` and the refresher, whose lease check is
    ``before_write`` (run before each batch is stored and before the expired sweep).
    ``presigner`` is the process's (psre.services); the run works on its own copy of it."""
    p = presigner.for_run(before_write)
    report = PresignReport()
    cas = [p.store.get_ca(ca)] if ca else p.store.list_cas()
    for c in cas:
        if c.certificate_der is None or c.status != "active":
            continue
        try:
            n = p.presign_ca(c, force=force, full=full)
        except (OcspError, lint.LintError) as ex:
            report.errors.append(f"{c.name}: {ex}")
            log.error("OCSP pre-signing for %s failed: %s", c.name, ex)
            continue
        report.per_ca[c.name] = n
        report.signed += n
    report.kept = 0
    p.sweep_expired()
    return report


def response_for_certificate(
    store: ReadOnlyStore, cert: x509.Certificate, *, clock: Clock = utcnow
) -> bytes | None:
    """DER of the current pre-signed response for ``cert`` (SHA-1 CertID), or None if there is
    none in its validity (at ``clock``'s now) yet."""
    issuer_der = cert.issuer.public_bytes()
    now = clock()
    sh = serial_hex(cert.serial_number)
    for ca in store.list_cas():
        if ca.certificate_der is None:
            continue
        ca_cert = x509.load_der_x509_certificate(ca.certificate_der)
        if ca_cert.subject.public_bytes() != issuer_der:
            continue
        try:
            cert.verify_directly_issued_by(ca_cert)
        except Exception:  # noqa: S112 - same name, other key: not this CA
            continue
        row = OcspResponseReads(store).current(ca.id, sh, "sha1")
        if row is not None and row.next_update > now:
            return row.der
    return None


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
