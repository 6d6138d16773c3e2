"""pkilint's validators, run in-process: the engine behind ca_core.lint.

Importing pkilint (its ETSI language and currency tables) costs about a second, so ca_core.lint
imports this module on first use: CLI commands that never lint start without that cost. Within
it, the ETSI and CA/B Forum S/MIME validators (about 1.5 s of the import: ISO 639 and currency
tables) load only when a subscriber certificate asks for them: CA, OCSP-signer and TSA
certificates, CRLs and OCSP responses are linted with the RFC 5280 / 6960 validators alone.
"""

from __future__ import annotations

import importlib.metadata
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
                linter = build()
                _index(linter.validator)
                _linters[key] = linter
    return linter


# -- dispatch index ---------------------------------------------------------------------------
#
# pkilint visits every node of a document (~650 in a subscriber certificate) and asks every
# validator of every container whether it matches (~9,000 match calls per certificate, a fifth
# of linting's cost). Most validators match on the node's path or on its ASN.1 class alone, and
# neither changes while a document is validated. So each container remembers, per (class, path),
# which of its validators can match at all, and asks only those — still through their own
# ``match``, in pkilint's order, so the findings are the same. Validators filtering on a
# predicate or supertype are always asked. tests/test_lint.py compares indexed and plain results
# on clean and defective documents of every kind we lint.

_BASE_MATCH = document.NodeVisitor.match
_BASE_VALIDATE_REC = validation.ValidatorContainer._validate_rec
_INDEX_LIMIT = 20_000  # (class, path) pairs per container: documents of one shape repeat them


def _conjunctive_overrides() -> bool:
    # Every override of ``match`` in pkilint 0.12-0.13 is ``super().match(node) and <more>``,
    # so the base class's path/class test is necessary for those validators too. For a pkilint
    # we have not read, validators with their own ``match`` are always asked.
    try:
        major, minor = (int(p) for p in importlib.metadata.version("pkilint").split(".")[:2])
    except (ValueError, importlib.metadata.PackageNotFoundError):
        return False
    return (major, minor) in {(0, 12), (0, 13)}


_CONJUNCTIVE_OVERRIDES = _conjunctive_overrides()


def _may_match(v: validation.Validator, pdu_type: type, path: str) -> bool:
    if type(v).match is not _BASE_MATCH and not _CONJUNCTIVE_OVERRIDES:
        return True
    visitor = cast(document.NodeVisitor, v)
    if visitor._path is not None and visitor._path != path:
        return False
    if visitor._path_re is not None and visitor._path_re.match(path) is None:
        return False
    pdu_class = visitor._pdu_class
    return pdu_class is None or issubclass(pdu_type, pdu_class)


def _index(container: validation.Validator) -> None:
    if not isinstance(container, validation.ValidatorContainer):
        return
    for v in container.validators:
        _index(v)
    if type(container)._validate_rec is not _BASE_VALIDATE_REC:
        return  # a container with its own traversal keeps it
    validators = tuple(container.validators)
    candidates: dict[tuple[type, str], tuple[validation.Validator, ...]] = {}
    lock = threading.Lock()

    def validate_rec(node: document.PDUNode, results: list[validation.ValidationResult]) -> None:
        key = (type(node.pdu), node.path)
        found = candidates.get(key)
        if found is None:
            found = tuple(v for v in validators if _may_match(v, *key))
            with lock:
                if len(candidates) >= _INDEX_LIMIT:
                    candidates.clear()
                candidates[key] = found
        for v in found:
            if v.match(node):
                result = v.validate_wrapper(node)
                if isinstance(result, list):
                    results += result
                else:
                    results.append(result)
        for child in node.children.values():
            validate_rec(child, results)

    # An instance attribute shadows the class's method for this container only.
    container._validate_rec = validate_rec


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


def _smime_level(
    doc: document.Document,
) -> tuple[smime_constants.ValidationLevel, smime_constants.Generation]:
    """The S/MIME BR validation level and generation the certificate claims; mailbox-validated
    strict when it claims none (PNSMail's profile)."""
    from pkilint.cabf import smime
    from pkilint.cabf.smime import smime_constants

    return smime.determine_validation_level_and_generation(doc) or (
        smime_constants.ValidationLevel.MAILBOX,
        smime_constants.Generation.STRICT,
    )


def _lint_subscriber(
    lint_set: str, der: bytes, doc: document.Document | None = None
) -> list[Finding]:
    # A fresh document per set: pkilint decoders attach decoded extension and attribute values
    # to the document, and the sets decode some of them with different schemas. ``doc`` is a
    # document no linter has run on yet, which the caller hands over to save a decode.
    try:
        if doc is None:
            doc = loader.load_der_certificate(der, "certificate")
        if lint_set == "etsi":
            from pkilint import etsi

            cert_type = etsi.determine_certificate_type(doc)
            linter = _cached(("etsi", cert_type), lambda: _etsi_linter(cert_type))
        else:
            v_g = _smime_level(doc)
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
    fresh: document.Document | None = doc  # no validator has decoded into it yet
    if ("pkix" in lint_sets and not superset) or is_ca:
        findings.update(dict.fromkeys(_run(_cached("pkix", _pkix_certificate_linter), doc)))
        fresh = None
    for lint_set in ("etsi", "cabf_smime"):
        if lint_set in lint_sets:
            if is_ca:
                found = [_not_applicable_to_ca(lint_set)]
            else:
                # Decoding is a fifth of linting's cost: the first set reuses the document.
                found = _lint_subscriber(lint_set, der, fresh)
                fresh = None
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
