"""Published CRLs (``published_crls``), the CRL number sequence and publication lease of each CA
(``crl_numbers``), and the revoked rows a CRL is built from.

Reads (``CrlReads``) go through the read-only face: ``GET /crl`` must never wait for, or take,
the write lock. Writes (``Crls``) are each one transaction: a lease is taken or refused with the
CA's counter row locked, numbers are allocated by incrementing that row under the same lock (so
they strictly increase across every process publishing), and a publication's rows, pruning and
audit event commit together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    DateTime,
    String,
    delete,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from ca_core.errors import AlreadyExistsError, LeaseLostError, NotFoundError
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import Certificate, CertificateAuthority, CrlCounter, PublishedCrl
from ca_core.store.sessions import read_session

#: (serial_hex, revoked_at, reason, invalidity_date, not_after), times naive UTC.
RevokedRow = tuple[str, dt.datetime, str | None, dt.datetime | None, dt.datetime]


@dataclass(frozen=True)
class PublishedCrlInfo:
    """A published CRL without its DER."""

    id: int
    ca: str
    kind: str
    partition: int
    number: int
    base_number: int | None
    this_update: dt.datetime
    next_update: dt.datetime
    entries: int
    sha256: str


@dataclass(frozen=True)
class NewCrl:
    """A signed CRL to record."""

    kind: str
    partition: int
    number: int
    base_number: int | None
    this_update: dt.datetime
    next_update: dt.datetime
    entries: int
    der: bytes
    sha256: str


@dataclass(frozen=True)
class PartitionRows:
    """Which revoked rows re-signing some partitions needs: those of ``partitions`` (serial mod
    ``n_parts``) and, for the delta, those revoked at or after ``delta_from``."""

    partitions: Collection[int]
    n_parts: int
    delta_from: dt.datetime | None


_INFO_COLUMNS = (
    PublishedCrl.id,
    CertificateAuthority.name,
    PublishedCrl.kind,
    PublishedCrl.partition,
    PublishedCrl.number,
    PublishedCrl.base_number,
    PublishedCrl.this_update,
    PublishedCrl.next_update,
    PublishedCrl.entries,
    PublishedCrl.sha256,
)


class CrlReads:
    """Look-ups on the read-only face."""

    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def newest(self, issuer_id: int | None = None) -> list[PublishedCrlInfo]:
        """The newest published CRL of each (CA, kind, partition), of one CA or of all."""
        newest = (
            select(PublishedCrl.issuer_id.label("i"), func.max(PublishedCrl.number).label("n"))
            .group_by(PublishedCrl.issuer_id, PublishedCrl.kind, PublishedCrl.partition)
            .subquery()
        )
        stmt = (
            select(*_INFO_COLUMNS)
            .join(CertificateAuthority, CertificateAuthority.id == PublishedCrl.issuer_id)
            .join(
                newest,
                (newest.c.i == PublishedCrl.issuer_id) & (newest.c.n == PublishedCrl.number),
            )
            .order_by(CertificateAuthority.name, PublishedCrl.kind, PublishedCrl.partition)
        )
        if issuer_id is not None:
            stmt = stmt.where(PublishedCrl.issuer_id == issuer_id)
        with self.store.reading() as conn:
            return [PublishedCrlInfo(*tuple(row)) for row in conn.execute(stmt)]

    def newest_of(self, ca_name: str, kind: str, partition: int = -1) -> PublishedCrlInfo | None:
        """The newest published CRL of one scope (one indexed look-up, no DER)."""
        stmt = (
            select(*_INFO_COLUMNS)
            .join(CertificateAuthority, CertificateAuthority.id == PublishedCrl.issuer_id)
            .where(
                CertificateAuthority.name == ca_name,
                PublishedCrl.kind == kind,
                PublishedCrl.partition == partition,
            )
            .order_by(PublishedCrl.number.desc())
            .limit(1)
        )
        with self.store.reading() as conn:
            row = conn.execute(stmt).first()
        return PublishedCrlInfo(*tuple(row)) if row is not None else None

    def der(self, crl_id: int) -> bytes | None:
        """The DER of a published CRL; None once pruned."""
        with self.store.reading() as conn:
            return conn.execute(select(PublishedCrl.der).where(PublishedCrl.id == crl_id)).scalar()

    def revoked_rows(
        self,
        issuer_id: int,
        not_after_from: dt.datetime | None,
        only: PartitionRows | None = None,
    ) -> Iterator[RevokedRow]:
        """Revoked and held certificates of ``issuer_id`` (expired before ``not_after_from``
        left out), streamed in batches: plain tuples, never ORM objects.

        Times are naive UTC (what cryptography's builders take), read without UTCDateTime's
        per-value processing: SQLite hands back text that ``fromisoformat`` parses in C,
        PostgreSQL naive datetimes.
        """
        t = Certificate.__table__
        sqlite = self.store.engine.dialect.name == "sqlite"
        raw = String() if sqlite else DateTime()
        stmt = select(
            t.c.serial_hex,
            type_coerce(t.c.revoked_at, raw),
            t.c.revocation_reason,
            type_coerce(t.c.invalidity_date, raw),
            type_coerce(t.c.not_after, raw),
        ).where(t.c.issuer_id == issuer_id, t.c.status.in_(("revoked", "hold")))
        if not_after_from is not None:
            stmt = stmt.where(t.c.not_after >= not_after_from)
        where = _partition_filter(only) if only is not None else None
        if where is not None:
            stmt = stmt.where(where)
        parse = dt.datetime.fromisoformat
        with self.store.reading() as conn:
            result = conn.execution_options(stream_results=True, yield_per=20000).execute(stmt)
            if not sqlite:
                yield from result
            else:
                for sh, revoked, reason, inv, not_after in result:
                    yield (
                        sh,
                        parse(revoked),
                        reason,
                        parse(inv) if inv else None,
                        parse(not_after),
                    )


def _partition_filter(only: PartitionRows) -> ColumnElement[bool] | None:
    """A WHERE clause keeping the rows of ``only.partitions`` (and those the delta needs), so
    re-signing one partition does not walk every row in Python. serial mod n depends only on
    the low byte when n divides 256, i.e. on the serial's last two hex digits; None (every
    row) for other n."""
    if 256 % only.n_parts:
        return None
    t = Certificate.__table__
    suffixes = [format(v, "02x") for v in range(256) if v % only.n_parts in only.partitions]
    cond = or_(
        func.length(t.c.serial_hex) < 2,  # never for psre's serials, but keep exactness
        *(t.c.serial_hex.like(f"%{x}") for x in suffixes),
    )
    if only.delta_from is not None:
        return or_(cond, t.c.revoked_at >= only.delta_from)
    return cond


class Crls:
    """The publication lease, CRL numbers and published rows of each CA."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def take_lease(
        self, issuer_id: int, holder: str, now: dt.datetime, until: dt.datetime
    ) -> str | None:
        """Take (or renew) the CA's publication lease for ``holder`` until ``until``; returns
        the other holder whose lease still runs at ``now`` instead (nothing changed then)."""
        self._ensure_counter(issuer_id)
        with self.store.session() as s:
            row = _counter(s, issuer_id)
            if row.lease_until is not None and row.lease_until > now:
                if row.lease_holder != holder:
                    return row.lease_holder or "?"
            row.lease_until = until
            row.lease_holder = holder
        return None

    def release_lease(self, issuer_id: int, holder: str) -> None:
        """End ``holder``'s lease (a lease another process took over is left alone)."""
        with self.store.session() as s:
            s.execute(
                update(CrlCounter)
                .where(CrlCounter.issuer_id == issuer_id, CrlCounter.lease_holder == holder)
                .values(lease_until=None, lease_holder=None)
            )

    def allocate(self, issuer_id: int, count: int) -> list[int]:
        """Reserve the next ``count`` CRL numbers of the CA. The counter row is locked for the
        increment (FOR UPDATE on PostgreSQL; SQLite's write transactions take turns), so two
        processes never get the same number and numbers only grow. A failed signature after
        this leaves a gap, never a reuse."""
        self._ensure_counter(issuer_id)
        with self.store.session() as s:
            row = _counter(s, issuer_id)
            first = row.last_number + 1
            row.last_number += count
        return list(range(first, first + count))

    def record(
        self,
        issuer_id: int,
        crls: list[NewCrl],
        *,
        retain: int,
        actor: str,
        audit_object: str,
        audit_details: dict[str, object],
        holder: str,
        now: dt.datetime,
    ) -> list[int]:
        """Store ``crls``, keep only the newest ``retain`` of each (kind, partition), and append
        the ``crl.publish`` audit event, in one transaction; returns the new rows' ids.

        Only while ``holder`` still holds the CA's publication lease at ``now``, checked with
        the counter row locked: a publisher stopped past its lease (SIGSTOP, a long pause)
        may have been overtaken by one that listed a later revocation, and its CRLs — built
        from what it read before — must not become the newest (LeaseLostError)."""
        ids: list[int] = []
        with self.store.session() as s:
            lease = _counter(s, issuer_id)
            until = lease.lease_until
            if lease.lease_holder != holder or until is None or until <= now:
                raise LeaseLostError(f"{holder} no longer holds the CRL publication lease")
            for crl in crls:
                row = PublishedCrl(
                    issuer_id=issuer_id,
                    kind=crl.kind,
                    partition=crl.partition,
                    number=crl.number,
                    base_number=crl.base_number,
                    this_update=crl.this_update,
                    next_update=crl.next_update,
                    entries=crl.entries,
                    der=crl.der,
                    sha256=crl.sha256,
                )
                s.add(row)
                s.flush()
                ids.append(row.id)
                _prune(s, issuer_id, crl.kind, crl.partition, retain)
            # BR 5.4.1: CRL signing is an audit event; one per publication run.
            self.store.audit.append(actor, "crl.publish", audit_object, audit_details, session=s)
        return ids

    def _ensure_counter(self, issuer_id: int) -> None:
        with read_session(self.store) as s:
            if s.get(CrlCounter, issuer_id) is not None:
                return
        try:
            with self.store.session() as s:
                s.add(CrlCounter(issuer_id=issuer_id, last_number=0))
        except AlreadyExistsError:
            pass  # another process made it first


def _counter(s: Session, issuer_id: int) -> CrlCounter:
    row = s.get(CrlCounter, issuer_id, with_for_update=True)
    if row is None:
        raise NotFoundError("no CRL counter")
    return row


def _prune(s: Session, issuer_id: int, kind: str, partition: int, retain: int) -> None:
    scope = (
        PublishedCrl.issuer_id == issuer_id,
        PublishedCrl.kind == kind,
        PublishedCrl.partition == partition,
    )
    keep = s.scalars(
        select(PublishedCrl.number)
        .where(*scope)
        .order_by(PublishedCrl.number.desc())
        .offset(retain - 1)
        .limit(1)
    ).first()
    if keep is not None:
        s.execute(delete(PublishedCrl).where(*scope, PublishedCrl.number < keep))
