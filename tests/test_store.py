"""The store on real SQLite and PostgreSQL: schema, constraints, time handling, look-ups."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import StatementError

from ca_core.errors import AlreadyExistsError, NotFoundError, StoreError
from ca_core.store import ReadOnlyStore, Store, normalize_serial, serial_hex, sha256_hex
from ca_core.store.db import UTCDateTime, make_engine
from ca_core.store.migrate import alembic_config, current_revision, script_head, upgrade
from ca_core.store.models import AuditHead, Base, Certificate, SerialReservation, Subscriber

#: The newest revision (areas add their own migrations after 0001).
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

TABLES = {
    "certificate_authorities",
    "certificates",
    "serial_reservations",
    "subscribers",
    "client_applications",
    "audit_events",
    "audit_head",
}
WIB = timezone(timedelta(hours=7))  # Jakarta


def make_cert(issuer_id: int, serial: int, der: bytes, **kw: object) -> Certificate:
    fields: dict[str, object] = {
        "issuer_id": issuer_id,
        "serial_hex": serial_hex(serial),
        "subject_dn": "CN=Budi Santoso",
        "san": '["budi@example.go.id"]',
        "not_before": datetime(2025, 1, 1, tzinfo=UTC),
        "not_after": datetime(2026, 1, 1, tzinfo=UTC),
        "profile": "person-signing",
        "der": der,
        "fingerprint_sha256": sha256_hex(der),
        "spki_sha256": sha256_hex(b"spki" + der),
    }
    fields.update(kw)
    return Certificate(**fields)


@pytest.fixture
def issuer_id(store: Store) -> int:
    return store.add_ca("issuing-ca-1", "CN=Issuing CA 1", "issuing-ca-1-key", "EC-P384").id


# --- migrations ------------------------------------------------------------------------------


def test_migrations_create_every_table_and_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(db_url)
        assert TABLES <= set(inspect(engine).get_table_names())
        assert current_revision(engine) == HEAD
        upgrade(engine)  # second run: nothing to do, nothing duplicated
        assert current_revision(engine) == HEAD
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(AuditHead)).scalar_one() == 1
    finally:
        engine.dispose()


def test_fast_head_check_agrees_with_alembic() -> None:
    """upgrade() skips Alembic when the database records this head: it must be Alembic's head."""
    assert script_head() == HEAD


def test_a_database_behind_head_is_still_upgraded(db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0008_ocsp")
        assert current_revision(engine) == "0008_ocsp"
        assert "signed_documents" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert current_revision(engine) == HEAD
        assert "signed_documents" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_models_match_the_migration(db_url: str) -> None:
    store = Store.open(db_url)  # a real migration of the empty database
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        store.close()
    assert diff == []


def _schema_of(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        out: dict[str, object] = {}
        for t in sorted(insp.get_table_names()):
            out[t] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in insp.get_columns(t)
                ],
                "pk": insp.get_pk_constraint(t),
                "fks": sorted(insp.get_foreign_keys(t), key=repr),
                "uniques": sorted(insp.get_unique_constraints(t), key=repr),
                "indexes": sorted(insp.get_indexes(t), key=repr),
                "checks": sorted(insp.get_check_constraints(t), key=repr),
            }
        with engine.connect() as conn:
            out["rows"] = [
                conn.execute(text("SELECT version_num FROM alembic_version")).all(),
                conn.execute(text("SELECT id, last_seq, last_hash FROM audit_head")).all(),
            ]
        return out
    finally:
        engine.dispose()


def test_the_store_fixture_copy_is_a_real_migration(
    db_url: str, request: pytest.FixtureRequest, tmp_path
) -> None:
    """The ``store`` fixture copies a migrated database (tests/conftest.py): same schema, same
    rows as migrating for real."""
    from tests.conftest import PG_URL_ENV, _pg_schema_url, migrated_copy

    upgrade(db_url)
    if db_url.startswith("sqlite"):
        copies = iter([f"sqlite:///{tmp_path / 'copy' / 'psre.sqlite3'}"])
    else:
        copies = _pg_schema_url(os.environ[PG_URL_ENV])
    copy_url = next(copies)
    try:
        migrated_copy(copy_url, request)
        assert _schema_of(copy_url) == _schema_of(db_url)
    finally:
        next(copies, None)  # drops the PostgreSQL schema


def test_store_open_twice_reuses_the_schema(db_url: str) -> None:
    first = Store.open(db_url)
    first.add_subscriber(kind="agency", name="Kementerian X", email="x@kemen.go.id")
    first.close()
    second = Store.open(db_url)
    try:
        assert [s.name for s in second.list_subscribers()] == ["Kementerian X"]
    finally:
        second.close()


def test_invalid_url_error_does_not_echo_the_url() -> None:
    with pytest.raises(StoreError) as err:
        Store.open("postgresql+psycopg://admin:hunter2@[bad")
    assert "hunter2" not in str(err.value)


# --- unique constraints --------------------------------------------------------------------


def test_duplicate_ca_name(store: Store, issuer_id: int) -> None:
    with pytest.raises(AlreadyExistsError, match="CA with name issuing-ca-1 already exists"):
        store.add_ca("issuing-ca-1", "CN=Other", "other-key", "RSA-3072")


def test_duplicate_ca_certificate_fingerprint(store: Store) -> None:
    store.add_ca("root-ca", "CN=Root", "root-key", "RSA-4096", certificate_der=b"root-der")
    with pytest.raises(AlreadyExistsError, match="CA with fingerprint [0-9a-f]{64} already"):
        store.add_ca(
            "root-ca-copy", "CN=Root", "root-key-2", "RSA-4096", certificate_der=b"root-der"
        )


def test_duplicate_nik(store: Store) -> None:
    nik = "3171234567890123"
    store.add_subscriber(kind="person", name="Budi", email="budi@example.id", nik=nik)
    with pytest.raises(AlreadyExistsError, match=f"subscriber with NIK {nik} already exists"):
        store.add_subscriber(kind="person", name="Budi 2", email="b2@example.id", nik=nik)


def test_agencies_share_the_null_nik(store: Store) -> None:
    store.add_subscriber(kind="agency", name="Agency A", email="a@go.id")
    store.add_subscriber(kind="agency", name="Agency B", email="b@go.id")
    assert len(store.list_subscribers()) == 2


def test_duplicate_client_name_and_username(store: Store) -> None:
    store.add_client("e-office", "eoffice", "scrypt$hash1")
    with pytest.raises(AlreadyExistsError, match="client application with name e-office already"):
        store.add_client("e-office", "eoffice2", "scrypt$hash2")
    with pytest.raises(
        AlreadyExistsError, match="client application with username eoffice already"
    ):
        store.add_client("e-office-2", "eoffice", "scrypt$hash3")


def test_duplicate_certificate_serial_per_issuer(store: Store, issuer_id: int) -> None:
    with store.session() as s:
        s.add(make_cert(issuer_id, 0xA1, b"der-1"))
    with pytest.raises(
        AlreadyExistsError, match="certificate with the same issuer and serial already exists"
    ):
        with store.session() as s:
            s.add(make_cert(issuer_id, 0xA1, b"der-2"))
    # The same serial from another issuer is a different certificate.
    other = store.add_ca("issuing-ca-2", "CN=Issuing CA 2", "issuing-ca-2-key", "EC-P384")
    with store.session() as s:
        s.add(make_cert(other.id, 0xA1, b"der-3"))


def test_duplicate_certificate_fingerprint(store: Store, issuer_id: int) -> None:
    with store.session() as s:
        s.add(make_cert(issuer_id, 1, b"same-der"))
    with pytest.raises(AlreadyExistsError, match="certificate with the same fingerprint"):
        with store.session() as s:
            s.add(make_cert(issuer_id, 2, b"same-der"))


def test_duplicate_serial_reservation_and_idempotency_key(store: Store, issuer_id: int) -> None:
    with store.session() as s:
        s.add(SerialReservation(issuer_id=issuer_id, serial_hex="1f", profile="p"))
        s.add(SerialReservation(issuer_id=issuer_id, serial_hex="20", profile="p"))  # no key
        s.add(
            SerialReservation(
                issuer_id=issuer_id, serial_hex="21", profile="p", idempotency_key="k"
            )
        )
    with pytest.raises(
        AlreadyExistsError, match="serial reservation with the same issuer and serial"
    ):
        with store.session() as s:
            s.add(SerialReservation(issuer_id=issuer_id, serial_hex="1f", profile="p"))
    with pytest.raises(AlreadyExistsError, match="same issuer and idempotency key"):
        with store.session() as s:
            s.add(
                SerialReservation(
                    issuer_id=issuer_id, serial_hex="22", profile="p", idempotency_key="k"
                )
            )


# --- other constraints and transactions ----------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "robot", "nik": None},  # unknown kind
        {"kind": "person", "nik": None},  # a person needs a NIK
        {"kind": "person", "nik": "12345"},  # NIKs have 16 digits
        {"kind": "agency", "nik": None, "status": "ACTIVE"},  # not an e-sign API status
    ],
)
def test_check_constraints(store: Store, fields: dict[str, str | None]) -> None:
    with pytest.raises(StoreError, match="rejected by the database") as err:
        store.add_subscriber(name="X", email="x@example.id", **fields)  # type: ignore[arg-type]
    assert not isinstance(err.value, AlreadyExistsError)


def test_revoked_certificate_needs_a_revocation_time(store: Store, issuer_id: int) -> None:
    with pytest.raises(StoreError, match="ck_certificates_revoked_at"):
        with store.session() as s:
            s.add(make_cert(issuer_id, 7, b"d", status="revoked"))


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(StoreError, match="rejected by the database"):
        with store.session() as s:
            s.add(make_cert(999, 1, b"orphan"))


def test_session_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.session() as s:
            s.add(Subscriber(kind="agency", name="Ghost", email="g@go.id"))
            s.flush()
            raise RuntimeError("boom")
    assert store.list_subscribers() == []


# --- datetimes -----------------------------------------------------------------------------


def test_datetimes_round_trip_as_aware_utc(store: Store, issuer_id: int) -> None:
    not_before = datetime(2025, 3, 1, 7, 30, 15, 123456, tzinfo=WIB)
    with store.session() as s:
        s.add(make_cert(issuer_id, 0x10, b"tz", not_before=not_before))
    cert = store.get_certificate(issuer_id, 0x10)
    assert cert.not_before == not_before
    assert cert.not_before.tzinfo is UTC
    assert cert.not_before.hour == 0  # 07:30 WIB is 00:30 UTC
    assert cert.not_before.microsecond == 123456
    assert cert.created_at.tzinfo is UTC
    assert abs(datetime.now(UTC) - cert.created_at) < timedelta(minutes=1)
    assert cert.revoked_at is None


def test_naive_datetimes_are_refused(store: Store, issuer_id: int) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 1), store.engine.dialect)
    with pytest.raises(StatementError) as err:
        with store.session() as s:
            s.add(make_cert(issuer_id, 0x11, b"naive", not_before=datetime(2025, 1, 1)))
    assert isinstance(err.value.orig, ValueError)


# --- look-ups ------------------------------------------------------------------------------


def test_lookups(store: Store, issuer_id: int) -> None:
    sub = store.add_subscriber(
        kind="person", name="Siti", email="siti@example.id", nik="3273000000000001"
    )
    client = store.add_client("portal", "portal-user", "scrypt$x")
    with store.session() as s:
        s.add(make_cert(issuer_id, 0x0ABC, b"c1", subscriber_id=sub.id))

    assert store.get_ca("issuing-ca-1").id == issuer_id
    assert [ca.name for ca in store.list_cas()] == ["issuing-ca-1"]
    assert store.get_subscriber("3273000000000001").name == "Siti"
    assert store.get_client("portal-user").id == client.id
    assert client.enabled is True
    # Serials in any usual spelling find the stored lowercase, unpadded form.
    for spelling in (0xABC, "abc", "0ABC", "0x0abc", "0a:bc"):
        assert store.get_certificate(issuer_id, spelling).serial_hex == "abc"
        assert store.find_certificate(spelling).subscriber_id == sub.id

    with pytest.raises(NotFoundError):
        store.get_ca("nope")
    with pytest.raises(NotFoundError):
        store.get_subscriber("0000000000000000")
    with pytest.raises(NotFoundError):
        store.get_client("nobody")
    with pytest.raises(NotFoundError):
        store.get_certificate(issuer_id, 0xDEF)
    with pytest.raises(NotFoundError, match="not a serial number"):
        store.find_certificate("xyz")


def test_find_certificate_refuses_to_guess_between_issuers(store: Store, issuer_id: int) -> None:
    other = store.add_ca("issuing-ca-2", "CN=Issuing CA 2", "k2", "EC-P384")
    with store.session() as s:
        s.add(make_cert(issuer_id, 5, b"a"))
        s.add(make_cert(other.id, 5, b"b"))
    with pytest.raises(StoreError, match="more than one CA"):
        store.find_certificate(5)


def test_serial_forms() -> None:
    assert serial_hex(0) == "0"
    assert serial_hex(255) == "ff"
    assert normalize_serial("00FF") == "ff"
    with pytest.raises(ValueError):
        serial_hex(-1)


def test_read_only_store_and_ping(store: Store, db_url: str) -> None:
    store.add_ca("root-ca", "CN=Root", "root-key", "RSA-4096")
    ro = ReadOnlyStore.open(db_url)
    try:
        assert ro.get_ca("root-ca").key_spec == "RSA-4096"
        health = ro.ping()
    finally:
        ro.close()
    assert health["ok"] is True
    assert health["dialect"] == store.engine.dialect.name
    assert health["revision"] == HEAD
    assert isinstance(health["latency_ms"], float)


def test_ping_reports_an_unreachable_database() -> None:
    # Port 1 on localhost: nothing listens there, the connection is refused at once.
    ro = ReadOnlyStore.open("postgresql+psycopg://psre@127.0.0.1:1/none?connect_timeout=2")
    try:
        health = ro.ping()
    finally:
        ro.close()
    assert health["ok"] is False
    assert health["dialect"] == "postgresql"
    assert health["error"]


# --- SQLite specifics ----------------------------------------------------------------------


def test_sqlite_connection_settings(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'x.sqlite3'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_writers_queue_and_readers_do_not(tmp_path) -> None:
    """A writer holding the lock makes other writers wait (not fail); reads go straight on."""
    url = f"sqlite:///{tmp_path / 'q.sqlite3'}"
    store = Store.open(url)
    ro = ReadOnlyStore.open(url)
    try:
        store.add_ca("root-ca", "CN=Root", "root-key", "RSA-4096")
        holding = threading.Event()
        release = threading.Event()
        second_done = threading.Event()

        def hold_write_lock() -> None:
            with store.session() as s:
                s.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is ours
                holding.set()
                release.wait(10)

        def second_writer() -> None:
            store.add_ca("issuing-ca-1", "CN=Issuing", "issuing-key", "EC-P384")
            second_done.set()

        t1 = threading.Thread(target=hold_write_lock)
        t1.start()
        assert holding.wait(10)
        t2 = threading.Thread(target=second_writer)
        t2.start()
        # The reader is not blocked by the held write lock (a BEGIN IMMEDIATE read would wait
        # for the 30 s busy timeout), and the second writer is waiting, not failed.
        assert ro.get_ca("root-ca").name == "root-ca"
        assert not second_done.wait(0.3)
        release.set()
        t1.join(10)
        t2.join(10)
        assert second_done.is_set()
        assert [ca.name for ca in store.list_cas()] == ["root-ca", "issuing-ca-1"]
    finally:
        ro.close()
        store.close()


def test_0025_clears_the_der_of_stored_reservations_and_downgrade_restores_it(
    db_url: str,
) -> None:
    """Issue 18: a stored reservation kept the certificate's DER and TBS (~2 KB a row) next to
    the certificate row; 0025 clears them, leaving waiting reservations alone."""
    from alembic import command

    engine = make_engine(db_url)
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0024_slot")
        store = Store(engine)
        ca = store.add_ca("issuing-ca-1", "CN=Issuing CA 1", "issuing-ca-1-key", "EC-P384").id
        with store.session() as s:
            s.add(make_cert(ca, 0x1001, b"cert-der-1"))
            s.add_all(
                [
                    SerialReservation(issuer_id=ca, serial_hex=serial_hex(0x1001),
                                      state="stored", profile="p", certificate_der=b"cert-der-1",
                                      tbs_der=b"tbs-1"),
                    SerialReservation(issuer_id=ca, serial_hex=serial_hex(0x1002),
                                      state="reserved", profile="p", tbs_der=b"tbs-2"),
                ]
            )  # fmt: skip

        def ders() -> dict[str, tuple[bytes | None, bytes | None]]:
            with engine.connect() as conn:
                return {
                    r[0]: (r[1], r[2])
                    for r in conn.execute(
                        select(
                            SerialReservation.serial_hex,
                            SerialReservation.certificate_der,
                            SerialReservation.tbs_der,
                        )
                    )
                }

        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0025_slot")
        assert ders() == {serial_hex(0x1001): (None, None), serial_hex(0x1002): (None, b"tbs-2")}
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0024_slot")
        assert ders()[serial_hex(0x1001)] == (b"cert-der-1", None)
        assert ders()[serial_hex(0x1002)] == (None, b"tbs-2")
    finally:
        engine.dispose()


def test_signers_are_found_by_profile_through_an_index(store: Store) -> None:
    """Issue 18: the delegated OCSP responder (and TSA unit) look-up scanned every certificate,
    12 s at 10^7 rows on every pre-signing run; it goes through ix_certificates_profile."""
    from sqlalchemy.dialects import postgresql

    ca = store.add_ca("issuing-ca-1", "CN=Issuing CA 1", "issuing-ca-1-key", "EC-P384").id
    with store.session() as s:
        for i in range(3000):  # many subscribers, two responders: the shape at scale
            s.add(make_cert(ca, 0x5000 + i, b"der-%d" % i, profile="smime-mailbox"))
        for i in range(2):
            s.add(make_cert(ca, 0x100 + i, b"ocsp-%d" % i, profile="ocsp-signer", key_label="k"))
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    now = datetime(2025, 6, 1, tzinfo=UTC)
    stmt = (
        select(Certificate.id)
        .where(
            Certificate.profile.in_(["ocsp-signer", "tsa-unit"]),
            Certificate.status == "good",
            Certificate.key_label.is_not(None),
            Certificate.not_before <= now,
            Certificate.not_after > now,
        )
        .order_by(Certificate.not_before.desc(), Certificate.id.desc())
        .limit(1)
    )
    assert "ix_certificates_profile" in {
        i["name"] for i in inspect(store.engine).get_indexes("certificates")
    }
    if store.engine.dialect.name != "postgresql":
        return  # SQLite keeps no value statistics: it scans (a small installation's choice)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with store.engine.begin() as conn:
        plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
    assert "ix_certificates_profile" in plan, plan
