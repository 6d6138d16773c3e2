"""Backup and restore drill (issue 20): issue and revoke, back up, go on working, lose the
machine, restore onto an empty one — on SQLite and on PostgreSQL.

After the restore the service answers over HTTP, CRL numbers continue above every number ever
published (read back with openssl), the certificates revoked after the backup are still revoked,
the serial issued after the backup is never reused and OCSP does not call it good, and the audit
chain verifies with an explicit system.restore event naming the backup's last event."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import create_engine, delete, make_url, text, update

from ca_core.backup import Manifest
from ca_core.store.models import OcspResponse
from ca_core.store.ocsp_responses import OcspResponseReads
from ocsp.responses import Presigner, PresignSettings
from tests.cli_support import PsreEnv, serving
from tests.conftest import PG_URL_ENV, _backends, _pg_schema_url
from tests.crl_support import CrlPki, crl_pki
from tests.ocsp_support import openssl_ocsp
from tests.pki_support import Pki

NIK = "3174012345678901"


@pytest.fixture(params=_backends())
def database(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Environment naming the installation's database: SQLite in data_dir, or a schema of ours."""
    if request.param == "sqlite":
        yield {}
        return
    for url in _pg_schema_url(os.environ[PG_URL_ENV]):
        yield {"PSRE_DATABASE_URL": url}


def _issue(env: PsreEnv, out: Path) -> str:
    env.run("issue", "--profile", "natural-person", "--subscriber", NIK, "--out", str(out))
    return format(x509.load_pem_x509_certificate(out.read_bytes()).serial_number, "x")


def _crl_numbers_ever_published(env: PsreEnv) -> dict[str, int]:
    """The highest CRL number of each CA, from every crl.publish event in the audit log."""
    events = json.loads(env.run("audit", "show", "--action", "crl.publish", "--limit", "10000",
                                "--json").stdout)  # fmt: skip
    high: dict[str, int] = {}
    for ev in events:
        ca = ev["object"].removeprefix("ca:")
        for crl in ev["details"]["crls"]:
            high[ca] = max(high.get(ca, 0), crl["number"])
    return high


def _lose_the_machine(env: PsreEnv, database: dict[str, str]) -> None:
    shutil.rmtree(env.root)
    url = database.get("PSRE_DATABASE_URL")
    if url:
        schema = make_url(url).query["options"].split("=", 1)[1]
        engine = create_engine(os.environ[PG_URL_ENV])
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def _openssl_crl(der: bytes, tmp: Path, *args: str) -> str:
    path = tmp / "fetched.crl"
    path.write_bytes(der)
    return subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(path), "-noout", *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def test_drill_lose_the_machine_and_restore(database, tmp_path):
    site = PsreEnv(tmp_path / "site", database)
    site.root.mkdir()
    site.run("init")
    site.run("subscriber", "add", "--nik", NIK, "--name", "Budi Santoso",
             "--email", "budi@example.go.id", "--agency", "Kementerian Contoh")  # fmt: skip
    kept = tmp_path / "holders"  # what subscribers hold: their certificates
    kept.mkdir()
    before_1 = _issue(site, kept / "before-1.pem")
    before_2 = _issue(site, kept / "before-2.pem")
    before_3 = _issue(site, kept / "before-3.pem")
    site.run("revoke", before_2, "--reason", "keyCompromise")

    backup = tmp_path / "backup"
    site.run("backup", "--out", str(backup), "--operator", "ani")
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["token_included"] and manifest["database_file"].startswith("db/")
    assert "psre.toml" in manifest["files"] and not any(
        f.startswith("secrets/") or f.endswith(".pin") for f in manifest["files"]
    )

    # Work goes on after the backup: a new certificate, a revocation, a hold, fresh CRLs.
    after = _issue(site, kept / "after.pem")
    site.run("revoke", before_1, "--reason", "affiliationChanged")
    site.run("suspend", before_3)
    site.run("crl", "generate")
    ever = _crl_numbers_ever_published(site)
    issued_ever = {before_1, before_2, before_3, after}

    # The machine is lost. What survives elsewhere: the published repository as the web server
    # (CDN) serves it, the backup, and the HSM PIN the custodians hold.
    mirror = tmp_path / "mirror"
    shutil.copytree(site.root / "var" / "public", mirror)
    pin = (site.root / "var" / "secrets" / "hsm-user.pin").read_bytes()
    _lose_the_machine(site, database)

    site.root.mkdir()
    (site.root / "var" / "secrets").mkdir(parents=True)
    (site.root / "var" / "secrets" / "hsm-user.pin").write_bytes(pin)
    out = site.run("restore", str(backup), "--published", str(mirror), "--operator", "ani")
    assert "backup verified" in out.stdout

    # The audit chain verifies and names the gap.
    assert "audit chain intact" in site.run("audit", "verify").stdout
    (restore_ev,) = json.loads(site.run("audit", "show", "--action", "system.restore",
                                        "--json").stdout)  # fmt: skip
    assert restore_ev["actor"] == "ani"
    assert restore_ev["seq"] == manifest["audit_last_seq"] + 1
    assert restore_ev["prev_hash"] == manifest["audit_last_hash"]
    d = restore_ev["details"]
    assert (d["backup_last_seq"], d["backup_last_hash"]) == (
        manifest["audit_last_seq"], manifest["audit_last_hash"],
    )  # fmt: skip
    assert d["restored_at"] and d["lost_serials"] == [f"issuing-ca:{after}"]
    assert d["revocations_reapplied"] == [f"issuing-ca:{before_1}"]
    assert d["holds_reapplied"] == [f"issuing-ca:{before_3}"]
    assert json.loads(site.run("cert", "show", before_3, "--json").stdout)["status"] == "hold"

    chain = tmp_path / "chain.pem"
    site.run("ca", "export", "issuing-ca", "--out", str(chain))
    with serving(site) as base:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"{base}/crl/issuing-ca.crl", timeout=10) as r:
            der = r.read()
        # CRL numbers continue above every number ever published (openssl reads it).
        number = int(_openssl_crl(der, tmp_path, "-crlnumber").split("=")[1], 16)
        assert number > ever["issuing-ca"]
        listed = _openssl_crl(der, tmp_path, "-text")
        for sh in (before_1, before_2, before_3, after):
            assert sh.upper().zfill(len(sh) + len(sh) % 2) in listed.replace(":", "").upper()
        assert "Affiliation Changed" in listed and "Key Compromise" in listed
        assert "Certificate Hold" in listed
        # OCSP over HTTP never calls the lost certificate good; the re-applied revocation holds.
        for pem, want in ((kept / "after.pem", "revoked"), (kept / "before-1.pem", "revoked")):
            res = openssl_ocsp("-issuer", chain, "-cert", pem, "-url", f"{base}/ocsp",
                               "-CAfile", chain, "-no_nonce")  # fmt: skip
            assert f": {want}" in res, res
            assert "Revocation Time" in res and "1970" not in res  # a real revocation
        # A new certificate after the restore: a serial never seen before, and the lost one is
        # known to the reservation table.
        fresh = _issue(site, kept / "fresh.pem")
        assert fresh not in issued_ever
    from ca_core.store import Store

    url = database.get("PSRE_DATABASE_URL") or f"sqlite:///{site.root / 'var' / 'psre.sqlite3'}"
    store = Store.open(url)
    try:
        ca = store.get_ca("issuing-ca")
        assert store.serial_status(ca.id, after) == "reserved"
    finally:
        store.close()

    # Restoring again over this installation is refused unless told.
    again = site.run("restore", str(backup), "--published", str(mirror), check=False)
    assert again.returncode == 2 and "refusing to restore over an existing installation" in (
        again.stderr
    )
    # Told to, it does; the numbers this installation published since the first restore are
    # not in the (older) mirror, but --force reads them from the files it replaces.
    ever = _crl_numbers_ever_published(site)
    forced = site.run("restore", str(backup), "--published", str(mirror), "--force")
    assert "backup verified" in forced.stdout
    assert "audit chain intact" in site.run("audit", "verify").stdout
    der = (site.root / "var" / "public" / "crl" / "issuing-ca.crl").read_bytes()
    assert int(_openssl_crl(der, tmp_path, "-crlnumber").split("=")[1], 16) > ever["issuing-ca"]


def test_a_damaged_backup_is_refused_before_anything_is_written(tmp_path):
    site = PsreEnv(tmp_path / "site")
    site.root.mkdir()
    site.run("init", "--no-demo")
    backup = tmp_path / "backup"
    site.run("backup", "--out", str(backup))
    toml = backup / "psre.toml"
    toml.write_text(toml.read_text() + "\n# edited\n")
    fresh = PsreEnv(tmp_path / "fresh")
    fresh.root.mkdir()
    res = fresh.run("restore", str(backup), "--without-published", check=False)
    assert res.returncode == 2
    assert "psre.toml does not match its SHA-256" in res.stderr
    assert list(fresh.root.iterdir()) == []
    (backup / "stray.txt").write_text("x")
    toml.write_text(toml.read_text().removesuffix("\n# edited\n"))
    res = fresh.run("restore", str(backup), "--without-published", check=False)
    assert res.returncode == 2 and "stray.txt is not in the manifest" in res.stderr
    res = fresh.run("restore", str(backup), check=False)
    assert res.returncode == 2 and "--published" in res.stderr
    (backup / "stray.txt").unlink()
    # Intact, but the custodians have not brought the PIN back: the files and the database are
    # in place, and the operator is told what is missing before CRLs can be signed.
    res = fresh.run("restore", str(backup), "--without-published", check=False)
    assert res.returncode == 2 and "the PIN is not in a backup" in res.stderr, res.stderr
    assert (fresh.root / "psre.toml").is_file()


def test_a_ca_level_revocation_after_the_backup_comes_back_only_with_a_second_person(pki, tmp_path):
    """The TSA (a CA-level certificate, dual control) is revoked after the backup; the restored
    database would call it good again. The published CRL brings the revocation back — with a
    witness, since who authorised it was lost with the audit log."""
    from ca_core.ca_level import Authorisation
    from ca_core.config import CrlConfig
    from ca_core.published_evidence import read_repository
    from ca_core.restore_reconcile import RestoreError, reconcile
    from ca_core.store import snapshot as db_snapshot
    from crl.publish import CrlPublisher
    from tests.pki_support import BASE_URL, add_tsa_unit

    tsa = format(add_tsa_unit(pki).serial_number, "x")
    url = pki.store.engine.url.render_as_string(hide_password=False)
    snapshot, manifest = _backup(pki, tmp_path / "backup")
    approval = Authorisation("dual-control", "approval 7", ("ani", "budi"))
    pki.revoker.revoke(tsa, "keyCompromise", actor="ani", authorisation=approval)
    CrlPublisher(pki.store, pki.backend, CrlConfig(), base_url=BASE_URL,
                 public_dir=tmp_path / "public" / "crl").publish(pki.issuing)  # fmt: skip
    pki.store.engine.dispose()  # the machine is lost; the backup goes back in
    db_snapshot.put_back(snapshot, url, replace=True)
    assert pki.store.find_certificate(tsa).status == "good"
    evidence = read_repository(tmp_path / "public", pki.store.list_cas())

    with pytest.raises(RestoreError, match="needs a second person"):
        reconcile(pki.store, manifest, evidence, actor="ani", published="mirror")
    assert pki.store.find_certificate(tsa).status == "good"  # nothing was changed
    with pytest.raises(RestoreError, match="--witness"):
        reconcile(pki.store, manifest, evidence, actor="ani", published="mirror", witness="ani")
    report = reconcile(pki.store, manifest, evidence, actor="ani", published="mirror",
                       witness="budi")  # fmt: skip
    assert report.revocations_reapplied == [f"{pki.issuing}:{tsa}"]
    back = pki.store.find_certificate(tsa)
    assert (back.status, back.revocation_reason) == ("revoked", "keyCompromise")
    (ev,) = pki.store.audit.list(action="certificate.revoke", limit=1)
    assert ev.details["authorisation"]["people"] == ["ani", "budi"]


@dataclass
class _LostInRestore:
    """A backup put back and reconciled: ``cert`` was issued after the backup (its good OCSP
    response published), so the restore recorded its serial as lost."""

    presigner: Presigner
    crls: CrlPki
    cert: x509.Certificate
    serial: str
    #: The status feed's cursor just before the restore ran.
    feed_start: int


def _backup(pki: Pki, out: Path) -> tuple[Path, Manifest]:
    """A snapshot of ``pki``'s database in ``out`` and the manifest a backup would carry."""
    from ca_core.store import snapshot as db_snapshot

    url = pki.store.engine.url.render_as_string(hide_password=False)
    snap = db_snapshot.take(url, out / "db")
    manifest = Manifest(
        created_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        psre_version="test",
        dialect=snap.dialect,
        database_file=f"db/{snap.path.name}",
        audit_last_seq=snap.audit_head[0],
        audit_last_hash=snap.audit_head[1],
        crl_numbers=snap.crl_numbers,
        token_included=False,
        token_label="",
    )
    return snap.path, manifest


def _restore_losing_one(pki: Pki, tmp_path: Path) -> _LostInRestore:
    from ca_core.published_evidence import read_repository
    from ca_core.restore_reconcile import reconcile
    from ca_core.store import snapshot as db_snapshot
    from ca_core.store.status_changes import StatusChangeReads

    public = tmp_path / "public"
    presigner = Presigner(pki.store, pki.backend, PresignSettings(static_root=public))
    crls = crl_pki(pki, public / "crl")
    crls.publisher.publish(pki.issuing)  # the backup holds a current CRL
    snapshot, manifest = _backup(pki, tmp_path / "backup")
    cert = crls.issue().certificate
    serial = format(cert.serial_number, "x")
    assert presigner.presign_certificate(pki.issuing, serial) == 2  # published: evidence
    pki.store.engine.dispose()  # the machine is lost; the backup goes back in
    url = pki.store.engine.url.render_as_string(hide_password=False)
    db_snapshot.put_back(snapshot, url, replace=True)
    evidence = read_repository(public, pki.store.list_cas())
    feed_start = StatusChangeReads(pki.store.reader).latest()
    report = reconcile(pki.store, manifest, evidence, actor="ani", published="mirror")
    assert report.lost_serials == [f"{pki.issuing}:{serial}"]
    return _LostInRestore(presigner, crls, cert, serial, feed_start)


def test_a_serial_lost_in_a_restore_is_in_the_status_feed(pki: Pki, tmp_path: Path):
    """Issue 17: the restore revokes the lost serial, so it writes the feed row with its audit
    event, and the feed's followers — the CRL publisher and the OCSP follower — see it."""
    from ca_core.store.status_changes import StatusChangeReads
    from ocsp.refresh import OcspFollow

    lost = _restore_losing_one(pki, tmp_path)
    issuing = pki.store.get_ca(pki.issuing)
    feed = StatusChangeReads(pki.store.reader)
    (row,) = feed.since(lost.feed_start)
    status = pki.store.certificate_status(issuing.id, lost.serial)
    assert (row.issuer_id, row.serial_hex, row.status, row.reason, row.actor) == (
        issuing.id, lost.serial, "revoked", status.reason, "ani",
    )  # fmt: skip
    assert status.status == "revoked" and row.revoked_at == status.revoked_at
    (restore_ev,) = pki.store.audit.list(action="system.restore", limit=1)
    assert row.changed_at == restore_ev.time  # one transaction, one moment

    # The CRL publisher finds the change (its CRLs are not yet due by age).
    assert lost.crls.publisher.due(issuing) == (False, {lost.serial})
    # The OCSP follower re-signs the serial's responses: revoked, at the restore's time.
    follow = OcspFollow(pki.store, lambda: lost.presigner)
    follow.cursor = lost.feed_start
    assert follow() == 2
    for alg in ("sha1", "sha256"):
        resp = _stored_response(pki, lost.serial, alg)
        assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert resp.revocation_time_utc == status.revoked_at
    assert follow() == 0


def test_a_serial_lost_in_a_restore_gets_a_presigned_revoked_response(pki: Pki, tmp_path: Path):
    """Issue 17: pre-signing decides a serial's status by the store's one rule, so a serial
    lost in a restore is pre-signed as revoked — what the CRL lists and the live signer says —
    and the public role, which serves only pre-signed responses, answers it (not tryLater)."""
    from ocsp.index import ResponseIndex
    from ocsp.responder import OcspResponder
    from ocsp.responses import presign_all

    lost = _restore_losing_one(pki, tmp_path)
    issuing = pki.store.get_ca(pki.issuing)
    status = pki.store.certificate_status(issuing.id, lost.serial)
    assert (status.status, status.source) == ("revoked", "lost")

    report = presign_all(lost.presigner)
    assert report.errors == [] and report.per_ca[pki.issuing] >= 2
    for alg in ("sha1", "sha256"):
        resp = _stored_response(pki, lost.serial, alg)
        assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert resp.revocation_time_utc == status.revoked_at
    assert lost.presigner.presign_ca(issuing) == 0  # signed once, not at every run

    # The public role: no live signer, the pre-signed response or tryLater.
    index = ResponseIndex(pki.store.reader)
    index.refresh()
    public = OcspResponder(index, None)
    sha1 = hashes.SHA1()  # noqa: S303 - what RFC 5019 clients send
    builder = ocsp.OCSPRequestBuilder().add_certificate(lost.cert, pki.cert(pki.issuing), sha1)
    req = builder.build().public_bytes(serialization.Encoding.DER)
    status_line, _headers, body = public.respond(req)
    answer = ocsp.load_der_ocsp_response(body)
    assert status_line.startswith("200")
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED

    # The hourly full check heals the lost serial's responses like any certificate's: missing,
    # or saying another status.
    with pki.store.session() as s:
        s.execute(
            update(OcspResponse)
            .where(OcspResponse.serial_hex == lost.serial, OcspResponse.hash_alg == "sha1")
            .values(cert_status="good")
        )
        s.execute(
            delete(OcspResponse).where(
                OcspResponse.serial_hex == lost.serial, OcspResponse.hash_alg == "sha256"
            )
        )
    assert lost.presigner.presign_ca(issuing, full=False) == 0  # by age only: not its business
    assert lost.presigner.presign_ca(issuing) == 2
    for alg in ("sha1", "sha256"):
        assert _stored_response(pki, lost.serial, alg).certificate_status is (
            ocsp.OCSPCertStatus.REVOKED
        )


def _stored_response(pki: Pki, serial: str, alg: str) -> ocsp.OCSPResponse:
    ca = pki.store.get_ca(pki.issuing)
    row = OcspResponseReads(pki.store).current(ca.id, serial, alg)
    assert row is not None, f"no {alg} response stored for {serial}"
    return ocsp.load_der_ocsp_response(row.der)


def test_a_lost_serial_is_recorded_only_with_the_restores_audit_event(pki: Pki):
    """The lost serial's revocation, its feed row and the audit event commit together: a
    restore transaction that records one without the audit event is rolled back."""
    from ca_core.errors import StoreError
    from ca_core.store import restore
    from ca_core.store.status_changes import StatusChangeReads

    ca = pki.store.get_ca(pki.issuing)
    feed = StatusChangeReads(pki.store.reader)
    start = feed.latest()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with pytest.raises(StoreError, match="without the restore's audit event"):
        with restore.transaction(pki.store) as tx:
            tx.record_lost(ca.id, "7e5b01", revoked_at=now, reason=None, found_in="test",
                           now=now, profile="lost-in-restore")  # fmt: skip
    assert pki.store.certificate_status(ca.id, "7e5b01").status == "never_issued"
    assert feed.since(start) == []
