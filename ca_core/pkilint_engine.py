"""pkilint's validators, run in-process: the engine behind ca_core.lint.

Importing pkilint (its ETSI language and currency tables) costs about a second, so ca_core.lint
imports this module on first use: CLI commands that never lint start without that cost. Within
it, the ETSI and CA/B Forum S/MIME validators (about 1.5 s of the import: ISO 639 and currency
tables) load only when a subscriber certificate asks for them: CA, OCSP-signer and TSA
certificates, CRLs and OCSP responses are linted with the RFC 5280 / 6960 validators alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from pkilint import document, finding_filter, loader, pkix, validation
from pkilint.pkix import certificate, crl, extension, name, ocsp
from pyasn1.error import PyAsn1Error

from ca_core.lint import LINT_SETS, Finding, Severity

if TYPE_CHECKING:
    from pkilint import etsi
    from pkilint.cabf.smime import smime_constants


@dataclass(frozen=True)
class _Linter:
    validator: validation.Validator
    filters: tuple[finding_filter.FindingDescriptionFilter, ...] = ()


_linters: dict[Hashable, _Linter] = {}
_linters_lock = threading.Lock()


def _cached(key: Hashable, build: Callable[[], _Linter]) -> _Linter:
    linter = _linters.get(key)
    if linter is None:
        with _linters_lock:
            linter = _linters.get(key)
            if linter is None:
                linter = _linters[key] = build()
    return linter


def _pkix_certificate_linter() -> _Linter:
    # As pkilint's lint_pkix_cert.
    return _Linter(
        certificate.create_pkix_certificate_validator_container(
            certificate.create_decoding_validators(
                name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
            ),
            [
                certificate.create_issuer_validator_container([]),
                certificate.create_validity_validator_container(),
                certificate.create_subject_validator_container([]),
                certificate.create_extensions_validator_container([]),
                certificate.create_spki_validator_container([]),
            ],
        )
    )


def _etsi_linter(certificate_type: etsi.CertificateType) -> _Linter:
    # As pkilint's lint_etsi_cert, including its default filtering of superseded findings.
    from pkilint import etsi

    return _Linter(
        certificate.create_pkix_certificate_validator_container(
            etsi.create_decoding_validators(certificate_type),
            etsi.create_validators(certificate_type),
        ),
        tuple(etsi.create_etsi_finding_filters(certificate_type)),
    )


def _smime_linter(
    level: smime_constants.ValidationLevel, generation: smime_constants.Generation
) -> _Linter:
    # As pkilint's lint_cabf_smime_cert; the validity period starts at notBefore.
    from pkilint.cabf import smime

    return _Linter(
        certificate.create_pkix_certificate_validator_container(
            smime.create_decoding_validators(),
            smime.create_subscriber_validators(level, generation),
        )
    )


def _crl_linter() -> _Linter:
    # As pkilint's lint_crl with the PKIX profile.
    return _Linter(
        crl.create_pkix_crl_validator_container(
            [
                pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
                pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
            ],
            [
                crl.create_issuer_validator_container([]),
                crl.create_validity_validator_container([]),
                crl.create_extensions_validator_container([]),
            ],
        )
    )


def _ocsp_linter() -> _Linter:
    # As pkilint's lint_ocsp_response.
    return _Linter(
        ocsp.create_pkix_ocsp_response_validator_container(
            [
                ocsp.create_response_decoder(),
                pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
                pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
            ],
            [],
        )
    )


def _run(linter: _Linter, doc: document.Document) -> list[Finding]:
    results = linter.validator.validate(doc.root)
    if linter.filters:
        results, _ = finding_filter.filter_results(list(linter.filters), results)
    return [
        Finding(
            severity=cast(Severity, fd.finding.severity.name),
            code=fd.finding.code,
            message=fd.message,
            path=result.node.path,
        )
        for result in results
        for fd in result.finding_descriptions
        # DEBUG findings are pkilint's own tracing, not statements about the document.
        if fd.finding.severity <= validation.ValidationFindingSeverity.INFO
    ]


def _undecodable(what: str, error: Exception) -> list[Finding]:
    return [Finding("FATAL", "psre.lint.undecodable", f"{what} cannot be decoded: {error}", what)]


def _not_applicable_to_ca(lint_set: str) -> Finding:
    return Finding(
        "NOTICE",
        f"psre.lint.{lint_set}_not_applicable_to_ca",
        f"pkilint has no {lint_set} profile for CA certificates; RFC 5280 checks only",
        "certificate",
    )


def _lint_subscriber(lint_set: str, der: bytes) -> list[Finding]:
    # A fresh document per set: pkilint decoders attach decoded extension and attribute values
    # to the document, and the sets decode some of them with different schemas.
    try:
        doc = loader.load_der_certificate(der, "certificate")
        if lint_set == "etsi":
            from pkilint import etsi

            cert_type = etsi.determine_certificate_type(doc)
            linter = _cached(("etsi", cert_type), lambda: _etsi_linter(cert_type))
        else:
            from pkilint.cabf import smime
            from pkilint.cabf.smime import smime_constants

            v_g = smime.determine_validation_level_and_generation(doc) or (
                smime_constants.ValidationLevel.MAILBOX,
                smime_constants.Generation.STRICT,
            )
            linter = _cached(("cabf_smime", *v_g), lambda: _smime_linter(*v_g))
    except (ValueError, PyAsn1Error) as error:
        return _undecodable("certificate", error)
    return _run(linter, doc)


def lint_certificate(der: bytes, lint_sets: Collection[str]) -> list[Finding]:
    """All findings (FATAL..INFO) of the given lint sets on a DER certificate, without repeats.

    ``lint_sets`` is a non-empty subset of ``LINT_SETS``; anything else is a ValueError, because
    an empty or misspelt set would silently skip the check.
    """
    unknown = set(lint_sets) - LINT_SETS
    if unknown or not lint_sets:
        raise ValueError(
            f"lint sets must be a non-empty subset of {', '.join(sorted(LINT_SETS))} "
            f"(got {', '.join(sorted(lint_sets)) or 'none'})"
        )
    try:
        doc = loader.load_der_certificate(der, "certificate")
        is_ca = doc.is_ca
    except (ValueError, PyAsn1Error) as error:
        return _undecodable("certificate", error)
    # The sets overlap: pkilint builds its etsi and cabf_smime validators on the RFC 5280
    # containers, so for an end-entity either of them already runs every pkix check. Running
    # pkix again would double the cost of linting (the dominant cost of issuance) for nothing.
    # Where they do overlap, keep one of each finding, in order.
    findings: dict[Finding, None] = {}
    superset = not is_ca and bool(set(lint_sets) & {"etsi", "cabf_smime"})
    if ("pkix" in lint_sets and not superset) or is_ca:
        findings.update(dict.fromkeys(_run(_cached("pkix", _pkix_certificate_linter), doc)))
    for lint_set in ("etsi", "cabf_smime"):
        if lint_set in lint_sets:
            found = [_not_applicable_to_ca(lint_set)] if is_ca else _lint_subscriber(lint_set, der)
            findings.update(dict.fromkeys(found))
    return list(findings)


def lint_crl(der: bytes) -> list[Finding]:
    """Findings of pkilint's RFC 5280 CRL linter on a DER CRL."""
    try:
        doc = loader.load_der_crl(der, "crl")
    except (ValueError, PyAsn1Error) as error:
        return _undecodable("crl", error)
    return _run(_cached("crl", _crl_linter), doc)


def lint_ocsp_response(der: bytes) -> list[Finding]:
    """Findings of pkilint's RFC 6960 linter on a DER OCSP response."""
    try:
        doc = loader.load_der_ocsp_response(der, "ocsp_response")
    except (ValueError, PyAsn1Error) as error:
        return _undecodable("ocsp_response", error)
    return _run(_cached("ocsp", _ocsp_linter), doc)
