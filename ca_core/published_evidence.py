"""What relying parties were shown: read back from a copy of the published repository.

A database restored from a backup has forgotten everything after the backup, but the public
repository (``data_dir/public`` as the web server or CDN serves it: the CRL files and the
pre-signed OCSP responses) has not: it holds, signed by our own keys,

* the highest CRL number of each CA ever handed out (all of a CA's CRLs — complete, partition,
  delta — share one number sequence, so the highest number among its files is the last one
  published; this is the high-water mark kept outside the database),
* every revocation and hold since (CRL entries, OCSP revoked responses), and
* every serial issued since (each issued certificate gets a pre-signed OCSP response at once).

Only objects whose signature verifies under one of our CA keys (or a delegated responder the
CA certified) count: a copy fetched from a mirror must not be able to plant serials or numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from ca_core.store import serial_hex
from ca_core.store.models import CertificateAuthority

log = logging.getLogger(__name__)

#: RFC 6960 §2.2 "extended revoked" for a serial never issued: revoked, certificateHold, at
#: the epoch. Such a response names no real certificate.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Revocation:
    serial_hex: str
    revoked_at: dt.datetime
    #: RFC 5280 reason name (``unspecified`` when the CRL entry carries none).
    reason: str
    invalidity_date: dt.datetime | None
    found_in: str


@dataclass
class CaEvidence:
    """What the published repository says about one CA."""

    ca: str
    crl_high_water: int = 0
    crl_high_water_in: str = ""
    #: Final revocations (every reason but certificateHold), from any CRL or OCSP response.
    revoked: dict[str, Revocation] = field(default_factory=dict)
    #: Holds in force in the newest CRL/OCSP response that speaks of the serial.
    held: dict[str, Revocation] = field(default_factory=dict)
    #: Every serial any object names as issued -> where it was seen.
    seen: dict[str, str] = field(default_factory=dict)


@dataclass
class _CaKeys:
    ca: CertificateAuthority
    cert: x509.Certificate
    key_hashes: set[bytes]


def read_repository(
    root: Path, cas: Iterable[CertificateAuthority], *, since: dt.datetime | None = None
) -> dict[str, CaEvidence]:
    """Evidence per CA name from a published repository at ``root`` (with ``crl/`` and
    ``ocsp/`` below it, the layout of ``data_dir/public``).

    OCSP responses produced before ``since`` are skipped before their signature is checked
    (two per certificate: most of the repository): they show what the backup already holds."""
    keys = [_ca_keys(ca) for ca in cas if ca.certificate_der is not None]
    out = {k.ca.name: CaEvidence(k.ca.name) for k in keys}
    crl_dir = root / "crl"
    loaded = [_load_crl(p, keys) for p in sorted(crl_dir.glob("*.crl"))] if crl_dir.is_dir() else []
    # In number order (one sequence per CA): a later complete CRL or delta decides a hold.
    for number, path, owner, crl in sorted(c for c in loaded if c is not None):
        _read_crl(path.name, number, crl, out[owner.ca.name])
    ocsp_dir = root / "ocsp"
    if ocsp_dir.is_dir():
        for path in ocsp_dir.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp"):
                _read_ocsp(path, keys, out, since)
    return out


def _ca_keys(ca: CertificateAuthority) -> _CaKeys:
    assert ca.certificate_der is not None
    pub = asn1_x509.Certificate.load(ca.certificate_der).public_key
    return _CaKeys(ca, x509.load_der_x509_certificate(ca.certificate_der), {pub.sha1, pub.sha256})


def _verify(signer: x509.Certificate, signature: bytes, data: bytes, hash_alg: object) -> bool:
    key = signer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_alg))  # type: ignore[arg-type]
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hash_alg)  # type: ignore[arg-type]
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _load_crl(
    path: Path, keys: list[_CaKeys]
) -> tuple[int, Path, _CaKeys, x509.CertificateRevocationList] | None:
    try:
        crl = x509.load_der_x509_crl(path.read_bytes())
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (ValueError, x509.ExtensionNotFound):
        log.warning("%s is not a DER CRL with a CRL number; ignored", path)
        return None
    for k in keys:
        if k.cert.subject == crl.issuer and crl.is_signature_valid(k.cert.public_key()):  # type: ignore[arg-type]
            return number, path, k, crl
    log.warning("%s is not signed by any of our CAs; ignored", path)
    return None


def _read_crl(name: str, number: int, crl: x509.CertificateRevocationList, ev: CaEvidence) -> None:
    where = f"crl:{name}#{number}"
    if number > ev.crl_high_water:
        ev.crl_high_water, ev.crl_high_water_in = number, where
    delta, partition = _has(crl, x509.DeltaCRLIndicator), _has(crl, x509.IssuingDistributionPoint)
    if not delta and not partition:
        ev.held.clear()  # the complete list: whatever it does not hold is not on hold
    for entry in crl:
        sh = serial_hex(entry.serial_number)
        reason = _entry_reason(entry)
        if reason == "removeFromCRL":  # a delta: the hold was released
            ev.held.pop(sh, None)
            continue
        ev.seen.setdefault(sh, where)
        rev = Revocation(sh, entry.revocation_date_utc, reason, _invalidity(entry), where)
        if reason == "certificateHold":
            if not partition:
                ev.held[sh] = rev
        elif sh not in ev.revoked or rev.revoked_at < ev.revoked[sh].revoked_at:
            ev.revoked[sh] = rev


def _has(crl: x509.CertificateRevocationList, ext: type[x509.ExtensionType]) -> bool:
    try:
        crl.extensions.get_extension_for_class(ext)
    except x509.ExtensionNotFound:
        return False
    return True


def _entry_reason(entry: x509.RevokedCertificate) -> str:
    try:
        flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return "unspecified"
    return str(flag.value)


def _invalidity(entry: x509.RevokedCertificate) -> dt.datetime | None:
    try:
        return entry.extensions.get_extension_for_class(
            x509.InvalidityDate
        ).value.invalidity_date_utc
    except x509.ExtensionNotFound:
        return None


def _read_ocsp(
    path: Path, keys: list[_CaKeys], out: dict[str, CaEvidence], since: dt.datetime | None
) -> None:
    try:
        resp = ocsp.load_der_ocsp_response(path.read_bytes())
        if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return
        if since is not None and resp.produced_at_utc < since:
            return
        key_hash = resp.issuer_key_hash
    except ValueError:
        return
    owner = next((k for k in keys if key_hash in k.key_hashes), None)
    if owner is None or not _ocsp_signed_by(resp, owner):
        log.warning("%s is not an OCSP response signed for one of our CAs; ignored", path)
        return
    ev = out[owner.ca.name]
    sh = serial_hex(resp.serial_number)
    status = resp.certificate_status
    if status == ocsp.OCSPCertStatus.REVOKED:
        when = resp.revocation_time_utc
        flag = resp.revocation_reason
        reason = str(flag.value) if flag is not None else "unspecified"
        if when is not None and when <= _EPOCH and reason == "certificateHold":
            return  # "extended revoked": a serial never issued
        if when is None:
            return
        rev = Revocation(sh, when, reason, None, "ocsp")
        if reason == "certificateHold":
            ev.held.setdefault(sh, rev)
        elif sh not in ev.revoked:
            ev.revoked[sh] = rev
    ev.seen.setdefault(sh, "ocsp")


def _ocsp_signed_by(resp: ocsp.OCSPResponse, owner: _CaKeys) -> bool:
    hash_alg = resp.signature_hash_algorithm
    signer = owner.cert
    for cert in resp.certificates:  # a delegated responder, certified by this CA
        try:
            cert.verify_directly_issued_by(owner.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        signer = cert
    return _verify(signer, resp.signature, resp.tbs_response_bytes, hash_alg)


def merge(*sources: dict[str, CaEvidence]) -> dict[str, CaEvidence]:
    """Evidence from several copies of the repository: the highest CRL number, every revocation
    (the earliest time for each serial), every hold and every serial any of them shows."""
    out: dict[str, CaEvidence] = {}
    for source in sources:
        for name, ev in source.items():
            into = out.setdefault(name, CaEvidence(name))
            if ev.crl_high_water > into.crl_high_water:
                into.crl_high_water, into.crl_high_water_in = (
                    ev.crl_high_water,
                    ev.crl_high_water_in,
                )
            for sh, rev in ev.revoked.items():
                if sh not in into.revoked or rev.revoked_at < into.revoked[sh].revoked_at:
                    into.revoked[sh] = rev
            for sh, rev in ev.held.items():
                into.held.setdefault(sh, rev)
            for sh, where in ev.seen.items():
                into.seen.setdefault(sh, where)
    return out
