"""The status_changes feed (issue 17): one row per revocation, suspension and release — CA-level
ones by two admins included — written in the transaction of the change, read by cursor and by
time. Real SoftHSM token, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ca_core.errors import StoreError
from ca_core.store.models import AuditEvent, StatusChange
from ca_core.store.status_changes import StatusChangeReads
from tests.authority_support import ca_certificate, change_ca_status
from tests.crl_support import crl_pki
from tests.pki_support import Pki


def test_every_status_change_is_a_row_in_order(pki: Pki, tmp_path: Path) -> None:
    cp = crl_pki(pki, tmp_path / "public")
    feed = StatusChangeReads(pki.store.reader)
    start = feed.latest()
    issuing = pki.store.get_ca(pki.issuing)
    a, b = cp.issue().serial_hex, cp.issue().serial_hex
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    pki.revoker.revoke(a, "keyCompromise", actor="ani")
    pki.revoker.suspend(b, actor="budi")
    pki.revoker.unsuspend(b, actor="budi")
    pki.revoker.revoke(a, "superseded", actor="ani")  # already revoked: no change, no row

    rows = feed.since(start)
    assert [(r.serial_hex, r.status, r.reason, r.actor) for r in rows] == [
        (a, "revoked", "keyCompromise", "ani"),
        (b, "hold", "certificateHold", "budi"),
        (b, "good", None, "budi"),
    ]
    assert all(r.issuer_id == issuing.id for r in rows)
    assert rows[0].revoked_at is not None and rows[2].revoked_at is None
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert feed.latest() == rows[-1].id
    assert feed.since(rows[0].id, limit=1) == [rows[1]]
    assert feed.since(feed.latest()) == []
    # Each row is stamped with its audit event's time: the same moment, one transaction.
    with pki.store.reading() as conn:
        times = list(
            conn.execute(
                select(AuditEvent.time)
                .where(AuditEvent.action.like("certificate.%suspend"))
                .order_by(AuditEvent.seq)
            ).scalars()
        )
    assert [rows[1].changed_at, rows[2].changed_at] == times
    # The time-based reads CRL publication uses.
    assert feed.serials_changed_since(issuing.id, before) == {a, b}
    assert feed.releases_since(issuing.id, before) == {b: rows[2].changed_at.replace(microsecond=0)}
    assert (
        feed.serials_changed_since(issuing.id, rows[2].changed_at + dt.timedelta(seconds=1))
        == set()
    )


def test_a_ca_level_change_by_two_admins_is_in_the_feed(pki: Pki) -> None:
    feed = StatusChangeReads(pki.store.reader)
    start = feed.latest()
    change_ca_status(pki, pki.issuing, "suspend")
    row = ca_certificate(pki, pki.issuing)
    (change,) = feed.since(start)
    assert (change.serial_hex, change.status, change.issuer_id) == (
        row.serial_hex,
        "hold",
        pki.store.get_ca(pki.root).id,
    )


def test_a_status_change_whose_feed_row_fails_is_not_made(pki: Pki, tmp_path: Path) -> None:
    """The certificate, its audit event and its feed row commit together or not at all: with
    the feed refusing rows (a trigger, in the real database), the revocation rolls back."""
    cp = crl_pki(pki, tmp_path / "public")
    serial = cp.issue().serial_hex
    with pki.store.reading() as conn:
        events = conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    with pki.store.writing() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER no_feed BEFORE INSERT ON status_changes "
                "BEGIN SELECT RAISE(ABORT, 'feed refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION no_feed() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'feed refused'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER no_feed BEFORE INSERT ON status_changes "
                "FOR EACH ROW EXECUTE FUNCTION no_feed()"
            )
    with pytest.raises(StoreError, match="feed refused"):
        pki.revoker.revoke(serial, "keyCompromise", actor="ani")
    assert pki.store.find_certificate(serial).status == "good"
    assert pki.store.blocked_keys() == frozenset()
    with pki.store.reading() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events
        assert conn.execute(select(func.count()).select_from(StatusChange)).scalar_one() == 0
