"""Vocabularies shared by the models, the CLI and the web pages.

Kept free of SQLAlchemy and cryptography (plain values and pure rules) so that ``psre --help``
and the option lists of the commands (``click.Choice``) cost nothing to build;
``ca_core.store.models`` and ``ca_core.revocation`` re-export them.
"""

from __future__ import annotations

#: RFC 5280 §5.3.1 reasons a PSrE uses. removeFromCRL is a CRL mechanism, not a request;
#: aACompromise does not apply (no attribute certificates).
REASONS = (
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
)

#: Roles of the operator console (web.operators.PERMISSIONS says what each may do).
OPERATOR_ROLES = ("ra", "auditor", "admin")


def partition_of(serial: int, partitions: int) -> int | None:
    """The partition CRL that lists ``serial``; None when CRLs are not partitioned.

    Serials are 127 random bits (ca_core.issuer.new_serial), so ``serial % n`` spreads
    certificates evenly, and the issuer knows the partition before it signs.
    """
    if partitions <= 1:
        return None
    return serial % partitions
