"""CRLs built from a real database and signed on a real SoftHSM token, read back by
cryptography, pkilint, openssl and pyhanko-certvalidator: contents, numbering, holds, expiry,
partitions, deltas and failure handling."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import update

from ca_core import lint
from ca_core.store import Store
from ca_core.store.models import CertificateAuthority
from crl.publish import crl_for_certificate, newest_crl
from crl.urls import partition_of
from hsm.backend import KeySpec
from hsm.errors import HsmError
from tests.conftest import _backends, _pg_schema_url
from tests.crl_support import CrlPki, crl_pki, pem, reason, serials
from tests.pki_support import BASE_URL, Pki, build_pki


@pytest.fixture(scope="module", params=_backends())
def pki_mod(request, tmp_path_factory, backend) -> Iterator[Pki]:
    """One PKI per database backend for the whole module (building it costs HSM keys)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('crldb') / 'psre.sqlite3'}"
        store = Store.open(url)
        yield build_pki(store, backend)
        store.close()
    else:
        for url in _pg_schema_url(os.environ["PSRE_TEST_DATABASE_URL"]):
            store = Store.open(url)
            yield build_pki(store, backend)
            store.close()


@pytest.fixture
def cp(pki_mod: Pki, tmp_path: Path) -> CrlPki:
    return crl_pki(pki_mod, tmp_path / "public")


def blocking(der: bytes) -> list[lint.Finding]:
    return lint.blocking(lint.lint_crl(der))


def test_full_crl_lists_revocations_with_reasons_and_lints_clean(cp: CrlPki):
    pki = cp.pki
    good, kc, hold, unspec = (cp.issue() for _ in range(4))
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    pki.revoker.revoke(kc.serial_hex, "keyCompromise", actor="t", invalidity_date=when)
    pki.revoker.suspend(hold.serial_hex, actor="t")
    pki.revoker.revoke(unspec.serial_hex, "unspecified", actor="t")
    published = cp.publisher.publish(pki.issuing)
    assert {p.kind for p in published} == {"full", "delta"}

    crl, der = cp.crl()
    ca_cert = pki.cert(pki.issuing)
    # Issuer byte-identical to the CA subject; v2; signature valid; same algorithm in and out.
    assert crl.issuer.public_bytes() == ca_cert.subject.public_bytes()
    assert crl.is_signature_valid(ca_cert.public_key())
    assert crl.signature_algorithm_oid == ca_cert.signature_algorithm_oid
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    number = crl.extensions.get_extension_for_class(x509.CRLNumber)
    assert not number.critical and 0 < number.value.crl_number < 2**159
    fresh = crl.extensions.get_extension_for_class(x509.FreshestCRL).value
    assert fresh[0].full_name[0].value == f"{BASE_URL}/crl/{pki.issuing}-delta.crl"
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(hours=24)

    listed = serials(crl)
    assert int(good.serial_hex, 16) not in listed
    e = listed[int(kc.serial_hex, 16)]
    assert reason(e) is x509.ReasonFlags.key_compromise
    assert not e.extensions.get_extension_for_class(x509.CRLReason).critical
    inv = e.extensions.get_extension_for_class(x509.InvalidityDate).value
    assert inv.invalidity_date_utc == when
    assert reason(listed[int(hold.serial_hex, 16)]) is x509.ReasonFlags.certificate_hold
    # "unspecified" is expressed by leaving reasonCode out (RFC 5280 §5.3.1).
    assert reason(listed[int(unspec.serial_hex, 16)]) is None
    assert blocking(der) == []
    # The DER file is published next to the row, byte-identical.
    assert (cp.public_dir / f"{pki.issuing}.crl").read_bytes() == der
    # CRL signing is audited.
    assert any(ev.action == "crl.publish" for ev in pki.store.audit.list(limit=5))


def test_hold_release_drops_the_entry_and_the_delta_says_remove_from_crl(cp: CrlPki):
    pki = cp.pki
    held = cp.issue()
    pki.revoker.suspend(held.serial_hex, actor="t")
    cp.publisher.publish(pki.issuing)
    crl, _ = cp.crl()
    assert int(held.serial_hex, 16) in serials(crl)

    pki.revoker.unsuspend(held.serial_hex, actor="t")
    # Only the delta: the complete CRL (the base) still lists the hold.
    cp.publisher.publish(pki.issuing, full=False)
    delta, delta_der = cp.crl("delta")
    base, _ = cp.crl()
    assert int(held.serial_hex, 16) in serials(base)
    ind = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert ind.critical
    base_number = base.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert ind.value.crl_number == base_number
    assert reason(serials(delta)[int(held.serial_hex, 16)]) is x509.ReasonFlags.remove_from_crl
    assert blocking(delta_der) == []

    cp.publisher.publish(pki.issuing)
    crl, _ = cp.crl()
    assert int(held.serial_hex, 16) not in serials(crl)


def test_crl_numbers_strictly_increase_across_kinds(cp: CrlPki):
    numbers = []
    for full in (True, False, True):
        for info in cp.publisher.publish(cp.pki.issuing, full=full):
            numbers.append(info.number)
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    crl, _ = cp.crl()
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == max(
        n for n in numbers[:-1]
    )


def test_expired_certificate_listed_once_past_expiry_then_dropped(pki_mod: Pki, tmp_path: Path):
    now = [dt.datetime.now(dt.UTC)]
    cp = crl_pki(pki_mod, tmp_path / "public", clock=lambda: now[0])
    short = cp.issue(validity_days=1)
    pki_mod.revoker.revoke(short.serial_hex, "superseded", actor="t")
    cp.publisher.publish(pki_mod.issuing)
    assert int(short.serial_hex, 16) in serials(cp.crl()[0])
    now[0] += dt.timedelta(days=2)  # past its notAfter: listed once more ...
    cp.publisher.publish(pki_mod.issuing)
    assert int(short.serial_hex, 16) in serials(cp.crl()[0])
    now[0] += dt.timedelta(hours=6)  # ... and then dropped
    cp.publisher.publish(pki_mod.issuing)
    assert int(short.serial_hex, 16) not in serials(cp.crl()[0])


def test_failed_hsm_signature_keeps_the_previous_crl(cp: CrlPki):
    pki = cp.pki
    cp.publisher.publish(pki.issuing)
    before = newest_crl(pki.store, pki.issuing, "full")
    file_before = (cp.public_dir / f"{pki.issuing}.crl").read_bytes()
    ca = pki.store.get_ca(pki.issuing)
    with pki.store.session() as s:
        s.execute(
            update(CertificateAuthority)
            .where(CertificateAuthority.id == ca.id)
            .values(key_label="no-such-key")
        )
    try:
        with pytest.raises(HsmError):
            cp.publisher.publish(pki.issuing)
    finally:
        with pki.store.session() as s:
            s.execute(
                update(CertificateAuthority)
                .where(CertificateAuthority.id == ca.id)
                .values(key_label=ca.key_label)
            )
    assert newest_crl(pki.store, pki.issuing, "full") == before
    assert (cp.public_dir / f"{pki.issuing}.crl").read_bytes() == file_before
    assert any(ev.action == "crl.publish_failed" for ev in pki.store.audit.list(limit=5))


def _partitioned(
    pki: Pki, tmp_path: Path, *, issue: int, revoke: int, reason: str
) -> tuple[CrlPki, list]:
    """A publisher with 4 partitions, ``issue`` certificates naming them, ``revoke`` revoked."""
    cp = crl_pki(pki, tmp_path / "public", partitions=4)
    try:
        issued = [cp.issue() for _ in range(issue)]
    finally:
        pki.issuer.crl_partitions = 1  # the module's other tests use unpartitioned DPs
    for i in issued[:revoke]:
        pki.revoker.revoke(i.serial_hex, reason, actor="t")
    return cp, issued


def test_partitions_name_their_crl_and_carry_a_matching_critical_idp(pki_mod: Pki, tmp_path: Path):
    cp, issued = _partitioned(pki_mod, tmp_path, issue=6, revoke=3, reason="affiliationChanged")
    published = cp.publisher.publish(pki_mod.issuing)
    assert sorted(p.partition for p in published if p.kind == "partition") == [0, 1, 2, 3]
    for i in issued:
        p = partition_of(int(i.serial_hex, 16), 4)
        dp = i.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        url = dp[0].full_name[0].value
        assert url == f"{BASE_URL}/crl/{pki_mod.issuing}-{p}.crl"
        crl, der = cp.crl("partition", p)
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
        assert idp.critical
        assert idp.value.full_name[0].value == url  # byte-identical to the DP
        revoked = i in issued[:3]
        assert (int(i.serial_hex, 16) in serials(crl)) is revoked
        assert blocking(der) == []
        # The signing area's look-up finds exactly this partition.
        assert crl_for_certificate(pki_mod.store, i.certificate) == der
    # The complete CRL lists all of them.
    full = serials(cp.crl()[0])
    assert all(int(i.serial_hex, 16) in full for i in issued[:3])


def test_crl_for_certificate_full_arl_and_root(cp: CrlPki):
    pki = cp.pki
    leaf = cp.issue()
    assert crl_for_certificate(pki.store, pki.cert(pki.root)) is None  # trust anchor
    cp.publisher.publish(pki.issuing)
    cp.publisher.publish(pki.root)
    assert crl_for_certificate(pki.store, leaf.certificate) == cp.crl()[1]
    arl, arl_der = cp.crl(ca=pki.root)
    assert crl_for_certificate(pki.store, pki.cert(pki.issuing)) == arl_der
    assert blocking(arl_der) == []
    # A root's CRL lives longer (config root_validity_days).
    assert arl.next_update_utc - arl.last_update_utc == dt.timedelta(days=90)


def _openssl_verify(tmp_path: Path, pki: Pki, leaf: x509.Certificate, crls: list[bytes]) -> str:
    (tmp_path / "root.pem").write_bytes(pem(pki.cert(pki.root)))
    (tmp_path / "issuing.pem").write_bytes(pem(pki.cert(pki.issuing)))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    crl_file = tmp_path / "crls.pem"
    crl_file.write_bytes(
        b"".join(
            x509.load_der_x509_crl(d).public_bytes(
                __import__("cryptography").hazmat.primitives.serialization.Encoding.PEM
            )
            for d in crls
        )
    )
    res = subprocess.run(
        [
            "openssl",
            "verify",
            "-crl_check_all",
            "-CRLfile",
            str(crl_file),
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "issuing.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return res.stdout + res.stderr


def test_openssl_crl_check_all_rejects_revoked_accepts_good(cp: CrlPki, tmp_path: Path):
    pki = cp.pki
    good, bad = cp.issue(), cp.issue()
    pki.revoker.revoke(bad.serial_hex, "keyCompromise", actor="t")
    cp.publisher.publish(pki.issuing)
    cp.publisher.publish(pki.root)
    crls = [cp.crl()[1], cp.crl(ca=pki.root)[1]]
    out = _openssl_verify(tmp_path, pki, good.certificate, crls)
    assert out.strip().endswith(": OK"), out
    out = _openssl_verify(tmp_path, pki, bad.certificate, crls)
    assert "certificate revoked" in out, out


def test_rsa_issuing_ca_signs_its_crl_pkcs1(store: Store, backend, tmp_path: Path):
    pki = build_pki(store, backend, KeySpec.RSA_3072, KeySpec.RSA_4096)
    cp = crl_pki(pki, tmp_path / "public")
    leaf = cp.issue()
    pki.revoker.revoke(leaf.serial_hex, "privilegeWithdrawn", actor="t")
    cp.publisher.publish(pki.issuing)
    crl, der = cp.crl()
    assert crl.is_signature_valid(pki.cert(pki.issuing).public_key())
    assert crl.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    assert reason(serials(crl)[int(leaf.serial_hex, 16)]) is x509.ReasonFlags.privilege_withdrawn
    assert blocking(der) == []


def test_resigning_one_partition_reads_only_its_rows_and_the_delta(pki_mod: Pki, tmp_path: Path):
    cp, issued = _partitioned(pki_mod, tmp_path, issue=8, revoke=4, reason="superseded")
    cp.publisher.publish(pki_mod.issuing)
    before = {p: cp.crl("partition", p)[0] for p in range(4)}
    late = issued[5]
    p = partition_of(int(late.serial_hex, 16), 4)
    pki_mod.revoker.revoke(late.serial_hex, "keyCompromise", actor="t")
    published = cp.publisher.publish(pki_mod.issuing, full=False, partitions={p})
    assert {(i.kind, i.partition) for i in published} == {("partition", p), ("delta", -1)}
    crl, der = cp.crl("partition", p)
    expected = {
        int(i.serial_hex, 16)
        for i in [*issued[:4], late]
        if partition_of(int(i.serial_hex, 16), 4) == p
    }
    listed = set(serials(crl))
    assert expected <= listed and all(s % 4 == p for s in listed)
    assert int(late.serial_hex, 16) in serials(cp.crl("delta")[0])
    for other in set(range(4)) - {p}:  # untouched
        assert cp.crl("partition", other)[0] == before[other]
    assert blocking(der) == []
    # Exactly the partition's share of what a complete re-signing lists.
    cp.publisher.publish(pki_mod.issuing, partitions=())
    assert listed == {s for s in serials(cp.crl()[0]) if s % 4 == p}
