"""ca_core.lint: pkilint in-process on certificates, CRLs and OCSP responses built here."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pyasn1.codec.der.encoder import encode
from pyasn1.type import univ

from ca_core.errors import CaError
from ca_core.lint import (
    Finding,
    LintError,
    blocking,
    lint_certificate,
    lint_crl,
    lint_ocsp_response,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CA_KEY = ec.generate_private_key(ec.SECP384R1())
CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PSrE Test"),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRID-0123456789"),
        x509.NameAttribute(NameOID.COMMON_NAME, "PSrE Test Root CA"),
    ]
)
PSRE_POLICY = "1.3.6.1.4.1.99999.1"  # stands in for the PSrE's own CP OID arc
ETSI_NCP = "0.4.0.2042.1.1"  # EN 319 411-1 NCP
QCP_N_QSCD = "0.4.0.194112.1.2"  # EN 319 411-2 QCP-n-qscd
SMIME_MAILBOX_STRICT = "2.23.140.1.5.1.3"  # S/MIME BR 7.1.6.1
QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
QC_TYPE = "0.4.0.1862.1.6"
QCT_ESIGN, QCT_ESEAL = "0.4.0.1862.1.6.1", "0.4.0.1862.1.6.2"
QC_SSCD = "0.4.0.1862.1.4"

CONTENT_COMMITMENT = x509.KeyUsage(False, True, False, False, False, False, False, False, False)
DIGITAL_SIGNATURE = x509.KeyUsage(True, False, False, False, False, False, False, False, False)


def der(obj: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    return obj.public_bytes(serialization.Encoding.DER)


def _sequence(*parts: bytes) -> bytes:
    body = b"".join(parts)
    assert len(body) < 128  # short-form length is enough for these statements
    return b"\x30" + bytes([len(body)]) + body


def _oid(dotted: str) -> bytes:
    return encode(univ.ObjectIdentifier(dotted))


def qc_statements(qc_type: str, *, sscd: bool = False) -> bytes:
    """EN 319 412-5 QCStatements: QcType (and QcSSCD), deliberately without QcCompliance."""
    statements = [_sequence(_oid(QC_TYPE), _sequence(_oid(qc_type)))]
    if sscd:
        statements.append(_sequence(_oid(QC_SSCD)))
    return _sequence(*statements)


def root_ca(*, basic_constraints_critical: bool = True) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(CA_NAME)
        .issuer_name(CA_NAME)
        .public_key(CA_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), basic_constraints_critical)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(CA_KEY.public_key()), False)
        .sign(CA_KEY, hashes.SHA384())
    )


def end_entity(
    subject: list[x509.NameAttribute],
    *,
    policies: list[str],
    key_usage: x509.KeyUsage,
    qc: bytes | None = None,
    email: str | None = None,
    days: int = 365,
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(CA_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=days) - dt.timedelta(seconds=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(CA_KEY.public_key()), False
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier("http://pki.example.id/root.crt"),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://ocsp.example.id"),
                    ),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier("http://pki.example.id/root.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            critical=False,
        )
    )
    if qc is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(QC_STATEMENTS, qc), False)
    if email is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        ).add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(CA_KEY, hashes.SHA384())


def natural_person(*, qc_type: str = QCT_ESIGN, sscd: bool = False) -> x509.Certificate:
    """Our natural-person signing profile: QcType esign, not EU-qualified (no QcCompliance)."""
    return end_entity(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
            x509.NameAttribute(NameOID.GIVEN_NAME, "Budi"),
            x509.NameAttribute(NameOID.SURNAME, "Santoso"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOID-3171234567890001"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Budi Santoso"),
        ],
        policies=[f"{PSRE_POLICY}.1", QCP_N_QSCD if sscd else ETSI_NCP],
        key_usage=CONTENT_COMMITMENT,
        qc=qc_statements(qc_type, sscd=sscd),
    )


def legal_person_seal() -> x509.Certificate:
    return end_entity(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PT Contoh Sejahtera"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRID-0987654321"),
            x509.NameAttribute(NameOID.COMMON_NAME, "PT Contoh Sejahtera e-Seal"),
        ],
        policies=[f"{PSRE_POLICY}.2", ETSI_NCP],
        key_usage=CONTENT_COMMITMENT,
        qc=qc_statements(QCT_ESEAL),
    )


def mailbox(*, policy: str = SMIME_MAILBOX_STRICT, days: int = 365) -> x509.Certificate:
    return end_entity(
        [x509.NameAttribute(NameOID.EMAIL_ADDRESS, "budi@example.id")],
        policies=[policy],
        key_usage=DIGITAL_SIGNATURE,
        email="budi@example.id",
        days=days,
    )


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


# -- clean certificates ------------------------------------------------------------------------


def test_root_ca_is_clean_under_pkix() -> None:
    findings = lint_certificate(der(root_ca()), {"pkix"})
    assert blocking(findings) == []
    assert {f.severity for f in findings} <= {"INFO", "NOTICE"}


@pytest.mark.parametrize(
    ("make", "lint_sets"),
    [
        (natural_person, {"pkix", "etsi"}),
        (lambda: natural_person(sscd=True), {"pkix", "etsi"}),
        (legal_person_seal, {"pkix", "etsi"}),
        (mailbox, {"pkix", "cabf_smime"}),
    ],
    ids=["natural-person", "natural-person-qscd", "legal-person-seal", "smime-mailbox"],
)
def test_end_entity_profiles_are_clean(make, lint_sets: set[str]) -> None:
    findings = lint_certificate(der(make()), lint_sets)
    assert blocking(findings) == []


def test_ca_certificate_under_subscriber_sets_gets_pkix_and_a_notice() -> None:
    # pkilint's EN 319 412 and S/MIME profiles are for subscribers: a root lacks AIA, policies,
    # AKI and so on by design and must not be failed for it.
    findings = lint_certificate(der(root_ca()), {"etsi", "cabf_smime"})
    assert blocking(findings) == []
    assert {
        "psre.lint.etsi_not_applicable_to_ca",
        "psre.lint.cabf_smime_not_applicable_to_ca",
        "pkix.subject_key_identifier_method_1_identified",
    } <= codes(findings)


def test_overlapping_sets_do_not_repeat_findings() -> None:
    findings = lint_certificate(der(natural_person()), {"pkix", "etsi"})
    assert len(findings) == len(set(findings))
    assert [f.code for f in findings].count("pkix.subject_key_identifier_method_1_identified") == 1


# -- blocking findings -----------------------------------------------------------------------


def test_ca_with_non_critical_basic_constraints_is_blocked() -> None:
    findings = blocking(lint_certificate(der(root_ca(basic_constraints_critical=False)), {"pkix"}))
    assert codes(findings) == {"pkix.basic_constraints_extension_not_critical"}
    assert findings[0].severity == "ERROR"
    assert findings[0].path.endswith("extnValue.basicConstraints")


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("serial", [0, -5])
def test_non_positive_serial_is_blocked(serial: int) -> None:
    # cryptography refuses to build such a certificate, so the serial is patched into the DER.
    cert = asn1_x509.Certificate.load(der(root_ca()))
    cert["tbs_certificate"]["serial_number"] = serial
    findings = blocking(lint_certificate(cert.dump(force=True), {"pkix"}))
    assert "pkix.certificate_serial_number_out_of_range" in codes(findings)


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize(
    ("make", "sets"),
    [(natural_person, {"pkix", "etsi"}), (mailbox, {"pkix", "cabf_smime"})],
)
def test_pkix_defects_of_end_entities_are_found_by_the_superset_sets(make, sets) -> None:
    # lint_certificate skips the separate pkix run when etsi/cabf_smime run: they must still
    # report an RFC 5280 defect the profile-specific rules know nothing about.
    cert = asn1_x509.Certificate.load(der(make()))
    cert["tbs_certificate"]["serial_number"] = -5
    findings = blocking(lint_certificate(cert.dump(force=True), sets))
    assert "pkix.certificate_serial_number_out_of_range" in codes(findings)


def test_etsi_qc_type_must_match_the_detected_type() -> None:
    # QcSSCD on a natural person makes it QCP-n-qscd, whose QcType must be esign (EN 319 412-5).
    cert = der(natural_person(qc_type=QCT_ESEAL, sscd=True))
    assert "etsi.en_319_412_5.gen-4.2.3.qc_type_mismatch" in codes(
        blocking(lint_certificate(cert, {"etsi"}))
    )
    assert blocking(lint_certificate(cert, {"pkix"})) == []


def test_smime_without_reserved_policy_is_linted_as_mailbox_strict() -> None:
    findings = blocking(lint_certificate(der(mailbox(policy=f"{PSRE_POLICY}.3")), {"cabf_smime"}))
    missing = [f for f in findings if f.code == "cabf.smime.no_required_reserved_policy_oid"]
    assert missing and SMIME_MAILBOX_STRICT in (missing[0].message or "")


def test_smime_strict_validity_limit_applies() -> None:
    findings = blocking(lint_certificate(der(mailbox(days=826)), {"cabf_smime"}))
    assert codes(findings) == {"cabf.smime.certificate_validity_period_exceeds_825_days"}


@pytest.mark.parametrize("data", [b"hello", b"\x30\x03\x02\x01\x01"])
def test_undecodable_input_is_a_fatal_finding(data: bytes) -> None:
    for findings in (
        lint_certificate(data, {"pkix", "etsi"}),
        lint_crl(data),
        lint_ocsp_response(data),
    ):
        assert [(f.severity, f.code) for f in blocking(findings)] == [
            ("FATAL", "psre.lint.undecodable")
        ]


@pytest.mark.parametrize("lint_sets", [set(), {"pkix", "rfc5280"}])
def test_unknown_or_empty_lint_sets_are_refused(lint_sets: set[str]) -> None:
    with pytest.raises(ValueError, match="non-empty subset"):
        lint_certificate(der(root_ca()), lint_sets)


def test_lint_error_lists_the_blocking_findings() -> None:
    findings = lint_certificate(der(root_ca(basic_constraints_critical=False)), {"pkix"})
    error = LintError(blocking(findings))
    assert isinstance(error, CaError) and error.code == "lint_failed"
    assert str(error).startswith("lint failed with 1 blocking finding(s): ERROR ")
    assert "pkix.basic_constraints_extension_not_critical at certificate." in str(error)
    assert error.findings == tuple(blocking(findings))


# -- CRL and OCSP --------------------------------------------------------------------------------


def crl(*, with_number_and_aki: bool = True) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(CA_NAME)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=7))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(0x1234)
            .revocation_date(NOW)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    )
    if with_number_and_aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(CA_KEY.public_key()), False
        ).add_extension(x509.CRLNumber(7), critical=False)
    return der(builder.sign(CA_KEY, hashes.SHA384()))


def test_crl_built_by_cryptography_lints_clean() -> None:
    assert blocking(lint_crl(crl())) == []


def test_crl_without_number_and_aki_is_blocked() -> None:
    assert codes(blocking(lint_crl(crl(with_number_and_aki=False)))) == {
        "pkix.crl_number_missing",
        "pkix.authority_key_identifier_missing",
    }


def test_ocsp_response_lints_clean() -> None:
    root = root_ca()
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=natural_person(),
            issuer=root,
            algorithm=hashes.SHA1(),  # noqa: S303 (the CertID hash of RFC 5019 2.1.1)
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW,
            next_update=NOW + dt.timedelta(days=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, root)
        .sign(CA_KEY, hashes.SHA384())
    )
    assert blocking(lint_ocsp_response(response.public_bytes(serialization.Encoding.DER))) == []


# -- threads ---------------------------------------------------------------------------------


def test_concurrent_first_use_builds_once_and_lints_consistently(monkeypatch) -> None:
    from ca_core import pkilint_engine as engine

    monkeypatch.setattr(engine, "_linters", {})
    built: list[str] = []
    real_build = engine._etsi_linter

    def counting_build(certificate_type):
        built.append(str(certificate_type))
        return real_build(certificate_type)

    monkeypatch.setattr(engine, "_etsi_linter", counting_build)
    cases = [
        (der(root_ca()), {"pkix", "etsi", "cabf_smime"}),
        (der(natural_person()), {"pkix", "etsi"}),
        (der(legal_person_seal()), {"pkix", "etsi"}),
        (der(mailbox()), {"pkix", "cabf_smime"}),
        (der(root_ca(basic_constraints_critical=False)), {"pkix"}),
    ]
    start = threading.Barrier(8)

    def work(i: int) -> list[Finding]:
        if i < 8:
            start.wait()  # the first eight calls race on the empty cache
        return lint_certificate(*cases[i % len(cases)])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8 * len(cases))))
    assert sorted(built) == ["NCP_LEGAL_PERSON_CERTIFICATE", "NCP_NATURAL_PERSON_CERTIFICATE"]
    for i, findings in enumerate(results):
        assert findings == lint_certificate(*cases[i % len(cases)])


# -- dispatch index --------------------------------------------------------------------------


def _results(validator, doc) -> list[tuple[str, str, list[str]]]:
    """Every validator result in order, findings included (DEBUG too): stricter than Findings."""
    return [
        (r.validator.name, r.node.path, [repr(fd) for fd in r.finding_descriptions])
        for r in validator.validate(doc.root)
    ]


def _patched_serial(make, serial: int) -> bytes:
    cert = asn1_x509.Certificate.load(der(make()))
    cert["tbs_certificate"]["serial_number"] = serial
    return cert.dump(force=True)


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_indexed_dispatch_gives_pkilints_own_results() -> None:
    # ca_core.pkilint_engine asks a validator to match only where its path/class can; pkilint's
    # own traversal asks every validator at every node. Same results, same order, on clean and
    # defective documents of every kind we lint, twice (the second run uses the cached index).
    from pkilint import etsi, loader

    from ca_core import pkilint_engine as engine

    def cert(data: bytes):
        return loader.load_der_certificate(data, "certificate")

    certs = {
        "root": der(root_ca()),
        "root-bc-not-critical": der(root_ca(basic_constraints_critical=False)),
        "root-serial-negative": _patched_serial(root_ca, -5),
        "natural-person": der(natural_person()),
        "natural-person-qscd": der(natural_person(sscd=True)),
        "natural-person-qc-mismatch": der(natural_person(qc_type=QCT_ESEAL, sscd=True)),
        "natural-person-serial-zero": _patched_serial(natural_person, 0),
        "legal-person-seal": der(legal_person_seal()),
        "mailbox": der(mailbox()),
        "mailbox-826-days": der(mailbox(days=826)),
        "mailbox-own-policy": der(mailbox(policy=f"{PSRE_POLICY}.3")),
    }
    cases = []
    for name, data in certs.items():
        ct = etsi.determine_certificate_type(cert(data))
        level = engine._smime_level(cert(data))
        cases += [
            (f"{name}/pkix", data, cert, engine._pkix_certificate_linter),
            (f"{name}/etsi", data, cert, lambda ct=ct: engine._etsi_linter(ct)),
            (f"{name}/smime", data, cert, lambda lv=level: engine._smime_linter(*lv)),
        ]
    for name, data in {"crl": crl(), "crl-bare": crl(with_number_and_aki=False)}.items():
        cases.append((name, data, lambda d: loader.load_der_crl(d, "crl"), engine._crl_linter))
    compared = 0
    for name, data, load, build in cases:
        plain = build().validator  # never indexed: pkilint's own traversal
        indexed = build().validator
        engine._index(indexed)
        assert indexed._validate_rec is not plain._validate_rec, name
        expected = _results(plain, load(data))
        assert expected, name
        for _ in range(2):
            assert _results(indexed, load(data)) == expected, name
        compared += len(expected)
    assert compared > 1000
