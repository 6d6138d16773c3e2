"""Subject names and SAN email addresses, checked against a profile before anything is signed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from policies.errors import SubjectError
from policies.schema import Profile

#: The OID of each attribute name a profile may use (policies.schema.SUBJECT_ATTRS).
SUBJECT_OIDS: dict[str, x509.ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
    "givenName": NameOID.GIVEN_NAME,
    "surname": NameOID.SURNAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "CN": NameOID.COMMON_NAME,
}


def build_subject(profile: Profile, values: Mapping[str, str]) -> x509.Name:
    """The subject DN for ``values`` (attribute name → value) under ``profile``.

    One attribute per RDN, in the profile's order. Fixed values are filled in; a value that
    differs from a fixed one, a missing required attribute, an attribute the profile does not
    name, or a value breaking the attribute's rules is refused.

    :raises SubjectError: with ``field`` = ``subject.<attr>``.
    """
    known = {f.attr for f in profile.subject}
    for attr in values:
        if attr not in known:
            raise SubjectError(f"subject.{attr}", f"not allowed by profile {profile.name}")
    rdns: list[x509.RelativeDistinguishedName] = []
    for field in profile.subject:
        where = f"subject.{field.attr}"
        value = values.get(field.attr)
        if value is not None and not isinstance(value, str):
            raise SubjectError(where, "must be a string")
        if field.fixed is not None:
            if value is not None and value != field.fixed:
                raise SubjectError(where, f"is fixed to {field.fixed!r} by profile {profile.name}")
            value = field.fixed
        if value is None:
            if field.required:
                raise SubjectError(where, f"required by profile {profile.name}")
            continue
        problem = field.problem(value)
        if problem is not None:
            raise SubjectError(where, problem)
        # The string type is chosen here, never left to cryptography's defaults, so that the
        # issuer DN of issued certificates is byte-identical to the CA's subject (RFC 5280 §7.1).
        string_type = _ASN1Type.PrintableString if field.printable else _ASN1Type.UTF8String
        attribute = x509.NameAttribute(SUBJECT_OIDS[field.attr], value, _type=string_type)
        rdns.append(x509.RelativeDistinguishedName([attribute]))
    return x509.Name(rdns)


# RFC 5321 §4.1.2 Dot-string local part made of atext (RFC 5322 §3.2.3). Quoted-string local
# parts are valid SMTP but no mailbox we validate uses one; refusing them keeps the check simple.
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# RFC 5321 §4.1.2 sub-domain = Let-dig [Ldh-str]; RFC 1035 §2.3.4: a label is 1..63 octets.
_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def mailbox_problem(address: str) -> str | None:
    if not address.isascii():
        # rfc822Name is an IA5String (RFC 5280 §4.2.1.6); SmtpUTF8Mailbox (RFC 9598) is not
        # supported, so internationalised domains must be given as A-labels (xn--…).
        return "must be ASCII"
    # RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets (which
    # also keeps the domain under the 255 octets of §4.5.3.1.2).
    if len(address) > 254:
        return "longer than 254 characters"
    if address.count("@") != 1:
        return "must be local-part@domain"
    local, domain = address.split("@")
    if not 1 <= len(local) <= 64:  # RFC 5321 §4.5.3.1.1
        return "local part must be 1 to 64 characters"
    if not _LOCAL_RE.fullmatch(local):
        return "local part is not an RFC 5321 dot-string"
    labels = domain.split(".")
    # A public mailbox has a registered domain, so at least two labels; address literals
    # ([192.0.2.1]) fail the label rule.
    if len(labels) < 2:
        return "domain must have at least two labels"
    for label in labels:
        if not _LABEL_RE.fullmatch(label):
            return f"domain label {label!r} is not a valid host name label"
    if labels[-1].isdigit():
        return "top-level domain must not be all-numeric"
    return None


def check_emails(profile: Profile, emails: Sequence[str]) -> list[str]:
    """Check SAN email addresses against ``profile``; return them with lower-cased domains.

    The local part is kept as given (it is case-sensitive, RFC 5321 §2.4); the domain is not.

    :raises SubjectError: with ``field`` = ``san.email``.
    """
    where = "san.email"
    if isinstance(emails, str):
        raise SubjectError(where, "must be a list of addresses, not one string")
    if emails and profile.san_email == "forbidden":
        raise SubjectError(where, f"not allowed by profile {profile.name}")
    if not emails and profile.san_email == "required":
        raise SubjectError(where, f"required by profile {profile.name}")
    result: list[str] = []
    for address in emails:
        if not isinstance(address, str):
            raise SubjectError(where, "must be a string")
        problem = mailbox_problem(address)
        if problem is not None:
            raise SubjectError(where, f"{address!r}: {problem}")
        local, domain = address.split("@")
        normalised = f"{local}@{domain.lower()}"
        if normalised in result:
            raise SubjectError(where, f"{address!r}: duplicate address")
        result.append(normalised)
    return result
