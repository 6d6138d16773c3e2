"""The PSrE Induk's national trusted list (issue 21): ETSI TS 119 612 XML, XAdES-signed in the
HSM, and the same content as JSON.

What is on it: every CA the Induk recognizes (``recognized_cas``): each licensed PSrE's CA as a
trust service provider with one service (its CA certificate as the service digital identity,
status granted or withdrawn since a date, the PSrE's base URL as supply point), and each
cross-certified foreign root likewise. The XML is built with lxml and signed with signxml's
XAdESSigner: an enveloped signature (TS 119 612 §5.7.1, XAdES baseline B), exclusive C14N by
lxml — nothing canonicalised or encoded by hand. The signing key is the newest good
``tl-signer`` certificate's HSM key (made by the ``tl-signer`` ceremony step), driven through
hsm.keys' cryptography-compatible key, so signxml signs in the HSM without ever seeing a key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from lxml import etree

from ca_core.clock import Clock, utcnow
from ca_core.errors import CaError
from ca_core.recognized import Recognized, list_recognized
from ca_core.store import ReadOnlyStore, service_certs
from policies.roles import names_with_role

if TYPE_CHECKING:
    from ca_core.store.audit_log import AuditLog
    from hsm.backend import KeyBackend

TSL_NS = "http://uri.etsi.org/02231/v2#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_STATUS = {
    "granted": "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted",
    "withdrawn": "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn",
}
_SERVICE_TYPE = {
    # A CA issuing (non-qualified, under Indonesian law) public key certificates.
    "psre": "http://uri.etsi.org/TrstSvc/Svctype/CA/PKC",
    "foreign-root": "http://uri.etsi.org/TrstSvc/Svctype/CA/PKC",
}
_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#: TS 119 612 §5.3.14: the next list is issued at most this long after this one.
NEXT_UPDATE = dt.timedelta(days=30)


class TrustedListError(CaError):
    code = "trusted_list"


@dataclass(frozen=True)
class Published:
    xml_path: Path
    json_path: Path
    sequence: int
    entries: int
    sha256: str


def public_dir(data_path: Path) -> Path:
    """Where the published list lives under the data directory ``data_path`` (served at /tl/)."""
    return data_path / "public" / "tl"


def _signer(
    store: ReadOnlyStore, now: dt.datetime
) -> tuple[str, x509.Certificate, list[x509.Certificate]]:
    """(HSM key label, certificate, its issuer chain) of the newest tl-signer good at ``now``."""
    # The certificate whose HSM key signs the list: role trusted-list-signer.
    row = service_certs.newest_with_key(store, names_with_role("trusted-list-signer"), now)
    if row is None:
        raise TrustedListError(
            "no trusted-list signing certificate: run a ceremony with a tl-signer step"
        )
    label, der, issuer_id = row.key_label, row.der, row.issuer_id
    chain = []
    by_id = {ca.id: ca for ca in store.list_cas()}
    at: int | None = issuer_id
    while at is not None and at in by_id:
        ca_der = by_id[at].certificate_der
        if ca_der is None:
            break
        chain.append(x509.load_der_x509_certificate(ca_der))
        at = by_id[at].parent_id
    assert label is not None
    return label, x509.load_der_x509_certificate(der), chain


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def content(
    store: ReadOnlyStore, base_url: str, sequence: int, issued: dt.datetime
) -> dict[str, Any]:
    """The list as data (the JSON form; the XML is made from it); its files are published
    under ``base_url``/tl/."""
    return {
        "scheme_territory": "ID",
        "scheme_operator": "PSrE Induk (Root CA Indonesia)",
        "scheme_name": "ID: national trusted list of recognized PSrEs",
        "sequence_number": sequence,
        "list_issue_date_time": _z(issued),
        "next_update": _z(issued + NEXT_UPDATE),
        "distribution_points": [f"{base_url}/tl/tl.xml", f"{base_url}/tl/tl.json"],
        "providers": [_entry(r) for r in list_recognized(store)],
    }


def _entry(r: Recognized) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(r.certificate_der)
    since = r.withdrawn_at if r.status == "withdrawn" and r.withdrawn_at else r.granted_at
    return {
        "name": r.name,
        "kind": r.kind,
        "provider": r.display_name,
        "service_type": _SERVICE_TYPE[r.kind],
        "service_name": cert.subject.rfc4514_string(),
        "status": r.status,
        "status_uri": _STATUS[r.status],
        "status_starting_time": _z(since),
        "granted_at": _z(r.granted_at),
        "withdrawn_at": _z(r.withdrawn_at) if r.withdrawn_at else None,
        "service_url": r.service_url,
        "certificate_sha256": r.fingerprint_sha256,
        "certificate": base64.b64encode(r.certificate_der).decode(),
    }


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> Any:
    e = etree.SubElement(parent, f"{{{TSL_NS}}}{tag}", attrib=attrs)
    if text is not None:
        e.text = text
    return e


def _names(parent: etree._Element, tag: str, text: str) -> None:
    holder = _el(parent, tag)
    _el(holder, "Name", text).set(XML_LANG, "en")


def build_xml(data: dict[str, Any]) -> etree._Element:
    """The unsigned TrustServiceStatusList (ETSI TS 119 612 §5, version 5)."""
    root = etree.Element(
        f"{{{TSL_NS}}}TrustServiceStatusList",
        nsmap={None: TSL_NS},
        Id="tsl",
        TSLTag="http://uri.etsi.org/19612/TSLTag",
    )
    si = _el(root, "SchemeInformation")
    _el(si, "TSLVersionIdentifier", "5")
    _el(si, "TSLSequenceNumber", str(data["sequence_number"]))
    _el(si, "TSLType", "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/CClist")
    _names(si, "SchemeOperatorName", data["scheme_operator"])
    _names(si, "SchemeName", data["scheme_name"])
    uri = _el(si, "SchemeInformationURI")
    _el(uri, "URI", data["distribution_points"][0]).set(XML_LANG, "en")
    _el(
        si,
        "StatusDeterminationApproach",
        "http://uri.etsi.org/TrstSvc/TrustedList/StatusDetn/CClist",
    )
    _el(si, "SchemeTerritory", data["scheme_territory"])
    _el(si, "HistoricalInformationPeriod", "65535")
    _el(si, "ListIssueDateTime", data["list_issue_date_time"])
    nu = _el(si, "NextUpdate")
    _el(nu, "dateTime", data["next_update"])
    dp = _el(si, "DistributionPoints")
    for url in data["distribution_points"]:
        _el(dp, "URI", url)
    providers = _el(root, "TrustServiceProviderList")
    for p in data["providers"]:
        tsp = _el(providers, "TrustServiceProvider")
        info = _el(tsp, "TSPInformation")
        _names(info, "TSPName", p["provider"])
        if p["service_url"]:
            tsp_uri = _el(info, "TSPInformationURI")
            _el(tsp_uri, "URI", p["service_url"]).set(XML_LANG, "en")
        services = _el(tsp, "TSPServices")
        service = _el(_el(services, "TSPService"), "ServiceInformation")
        _el(service, "ServiceTypeIdentifier", p["service_type"])
        _names(service, "ServiceName", p["service_name"])
        identity = _el(_el(service, "ServiceDigitalIdentity"), "DigitalId")
        _el(identity, "X509Certificate", p["certificate"])
        _el(service, "ServiceStatus", p["status_uri"])
        _el(service, "StatusStartingTime", p["status_starting_time"])
        if p["service_url"]:
            points = _el(service, "ServiceSupplyPoints")
            _el(points, "ServiceSupplyPoint", p["service_url"])
    return root


def sign_xml(
    store: ReadOnlyStore, backend: KeyBackend, root: etree._Element, *, now: dt.datetime
) -> bytes:
    """``root`` with an enveloped XAdES signature made by the HSM key (in ``backend``) of the
    tl-signer good at ``now``."""
    from signxml import SignatureMethod
    from signxml.xades import XAdESSigner

    from hsm.keys import HsmECPrivateKey, private_key

    label, cert, chain = _signer(store, now)
    key = private_key(backend, label)
    if isinstance(key, HsmECPrivateKey):
        method = (
            SignatureMethod.ECDSA_SHA384
            if key.curve.name == "secp384r1"
            else SignatureMethod.ECDSA_SHA256
        )
    else:
        method = SignatureMethod.RSA_SHA256
    # Inclusive C14N 1.0: the algorithm XML-DSig applies by default to a reference without
    # transforms (XAdES's SignedProperties and KeyInfo references), so every reference is
    # canonicalised alike by any verifier (xmlsec1 included).
    signer = XAdESSigner(signature_algorithm=method, c14n_algorithm=_C14N)
    signed = signer.sign(root, key=key, cert=[cert, *chain])
    out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return out


def _next_sequence(out: Path) -> int:
    try:
        return int(json.loads((out / "tl.json").read_text(encoding="utf-8"))["sequence_number"]) + 1
    except (OSError, ValueError, KeyError, TypeError):
        return 1


def publish(
    store: ReadOnlyStore,
    backend: KeyBackend,
    audit: AuditLog,
    *,
    base_url: str,
    out_dir: Path,
    actor: str,
    clock: Clock = utcnow,
) -> Published:
    """Sign and write ``tl.xml`` and ``tl.json`` into ``out_dir`` (``public_dir`` for the one
    served at /tl/); the publication is audited in ``audit``. The list is read from ``store``
    and signed with the tl-signer's key in ``backend``."""
    out = out_dir
    out.mkdir(parents=True, exist_ok=True)
    sequence = _next_sequence(out)
    issued = clock().replace(microsecond=0)
    data = content(store, base_url, sequence, issued)
    xml = sign_xml(store, backend, build_xml(data), now=issued)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    xml_path, json_path = out / "tl.xml", out / "tl.json"
    for path, body in ((xml_path, xml), (json_path, text.encode("utf-8"))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(body)
        tmp.replace(path)  # readers see the old list or the new one, never half of one
    digest = hashlib.sha256(xml).hexdigest()
    audit.append(
        actor,
        "trusted_list.publish",
        "trusted-list:ID",
        {"sequence": sequence, "entries": len(data["providers"]), "xml_sha256": digest},
    )
    return Published(xml_path, json_path, sequence, len(data["providers"]), digest)
