"""Named leases in the database: one holder at a time for work that must run once per
installation however many hosts run it (the refresher, ``ca_core.refresher``).

Every change is one conditional statement, so two processes can never both succeed:

* acquire: ``UPDATE … WHERE name = :n AND (holder = :me OR expires_at <= :now)``, and when no
  row exists ``INSERT … ON CONFLICT DO NOTHING``; the row count says who won. On PostgreSQL a
  second UPDATE waits for the first's row lock and re-checks its WHERE against the new row, so
  the loser sees the winner's holder and fresh ``expires_at`` and changes nothing; SQLite runs
  writers one at a time (``BEGIN IMMEDIATE``).
* renew: ``UPDATE … WHERE holder = :me AND expires_at > :now``: a holder whose lease ran out
  has lost it, even when nobody has taken it yet (its work must already have stopped).
* release: ``UPDATE … SET expires_at = :now WHERE holder = :me``: the next acquirer needs not
  wait for the expiry.

Time: on PostgreSQL the database's clock (``now()``), so hosts whose clocks disagree still agree
on who holds a lease; on SQLite (one host) the process's UTC clock. Tests may pass ``now``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, case, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.db import UTCDateTime, utcnow
from ca_core.store.models import LeaseRow


@dataclass(frozen=True)
class Lease:
    """A lease row as read at ``read_at`` (the database's time)."""

    name: str
    holder: str
    acquired_at: dt.datetime
    renewed_at: dt.datetime
    expires_at: dt.datetime
    read_at: dt.datetime

    @property
    def live(self) -> bool:
        """Held by ``holder`` at ``read_at``."""
        return self.expires_at > self.read_at

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "holder": self.holder,
            "live": self.live,
            "acquired_at": _z(self.acquired_at),
            "renewed_at": _z(self.renewed_at),
            "expires_at": _z(self.expires_at),
            "read_at": _z(self.read_at),
        }


class LeaseReads:
    """Who holds a lease (``psre refresher status``, /healthz)."""

    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def holder(self, name: str, now: dt.datetime | None = None) -> Lease | None:
        """The lease ``name`` (live or expired), or None if nobody ever took it."""
        with self.store.reading() as conn:
            return _read(conn, name, now or _now(conn))


class Leases(LeaseReads):
    """Taking, keeping and giving back leases (compare-and-set, see the module docstring)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.rw = store

    def acquire(
        self, name: str, holder: str, ttl: dt.timedelta, now: dt.datetime | None = None
    ) -> Lease | None:
        """Take ``name`` for ``holder`` until now + ``ttl`` if it is free, expired or already
        ``holder``'s (then it is renewed). The lease, or None when another holds it."""
        with self.rw.writing() as conn:
            t = now or _now(conn)
            took = conn.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    or_(LeaseRow.holder == holder, LeaseRow.expires_at <= t),
                )
                .values(
                    # A holder taking its own lease again keeps its acquisition time.
                    acquired_at=case(
                        (LeaseRow.holder == holder, LeaseRow.acquired_at),
                        else_=literal(t, UTCDateTime()),
                    ),
                    holder=holder,
                    renewed_at=t,
                    expires_at=t + ttl,
                )
                .returning(LeaseRow.name)
            ).first()
            if took is None:
                values = {
                    "name": name,
                    "holder": holder,
                    "acquired_at": t,
                    "renewed_at": t,
                    "expires_at": t + ttl,
                }
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                # RETURNING, not rowcount: drivers report -1 for INSERT … ON CONFLICT.
                took = conn.execute(
                    dialect.insert(LeaseRow)
                    .values(**values)
                    .on_conflict_do_nothing()
                    .returning(LeaseRow.name)
                ).first()
            if took is None:
                return None
            return _read(conn, name, t)

    def renew(
        self, name: str, holder: str, ttl: dt.timedelta, now: dt.datetime | None = None
    ) -> Lease | None:
        """Extend ``holder``'s live lease to now + ``ttl``; None when it is no longer held."""
        with self.rw.writing() as conn:
            t = now or _now(conn)
            kept = conn.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder, LeaseRow.expires_at > t)
                .values(renewed_at=t, expires_at=t + ttl)
                .returning(LeaseRow.name)
            ).first()
            return _read(conn, name, t) if kept is not None else None

    def release(self, name: str, holder: str, now: dt.datetime | None = None) -> bool:
        """Give the lease up now (only ``holder`` can); True if it was held by ``holder``."""
        with self.rw.writing() as conn:
            t = now or _now(conn)
            return bool(
                conn.execute(
                    update(LeaseRow)
                    .where(
                        LeaseRow.name == name, LeaseRow.holder == holder, LeaseRow.expires_at > t
                    )
                    .values(expires_at=t)
                ).rowcount
            )


def _now(conn: Connection) -> dt.datetime:
    if conn.dialect.name == "postgresql":
        t = conn.execute(select(func.now())).scalar_one()
        assert isinstance(t, dt.datetime)
        return t.astimezone(dt.UTC)
    return utcnow()


def _read(conn: Connection, name: str, now: dt.datetime) -> Lease | None:
    row = conn.execute(
        select(
            LeaseRow.holder, LeaseRow.acquired_at, LeaseRow.renewed_at, LeaseRow.expires_at
        ).where(LeaseRow.name == name)
    ).first()
    if row is None:
        return None
    return Lease(name, row[0], row[1], row[2], row[3], now)


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
