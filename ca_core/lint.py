"""Lint certificates, CRLs and OCSP responses with pkilint, in-process.

Issuance lints every to-be-signed structure and refuses it on any blocking (FATAL or ERROR)
finding. pkilint runs in-process because starting its CLI costs about a second per document
while a lint here takes a few milliseconds.

pkilint's validator trees are expensive to build, so each one is built once per process, on
first use, and kept. Validation itself does not mutate the validators (every per-document state
lives in the pkilint Document; pkilint's own REST server shares its validators across requests
the same way), so several threads may lint at once; only construction is serialised by a lock.

Lint sets:

* ``pkix``: RFC 5280 (pkilint's lint_pkix_cert set).
* ``etsi``: ETSI EN 319 412-1..5 for subscriber certificates, the certificate type detected by
  pkilint from the policy OIDs, QCStatements and subject (our natural-person esign profile
  without QcCompliance is detected as NCP natural person, or QCP-n-qscd non-eIDAS when it carries
  QcSSCD; the legal-person seal profile as NCP legal person).
* ``cabf_smime``: the CA/B Forum S/MIME BR, validation level and generation detected from the
  reserved policy OID, mailbox-validated strict when there is none.

pkilint 0.13 has EN 319 412 and S/MIME profiles for subscriber certificates only. For a CA
certificate ``etsi`` and ``cabf_smime`` therefore run the RFC 5280 checks and add a NOTICE saying
so, instead of reporting subscriber rules (AIA, policies, key usage) that do not apply to a CA.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ca_core.errors import CaError

__all__ = [
    "LINT_SETS",
    "Finding",
    "LintError",
    "Severity",
    "blocking",
    "lint_certificate",
    "lint_crl",
    "lint_ocsp_response",
]

Severity = Literal["FATAL", "ERROR", "WARNING", "NOTICE", "INFO"]

LINT_SETS: frozenset[str] = frozenset({"pkix", "etsi", "cabf_smime"})

_BLOCKING: frozenset[str] = frozenset({"FATAL", "ERROR"})


@dataclass(frozen=True)
class Finding:
    """One pkilint finding: severity, pkilint's code, optional message, and the node's path."""

    severity: Severity
    code: str
    message: str | None
    path: str

    def __str__(self) -> str:
        text = f"{self.severity} {self.code} at {self.path}"
        return f"{text}: {self.message}" if self.message else text


class LintError(CaError):
    """A structure psre was about to sign or publish has blocking lint findings."""

    code = "lint_failed"

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        listed = "; ".join(str(f) for f in self.findings)
        super().__init__(f"lint failed with {len(self.findings)} blocking finding(s): {listed}")


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that must stop issuance: FATAL and ERROR (a MUST of the standard broken)."""
    return [f for f in findings if f.severity in _BLOCKING]


def lint_certificate(der: bytes, lint_sets: Collection[str]) -> list[Finding]:
    """All findings (FATAL..INFO) of the given lint sets on a DER certificate, without repeats.

    ``lint_sets`` is a non-empty subset of ``LINT_SETS``; anything else is a ValueError, because
    an empty or misspelt set would silently skip the check.
    """
    from ca_core import pkilint_engine

    return pkilint_engine.lint_certificate(der, lint_sets)


def lint_crl(der: bytes) -> list[Finding]:
    """Findings of pkilint's RFC 5280 CRL linter on a DER CRL."""
    from ca_core import pkilint_engine

    return pkilint_engine.lint_crl(der)


def lint_ocsp_response(der: bytes) -> list[Finding]:
    """Findings of pkilint's RFC 6960 linter on a DER OCSP response."""
    from ca_core import pkilint_engine

    return pkilint_engine.lint_ocsp_response(der)
