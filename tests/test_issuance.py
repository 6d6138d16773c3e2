"""The issuance pipeline on a real SoftHSM token and real databases, checked by openssl and
pkilint: every profile, the refusals, serials, validity, revocation and suspension."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from ca_core import lint
from ca_core.errors import NotFoundError
from ca_core.issuer import IssuanceError, IssueRequest, new_serial
from ca_core.revocation import RevocationError
from ca_core.store.models import BlockedKey, Certificate
from tests.authority_support import WITNESSED
from tests.pki_support import BASE_URL, Pki

NIK = "3174012345678901"

# One good request per end-entity profile; keys are generated per test.
SUBJECTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "natural-person": (
        {
            "C": "ID",
            "O": "Kementerian Uji",
            "givenName": "Budi",
            "surname": "Santoso",
            "serialNumber": f"PNOID-{NIK}",
            "CN": "Budi Santoso",
        },
        ["budi@kemenuji.go.id"],
    ),
    "legal-person-seal": (
        {
            "C": "ID",
            "O": "Kementerian Uji",
            "organizationIdentifier": "NTRID-1234567",
            "CN": "Kementerian Uji",
        },
        [],
    ),
    "smime-mailbox": ({"CN": "rina@kemenuji.go.id"}, ["rina@kemenuji.go.id"]),
    "ocsp-signer": ({"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji OCSP Responder"}, []),
    "tsa": ({"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Time-Stamping Authority"}, []),
}


def p256():
    return ec.generate_private_key(ec.SECP256R1())


def request(profile: str, key=None, **kw) -> IssueRequest:
    subject, emails = SUBJECTS[profile]
    key = key or p256()
    return IssueRequest(
        profile=profile,
        subject=kw.pop("subject", subject),
        emails=kw.pop("emails", emails),
        public_key=key.public_key(),
        **kw,
    )


def pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def openssl_verify(pki: Pki, tmp_path: Path, leaf: x509.Certificate, *extra: str) -> str:
    root = pem(tmp_path / "root.pem", pki.cert(pki.root))
    chain = pki.chain_pem(tmp_path / "chain.pem")
    res = subprocess.run(
        [
            "openssl",
            "verify",
            *extra,
            "-CAfile",
            str(root),
            "-untrusted",
            str(chain),
            str(pem(tmp_path / "leaf.pem", leaf)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return res.stdout + res.stderr


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("days", [0, -1])
def test_zero_or_negative_validity_is_refused(pki: Pki, days: int):
    """0 once fell back to the profile's maximum (a falsy-value slip found by hypothesis)."""
    with pytest.raises(IssuanceError) as ex:
        pki.issuer.issue(pki.issuing, request("natural-person", validity_days=days))
    assert ex.value.field == "validity_days"


def test_ca_certificates_are_lint_clean_and_chain(pki: Pki, tmp_path):
    root, issuing = pki.cert(pki.root), pki.cert(pki.issuing)
    assert lint.blocking(lint.lint_certificate(der(root), ["pkix"])) == []
    assert lint.blocking(lint.lint_certificate(der(issuing), ["pkix"])) == []
    issuing.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    # The issuer DN is byte-identical to the CA's subject DN (checklist).
    assert issuing.issuer.public_bytes() == root.subject.public_bytes()
    # The issuing CA's certificate is stored under the root (the root's CRL can revoke it).
    stored = pki.store.get_certificate(
        pki.store.get_ca(pki.root).id, format(issuing.serial_number, "x")
    )
    assert stored.profile == "issuing-ca"


@pytest.mark.parametrize("profile", sorted(SUBJECTS))
def test_every_profile_issues_lint_clean_and_openssl_verifies(pki: Pki, profile, tmp_path):
    issued = pki.issuer.issue(pki.issuing, request(profile))
    cert = issued.certificate
    prof = pki.issuer.profile(profile)
    findings = lint.lint_certificate(der(cert), prof.lint)
    assert lint.blocking(findings) == [], findings
    out = openssl_verify(pki, tmp_path, cert, "-purpose", "any")
    assert out.strip().endswith(": OK"), out
    # AIA and CRL DP start with the public base URL; issuer is byte-identical.
    assert cert.issuer.public_bytes() == pki.cert(pki.issuing).subject.public_bytes()
    if prof.crl_dp:
        dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert dp[0].full_name[0].value == f"{BASE_URL}/crl/{pki.issuing}.crl"
    # Stored, with status good, and the issuance is audited.
    row = pki.store.get_certificate(pki.store.get_ca(pki.issuing).id, issued.serial_hex)
    assert row.status == "good" and row.der == der(cert) and row.profile == profile
    assert pki.store.audit.verify().ok
    assert any(
        e.action == "certificate.issue" and e.object.endswith(issued.serial_hex)
        for e in pki.store.audit.list(limit=10)
    )


def test_serials_are_128_bit_random_positive_and_unique():
    serials = {new_serial() for _ in range(5000)}
    assert len(serials) == 5000
    assert all(64 < s.bit_length() <= 127 for s in serials)
    # DER INTEGER content is at most 16 octets: positive without a leading 0x00, ≤ 20 octets.
    assert all(len(s.to_bytes(16, "big")) == 16 for s in serials)
    # The top random bit is set about half of the time: the bits really vary.
    top = sum(1 for s in serials if s >> 126)
    assert 2000 < top < 3000


def test_validity_is_inclusive_and_bounded_by_profile_and_issuer(pki: Pki):
    c = pki.issuer.issue(pki.issuing, request("natural-person", validity_days=365)).certificate
    span = c.not_valid_after_utc - c.not_valid_before_utc + dt.timedelta(seconds=1)
    assert span == dt.timedelta(days=365)
    full = pki.issuer.issue(pki.issuing, request("ocsp-signer")).certificate
    span = full.not_valid_after_utc - full.not_valid_before_utc + dt.timedelta(seconds=1)
    assert span == dt.timedelta(days=pki.issuer.profile("ocsp-signer").max_validity_days)
    with pytest.raises(IssuanceError) as err:
        pki.issuer.issue(pki.issuing, request("natural-person", validity_days=731))
    assert err.value.field == "validity_days" and "730" in err.value.reason
    # The TSA profile allows 10 years; the issuing CA lives 5: never outlive the issuer.
    with pytest.raises(IssuanceError) as err:
        pki.issuer.issue(pki.issuing, request("tsa", validity_days=3000))
    assert err.value.field == "validity_days" and "outlive" in err.value.reason


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"key": rsa.generate_private_key(65537, 1024)}, "public_key", "2048"),  # noqa: S505
        ({"key": ec.generate_private_key(ec.SECP521R1())}, "public_key", "not allowed"),
        (
            {"subject": {**SUBJECTS["natural-person"][0], "serialNumber": "PNOID-317401234567890"}},
            "subject.serialNumber",
            "",
        ),
        ({"subject": {**SUBJECTS["natural-person"][0], "L": "Jakarta"}}, "subject.L", ""),
        (
            {"subject": {**SUBJECTS["natural-person"][0], "givenName": "Bu\x07di"}},
            "subject.givenName",
            "",
        ),
        ({"emails": ["budi@@kemenuji.go.id"]}, "san.email", ""),
        ({"emails": []}, "san.email", ""),
        ({"profile": "no-such-profile"}, "profile", "unknown"),
    ],
)
def test_refusals_name_the_field(pki: Pki, change, field, words):
    change = dict(change)
    key = change.pop("key", None)
    profile = change.pop("profile", "natural-person")
    req = request("natural-person", key, **change)
    if profile != "natural-person":
        req = IssueRequest(profile=profile, subject=req.subject, public_key=req.public_key)
    with pytest.raises(IssuanceError) as err:
        pki.issuer.issue(pki.issuing, req)
    assert err.value.field == field, err.value
    assert words in str(err.value)
    # Nothing was reserved or stored for a refused request.
    with pki.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) == 2  # the two CA certs


def test_ca_profile_cannot_be_used_for_end_entities(pki: Pki):
    req = IssueRequest(
        profile="root-ca",
        subject={"C": "ID", "O": "X", "CN": "Y"},
        public_key=ec.generate_private_key(ec.SECP384R1()).public_key(),
    )
    with pytest.raises(IssuanceError) as err:
        pki.issuer.issue(pki.issuing, req)
    assert err.value.field == "profile"


def test_duplicates_and_keys_of_other_subscribers(pki: Pki):
    from ca_core.subscribers import Enrolment, enrol

    a = enrol(
        pki.store,
        Enrolment("Budi Santoso", "budi@kemenuji.go.id", NIK, "Kementerian Uji"),
        actor="t",
    )
    b = enrol(
        pki.store,
        Enrolment("Rina Wati", "rina@kemenuji.go.id", "3174019876543210", "Kementerian Uji"),
        actor="t",
    )
    key = p256()
    pki.issuer.issue(pki.issuing, request("natural-person", key, subscriber_id=a.id))
    with pytest.raises(IssuanceError, match="duplicate"):
        pki.issuer.issue(pki.issuing, request("natural-person", key, subscriber_id=a.id))
    with pytest.raises(IssuanceError, match="another subscriber"):
        pki.issuer.issue(pki.issuing, request("natural-person", key, subscriber_id=b.id))
    # A renewal of the same key for the same subscriber is allowed.
    again = pki.issuer.issue(
        pki.issuing, request("natural-person", key, subscriber_id=a.id, renewal=True)
    )
    assert again.certificate.public_key() == key.public_key()


def test_idempotency_key_never_issues_twice(pki: Pki):
    key = p256()
    first = pki.issuer.issue(pki.issuing, request("ocsp-signer", key, idempotency_key="req-1"))
    again = pki.issuer.issue(pki.issuing, request("ocsp-signer", key, idempotency_key="req-1"))
    assert again.serial_hex == first.serial_hex and again.certificate == first.certificate
    with pki.store.session() as s:
        n = s.scalar(
            select(func.count())
            .select_from(Certificate)
            .where(Certificate.profile == "ocsp-signer")
        )
    assert n == 1


def test_a_stored_reservation_keeps_no_der_and_a_retry_reads_the_certificate(pki: Pki):
    # Issue 18: the certificate row holds the DER; the reservation kept both the signed DER and
    # the TBS (~2 KB per certificate at 10^7 rows). A retry with the same key still gets it.
    from ca_core.store.models import SerialReservation

    key = p256()
    first = pki.issuer.issue(pki.issuing, request("ocsp-signer", key, idempotency_key="der-1"))
    with pki.store.session() as s:
        r = s.execute(
            select(SerialReservation).where(SerialReservation.serial_hex == first.serial_hex)
        ).scalar_one()
        assert (r.state, r.certificate_der, r.tbs_der) == ("stored", None, None)
    again = pki.issuer.issue(pki.issuing, request("ocsp-signer", key, idempotency_key="der-1"))
    assert again.recovered is False and again.certificate == first.certificate
    ca_id = pki.store.get_ca(pki.issuing).id
    assert pki.issuer.recover(ca_id, first.serial_hex).certificate == first.certificate


def test_a_reservation_is_completed_once_even_by_two_racing_signers(pki: Pki):
    # Two recoveries of one crashed reservation may both sign its TBS; only the first to reach
    # the database stores it. The second gets a clear error, not a second row or audit event.
    from ca_core.errors import CaError

    ca = pki.store.get_ca(pki.issuing)
    prepared = pki.issuer.prepare(ca, request("ocsp-signer"))
    assert pki.issuer._reserve(ca, prepared) is None
    first = pki.issuer._sign_and_store(ca, prepared.serial, prepared.tbs_der, None, recovered=True)
    with pytest.raises(CaError, match="not reserved, or was stored meanwhile"):
        pki.issuer._sign_and_store(ca, prepared.serial, prepared.tbs_der, None, recovered=True)
    with pki.store.session() as s:
        rows = s.scalars(
            select(Certificate.serial_hex).where(Certificate.serial_hex == first.serial_hex)
        ).all()
    assert rows == [first.serial_hex]
    recovered = [e for e in pki.store.audit.list(limit=10) if e.action == "certificate.recover"]
    assert len(recovered) == 1
    assert pki.store.audit.verify().ok


def test_revocation_reasons_finality_and_blocklist(pki: Pki):
    key = p256()
    issued = pki.issuer.issue(pki.issuing, request("natural-person", key))
    with pytest.raises(RevocationError, match="unknown reason"):
        pki.revoker.revoke(issued.serial_hex, "because", actor="t")
    # Upper case with colons, as people paste it.
    pasted = ":".join(f"{b:02X}" for b in issued.certificate.serial_number.to_bytes(16, "big"))
    ch = pki.revoker.revoke(pasted, "keyCompromise", actor="ra-officer")
    assert ch.changed and ch.status == "revoked" and ch.reason == "keyCompromise"
    again = pki.revoker.revoke(issued.serial_hex, "superseded", actor="ra-officer")
    assert not again.changed and again.reason == "keyCompromise"  # final
    with pytest.raises(RevocationError, match="only a hold can be released"):
        pki.revoker.unsuspend(issued.serial_hex, actor="t")
    with pki.store.session() as s:
        assert s.scalar(select(func.count()).select_from(BlockedKey)) == 1
    # The compromised key is never certified again, under any profile.
    with pytest.raises(IssuanceError) as err:
        pki.issuer.issue(pki.issuing, request("ocsp-signer", key))
    assert err.value.field == "public_key" and "compromised" in str(err.value)
    with pytest.raises(NotFoundError, match="no certificate with serial"):
        pki.revoker.revoke("abcdef0123", "unspecified", actor="t")
    events = [e.action for e in pki.store.audit.list(limit=5)]
    assert "certificate.revoke" in events


def test_suspend_and_release_follow_the_subscriber(pki: Pki, tmp_path):
    from ca_core.subscribers import Enrolment, enrol, issue_for

    enrol(
        pki.store,
        Enrolment("Budi Santoso", "budi@kemenuji.go.id", NIK, "Kementerian Uji"),
        actor="t",
    )
    issued = issue_for(pki.issuer, pki.backend, key=NIK, ca=pki.issuing, actor="t")
    assert pki.store.get_subscriber(NIK).status == "ISSUE"
    info = pki.backend.info(
        pki.store.get_certificate(pki.store.get_ca(pki.issuing).id, issued.serial_hex).key_label
    )
    assert info.sensitive and not info.extractable
    pki.revoker.suspend(issued.serial_hex, actor="t")
    row = pki.store.find_certificate(issued.serial_hex)
    assert (row.status, row.revocation_reason) == ("hold", "certificateHold")
    assert pki.store.get_subscriber(NIK).status == "SUSPEND"
    pki.revoker.unsuspend(issued.serial_hex, actor="t")
    row = pki.store.find_certificate(issued.serial_hex)
    assert (row.status, row.revoked_at) == ("good", None)
    assert pki.store.get_subscriber(NIK).status == "ISSUE"
    pki.revoker.suspend(issued.serial_hex, actor="t")
    pki.revoker.revoke(issued.serial_hex, "privilegeWithdrawn", actor="t")  # hold → revoked
    assert pki.store.find_certificate(issued.serial_hex).status == "revoked"
    assert pki.store.get_subscriber(NIK).status == "REVOKE"
    assert pki.store.audit.verify().ok


def test_a_revocation_judges_the_subscribers_other_certificates_at_its_own_time(pki: Pki):
    """Whether the subscriber still holds another live certificate is judged at the Revoker's
    clock (the revocation's time), not at today's: a restore re-applies a revocation with its
    published time through a Revoker stuck at that time."""
    from ca_core.revocation import Revoker
    from ca_core.subscribers import Enrolment, enrol, issue_for

    enrol(
        pki.store,
        Enrolment("Budi Santoso", "budi@kemenuji.go.id", NIK, "Kementerian Uji"),
        actor="t",
    )
    first = issue_for(pki.issuer, pki.backend, key=NIK, ca=pki.issuing, actor="t")
    short = issue_for(pki.issuer, pki.backend, key=NIK, ca=pki.issuing, actor="t", validity_days=30)
    assert short.certificate.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    # Sixty days on, the short certificate has expired: revoking the first one then leaves the
    # subscriber with no live certificate, whatever today's date says.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    Revoker(pki.store, pki.issuer.recover, clock=lambda: later).revoke(
        first.serial_hex, "superseded", actor="t"
    )
    assert pki.store.get_subscriber(NIK).status == "REVOKE"


def test_subscriber_key_is_destroyed_when_issuance_is_refused(pki: Pki):
    from ca_core.subscribers import Enrolment, enrol, issue_for

    enrol(
        pki.store,
        Enrolment("Budi Santoso", "budi@kemenuji.go.id", NIK, "Kementerian Uji"),
        actor="t",
    )
    before = {k.label for k in pki.backend.list_keys()}
    with pytest.raises(IssuanceError):
        issue_for(
            pki.issuer,
            pki.backend,
            key=NIK,
            ca=pki.issuing,
            actor="t",
            profile="natural-person",
            key_spec=__import__("hsm").KeySpec.EC_P384,
        )
    assert {k.label for k in pki.backend.list_keys()} == before


def test_two_threads_issue_200_without_collision(pki: Pki):
    keys = [p256() for _ in range(200)]
    errors: list[BaseException] = []
    serials: list[str] = []
    lock = threading.Lock()

    def work(part: list) -> None:
        try:
            for i, key in part:
                subj = {
                    **SUBJECTS["natural-person"][0],
                    "serialNumber": f"PNOID-{i:016d}",
                    "CN": f"Pegawai {i}",
                }
                got = pki.issuer.issue(pki.issuing, request("natural-person", key, subject=subj))
                with lock:
                    serials.append(got.serial_hex)
        except BaseException as ex:  # collected and asserted below
            errors.append(ex)

    items = list(enumerate(keys))
    threads = [threading.Thread(target=work, args=(items[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(serials) == len(set(serials)) == 200
    result = pki.store.audit.verify()
    assert result.ok and result.count >= 200 + 4


def test_cross_check_with_cryptography_name_types(pki: Pki):
    cert = pki.issuer.issue(pki.issuing, request("natural-person")).certificate
    # countryName and serialNumber are PrintableString (checklist), the rest UTF8String.
    types = {a.oid: a._type.name for a in cert.subject}
    assert types[NameOID.COUNTRY_NAME] == "PrintableString"
    assert types[NameOID.SERIAL_NUMBER] == "PrintableString"
    assert types[NameOID.COMMON_NAME] == "UTF8String"


# -- a crash between the HSM signature and the database write --------------------------------------

CRASH_SCRIPT = r"""
import os, sys
from cryptography.hazmat.primitives import serialization
from ca_core.issuer import Issuer, IssueRequest
from ca_core.store import Store
from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend
from hsm.softhsm import use_softhsm_conf
from policies.schema import load_profiles
url, conf, label, pub_pem, subj_cn = sys.argv[1:6]
use_softhsm_conf(conf)
backend = Pkcs11Backend("/usr/lib/softhsm/libsofthsm2.so", label, PinSource.parse("env:T_PIN"))
store = Store.open(url)
issuer = Issuer(store, backend, load_profiles(), base_url=os.environ["T_BASE"])
pub = serialization.load_pem_public_key(pub_pem.encode())
issuer.issue("issuing-ca", IssueRequest(
    profile="ocsp-signer", subject={"C": "ID", "O": "PSrE Uji", "CN": subj_cn},
    public_key=pub, idempotency_key="crash-1"))
print("NOT KILLED")
"""


def _crash_issue(pki: Pki, db_url: str, token, key, cn: str) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    pub = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    env = {
        **os.environ,
        "PSRE_FAULT": "after_hsm_sign",
        "T_PIN": token.user_pin,
        "T_BASE": BASE_URL,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    return subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, db_url, str(token.conf), token.label, pub, cn],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_crash_after_hsm_signature_keeps_the_serial_reserved_and_retry_completes_it(
    pki: Pki, db_url, token
):
    from ca_core.store.models import SerialReservation

    key = p256()
    res = _crash_issue(pki, db_url, token, key, "Responder A")
    assert res.returncode == 86, res.stdout + res.stderr  # killed at the fault point
    issuer_id = pki.store.get_ca(pki.issuing).id
    with pki.store.session() as s:
        r = s.execute(
            select(SerialReservation).where(SerialReservation.idempotency_key == "crash-1")
        ).scalar_one()
        serial, tbs, state = r.serial_hex, r.tbs_der, r.state
        n_certs = s.scalar(
            select(func.count())
            .select_from(Certificate)
            .where(Certificate.profile == "ocsp-signer")
        )
    assert state == "reserved" and tbs and n_certs == 0
    # Counted as issued: never "unknown" (and so never good) for status services.
    assert pki.store.serial_status(issuer_id, serial) == "reserved"
    assert pki.store.serial_status(issuer_id, "1234abcd") == "unknown"
    # The retry with the same idempotency key completes the same certificate: same serial,
    # byte-identical TBS, one row.
    again = pki.issuer.issue(
        pki.issuing,
        request(
            "ocsp-signer",
            key,
            idempotency_key="crash-1",
            subject={"C": "ID", "O": "PSrE Uji", "CN": "Responder A"},
        ),
    )
    assert again.recovered and again.serial_hex == serial
    assert again.certificate.tbs_certificate_bytes == tbs
    assert pki.store.serial_status(issuer_id, serial) == "good"
    with pki.store.session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(Certificate)
                .where(Certificate.profile == "ocsp-signer")
            )
            == 1
        )
    assert pki.store.audit.verify().ok
    assert any(e.action == "certificate.recover" for e in pki.store.audit.list(limit=5))


def test_crashed_reservation_is_revocable(pki: Pki, db_url, token):
    key = p256()
    assert _crash_issue(pki, db_url, token, key, "Responder B").returncode == 86
    from ca_core.store.models import SerialReservation

    with pki.store.session() as s:
        serial = s.execute(
            select(SerialReservation.serial_hex).where(
                SerialReservation.idempotency_key == "crash-1"
            )
        ).scalar_one()
    ch = pki.revoker.revoke(serial, "cessationOfOperation", actor="t", authorisation=WITNESSED)
    assert ch.changed and ch.status == "revoked"
    assert pki.store.serial_status(pki.store.get_ca(pki.issuing).id, serial) == "revoked"


# -- properties --------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FIELDS = {"profile", "public_key", "validity_days", "request", "san.email"} | {
    f"subject.{a}" for a in ("C", "O", "OU", "givenName", "surname", "serialNumber", "CN")
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    cn=st.one_of(
        st.from_regex(r"[A-Z][a-z]{1,20}( [A-Z][a-z]{1,20}){0,3}", fullmatch=True),
        st.text(min_size=0, max_size=80),
    ),
    nik=st.one_of(
        st.from_regex(r"[0-9]{16}", fullmatch=True),
        st.text(alphabet="0123456789x", min_size=14, max_size=18),
    ),
    days=st.one_of(
        st.integers(min_value=1, max_value=730), st.integers(min_value=-3, max_value=900)
    ),
)
def test_never_issues_outside_the_profile(pki: Pki, cn, nik, days):
    subject = {**SUBJECTS["natural-person"][0], "CN": cn, "serialNumber": f"PNOID-{nik}"}
    profile = pki.issuer.profile("natural-person")
    try:
        got = pki.issuer.issue(
            pki.issuing, request("natural-person", subject=subject, validity_days=days)
        )
    except IssuanceError as ex:
        assert ex.field in FIELDS, ex
        assert ex.reason
        return
    cert = got.certificate
    span = cert.not_valid_after_utc - cert.not_valid_before_utc + dt.timedelta(seconds=1)
    assert span <= dt.timedelta(days=profile.max_validity_days)
    assert 0 < days <= profile.max_validity_days
    assert len(nik) == 16 and nik.isdigit()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    assert lint.blocking(lint.lint_certificate(der(cert), profile.lint)) == []


def test_status_events_follow_committed_changes(pki) -> None:
    from ca_core.events import StatusEvent

    seen: list[StatusEvent] = []
    stop = pki.store.events.subscribe(seen.append)
    try:
        issued = pki.issuer.issue(pki.issuing, request("ocsp-signer"))
        # An OCSP responder's certificate: CA-level, so the changes carry an authorisation.
        w = WITNESSED
        pki.revoker.suspend(issued.serial_hex, actor="test", authorisation=w)
        pki.revoker.unsuspend(issued.serial_hex, actor="test", authorisation=w)
        pki.revoker.revoke(issued.serial_hex, "keyCompromise", actor="test", authorisation=w)
        # idempotent: no event
        pki.revoker.revoke(issued.serial_hex, "keyCompromise", actor="test", authorisation=w)
    finally:
        stop()
    assert [e.kind for e in seen] == ["issued", "hold", "released", "revoked"]
    assert {e.serial_hex for e in seen} == {issued.serial_hex}
    assert {e.ca for e in seen} == {pki.issuing}


def test_revoking_a_superseded_certificate_leaves_the_subscriber_signing(pki: Pki) -> None:
    from ca_core.subscribers import Enrolment, enrol, issue_for

    enrol(
        pki.store,
        Enrolment("Sri Wahyuni", "sri@kemenuji.go.id", "3174012345678902", "Kementerian Uji"),
        actor="t",
    )
    old = issue_for(pki.issuer, pki.backend, key="3174012345678902", ca=pki.issuing, actor="t")
    issue_for(
        pki.issuer, pki.backend, key="3174012345678902", ca=pki.issuing, actor="t", renewal=True
    )
    pki.revoker.revoke(old.serial_hex, "superseded", actor="t")
    assert pki.store.get_subscriber("3174012345678902").status == "ISSUE"
