"""Errors of the OCSP area."""

from __future__ import annotations

from ca_core.errors import CaError


class OcspError(CaError):
    code = "ocsp_error"


class NoResponderError(OcspError):
    """A CA has no usable signer for its OCSP responses (e.g. ``signer = "delegated"`` and no
    valid delegated responder certificate)."""

    code = "ocsp_no_responder"
