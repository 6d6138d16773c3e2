"""Publishing a CA's CRLs: number them, build them from the store, sign, store, write files.

One pass over the CA's revoked and on-hold certificates (plain rows streamed from the database,
no ORM object per row) builds every CRL asked for: the complete CRL, the partition CRLs and the
delta CRL, sharing each entry object between them. The set is signed first and then recorded in
one transaction, so a failed signature leaves the last good CRLs published (and logs why).

Rules implemented here:

* CRL numbers come from one sequence per CA (``crl_numbers``), strictly increasing across
  complete, partition and delta CRLs (RFC 5280 §5.2.3, §5.2.4).
* An expired certificate stays listed until one CRL of its scope has appeared after its
  notAfter (RFC 5280 §3.3 practice): a CRL lists it while notAfter ≥ the previous CRL's
  thisUpdate.
* certificateHold entries disappear when the hold is released (the certificate is ``good``
  again); the delta CRL says so with removeFromCRL (RFC 5280 §5.3.1).
* A delta lists what changed since its base complete CRL's thisUpdate (deltaCRLIndicator).

Several processes may run schedulers (gunicorn workers): a lease on the CA's ``crl_numbers`` row
makes one of them publish while the others skip that CA.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from ca_core import audit_objects
from ca_core.clock import Clock, utcnow
from ca_core.config import CrlConfig
from ca_core.errors import LeaseLostError
from ca_core.lost_serials import lost_serial_rows
from ca_core.store import ReadOnlyStore, Store, normalize_serial
from ca_core.store.crls import CrlReads, Crls, NewCrl, PartitionRows, PublishedCrlInfo, RevokedRow
from ca_core.store.models import CertificateAuthority
from ca_core.store.status_changes import StatusChangeReads
from crl.build import CrlHeader, SignedCrl, entry, naive_utc, sign_crl
from crl.errors import CrlBusyError, CrlError
from crl.urls import crl_name, crl_url, parse_crl_name, partition_of
from hsm.backend import KeyBackend

if TYPE_CHECKING:
    from ca_core.events import StatusEvent

log = logging.getLogger(__name__)

#: Published CRLs kept per (CA, kind, partition); older rows are deleted (their hashes stay in
#: the audit log).
RETAIN = 3
#: How long a publication lease lasts: longer than building and signing a large CRL takes.
LEASE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class CrlInfo(PublishedCrlInfo):
    """A published CRL without its DER: what the endpoint, ``crl show`` and the dashboard use."""

    @property
    def name(self) -> str:
        return crl_name(self.ca, self.kind, self.partition)

    @classmethod
    def of(cls, row: PublishedCrlInfo) -> CrlInfo:
        return cls(*(getattr(row, f.name) for f in fields(PublishedCrlInfo)))


@dataclass
class _Scope:
    """One CRL being built: its header fields and entries, and one entry per shape to lint."""

    kind: str
    partition: int
    cutoff: dt.datetime | None
    entries: list[x509.RevokedCertificate]
    sample: dict[tuple[str | None, bool], x509.RevokedCertificate]

    def add(self, e: x509.RevokedCertificate, shape: tuple[str | None, bool]) -> None:
        self.entries.append(e)
        self.sample.setdefault(shape, e)


@dataclass
class _Plan:
    """What one publication run makes: the complete CRL, partitions and delta it signs (in
    that order, which is the order of their numbers), at ``now`` until ``next_update``."""

    now: dt.datetime
    next_update: dt.datetime
    n_parts: int
    full: _Scope | None
    by_part: dict[int, _Scope]
    delta: _Scope | None
    want_delta: bool
    #: Where the delta starts: this run's thisUpdate with a new complete CRL, else the base's.
    base_time: dt.datetime
    base_number: int | None

    @property
    def scopes(self) -> list[_Scope]:
        head = [self.full] if self.full is not None else []
        tail = [self.delta] if self.delta is not None else []
        return [*head, *self.by_part.values(), *tail]


class CrlPublisher:
    """Builds, signs and records the CRLs of the CAs in ``store`` with keys in ``backend``."""

    def __init__(
        self,
        store: Store,
        backend: KeyBackend,
        config: CrlConfig,
        *,
        base_url: str,
        public_dir: Path | None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.backend = backend
        self.config = config
        self.base_url = base_url
        self.public_dir = public_dir
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        #: Set by a running scheduler: status events are then handed to it instead of being
        #: published in the caller's thread.
        self.notify: Callable[[str, str], None] | None = None

    # -- what is due ----------------------------------------------------------------------------
    def due(self, ca: CertificateAuthority) -> tuple[bool, set[str]]:
        """(everything due?, serials changed since the last publication) for ``ca``."""
        newest = _newest_by_scope(self.store, ca.id)
        full = newest.get(("full", -1))
        if full is None:
            return True, set()
        now = self.clock()
        refresh = self._refresh(ca)
        scopes = [full]
        if self.config.partitions > 1:
            parts = [newest.get(("partition", p)) for p in range(self.config.partitions)]
            if any(p is None for p in parts):
                return True, set()
            scopes += [p for p in parts if p is not None]
        if self.config.delta and ("delta", -1) not in newest:
            return True, set()
        if any(now >= s.this_update + refresh for s in scopes):
            return True, set()
        last = max(info.this_update for info in newest.values())
        return False, changed_serials(self.store, ca.id, last)

    def _refresh(self, ca: CertificateAuthority) -> dt.timedelta:
        if ca.parent_id is None:
            return dt.timedelta(days=self.config.root_refresh_days)
        return dt.timedelta(hours=self.config.refresh_hours)

    def _validity(self, ca: CertificateAuthority) -> dt.timedelta:
        if ca.parent_id is None:
            return dt.timedelta(days=self.config.root_validity_days)
        return dt.timedelta(hours=self.config.validity_hours)

    # -- publishing -----------------------------------------------------------------------------
    def publish_if_due(self, ca_name: str) -> list[CrlInfo]:
        """Publish what is due for ``ca_name`` (nothing when its CRLs are current)."""
        ca = self.store.get_ca(ca_name)
        everything, changed = self.due(ca)
        if everything:
            return self.publish(ca_name)
        if changed:
            return self.publish_changes(ca_name, changed)
        return []

    def publish_changes(self, ca_name: str, serials: Iterable[str]) -> list[CrlInfo]:
        """Re-sign what a status change of ``serials`` affects, at once (BR 4.9.7)."""
        ca = self.store.get_ca(ca_name)
        full = _newest_by_scope(self.store, ca.id).get(("full", -1))
        if full is None or full.entries <= self.config.immediate_full_max_entries:
            return self.publish(ca_name)
        parts = {
            partition_of(int(normalize_serial(s), 16), self.config.partitions) for s in serials
        }
        partitions = {p for p in parts if p is not None}
        if not partitions and not self.config.delta:
            return self.publish(ca_name)
        return self.publish(ca_name, full=False, partitions=partitions)

    def publish(
        self,
        ca_name: str,
        *,
        full: bool = True,
        partitions: Collection[int] | None = None,
        delta: bool | None = None,
        next_update: dt.datetime | None = None,
        actor: str = "crl",
    ) -> list[CrlInfo]:
        """Build, sign and record CRLs of ``ca_name``; returns what was published.

        :param full: the complete CRL.
        :param partitions: partition numbers to re-sign; None = all (when partitioned).
        :param delta: a delta CRL against the newest complete CRL; None = as configured.
        :param next_update: nextUpdate instead of the configured validity (root ceremony).
        :raises CrlBusyError: another process holds this CA's publication lease.
        :raises CrlError, LintError, HsmError: nothing was published; the previous CRLs stay.
        """
        ca = self.store.get_ca(ca_name)
        if ca.certificate_der is None:
            raise CrlError(f"CA {ca_name} has no certificate yet")
        with self._lock(ca.id):
            self._take_lease(ca.id)
            try:
                return self._publish(ca, full, partitions, delta, next_update, actor)
            except Exception as ex:
                log.error("CRL publication for %s failed; the previous CRLs stay: %s", ca_name, ex)
                self._audit_failure(ca_name, ex, actor)
                raise
            finally:
                self._release_lease(ca.id)

    def _publish(
        self,
        ca: CertificateAuthority,
        full: bool,
        partitions: Collection[int] | None,
        delta: bool | None,
        next_update: dt.datetime | None,
        actor: str,
    ) -> list[CrlInfo]:
        plan = self._plan(ca, full, partitions, delta, next_update)
        count = self._fill(ca, plan)
        numbers = self._allocate(ca.id, len(plan.scopes))
        signed = self._sign(ca, plan, numbers)
        infos = self._record(ca, signed, actor)
        self._write_files(ca.name, signed)
        log.info(
            "published %d CRL(s) for %s (numbers %d..%d, %d revoked rows read)",
            len(signed),
            ca.name,
            numbers[0],
            numbers[-1],
            count,
        )
        return infos

    def _plan(
        self,
        ca: CertificateAuthority,
        full: bool,
        partitions: Collection[int] | None,
        delta: bool | None,
        next_update: dt.datetime | None,
    ) -> _Plan:
        """Which CRLs this run makes, their times, and what each lists from (step 1)."""
        now = self.clock().astimezone(dt.UTC).replace(microsecond=0)
        next_update = (next_update or now + self._validity(ca)).astimezone(dt.UTC)
        if next_update <= now:
            raise CrlError("nextUpdate must be after thisUpdate")
        n_parts = self.config.partitions
        wanted_parts = sorted(
            (range(n_parts) if partitions is None else partitions) if n_parts > 1 else ()
        )
        if any(not 0 <= p < n_parts for p in wanted_parts):
            raise CrlError(f"partitions must be in 0..{n_parts - 1}")
        newest = _newest_by_scope(self.store, ca.id)
        base = newest.get(("full", -1))
        if base is None:
            full = True  # a delta needs a base, and the CRL URL must never 404

        def cutoff(kind: str, p: int) -> dt.datetime | None:
            # Naive UTC, as the rows come (see _revoked_rows).
            prev = newest.get((kind, p))
            return naive_utc(prev.this_update) if prev else None

        full_scope = _Scope("full", -1, cutoff("full", -1), [], {}) if full else None
        by_part = {p: _Scope("partition", p, cutoff("partition", p), [], {}) for p in wanted_parts}
        want_delta = self.config.delta if delta is None else delta
        base_time = now if full else (base.this_update if base else now)
        return _Plan(
            now=now,
            next_update=next_update,
            n_parts=n_parts,
            full=full_scope,
            by_part=by_part,
            delta=_Scope("delta", -1, None, [], {}) if want_delta else None,
            want_delta=want_delta,
            base_time=base_time,
            base_number=base.number if base else None,
        )

    def _fill(self, ca: CertificateAuthority, plan: _Plan) -> int:
        """Put every revoked or held certificate into the CRLs that list it, and the delta's
        removeFromCRL entries (step 2). Returns the number of rows read."""
        released = _releases(self.store, ca.id, plan.base_time) if plan.delta else {}
        cutoffs = [s.cutoff for s in plan.scopes if s.kind != "delta"]
        min_cutoff = None if (None in cutoffs or not cutoffs) else min(cutoffs)  # type: ignore[type-var]
        narrow = None
        if plan.full is None and plan.by_part:
            narrow = PartitionRows(
                plan.by_part, plan.n_parts, plan.base_time if plan.delta else None
            )
        rows = _revoked_rows(
            self.store, ca.id, min_cutoff.replace(tzinfo=dt.UTC) if min_cutoff else None, narrow
        )
        delta_from = naive_utc(plan.base_time)
        count = 0
        for sh, revoked_at, reason, invalidity, not_after in rows:
            count += 1
            released.pop(sh, None)  # on hold or revoked again: not released
            serial = int(sh, 16)
            # The scopes this row goes into; an entry is made only when one needs it (re-signing
            # one partition reads every row but builds only that partition's entries).
            targets = []
            if plan.full is not None and (
                plan.full.cutoff is None or not_after >= plan.full.cutoff
            ):
                targets.append(plan.full)
            if plan.by_part:
                ps = plan.by_part.get(serial % plan.n_parts)
                if ps is not None and (ps.cutoff is None or not_after >= ps.cutoff):
                    targets.append(ps)
            if plan.delta is not None and revoked_at >= delta_from:
                targets.append(plan.delta)
            if not targets:
                continue
            e = entry(serial, revoked_at, reason, invalidity)
            shape = (reason, invalidity is not None)
            for scope in targets:
                scope.add(e, shape)
        if plan.delta is not None:
            for sh, when in released.items():
                plan.delta.add(entry(int(sh, 16), when, "removeFromCRL", None), ("rm", False))
        return count

    def _sign(self, ca: CertificateAuthority, plan: _Plan, numbers: list[int]) -> list[SignedCrl]:
        """Sign each CRL of the plan with its number (step 3); lints a sample of each."""
        base_number = numbers[0] if plan.full is not None else plan.base_number
        signed: list[SignedCrl] = []
        for scope, number in zip(plan.scopes, numbers, strict=True):
            header = CrlHeader(
                ca_name=ca.name,
                kind=scope.kind,
                number=number,
                this_update=plan.now,
                next_update=plan.next_update,
                partition=scope.partition,
                base_number=base_number if scope.kind == "delta" else None,
                idp_url=crl_url(self.base_url, ca.name, "partition", scope.partition)
                if scope.kind == "partition"
                else None,
                freshest_url=crl_url(self.base_url, ca.name, "delta") if plan.want_delta else None,
            )
            signed.append(
                sign_crl(
                    self.backend,
                    ca,
                    header,
                    scope.entries,
                    lint_sample=list(scope.sample.values()),
                    lint_max_entries=self.config.lint_max_entries,
                )
            )
        return signed

    # -- the database -----------------------------------------------------------------------------
    def _lock(self, issuer_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(issuer_id, threading.Lock())

    def _take_lease(self, issuer_id: int) -> None:
        # The lease is shared with other processes (other clocks, other tests' clocks): it is
        # held in wall-clock time, never in this publisher's (possibly moved) clock.
        now = utcnow()
        other = Crls(self.store).take_lease(issuer_id, self.holder, now, now + LEASE)
        if other is not None:
            raise CrlBusyError(f"{other} is publishing this CA's CRLs")

    def _release_lease(self, issuer_id: int) -> None:
        Crls(self.store).release_lease(issuer_id, self.holder)

    def _allocate(self, issuer_id: int, count: int) -> list[int]:
        """Reserve ``count`` CRL numbers. A failed signature leaves a gap, never a reuse."""
        return Crls(self.store).allocate(issuer_id, count)

    def _record(
        self, ca: CertificateAuthority, signed: list[SignedCrl], actor: str
    ) -> list[CrlInfo]:
        """Store the signed CRLs, prune old ones and audit the run, in one transaction."""
        new = [
            NewCrl(
                c.header.kind,
                c.header.partition,
                c.header.number,
                c.header.base_number,
                c.header.this_update,
                c.header.next_update,
                c.entries,
                c.der,
                c.sha256,
            )
            for c in signed
        ]
        details: dict[str, object] = {
            "this_update": _z(signed[0].header.this_update),
            "next_update": _z(signed[0].header.next_update),
            "crls": [
                {
                    "name": crl_name(ca.name, c.header.kind, c.header.partition),
                    "number": c.header.number,
                    "entries": c.entries,
                    "sha256": c.sha256,
                }
                for c in signed
            ],
        }
        try:
            ids = Crls(self.store).record(
                ca.id,
                new,
                retain=RETAIN,
                actor=actor,
                audit_object=audit_objects.ca(ca.name),
                audit_details=details,
                holder=self.holder,
                now=utcnow(),  # the lease's check: wall-clock time, as in _take_lease
            )
        except LeaseLostError as ex:
            raise CrlBusyError(f"{ex}; another process publishes this CA's CRLs") from ex
        return [
            CrlInfo(
                i,
                ca.name,
                n.kind,
                n.partition,
                n.number,
                n.base_number,
                n.this_update,
                n.next_update,
                n.entries,
                n.sha256,
            )
            for i, n in zip(ids, new, strict=True)
        ]

    def _audit_failure(self, ca_name: str, ex: Exception, actor: str) -> None:
        try:
            self.store.audit.append(
                actor, "crl.publish_failed", audit_objects.ca(ca_name), {"error": type(ex).__name__}
            )
        except Exception:
            log.exception("could not audit the failed CRL publication")

    def _write_files(self, ca_name: str, signed: list[SignedCrl]) -> None:
        """Atomic replace (temp file + rename): a reader sees the old CRL or the new, whole."""
        if self.public_dir is None:
            return
        self.public_dir.mkdir(parents=True, exist_ok=True)
        for crl in signed:
            path = self.public_dir / crl_name(ca_name, crl.header.kind, crl.header.partition)
            fd, tmp = tempfile.mkstemp(dir=self.public_dir, prefix=".tmp-", suffix=".crl")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(crl.der)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


# --- reading -------------------------------------------------------------------------------------
def _revoked_rows(
    store: ReadOnlyStore,
    issuer_id: int,
    not_after_from: dt.datetime | None,
    only: PartitionRows | None = None,
) -> Iterator[RevokedRow]:
    """(serial_hex, revoked_at, reason, invalidity_date, not_after) of revoked and held
    certificates (streamed, naive UTC: ca_core.store.crls.CrlReads.revoked_rows), then of the
    serials a restore found published but no longer in the database: revoked for good."""
    yield from CrlReads(store).revoked_rows(issuer_id, not_after_from, only)
    yield from lost_serial_rows(store, issuer_id)


def changed_serials(store: ReadOnlyStore, issuer_id: int, since: dt.datetime) -> set[str]:
    """Serials of CA ``issuer_id`` revoked, held or released at or after ``since`` (any
    process), from the status_changes feed."""
    return StatusChangeReads(store).serials_changed_since(issuer_id, since)


def _releases(store: ReadOnlyStore, issuer_id: int, since: dt.datetime) -> dict[str, dt.datetime]:
    """Holds of CA ``issuer_id`` released at or after ``since``: serial → release time."""
    return StatusChangeReads(store).releases_since(issuer_id, since)


def newest_crls(store: ReadOnlyStore, issuer_id: int | None = None) -> list[CrlInfo]:
    """The newest published CRL of each (CA, kind, partition), of one CA or of all."""
    return [CrlInfo.of(r) for r in CrlReads(store).newest(issuer_id)]


def _newest_by_scope(store: ReadOnlyStore, issuer_id: int) -> dict[tuple[str, int], CrlInfo]:
    return {(i.kind, i.partition): i for i in newest_crls(store, issuer_id)}


def newest_crl(
    store: ReadOnlyStore, ca_name: str, kind: str, partition: int = -1
) -> CrlInfo | None:
    """The newest published CRL of one scope (one indexed look-up, no DER)."""
    row = CrlReads(store).newest_of(ca_name, kind, partition)
    return CrlInfo.of(row) if row is not None else None


def crl_der(store: ReadOnlyStore, crl_id: int) -> bytes | None:
    return CrlReads(store).der(crl_id)


# --- the contract with the signing area (B-LT) ---------------------------------------------
def crl_for_certificate(store: ReadOnlyStore, cert: x509.Certificate) -> bytes | None:
    """DER of the newest published CRL that covers ``cert``: the partition or complete CRL its
    CRL DP names (for a CA certificate, the parent's CRL, the ARL); None if none is published
    yet, or for a self-signed certificate (a trust anchor is not checked against a CRL)."""
    if cert.issuer == cert.subject:
        return None
    ca = _issuing_ca(store, cert)
    if ca is None:
        return None
    kind, partition = "full", -1
    for url in _crl_dp_urls(cert):
        stem = url.rsplit("/", 1)[-1].removesuffix(".crl")
        parsed = parse_crl_name(stem, {ca.name})
        if parsed is not None and parsed[1] == "partition":
            kind, partition = "partition", parsed[2]
    info = newest_crl(store, ca.name, kind, partition)
    if info is None and kind == "partition":
        info = newest_crl(store, ca.name, "full")
    return crl_der(store, info.id) if info is not None else None


def _crl_dp_urls(cert: x509.Certificate) -> list[str]:
    try:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        n.value
        for dp in dps
        for n in (dp.full_name or [])
        if isinstance(n, x509.UniformResourceIdentifier)
    ]


def _issuing_ca(store: ReadOnlyStore, cert: x509.Certificate) -> CertificateAuthority | None:
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        key_id = aki.key_identifier
    except x509.ExtensionNotFound:
        key_id = None
    for ca in store.list_cas():
        if ca.certificate_der is None:
            continue
        ca_cert = x509.load_der_x509_certificate(ca.certificate_der)
        if ca_cert.subject != cert.issuer:
            continue
        if key_id is not None:
            try:
                ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            except x509.ExtensionNotFound:
                continue
            if ski.digest != key_id:
                continue
        return ca
    return None


# --- the process's publisher: publish_all and the status-event listener -------------------------
def public_dir(data_path: Path) -> Path:
    """Where the CRL files are written under the data directory (served at /crl)."""
    return data_path / "public" / "crl"


def publish_all(
    pub: CrlPublisher, *, force: bool = False, before_each: Callable[[], None] | None = None
) -> list[CrlInfo]:
    """Publish every active CA's CRLs that are due (all of them with ``force``).

    Used by ``psre init`` (idempotent: a re-run publishes nothing new while the CRLs are
    current), ``psre crl generate`` and the scheduler. A CA whose signing fails is logged and
    skipped: its last good CRLs stay published, and the other CAs are still served.
    ``before_each`` runs before each CA's publication, outside the per-CA error handling: the
    refresher's lease check, whose exception ends the run.
    """
    out: list[CrlInfo] = []
    for ca in pub.store.list_cas():
        if ca.status != "active" or ca.certificate_der is None:
            continue
        if before_each is not None:
            before_each()
        try:
            out += pub.publish(ca.name) if force else pub.publish_if_due(ca.name)
        except CrlBusyError as ex:
            log.info("skipping %s: %s", ca.name, ex)
        except Exception:
            log.exception("CRLs of %s not published; the previous ones stay", ca.name)
    return out


def install(pub: CrlPublisher) -> None:
    """Re-sign the affected CRLs when a certificate of ``pub``'s store is revoked, held or
    released."""

    def on_status(event: StatusEvent) -> None:
        if event.kind not in ("revoked", "hold", "released"):
            return
        if pub.notify is not None:
            pub.notify(event.ca, event.serial_hex)  # the scheduler thread publishes
        else:
            pub.publish_changes(event.ca, [event.serial_hex])

    pub.store.events.subscribe(on_status)


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
