"""Where a CA's CRLs live: URL paths and file names, and which partition covers a serial.

The issuer writes these URLs into certificates (CRL DP, freshestCRL, issuingDistributionPoint)
before signing, and the HTTP endpoint serves exactly them, so the names are a pure function of
the CA name and the serial (checklist: the IDP URI is byte-identical to the certificates' DP).
"""

from __future__ import annotations

import re

# The issuer picks the partition before it signs, so ca_core owns the rule; CRLs follow it.
from ca_core.names import partition_of as partition_of

DELTA_SUFFIX = "-delta"

_PARTITION_RE = re.compile(r"(?P<ca>.+)-(?P<p>0|[1-9][0-9]{0,9})")
#: Partition numbers are stored as 32-bit integers; a larger one in a URL names no CRL.
MAX_PARTITION = 2**31 - 1


def crl_name(ca: str, kind: str = "full", partition: int | None = None) -> str:
    """The file name: ``<ca>.crl``, ``<ca>-<partition>.crl`` or ``<ca>-delta.crl``."""
    if kind == "partition":
        if partition is None:
            raise ValueError("a partition CRL needs its partition number")
        return f"{ca}-{partition}.crl"
    if kind == "delta":
        return f"{ca}{DELTA_SUFFIX}.crl"
    return f"{ca}.crl"


def crl_url(base_url: str, ca: str, kind: str = "full", partition: int | None = None) -> str:
    return f"{base_url}/crl/{crl_name(ca, kind, partition)}"


def parse_crl_name(stem: str, known_cas: set[str]) -> tuple[str, str, int] | None:
    """(ca, kind, partition) for the part of a CRL URL before ``.crl``; None if no such CRL.

    A CA's own name wins over a partition reading (a CA may be called ``ca-2``).
    """
    if stem in known_cas:
        return stem, "full", -1
    if stem.endswith(DELTA_SUFFIX) and stem[: -len(DELTA_SUFFIX)] in known_cas:
        return stem[: -len(DELTA_SUFFIX)], "delta", -1
    m = _PARTITION_RE.fullmatch(stem)
    if m and m.group("ca") in known_cas and int(m.group("p")) <= MAX_PARTITION:
        return m.group("ca"), "partition", int(m.group("p"))
    return None
