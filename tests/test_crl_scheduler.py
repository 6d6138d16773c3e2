"""Publication driven by status events and by the refresher, through a real Runtime over the
test PKI: at once after a revocation, changes made by other processes, idempotent rounds, the
lease between processes, and ``psre init`` / ``psre crl`` on a fresh installation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ca_core.config import Config, CrlConfig, HsmConfig
from ca_core.revocation import Revoker
from ca_core.store import Store
from crl.errors import CrlBusyError
from crl.publish import newest_crl, publish_all
from psre.commands.refresher import refresher_for
from psre.services import Services
from tests.cli_support import PsreEnv
from tests.crl_support import crl_pki, serials
from tests.pki_support import BASE_URL, Pki


@pytest.fixture
def rt(pki: Pki, db_url: str, tmp_path: Path) -> Iterator[Services]:
    cfg = Config(
        database_url=db_url, public_base_url=BASE_URL, data_dir=str(tmp_path / "var"),
        crl=CrlConfig(poll_seconds=1),
        # The session's token holds other tests' keys, which this database does not name.
        hsm=HsmConfig(orphan_sweep_minutes=0),
    )  # fmt: skip
    runtime = Services(cfg)
    runtime.__dict__.update(
        store=pki.store, backend=pki.backend, issuer=pki.issuer, revoker=pki.revoker
    )
    yield runtime


def _listed(pki: Pki, serial_hex: str) -> bool:
    info = newest_crl(pki.store, pki.issuing, "full")
    if info is None:
        return False
    from cryptography import x509

    from crl.publish import crl_der

    der = crl_der(pki.store, info.id)
    return int(serial_hex, 16) in serials(x509.load_der_x509_crl(der))  # type: ignore[arg-type]


def _wait(cond: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_revocation_resigns_the_crl_at_once_and_publish_all_is_idempotent(rt: Services, pki: Pki):
    assert {i.ca for i in publish_all(rt.crl_publisher)} == {pki.root, pki.issuing}
    assert (
        publish_all(rt.crl_publisher) == []
    )  # nothing due: a re-run (psre init) publishes nothing new
    assert (rt.config.data_path / "public" / "crl" / f"{pki.issuing}.crl").exists()
    cp = crl_pki(pki, rt.config.data_path / "public" / "crl")
    leaf = cp.issue()
    rt.attach_publishers()
    before = newest_crl(pki.store, pki.issuing, "full")
    pki.revoker.revoke(leaf.serial_hex, "keyCompromise", actor="t")
    # Published in the revoking call itself (no scheduler in this process).
    assert _listed(pki, leaf.serial_hex)
    after = newest_crl(pki.store, pki.issuing, "full")
    assert before is not None and after is not None and after.number > before.number


def test_refresher_publishes_due_crls_and_changes_from_other_processes(
    rt: Services, pki: Pki, db_url: str
):
    cp = crl_pki(pki, rt.config.data_path / "public" / "crl")
    here, elsewhere = cp.issue(), cp.issue()
    refresher = refresher_for(rt, holder="test:1")
    stop = threading.Event()
    thread = threading.Thread(target=refresher.run, args=(stop,))
    thread.start()
    try:
        _wait(lambda: newest_crl(pki.store, pki.issuing, "full") is not None)
        # A revocation in this process: published by this process's own publisher.
        rt.attach_publishers()
        pki.revoker.suspend(here.serial_hex, actor="t")
        _wait(lambda: _listed(pki, here.serial_hex))
        # One made by another process (its own Store: no event reaches us): the refresher
        # finds it in the audit log on its next round.
        other = Store.open(db_url)
        try:
            Revoker(other, pki.issuer.recover).revoke(elsewhere.serial_hex, "superseded", actor="t")
        finally:
            other.close()
        _wait(lambda: _listed(pki, elsewhere.serial_hex))
    finally:
        stop.set()
        thread.join(30)
    assert rt.crl_publisher.notify is None


def test_a_lease_held_by_another_process_skips_the_ca(rt: Services, pki: Pki):
    pub = rt.crl_publisher
    pub.publish(pki.issuing)
    other = crl_pki(pki, rt.config.data_path / "other").publisher
    other.holder = "otherhost:1"
    other._take_lease(pki.store.get_ca(pki.issuing).id)
    with pytest.raises(CrlBusyError):
        pub.publish(pki.issuing)
    # publish_all skips it (the other process is publishing) and still does the root.
    assert {i.ca for i in publish_all(rt.crl_publisher, force=True)} == {pki.root}
    other._release_lease(pki.store.get_ca(pki.issuing).id)
    assert pub.publish(pki.issuing)


def test_psre_init_publishes_and_crl_commands(tmp_path: Path):
    env = PsreEnv(tmp_path)
    out = env.run("init").stdout
    assert "published CRL root-ca.crl" in out and "published CRL issuing-ca.crl" in out
    again = env.run("init").stdout
    assert "published CRL" not in again  # idempotent: current CRLs are kept
    shown = json.loads(env.run("crl", "show", "--json").stdout)
    assert {(r["ca"], r["kind"]) for r in shown} >= {("root-ca", "full"), ("issuing-ca", "delta")}
    before = {r["name"]: r["number"] for r in shown}
    gen = env.run("crl", "generate", "--ca", "issuing-ca").stdout
    assert "issuing-ca.crl" in gen
    after = {r["name"]: r["number"] for r in json.loads(env.run("crl", "show", "--json").stdout)}
    assert after["issuing-ca.crl"] > before["issuing-ca.crl"]
    assert after["root-ca.crl"] == before["root-ca.crl"]
    assert (tmp_path / "var" / "public" / "crl" / "issuing-ca.crl").exists()
    # One scheduler round from the command line (cron): nothing is due, nothing re-signed.
    assert env.run("crl", "daemon", "--once").stdout.strip() == ""
    # The demo root ceremony signed the first ARL (root-crl step), kept with its transcript.
    assert list((tmp_path / "var" / "ceremonies").glob("*/root-ca.crl"))
