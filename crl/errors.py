"""Errors of the CRL service."""

from __future__ import annotations

from ca_core.errors import CaError


class CrlError(CaError):
    """A CRL could not be built, linted, signed or published (the previous one stays served)."""

    code = "crl_error"


class CrlBusyError(CrlError):
    """Another process holds the CA's publication lease; it is publishing the same CRLs."""

    code = "crl_busy"
