"""Pre-signed OCSP responses: status, signer, CertID hashes, lint, validity window, contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlalchemy import delete, select, update

from ca_core import lint
from ca_core.store.models import Certificate, OcspResponse, SerialReservation
from ocsp import static
from ocsp.responses import Presigner, response_for_certificate
from ocsp.signing import (
    EPOCH,
    EXTENDED_REVOKE_OID,
    CertStatus,
    IssuerHashes,
    build_response,
    cert_status,
    responder_for,
)
from tests.conftest import _backends
from tests.ocsp_support import OcspPki, ocsp_pki_per_backend


@pytest.fixture(scope="module", params=_backends())
def op(request, backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcspPki]:
    yield from ocsp_pki_per_backend(request, backend, tmp_path_factory.mktemp("ocsp"))


def stored(
    op: OcspPki, cert: x509.Certificate, alg: str = "sha1", ca_name: str = "issuing-ca"
) -> ocsp.OCSPResponse:
    """The pre-signed response stored for ``cert`` under ``ca_name``."""
    ca = op.store.get_ca(ca_name)
    with op.store.session() as s:
        der = s.scalar(
            select(OcspResponse.der).where(
                OcspResponse.issuer_id == ca.id,
                OcspResponse.serial_hex == format(cert.serial_number, "x"),
                OcspResponse.hash_alg == alg,
            )
        )
    assert der is not None
    return ocsp.load_der_ocsp_response(der)


def check_signed_by(resp: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    pub = signer.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))


def no_blocking_lint(der: bytes) -> None:
    findings = lint.lint_ocsp_response(der)
    assert lint.blocking(findings) == [], findings


def test_good_sha1_and_sha256_signed_by_the_delegated_responder(op: OcspPki):
    cert = op.new_cert()
    assert op.presigner.presign_certificate(op.pki.issuing, format(cert.serial_number, "x")) == 2
    issuing = op.pki.cert(op.pki.issuing)
    for alg, h in (("sha1", hashes.SHA1()), ("sha256", hashes.SHA256())):  # noqa: S303
        resp = stored(op, cert, alg)
        assert resp.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert resp.serial_number == cert.serial_number
        assert isinstance(resp.hash_algorithm, type(h))
        # The CertID is the one a client computes from the issuer certificate.
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuing, h).build()
        assert resp.issuer_key_hash == req.issuer_key_hash
        assert resp.issuer_name_hash == req.issuer_name_hash
        # ResponderID byKey, the responder certificate included, signature by its key.
        assert resp.responder_name is None
        assert (
            resp.responder_key_hash
            == x509.SubjectKeyIdentifier.from_public_key(op.signer_cert.public_key()).digest
        )
        assert resp.certificates == [op.signer_cert]
        check_signed_by(resp, op.signer_cert)
        # Good: no revocation fields, no single extensions (checklist).
        assert resp.revocation_time_utc is None and resp.revocation_reason is None
        assert len(resp.single_extensions) == 0
        assert len(resp.extensions) == 0
        no_blocking_lint(resp.public_bytes(serialization.Encoding.DER))


def test_validity_window_within_br_bounds(op: OcspPki):
    cert = op.new_cert()
    op.presigner.presign_certificate(op.pki.issuing, format(cert.serial_number, "x"))
    resp = stored(op, cert)
    assert resp.next_update_utc is not None
    window = resp.next_update_utc - resp.this_update_utc
    # Checklist: between 8 hours and 10 days; ours 96 h.
    assert dt.timedelta(hours=8) <= window <= dt.timedelta(days=10)
    assert window == dt.timedelta(hours=96)
    assert resp.this_update_utc <= dt.datetime.now(dt.UTC) <= resp.next_update_utc


@pytest.mark.parametrize(
    "reason", ["keyCompromise", "superseded", "cessationOfOperation", "unspecified"]
)
def test_revoked_carries_time_and_reason(op: OcspPki, reason: str):
    cert = op.new_cert()
    sh = format(cert.serial_number, "x")
    change = op.pki.revoker.revoke(sh, reason, actor="test")
    op.presigner.presign_certificate(op.pki.issuing, sh)
    for alg in ("sha1", "sha256"):
        resp = stored(op, cert, alg)
        assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert resp.revocation_time_utc == change.revoked_at
        # RFC 5280 §5.3.1: unspecified is the absent reason.
        want = None if reason == "unspecified" else x509.ReasonFlags[_snake(reason)]
        assert resp.revocation_reason == want
        no_blocking_lint(resp.public_bytes(serialization.Encoding.DER))


def _snake(name: str) -> str:
    return {
        "keyCompromise": "key_compromise",
        "superseded": "superseded",
        "cessationOfOperation": "cessation_of_operation",
    }[name]


def test_hold_then_release(op: OcspPki):
    cert = op.new_cert()
    sh = format(cert.serial_number, "x")
    op.pki.revoker.suspend(sh, actor="test")
    op.presigner.presign_certificate(op.pki.issuing, sh)
    resp = stored(op, cert)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.certificate_hold
    no_blocking_lint(resp.public_bytes(serialization.Encoding.DER))
    op.pki.revoker.unsuspend(sh, actor="test")
    op.presigner.presign_certificate(op.pki.issuing, sh)
    assert stored(op, cert).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_never_issued_is_extended_revoked(op: OcspPki):
    ca = op.store.get_ca(op.pki.issuing)
    serial = 0x7E57_0000_0000_0000_0001
    status = cert_status(op.store, ca.id, serial)
    assert status == CertStatus("never_issued")
    r = responder_for(op.store, op.pki.backend, ca, "auto")
    der, _t, _n = build_response(
        r, serial=serial, hash_alg="sha1", status=status, validity=dt.timedelta(hours=96)
    )
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_time_utc == EPOCH
    assert resp.revocation_reason is x509.ReasonFlags.certificate_hold
    ext = resp.extensions.get_extension_for_oid(EXTENDED_REVOKE_OID)
    assert not ext.critical and ext.value.value == b"\x05\x00"
    no_blocking_lint(der)


def test_reserved_serial_counts_as_issued(op: OcspPki):
    ca = op.store.get_ca(op.pki.issuing)
    with op.store.session() as s:
        for state, sh in (("reserved", "7e5701"), ("signed", "7e5702"), ("abandoned", "7e5703")):
            s.add(SerialReservation(issuer_id=ca.id, serial_hex=sh, state=state, profile="x"))
    assert cert_status(op.store, ca.id, "7e5701").status == "good"
    assert cert_status(op.store, ca.id, "7e5702").status == "good"
    assert cert_status(op.store, ca.id, "7e5703").status == "never_issued"
    # One decision (issue 17): the store's own answer agrees with OCSP's, the abandoned
    # reservation included (it was never signed: unknown to both).
    used = [op.store.serial_status(ca.id, sh) for sh in ("7e5701", "7e5702", "7e5703")]
    assert used == ["reserved", "reserved", "unknown"]
    # ... and pre-signed as good, from the reservation.
    op.presigner.presign_ca(ca)
    with op.store.session() as s:
        rows = dict(
            s.execute(
                select(OcspResponse.serial_hex, OcspResponse.cert_status).where(
                    OcspResponse.issuer_id == ca.id,
                    OcspResponse.serial_hex.in_(["7e5701", "7e5702", "7e5703"]),
                    OcspResponse.hash_alg == "sha1",
                )
            ).all()
        )
    assert rows == {"7e5701": "good", "7e5702": "good"}


def test_presigning_and_the_store_decide_every_serial_alike(op: OcspPki):
    """Issue 17: one status rule (ca_core.store.certificate_status.decide_status) for the
    pre-signer's batch and the per-serial answer: a serial lost in a restore is pre-signed as
    revoked, a reserved one as good, an abandoned one never (it was never issued: good would be
    a lie, and the live signer answers it)."""
    from ca_core.store import restore

    ca = op.store.get_ca(op.pki.issuing)
    stored_cert = op.new_cert()
    revoked_cert = op.new_cert()
    op.pki.revoker.revoke(format(revoked_cert.serial_number, "x"), "superseded", actor="test")
    when = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    with restore.transaction(op.store) as tx:
        for sh, reason in (("7e5a01", "keyCompromise"), ("7e5a02", None)):
            tx.record_lost(
                ca.id, sh, revoked_at=when, reason=reason, found_in="test", now=when,
                profile="lost-in-restore",
            )  # fmt: skip
        tx.audit("test", "system.restore", "psre", {"lost_serials": ["7e5a01", "7e5a02"]}, when)
    with op.store.session() as s:
        for state, sh in (("reserved", "7e5a03"), ("signed", "7e5a04"), ("abandoned", "7e5a05")):
            s.add(SerialReservation(issuer_id=ca.id, serial_hex=sh, state=state, profile="x"))
    serials = [format(c.serial_number, "x") for c in (stored_cert, revoked_cert)]
    serials += ["7e5a01", "7e5a02", "7e5a03", "7e5a04", "7e5a05"]

    op.presigner.presign_ca(ca)
    for sh in serials:
        decided = cert_status(op.store, ca.id, sh)
        row = op.presigner.reads.current(ca.id, sh, "sha256")
        if decided.status == "never_issued":
            assert row is None, sh
            continue
        assert row is not None, sh
        resp = ocsp.load_der_ocsp_response(row.der)
        want = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED}
        assert resp.certificate_status is want[decided.status], sh
        if decided.status == "revoked":
            assert resp.revocation_time_utc == decided.revoked_at.replace(microsecond=0), sh
    lost = {sh: cert_status(op.store, ca.id, sh) for sh in ("7e5a01", "7e5a02")}
    assert {sh: (st.status, st.reason) for sh, st in lost.items()} == {
        "7e5a01": ("revoked", "keyCompromise"),
        "7e5a02": ("revoked", "unspecified"),
    }
    resp = ocsp.load_der_ocsp_response(op.presigner.reads.current(ca.id, "7e5a01", "sha1").der)
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise
    assert op.presigner.presign_ca(ca) == 0


def test_root_signs_for_the_issuing_ca_with_its_own_key(op: OcspPki):
    root = op.store.get_ca(op.pki.root)
    op.presigner.presign_ca(root)
    resp = stored(op, op.pki.cert(op.pki.issuing), ca_name=op.pki.root)
    der = resp.public_bytes(serialization.Encoding.DER)
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.certificates == []  # signed by the CA itself: nothing to include
    check_signed_by(resp, op.pki.cert(op.pki.root))
    no_blocking_lint(der)


def test_presign_ca_is_idempotent_until_due(op: OcspPki):
    ca = op.store.get_ca(op.pki.issuing)
    op.new_cert()
    op.presigner.presign_ca(ca)
    assert op.presigner.presign_ca(ca) == 0
    assert op.presigner.presign_ca(ca, force=True) > 0


def test_status_change_without_event_heals_on_next_run(op: OcspPki):
    ca = op.store.get_ca(op.pki.issuing)
    cert = op.new_cert()
    op.presigner.presign_ca(ca)
    op.pki.revoker.revoke(format(cert.serial_number, "x"), "superseded", actor="test")
    assert op.presigner.presign_ca(ca) == 2  # only this certificate's two responses
    assert stored(op, cert).certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_full_check_re_signs_exactly_what_differs_missing_or_expired(op: OcspPki):
    """Issue 18: the set-based full comparison finds a certificate whose stored response says
    good while its row says revoked or on hold (no status event: changed behind psre's back), one
    whose revocation reason changed, one without responses and one whose responses expired; it
    re-signs those, and nothing else."""
    ca = op.store.get_ca(op.pki.issuing)
    revoked, held, reason, missing, expired, *untouched = (op.new_cert() for _ in range(8))
    op.presigner.presign_ca(ca)
    sh = {c: format(c.serial_number, "x") for c in (revoked, held, reason, missing, expired)}
    op.pki.revoker.revoke(sh[reason], "superseded", actor="test")
    assert op.presigner.presign_ca(ca) == 2
    now = dt.datetime.now(dt.UTC)
    with op.store.session() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.issuer_id == ca.id, Certificate.serial_hex == sh[revoked])
            .values(status="revoked", revoked_at=now, revocation_reason="keyCompromise")
        )
        s.execute(
            update(Certificate)
            .where(Certificate.issuer_id == ca.id, Certificate.serial_hex == sh[held])
            .values(status="hold", revoked_at=now, revocation_reason="certificateHold")
        )
        s.execute(
            update(Certificate)
            .where(Certificate.issuer_id == ca.id, Certificate.serial_hex == sh[reason])
            .values(revocation_reason="keyCompromise")
        )
        s.execute(delete(OcspResponse).where(OcspResponse.serial_hex == sh[missing]))
        # Expired, yet signed recently enough not to be due by age (a shorter validity once).
        s.execute(
            update(OcspResponse)
            .where(OcspResponse.serial_hex == sh[expired])
            .values(next_update=now - dt.timedelta(seconds=1))
        )
    with op.store.session() as s:
        before = {(r.serial_hex, r.hash_alg): r.sha256 for r in s.scalars(select(OcspResponse))}
    assert op.presigner.presign_ca(ca) == 2 * 5
    with op.store.session() as s:
        after = {(r.serial_hex, r.hash_alg): r.sha256 for r in s.scalars(select(OcspResponse))}
    changed = {k[0] for k in after if after[k] != before.get(k)}
    assert changed == set(sh.values())
    assert {k[0] for k in before} - {k[0] for k in after} == set()
    assert stored(op, revoked).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert stored(op, revoked, "sha256").revocation_reason is x509.ReasonFlags.key_compromise
    assert stored(op, held).revocation_reason is x509.ReasonFlags.certificate_hold
    assert stored(op, reason).revocation_reason is x509.ReasonFlags.key_compromise
    assert stored(op, missing, "sha256").certificate_status is ocsp.OCSPCertStatus.GOOD
    assert stored(op, expired).next_update_utc > now
    for c in untouched:
        assert stored(op, c).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert op.presigner.presign_ca(ca) == 0


def test_full_check_pages_through_windows_by_serial(op: OcspPki):
    """Issue 18: the full comparison returns at most ``window`` certificates a pass and starts
    the next pass after the last serial: every due certificate once, in serial order, even when
    nothing is signed in between."""
    ca = op.store.get_ca(op.pki.issuing)
    certs = [op.new_cert() for _ in range(5)]
    op.presigner.presign_ca(ca)
    serials = sorted(format(c.serial_number, "x") for c in certs)
    with op.store.session() as s:
        s.execute(delete(OcspResponse).where(OcspResponse.serial_hex.in_(serials)))
    now = dt.datetime.now(dt.UTC)
    pages = list(
        op.presigner.reads.due_pages(
            ca.id,
            now,
            signer_label=op.presigner.responder(ca).label,
            signed_after=now - op.presigner.settings.refresh_after,
            hash_algs=("sha1", "sha256"),
            window=2,
            page=1,
        )
    )
    assert [[c.serial_hex for c in p] for p in pages] == [[sh] for sh in serials]
    assert op.presigner.presign_ca(ca) == 2 * 5


def test_refresher_round_finds_aged_responses_by_next_update(op: OcspPki):
    """Issue 18: the refresher's every-minute round re-signs what is due by age through the
    nextUpdate index, without comparing every certificate (that is the hourly full check)."""
    ca = op.store.get_ca(op.pki.issuing)
    aged, fresh = op.new_cert(), op.new_cert()
    op.presigner.presign_ca(ca)
    assert op.presigner.presign_ca(ca, full=False) == 0
    old = op.presigner.settings.refresh_after + dt.timedelta(minutes=1)
    with op.store.session() as s:
        for row in s.scalars(
            select(OcspResponse).where(OcspResponse.serial_hex == format(aged.serial_number, "x"))
        ):
            row.this_update, row.next_update = row.this_update - old, row.next_update - old
    assert op.presigner.presign_ca(ca, full=False) == 2
    assert op.presigner.presign_ca(ca, full=False) == 0
    resp = stored(op, aged)
    assert resp.this_update_utc > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    assert stored(op, fresh).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_several_threads_sign_a_batch_each_response_for_its_own_certificate(op: OcspPki):
    """Issue 18: pre-signing at 10^7 certificates needs more than one signer; a Presigner with
    ``workers`` threads signs each batch on a pool (one HSM session each) and stores every
    response under its own serial and status, as one thread would."""
    import dataclasses
    import threading

    ca = op.store.get_ca(op.pki.issuing)
    certs = [op.new_cert() for _ in range(6)]
    revoked = certs[2]
    op.pki.revoker.revoke(format(revoked.serial_number, "x"), "superseded", actor="test")
    parallel = Presigner(
        op.store, op.pki.backend, dataclasses.replace(op.presigner.settings, workers=4)
    )
    assert parallel.settings.workers == 4
    assert parallel.presign_ca(ca, force=True) >= 2 * len(certs)
    assert len([t for t in threading.enumerate() if t.name.startswith("presign")]) > 1
    signer = op.signer_cert
    hashes_ = IssuerHashes.of(op.pki.cert(op.pki.issuing).public_bytes(serialization.Encoding.DER))
    for cert in certs:
        for alg in ("sha1", "sha256"):
            resp = stored(op, cert, alg)
            assert resp.serial_number == cert.serial_number
            check_signed_by(resp, signer)
            # The static files are written on the pool too: each one holds its own response.
            req = static.canonical_request(hashes_, cert.serial_number, alg)
            path = static.file_for(op.presigner.settings.static_root, req)  # type: ignore[arg-type]
            assert path.read_bytes() == resp.public_bytes(serialization.Encoding.DER)
            want = ocsp.OCSPCertStatus.REVOKED if cert is revoked else ocsp.OCSPCertStatus.GOOD
            assert resp.certificate_status is want


def test_response_for_certificate_contract(op: OcspPki):
    cert = op.new_cert()
    assert response_for_certificate(op.store, cert) is None
    op.presigner.presign_certificate(op.pki.issuing, format(cert.serial_number, "x"))
    der = response_for_certificate(op.store, cert)
    assert der is not None
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.serial_number == cert.serial_number
    assert isinstance(resp.hash_algorithm, hashes.SHA1)


def test_static_files_at_canonical_get_paths(op: OcspPki, tmp_path: Path):
    import base64
    import subprocess

    cert = op.new_cert()
    op.presigner.presign_certificate(op.pki.issuing, format(cert.serial_number, "x"))
    issuing = op.pki.cert(op.pki.issuing)
    cert_pem = op.pem("leaf.pem", cert)
    issuer_pem = op.pem("issuing.pem", issuing)
    for alg in ("sha1", "sha256"):
        # The request OpenSSL sends is byte-identical to ours, so its GET URL is the file.
        req = tmp_path / f"{alg}.req"
        subprocess.run(
            [
                "openssl",
                "ocsp",
                f"-{alg}",
                "-issuer",
                issuer_pem,
                "-cert",
                cert_pem,
                "-no_nonce",
                "-reqout",
                req,
            ],
            check=True,
            capture_output=True,
        )
        path = static.file_for(op.tmp / "public", req.read_bytes())
        assert path.read_bytes() == stored(op, cert, alg).public_bytes(serialization.Encoding.DER)
        assert (
            static.url_path(req.read_bytes())
            == "ocsp/" + base64.b64encode(req.read_bytes()).decode()
        )


def test_zz_expired_responses_are_swept_with_their_files(op: OcspPki):
    """Runs last in the module: it expires every response by moving the clock."""
    cert = op.new_cert()
    op.presigner.presign_certificate(op.pki.issuing, format(cert.serial_number, "x"))
    issuing = op.pki.cert(op.pki.issuing)
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuing, hashes.SHA1()).build()  # noqa: S303
    path = static.file_for(op.tmp / "public", req.public_bytes(serialization.Encoding.DER))
    assert path.exists()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=97)
    sweeper = Presigner(op.store, op.pki.backend, op.presigner.settings, clock=lambda: later)
    assert sweeper.sweep_expired() >= 2
    assert not path.exists()
    assert response_for_certificate(op.store, cert) is None


@pytest.mark.parametrize(
    "status",
    [
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
        ocsp.OCSPResponseStatus.INTERNAL_ERROR,
        ocsp.OCSPResponseStatus.TRY_LATER,
        ocsp.OCSPResponseStatus.UNAUTHORIZED,
    ],
)
def test_unsuccessful_responses_lint_clean(status: ocsp.OCSPResponseStatus):
    from ocsp.signing import unsuccessful

    der = unsuccessful(status)
    assert ocsp.load_der_ocsp_response(der).response_status is status
    no_blocking_lint(der)
