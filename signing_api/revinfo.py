"""Validation data for PAdES B-LT, taken from our own CA: no network fetch.

For every certificate of a path (signer, issuing CA; the TSA unit and its CA) the current OCSP
response and the CRL that covers it come straight from the store — the same bytes the OCSP
responder and the CRL distribution point serve. Roots need none (they are trust anchors).

The sources are the CRL and OCSP areas' contracts, ``crl.publish.crl_for_certificate`` and
``ocsp.responses.response_for_certificate``. Either may answer None (nothing published yet);
the document then carries what exists, and verification reports whether it is LTV-complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509

if TYPE_CHECKING:
    from ca_core.store import Store


@dataclass
class RevInfo:
    certs: list[asn1_x509.Certificate] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)

    def extend(self, other: RevInfo) -> None:
        for mine, theirs in (
            (self.certs, other.certs),
            (self.ocsps, other.ocsps),
            (self.crls, other.crls),
        ):
            seen = {x.dump() for x in mine}
            mine.extend(x for x in theirs if x.dump() not in seen)  # type: ignore[attr-defined]


def _sources():  # noqa: ANN202 - (crl_fn, ocsp_fn); each None while its area is absent
    try:
        from crl.publish import crl_for_certificate
    except ImportError:
        crl_for_certificate = None  # type: ignore[assignment]
    try:
        from ocsp.responses import response_for_certificate
    except ImportError:
        response_for_certificate = None  # type: ignore[assignment]
    return crl_for_certificate, response_for_certificate


def for_path(store: Store, path: Iterable[asn1_x509.Certificate]) -> RevInfo:
    """The certificates of ``path`` and, for each non-root one, its OCSP response and CRL."""
    crl_fn, ocsp_fn = _sources()
    out = RevInfo()
    for asn1_cert in path:
        out.certs.append(asn1_cert)
        if asn1_cert.self_signed != "no":
            continue  # a root is a trust anchor: nothing revokes it
        cert = x509.load_der_x509_certificate(asn1_cert.dump())
        if ocsp_fn is not None:
            resp = ocsp_fn(store, cert)
            if resp is not None:
                out.ocsps.append(asn1_ocsp.OCSPResponse.load(resp))
        if crl_fn is not None:
            crl = crl_fn(store, cert)
            if crl is not None:
                out.crls.append(asn1_crl.CertificateList.load(crl))
    return out


def available() -> bool:
    """Whether both sources exist in this build (CRL and OCSP areas merged)."""
    crl_fn, ocsp_fn = _sources()
    return crl_fn is not None and ocsp_fn is not None
