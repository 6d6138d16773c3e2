"""CA-level certificates: which they are, and the authorisation a change of their status needs.

Revoking or suspending a CA, the OCSP responder or the time-stamping unit ends (or halts) every
signature and answer beneath it, so no single person may do it (issue 15; EJBCA's approval
profiles and ETSI EN 319 411-1 §6.2 "trusted roles, dual control" are the model). The
:class:`~ca_core.revocation.Revoker` refuses such a change unless it carries an
:class:`Authorisation`, which only two code paths make: a witnessed key-ceremony step
(``revoke-ca`` / ``suspend-ca`` / ``release-ca``) and an approval by a second admin
(:mod:`ca_core.approvals`). The console's RA role, the CLI and the API never pass one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ca_core.errors import CaError
from ca_core.store import ReadOnlyStore, Tx
from ca_core.store.models import Certificate, CertificateAuthority
from ca_core.store.revocations import StatusTx, is_ca_certificate
from policies.roles import ca_level_names

#: Profiles of CA-level certificates: the CAs themselves (ours, a recognized PSrE's, a foreign
#: root's cross certificate), their delegated OCSP and TSA units, the trusted-list signer.
CA_LEVEL_PROFILES = ca_level_names()

AUTHORISATION_KINDS = ("ceremony", "dual-control")


class CaLevelProtected(CaError):
    """A CA-level certificate's status change without a ceremony or a second admin."""

    code = "ca_certificate_protected"


@dataclass(frozen=True)
class Authorisation:
    """Why a CA-level status change may happen: which ceremony step or which approval, and
    the people behind it (ceremony operator and witnesses; proposer and approver)."""

    kind: str
    reference: str
    people: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in AUTHORISATION_KINDS:
            raise ValueError(f"unknown authorisation kind {self.kind!r}")
        if len(set(self.people)) < 2:
            # One person is exactly what this is meant to exclude.
            raise ValueError("a CA-level authorisation names at least two different people")

    def as_details(self) -> dict[str, Any]:
        return {"kind": self.kind, "reference": self.reference, "people": list(self.people)}


def is_ca_level_among(cert: Certificate, cas: Iterable[CertificateAuthority]) -> bool:
    """:func:`is_ca_level` with the CA list at hand (the console reads it once per page)."""
    return cert.profile in CA_LEVEL_PROFILES or any(
        ca.fingerprint_sha256 == cert.fingerprint_sha256 for ca in cas
    )


def is_ca_level(source: ReadOnlyStore | Tx, cert: Certificate) -> bool:
    """By profile, or because it is a CA's own certificate (whatever profile made it).

    ``source`` is the store, or a transaction the caller already holds."""
    if cert.profile in CA_LEVEL_PROFILES:
        return True
    return is_ca_certificate(source, cert.fingerprint_sha256)


def guard(tx: StatusTx, authorisation: Authorisation | None) -> None:
    """Refuse the status change in ``tx`` if it is CA-level and nobody authorised it."""
    cert = tx.cert
    if authorisation is None and (
        cert.profile in CA_LEVEL_PROFILES or tx.is_ca_level_certificate()
    ):
        raise CaLevelProtected(
            f"certificate {cert.serial_hex} is a CA-level certificate ({cert.profile}): its "
            "status changes only in a key ceremony (revoke-ca / suspend-ca / release-ca step) "
            "or when one admin proposes and another approves (console, Approvals)"
        )
