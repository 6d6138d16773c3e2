"""Lifecycles (issue 20): expiry by the refresher (``psre refresher``), notices before expiry
(once per certificate, through the notifier), re-keying in the HSM."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

from sqlalchemy import select, update

from ca_core import lifecycle, subscribers
from ca_core.config import Config, HsmConfig, LifecycleConfig
from ca_core.notifier import notifier_for
from ca_core.store.models import Certificate, OutboxMessage, Subscriber
from psre.commands.refresher import refresher_for
from psre.services import Services
from tests.pki_support import BASE_URL, Pki, enrol_signer


def _runtime(pki: Pki, **lifecycle_keys: int) -> Services:
    cfg = Config(
        database_url=pki.store.engine.url.render_as_string(hide_password=False),
        public_base_url=BASE_URL,
        lifecycle=dataclasses.replace(LifecycleConfig(), **lifecycle_keys),
        # The session's token holds other tests' keys, which this database does not name.
        hsm=HsmConfig(orphan_sweep_minutes=0),
    )
    rt = Services(cfg)
    rt.__dict__.update(store=pki.store, backend=pki.backend, issuer=pki.issuer, revoker=pki.revoker)
    return rt


def _status(pki: Pki, nik: str) -> str:
    return pki.store.get_subscriber(nik).status


def _outbox(pki: Pki) -> list[OutboxMessage]:
    with pki.store.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_the_refresher_marks_subscribers_expired(pki, tmp_path):
    cert = enrol_signer(pki, "Budi Santoso", "3174012345678901")
    other = enrol_signer(pki, "Siti Rahayu", "3174012345678902")
    assert _status(pki, "3174012345678901") == "ISSUE"
    # Time passes for Budi's certificate: its notAfter is now behind us.
    with pki.store.session() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.id == cert.id)
            .values(not_after=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    stop = threading.Event()
    thread = threading.Thread(
        target=refresher_for(_runtime(pki), holder="test:1").run, args=(stop,)
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while _status(pki, "3174012345678901") != "EXPIRED" and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        thread.join(30)
    assert _status(pki, "3174012345678901") == "EXPIRED"
    assert _status(pki, "3174012345678902") == "ISSUE"
    assert other.status == "good"
    (ev,) = pki.store.audit.list(action="subscriber.status", actor="system")
    assert ev.object == "subscriber:3174012345678901" and ev.details["to"] == "EXPIRED"


def test_expiry_notice_goes_out_once_per_certificate(pki):
    rt = _runtime(pki, expiry_notice_days=30)
    soon = enrol_signer(pki, "Budi Santoso", "3174012345678901")
    later = enrol_signer(pki, "Siti Rahayu", "3174012345678902")
    now = dt.datetime.now(dt.UTC)
    with pki.store.session() as s:  # Budi's certificate ends in 10 days, Siti's in a year
        s.execute(
            update(Certificate)
            .where(Certificate.id == soon.id)
            .values(not_after=now + dt.timedelta(days=10))
        )
    notifier = notifier_for(rt.store, rt.config.signing.notifier)
    days = rt.config.lifecycle.expiry_notice_days
    first = lifecycle.run(rt.store, notifier, expiry_notice_days=days, now=now)
    assert first.notices == [f"issuing-ca:{soon.serial_hex}"]
    (msg,) = _outbox(pki)
    with pki.store.session() as s:
        budi = s.scalars(select(Subscriber).where(Subscriber.nik == "3174012345678901")).one()
    assert msg.recipient == budi.email
    assert soon.serial_hex in msg.body and "10 hari" in msg.body
    assert later.serial_hex not in msg.body
    (ev,) = pki.store.audit.list(action="certificate.expiry_notice")
    assert ev.details == {
        "subscriber": "3174012345678901",
        "not_after": (now + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": 10,
    }
    # Later rounds (other workers, the next day) do not repeat it.
    later_round = lifecycle.run(
        rt.store, notifier, expiry_notice_days=days, now=now + dt.timedelta(days=1)
    )
    assert later_round.notices == []
    assert len(_outbox(pki)) == 1


def test_renew_rekeys_in_the_hsm_and_supersedes_the_old_certificate(pki):
    old = enrol_signer(pki, "Budi Santoso", "3174012345678901")
    issued = subscribers.renew(
        pki.issuer, pki.revoker, pki.backend, key="3174012345678901", ca=pki.issuing, actor="ani"
    )
    new = pki.store.find_certificate(issued.serial_hex)
    assert new.key_label and new.key_label != old.key_label
    assert new.spki_sha256 != old.spki_sha256
    (key,) = [k for k in pki.backend.list_keys() if k.label == new.key_label]
    assert key.sensitive and not key.extractable  # generated in the token, never leaves it
    gone = pki.store.find_certificate(old.serial_hex)
    assert (gone.status, gone.revocation_reason) == ("revoked", "superseded")
    assert _status(pki, "3174012345678901") == "ISSUE"
    actions = [e.action for e in pki.store.audit.list(actor="ani", limit=10)]
    assert "certificate.revoke" in actions and "certificate.issue" in actions
