"""The CA database: look-ups for status services, writes for issuance and administration.

``ReadOnlyStore`` is what status services (OCSP, CRL publication, health checks) need: it runs
on connections that cannot write (SQLite ``query_only``, deferred ``BEGIN``, so it never queues
behind writers; PostgreSQL a SELECT-only role, see store.db.make_read_engine). ``Store`` adds
writes and the audit log; ``Store.reader`` is its read-only face. Queries of one area live in
repositories beside this module (``ca_core/store/<area>.py``). Both return ORM objects
detached from any session, with every column loaded: plain values to read, not handles to the
database (relationships are deliberately absent).

Database errors leave this module as ca_core.errors exceptions: a unique constraint becomes
AlreadyExistsError naming the thing ("subscriber with NIK … already exists"), anything else
StoreError. Messages carry the first line of the driver's message at most, never whole rows.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, Engine, Index, Select, event, select, text
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.schema import ColumnCollectionConstraint

from ca_core.errors import AlreadyExistsError, NotFoundError, StoreError, StoreUnavailableError
from ca_core.events import EventBus
from ca_core.store.audit_log import AuditLog
from ca_core.store.certificate_status import CertStatus as CertStatus
from ca_core.store.certificate_status import decide_status
from ca_core.store.db import (
    describe_db_error,
    ensure_reader_role,
    is_unavailable,
    make_engine,
    make_read_engine,
    read_only,
)
from ca_core.store.migrate import current_revision, upgrade
from ca_core.store.models import (
    Base,
    BlockedKey,
    Certificate,
    CertificateAuthority,
    ClientApplication,
    LostSerial,
    SerialReservation,
    Subscriber,
)

_M = TypeVar("_M", bound=Base)

#: An open transaction handed out by the store (``Store.session()`` or ``Store.writing()``):
#: callers pass it on to repository functions and ``audit.append``, never build queries on it.
Tx = Session | Connection


def serial_hex(serial: int) -> str:
    """The stored form of a serial number: lowercase hex without leading zeros."""
    if serial < 0:
        raise ValueError("certificate serial numbers are positive")
    return format(serial, "x")


def normalize_serial(serial: int | str) -> str:
    """The stored form of a serial given as an int or as hex text ("0x0A", "0a:1b", "A1B")."""
    if isinstance(serial, int):
        return serial_hex(serial)
    digits = serial.strip().lower().removeprefix("0x").replace(":", "")
    return serial_hex(int(digits, 16))


def sha256_hex(der: bytes) -> str:
    """The fingerprint stored for a certificate: SHA-256 of its DER, lowercase hex."""
    return hashlib.sha256(der).hexdigest()


class ReadOnlyStore:
    """Look-ups only. Methods raise NotFoundError when the thing asked for does not exist."""

    def __init__(self, engine: Engine, read_engine: Engine | None = None) -> None:
        #: The engine this face was opened with: for a ReadOnlyStore of its own, the
        #: read-only one (so even code that reaches past the methods cannot write).
        self.engine = engine
        self._read_engine = read_engine if read_engine is not None else read_only(engine)
        self._reads = sessionmaker(self._read_engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, reader_url: str | None = None) -> Self:
        """Connect to ``url`` without touching the schema, on a read-only connection (see
        ca_core.store.db.make_read_engine; ``reader_url`` is config ``database_reader_url``)."""
        engine = _read_engine_for(url, reader_url)
        return cls(engine, engine)

    @property
    def reader(self) -> ReadOnlyStore:
        """The read-only face: a read-only store is its own (the public role's store)."""
        return self

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()
        self._read_engine.dispose()

    def get_ca(self, name: str) -> CertificateAuthority:
        stmt = select(CertificateAuthority).where(CertificateAuthority.name == name)
        return self._one(stmt, f"no CA named {name!r}")

    def list_cas(self) -> list[CertificateAuthority]:
        return self._all(select(CertificateAuthority).order_by(CertificateAuthority.id))

    def get_certificate(self, issuer_id: int, serial: int | str) -> Certificate:
        """The certificate ``issuer_id`` issued with ``serial`` (int or hex in any usual form)."""
        key = _serial_or_not_found(serial)
        stmt = select(Certificate).where(
            Certificate.issuer_id == issuer_id, Certificate.serial_hex == key
        )
        return self._one(stmt, f"no certificate with serial {key} from issuer {issuer_id}")

    def find_certificate(self, serial: int | str) -> Certificate:
        """The certificate with ``serial`` from whichever CA issued it.

        Serials are only unique per issuer; when several issuers used the serial this raises
        StoreError rather than guess (use get_certificate with the issuer then).
        """
        key = _serial_or_not_found(serial)
        found = self._all(select(Certificate).where(Certificate.serial_hex == key).limit(2))
        if not found:
            raise NotFoundError(f"no certificate with serial {key}")
        if len(found) > 1:
            raise StoreError(f"serial {key} was issued by more than one CA; name the issuer")
        return found[0]

    def get_subscriber(self, nik: str) -> Subscriber:
        return self._one(
            select(Subscriber).where(Subscriber.nik == nik), f"no subscriber with NIK {nik}"
        )

    def list_subscribers(self, limit: int | None = None, offset: int = 0) -> list[Subscriber]:
        stmt = select(Subscriber).order_by(Subscriber.id).limit(limit).offset(offset)
        return self._all(stmt)

    def certificate_status(self, issuer_id: int, serial: int | str) -> CertStatus:
        """The status of ``serial`` under ``issuer_id``, as :func:`decide_status` decides it
        from the certificate, lost-serial and reservation rows (one read snapshot)."""
        sh = normalize_serial(serial)
        with _store_errors(None), self._reads() as s:
            row = s.execute(
                select(
                    Certificate.status, Certificate.revoked_at, Certificate.revocation_reason
                ).where(Certificate.issuer_id == issuer_id, Certificate.serial_hex == sh)
            ).first()
            if row is not None:
                return decide_status((row[0], row[1], row[2]), None, None)
            lost = s.execute(
                select(LostSerial.revoked_at, LostSerial.revocation_reason).where(
                    LostSerial.issuer_id == issuer_id, LostSerial.serial_hex == sh
                )
            ).first()
            if lost is not None:
                return decide_status(None, (lost[0], lost[1]), None)
            state = s.scalar(
                select(SerialReservation.state).where(
                    SerialReservation.issuer_id == issuer_id, SerialReservation.serial_hex == sh
                )
            )
        return decide_status(None, None, state)

    def serial_status(self, issuer_id: int, serial: int | str) -> str:
        """``good``/``revoked``/``hold`` for a stored certificate; ``reserved`` for a serial that
        was issued but is not stored here (reserved and maybe signed, or lost in a restore) — it
        counts as issued, so status services must never call it good or unknown; ``unknown`` if
        this issuer never used it. Derived from :meth:`certificate_status`."""
        st = self.certificate_status(issuer_id, serial)
        if st.source == "certificate":
            return st.status
        return "unknown" if st.source == "none" else "reserved"

    def blocked_keys(self) -> frozenset[str]:
        """SPKI SHA-256 hashes of keys that must never be certified (keyCompromise and more)."""
        with _store_errors(None), self._reads() as s:
            return frozenset(s.scalars(select(BlockedKey.spki_sha256)))

    def get_client(self, username: str) -> ClientApplication:
        stmt = select(ClientApplication).where(ClientApplication.username == username)
        return self._one(stmt, f"no client application with username {username!r}")

    def newest_usable_certificate(self, condition: Any, now: datetime) -> Certificate | None:
        """The newest certificate matching ``condition`` that can sign at ``now``: good,
        within its validity, key in the HSM (delegated OCSP responders, TSA units, signers)."""
        stmt = (
            select(Certificate)
            .where(
                condition,
                Certificate.status == "good",
                Certificate.key_label.is_not(None),
                Certificate.not_before <= now,
                Certificate.not_after > now,
            )
            .order_by(Certificate.not_before.desc(), Certificate.id.desc())
            .limit(1)
        )
        with _store_errors(None), self._reads() as s:
            return s.scalars(stmt).first()

    def ping(self) -> dict[str, Any]:
        """Health of the database: never raises, reports ``ok: False`` with the error instead.

        Keys: ok, dialect, latency_ms (of a trivial query), revision (the migration the schema
        is at), and error when not ok.
        """
        report: dict[str, Any] = {
            "ok": False,
            "dialect": self.engine.dialect.name,
            "latency_ms": None,
            "revision": None,
        }
        try:
            start = time.perf_counter()
            with self._reads() as s:
                s.execute(text("SELECT 1"))
            report["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
            report["revision"] = current_revision(self.engine)
        except DBAPIError as ex:
            report["error"] = describe_db_error(ex)
            return report
        report["ok"] = True
        return report

    # Untyped on purpose: Select's generic parameters differ between SQLAlchemy 2.0 and 2.1; the
    # public methods above state the real types.
    def _one(self, stmt: Select[_M], not_found: str) -> _M:
        with _store_errors(None), self._reads() as s:
            obj = s.scalars(stmt).one_or_none()
        if obj is None:
            raise NotFoundError(not_found)
        return obj

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A Core connection in a read-only snapshot: the cheapest way to run prepared
        statements on a hot path (the ORM session costs more than the queries there)."""
        with _store_errors(None), self._read_engine.begin() as conn:
            yield conn

    def _all(self, stmt: Select[_M]) -> list[_M]:
        with _store_errors(None), self._reads() as s:
            return list(s.scalars(stmt))


class Store(ReadOnlyStore):
    """The read-write store. ``Store.open`` brings the schema up to date first."""

    def __init__(self, engine: Engine, read_engine: Engine | None = None) -> None:
        """``read_engine`` (default: one made from ``engine``'s URL) serves the reads, on
        connections that cannot write (make_read_engine)."""
        if read_engine is None:
            read_engine = _reader_beside(engine)
        super().__init__(engine, read_engine)
        if read_engine.pool is not engine.pool:
            reader = read_engine

            # Whoever drops the writer's connections (a restore putting a database file back)
            # means the readers' too: they would go on reading the replaced file.
            @event.listens_for(engine, "engine_disposed")
            def _dispose_readers(_engine: Engine) -> None:
                reader.dispose()

        self._writes = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, reader_url: str | None = None) -> Self:
        """Connect to ``url`` and run the migrations (``upgrade head``; idempotent)."""
        engine = _engine_for(url)
        try:
            with _store_errors(None):
                upgrade(engine)
            read_engine = _read_engine_for(url, reader_url)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, read_engine)

    @cached_property
    def reader(self) -> ReadOnlyStore:
        """This database's read-only face, on the read-only connections: what status
        services (``GET /crl``, OCSP, the console's pages) read through."""
        return ReadOnlyStore(self._read_engine, self._read_engine)

    def ensure_reader_role(self) -> str:
        """Create or refresh the SELECT-only database role of the read-only face (PostgreSQL;
        ``psre init``); one line saying what was done."""
        return ensure_reader_role(self.engine)

    @cached_property
    def audit(self) -> AuditLog:
        """The audit log in this database."""
        return AuditLog(self.engine, self._read_engine)

    @cached_property
    def events(self) -> EventBus:
        """Committed status changes, for this process's CRL/OCSP publishers."""
        return EventBus()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back on error.

        Pass it to ``audit.append(..., session=s)`` to commit a change and its audit event
        together. Objects stay usable after the block (they are not expired on commit).
        """
        with _store_errors(None), self._writes.begin() as s:
            yield s

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A Core connection in a write transaction: committed when the block ends, rolled back
        on error. Hand it to ``audit.append(..., session=conn)`` like a session."""
        with _store_errors(None), self.engine.begin() as conn:
            yield conn

    def add_ca(
        self,
        name: str,
        subject_dn: str,
        key_label: str,
        key_spec: str,
        *,
        parent_id: int | None = None,
        certificate_der: bytes | None = None,
    ) -> CertificateAuthority:
        """Record a CA; ``certificate_der`` may follow later (the key exists before its cert)."""
        ca = CertificateAuthority(
            name=name,
            subject_dn=subject_dn,
            key_label=key_label,
            key_spec=key_spec,
            parent_id=parent_id,
            certificate_der=certificate_der,
            fingerprint_sha256=sha256_hex(certificate_der) if certificate_der else None,
            status="active",
        )
        return self._insert(ca)

    def add_subscriber(
        self,
        *,
        kind: str,
        name: str,
        email: str,
        nik: str | None = None,
        agency: str | None = None,
        organization_identifier: str | None = None,
        status: str = "NEW",
        passphrase_hash: str | None = None,
    ) -> Subscriber:
        """Record a subscriber. ``passphrase_hash`` is a memory-hard hash, never a passphrase."""
        sub = Subscriber(
            kind=kind,
            name=name,
            email=email,
            nik=nik,
            agency=agency,
            organization_identifier=organization_identifier,
            status=status,
            passphrase_hash=passphrase_hash,
            failed_attempts=0,
        )
        return self._insert(sub)

    def add_client(
        self, name: str, username: str, secret_hash: str, *, enabled: bool = True
    ) -> ClientApplication:
        """Register an API client; ``secret_hash`` is the scrypt hash of its secret."""
        client = ClientApplication(
            name=name, username=username, secret_hash=secret_hash, enabled=enabled
        )
        return self._insert(client)

    def _insert(self, obj: _M) -> _M:
        with _store_errors(obj), self._writes.begin() as s:
            s.add(obj)
        return obj


def _engine_for(url: str) -> Engine:
    try:
        return make_engine(url)
    except ArgumentError:
        # The parser's message quotes the URL, password included.
        raise StoreError("invalid database URL") from None


def _reader_beside(engine: Engine) -> Engine:
    """A read-only engine for the database ``engine`` is connected to."""
    db = engine.url.database or ""
    if engine.dialect.name == "sqlite" and (not db or db == ":memory:" or "memory" in db):
        return read_only(engine)  # a second pool would open a second, empty database
    return make_read_engine(engine.url)


def _read_engine_for(url: str, reader_url: str | None) -> Engine:
    try:
        return make_read_engine(url, reader_url=reader_url or None)
    except ArgumentError:
        raise StoreError("invalid database URL") from None


def _serial_or_not_found(serial: int | str) -> str:
    try:
        return normalize_serial(serial)
    except ValueError:
        raise NotFoundError(
            f"no certificate with serial {serial!r} (not a serial number)"
        ) from None


# --- turning driver errors into ca_core errors ------------------------------------------------

_NOUNS = {
    "certificate_authorities": "CA",
    "certificates": "certificate",
    "serial_reservations": "serial reservation",
    "subscribers": "subscriber",
    "client_applications": "client application",
    "audit_events": "audit event",
}
_LABELS = {
    "nik": "NIK",
    "issuer_id": "issuer",
    "serial_hex": "serial",
    "fingerprint_sha256": "fingerprint",
}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_PG_UNIQUE_VIOLATION = "23505"


def _unique_conflict(exc: IntegrityError) -> tuple[str, list[str]] | None:
    """(table, columns) of the unique constraint ``exc`` violated; None if it is another error."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _PG_UNIQUE_VIOLATION:
        # PostgreSQL names the constraint; the models know its columns (same naming convention).
        diag = orig.diag  # type: ignore[union-attr]
        table = Base.metadata.tables.get(diag.table_name or "")
        if table is None:
            return diag.table_name or "row", []
        for c in [*table.constraints, *table.indexes]:
            # Only column-based constraints and indexes can be the unique one that was hit.
            if not isinstance(c, ColumnCollectionConstraint | Index):
                continue
            if c.name == diag.constraint_name:
                return table.name, [col.name for col in c.columns]
        return table.name, []
    m = _SQLITE_UNIQUE.match(str(orig))
    if m:  # "UNIQUE constraint failed: certificates.issuer_id, certificates.serial_hex"
        qualified = [part.strip().split(".", 1) for part in m.group(1).split(",")]
        return qualified[0][0], [col for _table, col in qualified]
    return None


def _already_exists(table: str, columns: list[str], subject: object | None) -> str:
    noun = _NOUNS.get(table, table)
    labels = [_LABELS.get(c, c.replace("_", " ")) for c in columns]
    if not columns:
        return f"{noun} already exists"
    if subject is None:
        return f"{noun} with the same {' and '.join(labels)} already exists"
    values = " and ".join(
        f"{label} {getattr(subject, c)}" for label, c in zip(labels, columns, strict=True)
    )
    return f"{noun} with {values} already exists"


@contextmanager
def _store_errors(subject: object | None) -> Iterator[None]:
    """Map driver errors to StoreError/AlreadyExistsError; ``subject`` supplies the values."""
    try:
        yield
    except IntegrityError as ex:
        conflict = _unique_conflict(ex)
        if conflict is not None:
            raise AlreadyExistsError(_already_exists(*conflict, subject)) from ex
        raise StoreError(f"rejected by the database: {describe_db_error(ex)}") from ex
    except DBAPIError as ex:
        if is_unavailable(ex):
            raise StoreUnavailableError(f"database unavailable: {describe_db_error(ex)}") from ex
        raise StoreError(f"database error: {describe_db_error(ex)}") from ex
    except (PoolTimeout, DisconnectionError) as ex:
        # Not the driver's (no pooled connection in time, a connection lost under us): the
        # database is unavailable all the same, and callers catch one kind of error.
        raise StoreUnavailableError(f"database unavailable: {type(ex).__name__}") from ex
