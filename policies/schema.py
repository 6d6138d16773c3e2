"""Certificate profiles as data: frozen dataclasses and a strict loader for ``profiles/*.toml``.

A profile file is the machine-readable half of the CP/CPS (section 7.1): the issuer builds
certificates from it and ``policies.render`` publishes it. The loader therefore refuses anything it
does not understand — an unknown key, a wrong type, a value the issuer could not honour — with the
file, the key path and the reason, rather than guessing (the same stance as Boulder's ceremony
files and pyHanko's config: unknown keys are errors).

TOML layout (key paths in errors use these names)::

    name, kind, role, description, key_types, max_validity_days, lint, cp_section
    [[subject]]            attr, required, fixed?, pattern?, max_length, printable?
    [san]                  email
    [key_usage]            usages, rsa_extra?
    [extended_key_usage]?  oids, critical
    [basic_constraints]    ca, path_length?
    [certificate_policies]? oids, cps_uri
    [qc_statements]?       types, cc_legislation
    [name_constraints]?    permitted_countries, critical   (CA profiles only)
    [extensions]           crl_distribution_points, aia_ocsp, aia_ca_issuers, ocsp_nocheck,
                           subject_key_identifier, authority_key_identifier
    [subscriber]?          kinds, subject, emails   (subscriber roles only)

``?`` marks optional keys and tables; everything else is required.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

from policies import strict_toml
from policies.errors import ProfileError

#: Where the shipped profiles live (installed as package data).
PROFILES_DIR = Path(__file__).parent / "profiles"

Kind = Literal["root", "intermediate", "end-entity"]
SanEmail = Literal["required", "optional", "forbidden"]
#: What a certificate of the profile is for; code asks for profiles by role, never by name.
#: ``ca`` is this PSrE's own (root or issuing, told apart by kind); ``subordinate-ca`` a
#: recognized PSrE's CA and ``cross-ca`` a foreign root, both certified by the PSrE Induk.
Role = Literal[
    "ca",
    "subordinate-ca",
    "cross-ca",
    "ocsp-responder",
    "tsa",
    "trusted-list-signer",
    "subscriber-signing",
    "seal",
    "smime",
]
#: Roles of CA certificates (kind root or intermediate); every other role is an end entity.
CA_ROLES: tuple[Role, ...] = ("ca", "subordinate-ca", "cross-ca")
#: Roles whose certificates are issued to subscriber records (they need a [subscriber] table).
SUBSCRIBER_ROLES: tuple[Role, ...] = ("subscriber-signing", "seal", "smime")
#: Roles of CA-level certificates: the CAs and the units that answer for them.
CA_LEVEL_ROLES: tuple[Role, ...] = (*CA_ROLES, "ocsp-responder", "tsa", "trusted-list-signer")
#: Kinds of subscriber record (ca_core.store.models.Subscriber.kind).
SUBSCRIBER_KINDS = ("person", "agency")
#: Fields of a subscriber record a [subscriber] template may use: the record's own, plus the
#: name split at its last space (ETSI EN 319 412-2 §4.2.4: one given name is enough, and many
#: Indonesians have one name, so a one-word name is a given name with no surname).
RECORD_FIELDS = (
    "name",
    "email",
    "nik",
    "agency",
    "organization_identifier",
    "given_name",
    "surname",
)
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")

KEY_TYPES = ("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384")
#: Argument names of ``cryptography.x509.KeyUsage`` that a profile may assert.
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "key_cert_sign",
    "crl_sign",
)
LINTERS = ("pkix", "etsi", "cabf_smime")
#: ETSI EN 319 412-5 §4.2.3 QcType values (id-etsi-qct-*).
QC_TYPES = {"esign": "0.4.0.1862.1.6.1", "eseal": "0.4.0.1862.1.6.2"}

EKU_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
EKU_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
#: CA/B Forum S/MIME BR §7.1.6.1 reserved certificate policy identifiers (2.23.140.1.5.*).
SMIME_BR_POLICY_ARC = "2.23.140.1.5."

#: Subject attributes a profile may name, with their upper bound in characters: RFC 5280
#: Appendix A (ub-*; X.520 ub-name for givenName/surname). organizationIdentifier is an
#: UnboundedDirectoryString (X.520 §6.4.4), so the profile's max_length is the only bound.
SUBJECT_ATTRS: dict[str, int | None] = {
    "C": 2,
    "ST": 128,
    "L": 128,
    "O": 64,
    "OU": 64,
    "organizationIdentifier": None,
    "givenName": 32768,
    "surname": 32768,
    "serialNumber": 64,
    "CN": 64,
}
#: X.520 defines countryName and serialNumber as PrintableString only (RFC 5280 Appendix A).
ALWAYS_PRINTABLE = frozenset({"C", "serialNumber"})

# X.680 §41.4 PrintableString: A-Z a-z 0-9 space ' ( ) + , - . / : = ?  — notably no "&", "@",
# "_" or "*" (a ceremony-made certificate once carried "&" in a PrintableString).
_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
# Unicode general categories allowed in a UTF8String value: letters, marks, numbers,
# punctuation, symbols and ordinary spaces. Control, format (bidi overrides, zero-width),
# surrogate, private-use and unassigned characters make a name that displays differently from
# what it is, and lone surrogates cannot be encoded at all.
_UTF8_CATEGORIES = ("L", "M", "N", "P", "S", "Zs")
# X.660: dotted decimal, first arc 0-2, no leading zeros.
_OID_RE = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_NAME_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class SubjectField:
    """One subject attribute of a profile (one attribute per RDN, in DN order)."""

    attr: str
    required: bool
    fixed: str | None
    pattern: str | None  # full-match regular expression
    max_length: int  # characters (for PrintableString, also octets)
    printable: bool  # PrintableString; otherwise UTF8String (RFC 5280 §4.1.2.6)

    def problem(self, value: str) -> str | None:
        """Why ``value`` cannot be this attribute's value, or ``None`` if it can."""
        if not value:
            return "must not be empty"  # DirectoryString is SIZE (1..MAX), RFC 5280 App. A
        if self.printable:
            bad = next((c for c in value if c not in _PRINTABLE), None)
            if bad is not None:
                return (
                    f"character {bad!r} is not allowed in a PrintableString "
                    "(A-Z a-z 0-9 space ' ( ) + , - . / : = ?)"
                )
        else:
            for c in value:
                category = unicodedata.category(c)
                if not category.startswith(_UTF8_CATEGORIES):
                    return f"character U+{ord(c):04X} (category {category}) is not allowed"
            # Names are compared after normalisation (RFC 5280 §7.1, RFC 4518): accepting NFC
            # only gives one visible name one encoding.
            if unicodedata.normalize("NFC", value) != value:
                return "must be in Unicode normalisation form NFC"
        if value != value.strip():
            return "must not start or end with whitespace"
        if len(value) > self.max_length:
            return f"longer than {self.max_length} characters"
        if self.attr == "C" and not _COUNTRY_RE.fullmatch(value):
            return "must be an ISO 3166-1 alpha-2 code in capitals"
        # cryptography bounds commonName by its UTF-8 octets (1..64), stricter than the
        # characters of RFC 5280's ub-common-name for non-ASCII names.
        if self.attr == "CN" and len(value.encode("utf-8")) > 64:
            return "longer than 64 octets in UTF-8"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"does not match the pattern {self.pattern}"
        return None


@dataclass(frozen=True)
class SubscriberMapping:
    """How a subscriber record becomes a certificate's subject and SAN e-mails.

    Each template is text with ``{field}`` placeholders (RECORD_FIELDS). A subject attribute
    whose template comes out empty is left out when the profile does not require it, and kept
    (so that issuance names it as empty) when it does.
    """

    kinds: tuple[str, ...]
    subject: tuple[tuple[str, str], ...]  # (attribute, template), in the profile's DN order
    emails: tuple[str, ...]

    def apply(
        self, profile: Profile, record: dict[str, str | None]
    ) -> tuple[dict[str, str], list[str]]:
        values = {k: v or "" for k, v in record.items()}
        required = {f.attr for f in profile.subject if f.required}
        subject: dict[str, str] = {}
        for attr, template in self.subject:
            value = _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), ""), template)
            if value or attr in required:
                subject[attr] = value
        emails = [e for e in (_PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), ""), t)
                              for t in self.emails) if e]  # fmt: skip
        return subject, emails


@dataclass(frozen=True)
class Profile:
    """A certificate profile: everything the issuer may put in a certificate of this kind."""

    name: str
    description: str
    kind: Kind
    role: Role
    key_types: tuple[str, ...]
    max_validity_days: int  # inclusive validity: notAfter - notBefore + 1 s <= this many days
    subject: tuple[SubjectField, ...]
    san_email: SanEmail
    key_usage: tuple[str, ...]
    key_usage_rsa_extra: tuple[str, ...]
    eku: tuple[str, ...]
    eku_critical: bool
    ca: bool
    path_length: int | None
    policy_oids: tuple[str, ...]
    cps_uri: bool
    qc_types: tuple[str, ...]
    qc_cc_legislation: tuple[str, ...]
    crl_dp: bool
    aia_ocsp: bool
    aia_ca_issuers: bool
    ocsp_nocheck: bool
    ski: bool
    aki: bool
    lint: tuple[str, ...]
    cp_section: str
    subscriber: SubscriberMapping | None = None
    #: nameConstraints (RFC 5280 §4.2.1.10): permitted directoryName subtrees ``C=<code>``,
    #: what a root allows a subordinate PSrE to name (e.g. only Indonesian subjects).
    nc_permitted_countries: tuple[str, ...] = ()
    nc_critical: bool = True


_MISSING = object()
_TOML_TYPES = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    list: "an array",
    dict: "a table",
}


def _toml_type(value: object) -> str:
    for kind, text in _TOML_TYPES.items():
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return text
    return f"a {type(value).__name__}"


class _Table:
    """One TOML table being read; keys outside ``keys`` are refused up front."""

    def __init__(self, file: str, path: str, data: dict[str, Any], keys: Iterable[str]) -> None:
        self.file = file
        self.path = path
        self._data = data
        for key in strict_toml.unknown_keys(data, keys):
            raise self.error(key, "unknown key")

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self._data

    def error(self, name: str, reason: str) -> ProfileError:
        return ProfileError(self.file, self.key(name), reason)

    def get(self, name: str, kind: type, default: Any = _MISSING) -> Any:
        if name not in self._data:
            if default is _MISSING:
                raise self.error(name, "required key is missing")
            return default
        value = self._data[name]
        # bool is an int subclass in Python: a TOML `true` must not pass for an integer.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(name, f"must be {_TOML_TYPES[kind]}, not {_toml_type(value)}")
        return value

    def strings(self, name: str, default: Any = _MISSING) -> tuple[str, ...]:
        """An array of distinct strings."""
        values = self.get(name, list, default)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise self.error(f"{name}[{i}]", f"must be a string, not {_toml_type(value)}")
            if value in values[:i]:
                raise self.error(f"{name}[{i}]", f"duplicate value {value!r}")
        return tuple(values)

    def choices(
        self, name: str, allowed: Iterable[str], default: Any = _MISSING
    ) -> tuple[str, ...]:
        """An array of distinct strings, each one of ``allowed``."""
        options = tuple(allowed)
        values = self.strings(name, default)
        for i, value in enumerate(values):
            if value not in options:
                raise self.error(
                    f"{name}[{i}]", f"unknown value {value!r} (one of: {', '.join(options)})"
                )
        return values

    def oids(self, name: str, default: Any = _MISSING) -> tuple[str, ...]:
        values = self.strings(name, default)
        for i, value in enumerate(values):
            if not _is_oid(value):
                raise self.error(f"{name}[{i}]", f"malformed object identifier {value!r}")
        return values

    def table(self, name: str, keys: Iterable[str], *, optional: bool = False) -> _Table:
        data = self.get(name, dict, {} if optional else _MISSING)
        return _Table(self.file, self.key(name), data, keys)


def _is_oid(value: str) -> bool:
    if not _OID_RE.fullmatch(value):
        return False
    arcs = [int(a) for a in value.split(".")]
    # X.660 §A.3: under arcs 0 and 1 the second arc is at most 39.
    return arcs[0] == 2 or arcs[1] <= 39


def _subject_field(table: _Table) -> SubjectField:
    attr = table.get("attr", str)
    if attr not in SUBJECT_ATTRS:
        raise table.error(
            "attr", f"unknown attribute {attr!r} (one of: {', '.join(SUBJECT_ATTRS)})"
        )
    printable = table.get("printable", bool, attr in ALWAYS_PRINTABLE)
    if attr in ALWAYS_PRINTABLE and not printable:
        raise table.error("printable", f"{attr} is always a PrintableString (X.520)")
    max_length = table.get("max_length", int)
    bound = SUBJECT_ATTRS[attr]
    if max_length < 1 or (bound is not None and max_length > bound):
        limit = f"1..{bound}" if bound is not None else "at least 1"
        raise table.error("max_length", f"must be {limit} for {attr}")
    pattern = table.get("pattern", str, None)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as ex:
            raise table.error("pattern", f"invalid regular expression: {ex}") from ex
    required = table.get("required", bool)
    fixed = table.get("fixed", str, None)
    field = SubjectField(attr, required, fixed, pattern, max_length, printable)
    if fixed is not None:
        if not required:
            raise table.error("required", "a fixed attribute is always present: must be true")
        problem = field.problem(fixed)
        if problem is not None:
            raise table.error("fixed", problem)
    return field


def _profile(file: str, stem: str, data: dict[str, Any]) -> Profile:
    top = _Table(file, "", data, _PROFILE_KEYS)
    # Section by section, in the file's order: the first problem found is the one reported.
    head = _profile_head(top, stem)
    kind, ca = head["kind"], head["kind"] != "end-entity"
    subject = _subject(top)
    san = top.table("san", ("email",))
    san_email = san.get("email", str)
    if san_email not in get_args(SanEmail):
        raise san.error(
            "email", f"unknown value {san_email!r} (one of: required, optional, forbidden)"
        )
    fields = {
        **head,
        "subject": subject,
        "san_email": cast(SanEmail, san_email),
        **_basic_constraints(top, kind),
        **_key_usages(top, head["key_types"], ca),
    }
    fields.update(_extended_key_usage(top, ca))
    fields.update(_certificate_policies(top, kind, ca, head["lint"]))
    fields.update(_qc_statements(top, ca))
    fields.update(_name_constraints(top, kind, ca))
    fields.update(_extension_flags(top, kind, ca, fields["eku"]))
    role = head["role"]
    if (role in CA_ROLES) != ca:
        raise top.error("role", f"role {role!r} does not fit kind {kind!r}")
    return Profile(**fields, subscriber=_subscriber_mapping(top, subject, role))


_PROFILE_KEYS = (
    "name",
    "kind",
    "role",
    "description",
    "key_types",
    "max_validity_days",
    "lint",
    "cp_section",
    "subject",
    "san",
    "key_usage",
    "extended_key_usage",
    "basic_constraints",
    "certificate_policies",
    "qc_statements",
    "name_constraints",
    "extensions",
    "subscriber",
)


def _profile_head(top: _Table, stem: str) -> dict[str, Any]:
    """name, kind, role, description, key types, validity, lint sets and CP section."""
    name = top.get("name", str)
    if not _NAME_RE.fullmatch(name):
        raise top.error("name", "must be lower-case letters, digits and single hyphens")
    if name != stem:
        raise top.error("name", f"must equal the file name ({stem!r})")
    kind = top.get("kind", str)
    if kind not in get_args(Kind):
        raise top.error("kind", f"unknown kind {kind!r} (one of: {', '.join(get_args(Kind))})")
    role = top.get("role", str)
    if role not in get_args(Role):
        raise top.error("role", f"unknown role {role!r} (one of: {', '.join(get_args(Role))})")
    description = top.get("description", str)
    if not description.strip():
        raise top.error("description", "must not be empty")
    key_types = top.choices("key_types", KEY_TYPES)
    if not key_types:
        raise top.error("key_types", "must name at least one key type")
    max_validity_days = top.get("max_validity_days", int)
    if max_validity_days <= 0:
        raise top.error("max_validity_days", "must be a positive number of days")
    lint = top.choices("lint", LINTERS)
    cp_section = top.get("cp_section", str)
    if not cp_section.strip():
        raise top.error("cp_section", "must not be empty")
    return {
        "name": name,
        "kind": cast(Kind, kind),
        "role": cast(Role, role),
        "description": description,
        "key_types": key_types,
        "max_validity_days": max_validity_days,
        "lint": lint,
        "cp_section": cp_section,
    }


def _basic_constraints(top: _Table, kind: str) -> dict[str, Any]:
    bc = top.table("basic_constraints", ("ca", "path_length"))
    ca = bc.get("ca", bool)
    if ca != (kind != "end-entity"):
        raise bc.error("ca", f"must be {str(not ca).lower()} for kind {kind!r}")
    path_length = bc.get("path_length", int, None)
    if path_length is not None:
        if not ca:
            # RFC 5280 §4.2.1.9: pathLenConstraint only where cA is asserted.
            raise bc.error("path_length", "only a CA certificate has a path length")
        if path_length < 0:
            raise bc.error("path_length", "must not be negative")
    return {"ca": ca, "path_length": path_length}


def _key_usages(top: _Table, key_types: tuple[str, ...], ca: bool) -> dict[str, Any]:
    ku = top.table("key_usage", ("usages", "rsa_extra"))
    key_usage = ku.choices("usages", KEY_USAGES)
    if not key_usage:
        raise ku.error("usages", "must assert at least one usage (RFC 5280 §4.2.1.3)")
    rsa_extra = ku.choices("rsa_extra", KEY_USAGES, [])
    for i, usage in enumerate(rsa_extra):
        if usage in key_usage:
            raise ku.error(f"rsa_extra[{i}]", f"{usage} is already in usages")
    if rsa_extra and not any(k.startswith("rsa-") for k in key_types):
        raise ku.error("rsa_extra", "the profile allows no RSA key type")
    all_usages = key_usage + rsa_extra
    if ca and "key_cert_sign" not in key_usage:
        # RFC 5280 §4.2.1.3: keyCertSign is what lets the key verify certificate signatures.
        raise ku.error("usages", "a CA profile must assert key_cert_sign")
    if not ca:
        for usage in ("key_cert_sign", "crl_sign"):
            if usage in all_usages:
                # RFC 5280 §4.2.1.9: without cA, keyCertSign MUST NOT be asserted; and our CRLs
                # are signed by the CAs themselves, never by an end-entity key.
                raise ku.error("usages", f"{usage} is for CA profiles only")

    return {"key_usage": key_usage, "key_usage_rsa_extra": rsa_extra}


def _extended_key_usage(top: _Table, ca: bool) -> dict[str, Any]:
    eku_table = top.table("extended_key_usage", ("oids", "critical"), optional=True)
    eku = eku_table.oids("oids", [])
    eku_critical = eku_table.get("critical", bool, False)
    if eku_critical and not eku:
        raise eku_table.error("critical", "no extended key usage to mark critical")
    if ca and EKU_OCSP_SIGNING in eku:
        # A CA certificate with OCSPSigning could act as a delegated responder for its own
        # issuer (the checklist's "CA certificates never carry the OCSPSigning EKU").
        raise eku_table.error(
            f"oids[{eku.index(EKU_OCSP_SIGNING)}]", "a CA profile must not carry OCSPSigning"
        )
    if not ca and EKU_TIME_STAMPING in eku and (len(eku) != 1 or not eku_critical):
        # RFC 3161 §2.3: the TSA certificate has exactly one EKU, timeStamping, critical. (A
        # CA's EKU only bounds the purposes beneath it, so there it sits among the others.)
        raise eku_table.error("oids", "timeStamping must be the only EKU, and critical")

    return {"eku": eku, "eku_critical": eku_critical}


def _certificate_policies(
    top: _Table, kind: str, ca: bool, lint: tuple[str, ...]
) -> dict[str, Any]:
    cp = top.table("certificate_policies", ("oids", "cps_uri"), optional=True)
    policy_oids = cp.oids("oids", [])
    cps_uri = cp.get("cps_uri", bool, False)
    if cps_uri and not policy_oids:
        raise cp.error("cps_uri", "a CPS qualifier needs a policy OID to qualify")
    if kind == "end-entity" and not policy_oids:
        raise cp.error("oids", "every end-entity certificate carries certificatePolicies")
    smime_oids = [o for o in policy_oids if o.startswith(SMIME_BR_POLICY_ARC)]
    if smime_oids and not ca and "cabf_smime" not in lint:
        # A certificate claiming a CA/B S/MIME BR reserved policy is an S/MIME BR certificate:
        # the only profiles psre holds to those requirements, so they must be linted by them.
        raise top.error("lint", f"policy {smime_oids[0]} (S/MIME BR) needs the cabf_smime lint")

    return {"policy_oids": policy_oids, "cps_uri": cps_uri}


def _qc_statements(top: _Table, ca: bool) -> dict[str, Any]:
    qc = top.table("qc_statements", ("types", "cc_legislation"), optional=True)
    qc_types = qc.choices("types", QC_TYPES, [])
    qc_cc_legislation = qc.strings("cc_legislation", [])
    for i, country in enumerate(qc_cc_legislation):
        if not _COUNTRY_RE.fullmatch(country):
            raise qc.error(f"cc_legislation[{i}]", "must be an ISO 3166-1 alpha-2 code in capitals")
    if len(qc_types) > 1:
        # ETSI EN 319 412-5 §4.2.3: one certificate, one purpose (esign, eseal or web).
        raise qc.error("types", "at most one QcType")
    if (qc_types or qc_cc_legislation) and ca:
        raise qc.error("types", "QCStatements belong on end-entity certificates only")

    return {"qc_types": qc_types, "qc_cc_legislation": qc_cc_legislation}


def _name_constraints(top: _Table, kind: str, ca: bool) -> dict[str, Any]:
    nc = top.table("name_constraints", ("permitted_countries", "critical"), optional=True)
    nc_countries = nc.strings("permitted_countries", [])
    for i, country in enumerate(nc_countries):
        if not _COUNTRY_RE.fullmatch(country):
            raise nc.error(
                f"permitted_countries[{i}]", "must be an ISO 3166-1 alpha-2 code in capitals"
            )
    # RFC 5280 §4.2.1.10: conforming CAs MUST mark nameConstraints critical.
    nc_critical = nc.get("critical", bool, True)
    if nc_countries and not ca:
        raise nc.error("permitted_countries", "name constraints belong on CA certificates only")
    if nc_countries and kind == "root":
        raise nc.error("permitted_countries", "a root (trust anchor) carries no name constraints")
    if not nc_countries and "critical" in nc._data:
        raise nc.error("critical", "no name constraint to mark")

    return {"nc_permitted_countries": nc_countries, "nc_critical": nc_critical}


def _extension_flags(top: _Table, kind: str, ca: bool, eku: tuple[str, ...]) -> dict[str, Any]:
    ext = top.table(
        "extensions",
        (
            "crl_distribution_points",
            "aia_ocsp",
            "aia_ca_issuers",
            "ocsp_nocheck",
            "subject_key_identifier",
            "authority_key_identifier",
        ),
    )
    crl_dp = ext.get("crl_distribution_points", bool)
    aia_ocsp = ext.get("aia_ocsp", bool)
    aia_ca_issuers = ext.get("aia_ca_issuers", bool)
    ocsp_nocheck = ext.get("ocsp_nocheck", bool)
    if ocsp_nocheck and EKU_OCSP_SIGNING not in eku:
        # RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck only makes sense in a responder certificate.
        raise ext.error("ocsp_nocheck", "needs the OCSPSigning extended key usage")
    ski = ext.get("subject_key_identifier", bool)
    if ca and not ski:
        raise ext.error(
            "subject_key_identifier", "a CA certificate must carry SKI (RFC 5280 §4.2.1.2)"
        )
    aki = ext.get("authority_key_identifier", bool)
    if kind != "root" and not aki:
        raise ext.error(
            "authority_key_identifier",
            "required in every certificate that is not self-signed (RFC 5280 §4.2.1.1)",
        )

    return {
        "crl_dp": crl_dp,
        "aia_ocsp": aia_ocsp,
        "aia_ca_issuers": aia_ca_issuers,
        "ocsp_nocheck": ocsp_nocheck,
        "ski": ski,
        "aki": aki,
    }


def _template(table: _Table, key: str, template: str) -> str:
    for field in _PLACEHOLDER_RE.findall(template):
        if field not in RECORD_FIELDS:
            raise table.error(
                key, f"unknown field {{{field}}} (one of: {', '.join(RECORD_FIELDS)})"
            )
    if "{" in _PLACEHOLDER_RE.sub("", template) or "}" in _PLACEHOLDER_RE.sub("", template):
        raise table.error(key, "a placeholder is {field}, with a field name in lower case")
    return template


def _subscriber_mapping(
    top: _Table, subject: tuple[SubjectField, ...], role: str
) -> SubscriberMapping | None:
    if not top.has("subscriber"):
        if role in SUBSCRIBER_ROLES:
            raise top.error("subscriber", f"required for role {role!r}")
        return None
    if role not in SUBSCRIBER_ROLES:
        raise top.error("subscriber", f"only for roles {', '.join(SUBSCRIBER_ROLES)}")
    table = top.table("subscriber", ("kinds", "subject", "emails"))
    kinds = table.choices("kinds", SUBSCRIBER_KINDS)
    if not kinds:
        raise table.error("kinds", "must name at least one kind of subscriber")
    attrs = {f.attr: f for f in subject}
    given = table.table("subject", attrs)
    templates: list[tuple[str, str]] = []
    for f in subject:  # the profile's DN order, whatever the order of the TOML table
        if given.has(f.attr):
            templates.append((f.attr, _template(given, f.attr, given.get(f.attr, str))))
        elif f.required and f.fixed is None:
            raise given.error(f.attr, "required by the profile's subject: map it from the record")
    emails = tuple(_template(table, "emails", t) for t in table.strings("emails"))
    return SubscriberMapping(kinds=kinds, subject=tuple(templates), emails=emails)


def _subject(top: _Table) -> tuple[SubjectField, ...]:
    entries = top.get("subject", list)
    fields: list[SubjectField] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise top.error(f"subject[{i}]", f"must be a table, not {_toml_type(entry)}")
        table = _Table(
            top.file,
            f"subject[{i}]",
            entry,
            ("attr", "required", "fixed", "pattern", "max_length", "printable"),
        )
        field = _subject_field(table)
        if any(f.attr == field.attr for f in fields):
            raise table.error("attr", f"{field.attr} is already in the subject")
        fields.append(field)
    # RFC 5280 §4.1.2.6: a CA's subject is never empty, and an empty end-entity subject would
    # need a critical SAN; a profile always has at least one attribute that is present.
    if not any(f.required for f in fields):
        raise top.error("subject", "needs at least one required attribute")
    return tuple(fields)


def load_profile(path: str | Path) -> Profile:
    """Read and validate one profile file.

    :raises ProfileError: naming the file, the key path and the reason.
    """
    p = Path(path)
    try:
        data = strict_toml.read(p)
    except strict_toml.StrictTomlError as ex:
        raise ProfileError(ex.where, ex.key, ex.reason) from ex
    return _profile(str(p), p.stem, data)


_KIND_ORDER = {"root": 0, "intermediate": 1, "end-entity": 2}


def load_profiles(directory: str | Path | None = None) -> dict[str, Profile]:
    """Load every ``*.toml`` in ``directory`` (default: the shipped profiles), keyed by name.

    Ordered CAs first, then by name — the order of CP/CPS section 7.1.

    :raises ProfileError: on the first invalid file, or if there is none.
    """
    base = Path(directory) if directory is not None else PROFILES_DIR
    if not base.is_dir():
        raise ProfileError(str(base), "(directory)", "not a directory")
    profiles = [load_profile(p) for p in sorted(base.glob("*.toml"))]
    if not profiles:
        raise ProfileError(str(base), "*.toml", "no profile files")
    profiles.sort(key=lambda p: (_KIND_ORDER[p.kind], p.name))
    return {p.name: p for p in profiles}
