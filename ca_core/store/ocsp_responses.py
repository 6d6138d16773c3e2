"""Pre-signed OCSP responses (``ocsp_responses``) and what the pre-signer reads to make them.

The responder's look-up (:meth:`OcspResponseReads.current`) is the hot path of every OCSP
request that misses the process cache: one prepared Core statement on the unique
(issuer_id, serial_hex, hash_alg) index, on the read-only face, no ORM session. The pre-signer
finds what is due a page at a time (:meth:`OcspResponseReads.due_pages` and friends), the
database choosing, and writes each batch of signed responses in one transaction
(:meth:`OcspResponses.save`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, func, select, true

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.certificate_status import CertStatus, statuses_of, uncertified_statuses
from ca_core.store.models import Certificate, OcspResponse
from ca_core.store.sessions import read_session

#: Serials per statement in :meth:`OcspResponseReads.states` (bound parameters are limited).
_STATES_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The bytes the responder serves, with what its HTTP headers need."""

    der: bytes
    sha256: str
    this_update: dt.datetime
    next_update: dt.datetime


@dataclass(frozen=True, slots=True)
class ResponseState:
    """What the pre-signer compares a stored response with: status, age and signer."""

    cert_status: str
    this_update: dt.datetime
    signer_label: str


@dataclass(frozen=True, slots=True)
class ExpiredResponse:
    issuer_id: int
    serial_hex: str
    hash_alg: str


@dataclass(frozen=True, slots=True)
class SignedResponse:
    """One response just signed, to be stored for ``serial_hex``/``hash_alg``."""

    serial_hex: str
    hash_alg: str
    cert_status: str
    revocation_reason: str | None
    this_update: dt.datetime
    next_update: dt.datetime
    der: bytes


# Built once: the hot path only binds the three values (SQLAlchemy caches the compiled form).
_CURRENT = select(
    OcspResponse.der, OcspResponse.sha256, OcspResponse.this_update, OcspResponse.next_update
).where(
    OcspResponse.issuer_id == bindparam("issuer_id"),
    OcspResponse.serial_hex == bindparam("serial_hex"),
    OcspResponse.hash_alg == bindparam("hash_alg"),
)


class OcspResponseReads:
    """Look-ups on the read-only face."""

    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def current(self, issuer_id: int, serial_hex: str, hash_alg: str) -> StoredResponse | None:
        """The stored response for one CertID (whatever its nextUpdate: the caller judges)."""
        with self.store.reading() as conn:
            row = conn.execute(
                _CURRENT, {"issuer_id": issuer_id, "serial_hex": serial_hex, "hash_alg": hash_alg}
            ).first()
        if row is None:
            return None
        der, sha, this_u, next_u = row
        return StoredResponse(bytes(der), sha, this_u, next_u)

    def of_certificate(self, issuer_id: int, serial_hex: str) -> list[OcspResponse]:
        """Every stored response of one certificate (one per CertID hash)."""
        with read_session(self.store) as s:
            return list(
                s.scalars(
                    select(OcspResponse)
                    .where(
                        OcspResponse.issuer_id == issuer_id, OcspResponse.serial_hex == serial_hex
                    )
                    .order_by(OcspResponse.hash_alg)
                )
            )

    # -- what the pre-signer reads ----------------------------------------------------------
    def uncertified(self, issuer_id: int) -> dict[str, CertStatus]:
        """Serials of ``issuer_id`` without a certificate row that a serial reservation or a
        lost-serial row names (reserved but never stored; lost in a restore), with their
        status by the store's one rule (ca_core.store.certificate_status)."""
        with read_session(self.store) as s:
            return uncertified_statuses(s, issuer_id)

    def cert_statuses(self, issuer_id: int, serials: Collection[str]) -> dict[str, CertStatus]:
        """The status of each of ``serials`` by the store's one rule, in one read snapshot."""
        with read_session(self.store) as s:
            return statuses_of(s, issuer_id, serials)

    def states(
        self, issuer_id: int, serials: Collection[str]
    ) -> dict[tuple[str, str], ResponseState]:
        """(serial, hash algorithm) → state of the stored responses of ``serials``."""
        wanted = sorted(set(serials))
        out: dict[tuple[str, str], ResponseState] = {}
        with read_session(self.store) as s:
            # In slices: a restore may have lost more serials than one statement binds.
            for i in range(0, len(wanted), _STATES_CHUNK):
                stmt = select(
                    OcspResponse.serial_hex,
                    OcspResponse.hash_alg,
                    OcspResponse.cert_status,
                    OcspResponse.this_update,
                    OcspResponse.signer_label,
                ).where(
                    OcspResponse.issuer_id == issuer_id,
                    OcspResponse.serial_hex.in_(wanted[i : i + _STATES_CHUNK]),
                )
                for sh, alg, st, tu, lab in s.execute(stmt):
                    out[(sh, alg)] = ResponseState(st, tu, lab)
        return out

    def all_page(
        self, issuer_id: int, now: dt.datetime, after: str, limit: int
    ) -> list[Certificate]:
        """The next ``limit`` valid certificates of ``issuer_id`` by serial after ``after``."""
        return self._page(issuer_id, now, after, limit, true())

    def aged_page(
        self, issuer_id: int, now: dt.datetime, after: str, limit: int, next_update_by: dt.datetime
    ) -> list[Certificate]:
        """Like :meth:`all_page`, only certificates with a response whose nextUpdate is at or
        before ``next_update_by`` (found through the nextUpdate index)."""
        aged = (
            select(OcspResponse.serial_hex)
            .where(OcspResponse.issuer_id == issuer_id, OcspResponse.next_update <= next_update_by)
            .scalar_subquery()
        )
        return self._page(issuer_id, now, after, limit, Certificate.serial_hex.in_(aged))

    def due_pages(
        self,
        issuer_id: int,
        now: dt.datetime,
        *,
        signer_label: str,
        signed_after: dt.datetime,
        hash_algs: Collection[str],
        window: int,
        page: int,
    ) -> Iterator[list[Certificate]]:
        """The valid certificates of ``issuer_id`` lacking, for one of ``hash_algs``, a fresh
        response: one with the certificate's status and revocation reason, signed by
        ``signer_label`` after ``signed_after`` and not expired at ``now``. By serial, in
        lists of at most ``page``.

        Set-based (issue 18): each pass is one query, an anti-join of the certificates with
        their fresh responses counted per serial, fenced off (``MATERIALIZED``) so that the
        database joins the two tables in one sequential pass (PostgreSQL: hash joins) instead
        of walking the serial index and probing the responses row by row, which reads pages
        at random and did not finish at 10^7. A pass returns at most ``window`` rows (the
        database keeps only the top ``window`` while sorting, Python holds one window); the
        next pass starts after the last serial returned (a keyset on the result). Nothing is
        held open between passes: the caller signs and stores in between.
        """
        after = ""
        while True:
            rows = self._due_window(
                issuer_id, now, after, window, signer_label, signed_after, hash_algs
            )
            for i in range(0, len(rows), page):
                yield rows[i : i + page]
            if len(rows) < window:
                return
            after = rows[-1].serial_hex

    def _due_window(
        self,
        issuer_id: int,
        now: dt.datetime,
        after: str,
        limit: int,
        signer_label: str,
        signed_after: dt.datetime,
        hash_algs: Collection[str],
    ) -> list[Certificate]:
        algs = sorted(set(hash_algs))
        # Serials whose every CertID hash has a fresh response, per (status, reason): a
        # certificate matches when its own (status, reason) has all of them. coalesce keeps
        # the join an equality (hashable) where IS NOT DISTINCT FROM would not be.
        r_reason = func.coalesce(OcspResponse.revocation_reason, "")
        fresh = (
            select(
                OcspResponse.serial_hex,
                OcspResponse.cert_status,
                r_reason.label("reason"),
            )
            .where(
                OcspResponse.issuer_id == issuer_id,
                OcspResponse.hash_alg.in_(algs),
                OcspResponse.signer_label == signer_label,
                OcspResponse.this_update > signed_after,
                OcspResponse.next_update > now,
            )
            .group_by(OcspResponse.serial_hex, OcspResponse.cert_status, r_reason)
            .having(func.count() == len(algs))
            .subquery("fresh")
        )
        due = (
            select(
                Certificate.serial_hex,
                Certificate.status,
                Certificate.revoked_at,
                Certificate.revocation_reason,
                Certificate.fingerprint_sha256,
            )
            .outerjoin(
                fresh,
                and_(
                    fresh.c.serial_hex == Certificate.serial_hex,
                    fresh.c.cert_status == Certificate.status,
                    fresh.c.reason == func.coalesce(Certificate.revocation_reason, ""),
                ),
            )
            .where(
                Certificate.issuer_id == issuer_id,
                Certificate.not_after > now,
                Certificate.serial_hex > after,
                fresh.c.serial_hex.is_(None),
            )
            # The fence: without it PostgreSQL pushes ORDER BY/LIMIT down into a nested loop
            # over the serial index (random reads); SQLite >= 3.35 accepts the keyword too.
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        stmt = select(due).order_by(due.c.serial_hex).limit(limit)
        return self._signing_rows(stmt)

    def _signing_rows(
        self, stmt: Select[str, str, dt.datetime | None, str | None, str]
    ) -> list[Certificate]:
        """Detached certificates from ``stmt``'s (serial, status, revoked_at, reason,
        fingerprint) rows: what signing a response needs, without the DER."""
        with read_session(self.store) as s:
            return [
                Certificate(
                    serial_hex=sh,
                    status=st,
                    revoked_at=rat,
                    revocation_reason=reason,
                    fingerprint_sha256=fp,
                )
                for sh, st, rat, reason, fp in s.execute(stmt)
            ]

    def _page(
        self, issuer_id: int, now: dt.datetime, after: str, limit: int, due: ColumnElement[bool]
    ) -> list[Certificate]:
        """Detached rows carrying only what signing needs (no DER: pages are large)."""
        stmt = (
            select(
                Certificate.serial_hex,
                Certificate.status,
                Certificate.revoked_at,
                Certificate.revocation_reason,
                Certificate.fingerprint_sha256,
            )
            .where(
                Certificate.issuer_id == issuer_id,
                Certificate.not_after > now,
                Certificate.serial_hex > after,
                due,
            )
            .order_by(Certificate.serial_hex)
            .limit(limit)
        )
        return self._signing_rows(stmt)


class OcspResponses:
    """Writes of pre-signed responses."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(
        self,
        issuer_id: int,
        signed: Collection[SignedResponse],
        *,
        signer_label: str,
        produced_at: dt.datetime,
    ) -> set[tuple[str, str]]:
        """Insert or replace the responses of one batch, in one transaction; returns the
        (serial, hash algorithm) pairs stored.

        A response is stored only if it still says the certificate's status and no newer one
        of that status is stored: a batch signed before a status change (or by a process
        paused between signing and storing) must not replace what the process that made the
        change stored.
        The certificates' rows are locked for the check (FOR UPDATE on PostgreSQL; SQLite's
        writers take turns), so a status change commits either before the check or after
        this batch."""
        saved: set[tuple[str, str]] = set()
        serials = {p.serial_hex for p in signed}
        with self.store.session() as s:
            status_now: dict[str, str] = {
                sh: st
                for sh, st in s.execute(
                    select(Certificate.serial_hex, Certificate.status)
                    .where(Certificate.issuer_id == issuer_id, Certificate.serial_hex.in_(serials))
                    .order_by(Certificate.serial_hex)  # one lock order for every writer
                    .with_for_update()
                )
            }
            rows = {
                (r.serial_hex, r.hash_alg): r
                for r in s.scalars(
                    select(OcspResponse).where(
                        OcspResponse.issuer_id == issuer_id,
                        OcspResponse.serial_hex.in_(serials),
                    )
                )
            }
            missing = serials - status_now.keys()
            if missing:
                # No certificate row: a serial reserved but not stored, or lost in a restore, has
                # the status the store's one rule gives it (a reservation abandoned since it was
                # signed for is never_issued: its good response is not stored).
                decided = statuses_of(s, issuer_id, missing)
                status_now.update({sh: st.status for sh, st in decided.items()})
            for p in signed:
                if status_now.get(p.serial_hex) != p.cert_status:
                    continue
                row = rows.get((p.serial_hex, p.hash_alg))
                # Of two responses saying the same status the newer stays. (One saying another
                # status is out of date whatever its time: a host whose clock ran ahead must not
                # keep its good response in place of a revocation.)
                stale = row is not None and row.cert_status == p.cert_status
                if stale and row is not None and row.this_update > p.this_update:
                    continue
                if row is None:
                    row = OcspResponse(
                        issuer_id=issuer_id, serial_hex=p.serial_hex, hash_alg=p.hash_alg
                    )
                    s.add(row)
                    rows[(p.serial_hex, p.hash_alg)] = row
                row.cert_status = p.cert_status
                row.revocation_reason = p.revocation_reason
                row.this_update = p.this_update
                row.next_update = p.next_update
                row.produced_at = produced_at
                row.der = p.der
                row.sha256 = hashlib.sha256(p.der).hexdigest()
                row.signer_label = signer_label
                saved.add((p.serial_hex, p.hash_alg))
        return saved

    def sweep_expired(
        self, now: dt.datetime, before_delete: Callable[[list[ExpiredResponse]], None]
    ) -> int:
        """Delete the responses whose nextUpdate is at or before ``now``; ``before_delete``
        sees them first, inside the transaction (their static files go before their rows, so
        a failure leaves rows to sweep again, never files without rows). Returns how many."""
        with self.store.session() as s:
            stale = s.execute(
                select(
                    OcspResponse.id,
                    OcspResponse.issuer_id,
                    OcspResponse.serial_hex,
                    OcspResponse.hash_alg,
                ).where(OcspResponse.next_update <= now)
            ).all()
            before_delete([ExpiredResponse(i, sh, alg) for _id, i, sh, alg in stale])
            if stale:
                s.execute(delete(OcspResponse).where(OcspResponse.id.in_([r[0] for r in stale])))
        return len(stale)


def newest_delegated_responder(
    store: ReadOnlyStore, issuer_id: int, profiles: Collection[str], now: dt.datetime
) -> Certificate | None:
    """The newest certificate of one of ``profiles`` (delegated OCSP responder profiles)
    issued by ``issuer_id`` that can sign at ``now`` with a key in the HSM."""
    condition = and_(Certificate.issuer_id == issuer_id, Certificate.profile.in_(tuple(profiles)))
    return store.newest_usable_certificate(condition, now)
