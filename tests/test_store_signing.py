"""The signing API's repositories (ca_core.store: lockout, activation, enrolment, csc,
signing_certs, documents, outbox): reads work on the read-only face and write nothing; one-time
things are spent once, each with its audit event in the same transaction."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, event, func, select

from ca_core import audit_objects
from ca_core.errors import StoreError
from ca_core.store import ReadOnlyStore, Store, sha256_hex
from ca_core.store.activation import ActivationReads, Activations, NewCode
from ca_core.store.client_apps import ClientApps
from ca_core.store.csc import Csc, CscReads, NewSad
from ca_core.store.documents import Documents
from ca_core.store.enrolment import EnrolmentReads, Enrolments
from ca_core.store.lockout import FailurePolicy, LockoutReads, Lockouts
from ca_core.store.models import AuditEvent, Certificate, OutboxMessage
from ca_core.store.outbox import Outbox
from ca_core.store.signing_certs import newest_for_subscriber, newest_with_profile, standing

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
POLICY = FailurePolicy(max_failures=3, max_failures_signer=5, lock=timedelta(minutes=30))


class World:
    """One signer with a signing certificate, one client app, and a live code, seal
    activation, enrolment code, bearer token and SAD of each kind."""

    def __init__(self, store: Store) -> None:
        self.sub = store.add_subscriber(
            kind="person", name="Budi Santoso", email="budi@example.go.id", nik="3171012345678901"
        )
        self.client = store.add_client("siMAYA", "simaya", "hash")
        ca = store.add_ca("issuing", "CN=Issuing", "issuing-key", "EC-P384")
        der = b"certificate of budi"
        self.cert = Certificate(
            issuer_id=ca.id,
            serial_hex="1a",
            subject_dn="CN=Budi Santoso",
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=365),
            profile="person-signing",
            der=der,
            fingerprint_sha256=sha256_hex(der),
            spki_sha256=sha256_hex(b"spki"),
            subscriber_id=self.sub.id,
            key_label="budi-key",
        )
        with store.session() as s:
            s.add(self.cert)
        actor = audit_objects.client("simaya")
        self.subject = audit_objects.subscriber("3171012345678901")
        self.code = NewCode(
            subscriber_id=self.sub.id,
            client_id=self.client.id,
            purpose="sign",
            salt="00" * 16,
            code_hmac="ab" * 32,
            documents=1,
            expires_at=LATER,
        )
        acts = Activations(store)
        acts.issue_code(self.code, NOW, actor=actor, subject=self.subject)
        acts.add_seal_activation(
            self.sub.id, self.client.id, "cd" * 32, LATER, actor=actor, subject=self.subject
        )
        Enrolments(store).replace_code(
            self.sub.id, "ef" * 32, LATER, NOW, actor="ra", subject=self.subject, reason="enrol"
        )
        csc = Csc(store)
        csc.add_token(self.client.id, "12" * 32, LATER, actor=actor)
        csc.add_sad(
            NewSad(
                sad_sha256="34" * 32,
                client_id=self.client.id,
                subscriber_id=self.sub.id,
                certificate_id=self.cert.id,
                hash_oid="2.16.840.1.101.3.4.2.1",
                hashes="56" * 32,
                num_signatures=1,
                expires_at=LATER,
            ),
            actor=actor,
            subject=self.subject,
            details={"hashes": ["56" * 32]},
        )
        Lockouts(store).count_failure(
            self.sub.id, "client:1", NOW, POLICY, actor=actor, subject=self.subject, method="totp"
        )


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


@pytest.fixture
def read_only(store: Store, db_url: str) -> Iterator[ReadOnlyStore]:
    """A read-only face of its own whose connections refuse writes on every backend: on
    PostgreSQL its transactions are READ ONLY already; SQLite is told ``query_only``."""
    ro = ReadOnlyStore.open(db_url)
    if ro.engine.dialect.name == "sqlite":

        @event.listens_for(ro.engine, "connect")
        def _query_only(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.execute("PRAGMA query_only = ON")

    yield ro
    ro.close()


def _read_everything(ro: ReadOnlyStore, w: World) -> None:
    """Every read of the signing repositories, with what it must find."""
    state = LockoutReads(ro).state(w.sub.id, "client:1", NOW)
    assert state.subscriber is not None and state.subscriber.failed_attempts == 1
    assert state.channel_failures == 1 and state.locked_until is None
    assert LockoutReads(ro).state(w.sub.id + 99, None, NOW).subscriber is None

    reads = ActivationReads(ro)
    assert [s.id for s in reads.subscribers_matching(nik="3171012345678901")] == [w.sub.id]
    assert reads.subscribers_matching() == []
    assert reads.live_codes_of_other_apps(w.sub.id, w.client.id + 1, "sign", NOW)
    assert not reads.live_codes_of_other_apps(w.sub.id, w.client.id, "sign", NOW)
    assert reads.live_seal_activation("cd" * 32, w.sub.id, w.client.id, NOW) is not None
    assert reads.live_seal_activation("cd" * 32, w.sub.id, w.client.id, LATER) is None

    assert EnrolmentReads(ro).live_code("ef" * 32, NOW) is not None
    assert EnrolmentReads(ro).live_code("ef" * 32, LATER) is None

    csc = CscReads(ro)
    token = csc.token("12" * 32)
    assert token is not None and token[1].username == "simaya"
    sad = csc.sad("34" * 32)
    assert sad is not None and sad.num_signatures == 1
    found = csc.credential(w.cert.fingerprint_sha256, ["person-signing"])
    assert found is not None and found[1].nik == "3171012345678901"
    assert csc.credential(w.cert.fingerprint_sha256, ["legal-person-seal"]) is None
    assert csc.credential_ids(w.sub.id, "person-signing", NOW) == [w.cert.fingerprint_sha256]

    cert = newest_for_subscriber(ro, w.sub.id, NOW, profile="person-signing")
    assert cert is not None and cert.key_label == "budi-key"
    assert newest_for_subscriber(ro, w.sub.id, NOW, profile="tsa-unit") is None
    assert newest_with_profile(ro, ["person-signing"], NOW) is not None
    st = standing(ro, w.cert.id)
    assert st is not None and st.status == "good"
    assert standing(ro, w.cert.id + 99) is None


def test_reads_run_on_a_read_only_face_and_write_nothing(
    world: World, read_only: ReadOnlyStore
) -> None:
    _read_everything(read_only, world)
    # The face really refuses writes, so a read above that wrote would have failed.
    with pytest.raises(StoreError), read_only.reading() as conn:
        conn.execute(delete(OutboxMessage))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_reads_do_not_queue_behind_a_writer(
    world: World, read_only: ReadOnlyStore, store: Store
) -> None:
    """Another process holding SQLite's write lock does not hold up the signing path's reads."""
    path = store.engine.url.database
    assert path
    holding, done = threading.Event(), threading.Event()

    def writer() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        holding.set()
        done.wait(30)
        conn.execute("ROLLBACK")
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(10)
        start = time.monotonic()
        _read_everything(read_only, world)
        assert time.monotonic() - start < 5
    finally:
        done.set()
        t.join()


def _events(store: Store, action: str) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def test_one_time_things_are_spent_once(world: World, store: Store) -> None:
    acts = Activations(store)
    args = (world.sub.id, world.client.id, "sign", NOW)
    assert acts.take_code(*args, lambda c: False) is None  # no match: nothing spent
    taken = acts.take_code(*args, lambda c: c.code_hmac == "ab" * 32)
    assert taken is not None and taken.documents == 1
    assert acts.take_code(*args, lambda c: True) is None

    csc = Csc(store)
    sad = CscReads(store).sad("34" * 32)
    assert sad is not None
    spend = {"actor": "client:simaya", "subject": world.subject, "details": {"n": 1}}
    assert csc.spend_sad(sad.id, NOW, **spend) is True
    assert csc.spend_sad(sad.id, NOW, **spend) is False
    assert _events(store, "csc.sign_hash") == 1  # the refused second spend audits nothing

    code_id = EnrolmentReads(store).live_code("ef" * 32, NOW)
    assert code_id is not None
    sub = Enrolments(store).redeem(code_id, "scrypt$hash", NOW)
    assert sub is not None and sub.passphrase_hash == "scrypt$hash"
    assert sub.failed_attempts == 0  # a new passphrase clears the failure counts
    assert Enrolments(store).redeem(code_id, "scrypt$other", NOW) is None
    assert _events(store, "subscriber.passphrase_set") == 1


def test_failures_lock_the_channel_then_a_success_clears_it(world: World, store: Store) -> None:
    locks = Lockouts(store)
    kw = {"actor": "client:simaya", "subject": world.subject, "method": "passphrase"}
    second = locks.count_failure(world.sub.id, "client:1", NOW, POLICY, **kw)
    assert (second.attempts, second.channel_locked, second.locked_until) == (2, False, None)
    third = locks.count_failure(world.sub.id, "client:1", NOW, POLICY, **kw)
    assert third.channel_locked and third.newly_locked and not third.signer_locked
    assert third.locked_until == NOW + POLICY.lock
    assert _events(store, "sign.activation_failed") == 3
    assert LockoutReads(store).state(world.sub.id, "client:1", NOW).locked_until is not None
    # Another app is not locked out by this one's guesses.
    assert LockoutReads(store).state(world.sub.id, "client:2", NOW).locked_until is None
    locks.clear_channel(world.sub.id, "client:1")
    state = LockoutReads(store).state(world.sub.id, "client:1", NOW)
    assert state.locked_until is None and state.channel_failures == 0
    assert state.subscriber is not None and state.subscriber.failed_attempts == 0


def test_documents_claim_and_settle(world: World, store: Store) -> None:
    docs = Documents(store)
    docs.keep(
        document_id="d1",
        client_id=world.client.id,
        subscriber_id=world.sub.id,
        filename="surat.pdf",
        sha256="00" * 32,
        data=b"%PDF",
        now=NOW,
        expires_at=LATER,
    )
    hold = timedelta(minutes=2)
    assert docs.claim(world.client.id + 1, "d1", NOW, hold).outcome == "unknown"
    held = docs.claim(world.client.id, "d1", NOW, hold)
    assert (held.outcome, held.filename, held.data) == ("held", "surat.pdf", b"%PDF")
    assert docs.claim(world.client.id, "d1", NOW, hold).outcome == "busy"
    docs.release("d1", NOW)
    assert docs.claim(world.client.id, "d1", NOW, hold).outcome == "held"
    docs.forget_bytes("d1", NOW)
    assert docs.claim(world.client.id, "d1", NOW, hold).outcome == "gone"


def test_outbox_take_and_sweep(store: Store) -> None:
    box = Outbox(store)
    box.put("a@example.go.id", "kode", "123456", LATER)
    box.put("b@example.go.id", "kode", "654321", NOW)
    assert [m.recipient for m in box.take(10, NOW - timedelta(seconds=1))] == [
        "a@example.go.id",
        "b@example.go.id",
    ]
    assert box.take(10, NOW) == []
    box.put("c@example.go.id", "kode", "111111", NOW)
    assert box.sweep(NOW) == 1


def test_client_rate_window(world: World, store: Store) -> None:
    apps = ClientApps(store)
    assert apps.count_request(world.client.id, 60, 2)
    assert apps.count_request(world.client.id, 60, 2)
    assert not apps.count_request(world.client.id, 60, 2)
    assert apps.count_request(world.client.id, 120, 2)  # a new minute
