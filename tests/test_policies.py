"""policies/: profile files, the strict loader, subject/SAN checks, extensions, CP/CPS, CLI."""

from __future__ import annotations

import dataclasses
import datetime
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes as PrivateKey,
)
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pkilint import etsi, loader
from pkilint.cabf import smime
from pkilint.etsi.asn1 import en_319_412_5
from pkilint.pkix import certificate as pkix_certificate
from pkilint.pkix import extension as pkix_extension
from pkilint.pkix import name as pkix_name
from pkilint.validation import ValidationFindingSeverity
from pyasn1.codec.der import decoder
from pyasn1_alt_modules import rfc3739

from policies.cli import policy
from policies.errors import ExtensionError, PolicyError, ProfileError, SubjectError
from policies.extensions import QC_STATEMENTS_OID, build_extensions, public_key_type
from policies.render import md_escape, render_cps
from policies.schema import PROFILES_DIR, SUBJECT_ATTRS, Profile, load_profile, load_profiles
from policies.subject import SUBJECT_OIDS, build_subject, check_emails

BASE = "http://pki.example.id"
NAMES = {
    "root-ca",
    "issuing-ca",
    "psre-subordinate",
    "cross-certificate",
    "tl-signer",
    "natural-person",
    "legal-person-seal",
    "smime-mailbox",
    "ocsp-signer",
    "tsa",
}
NIK = "3201234567890123"
#: Subject values that each shipped profile accepts.
GOOD_SUBJECTS: dict[str, dict[str, str]] = {
    "root-ca": {"O": "PSrE Demo", "CN": "PSrE Demo Root CA R1"},
    "issuing-ca": {"O": "PSrE Demo", "CN": "PSrE Demo Issuing CA 1"},
    "psre-subordinate": {
        "O": "PT Contoh Tanda Tangan",
        "organizationIdentifier": "NTRID-8120001234567",
        "CN": "PSrE Contoh CA G1",
    },
    "cross-certificate": {"C": "MY", "O": "Contoh Root Authority", "CN": "Contoh Root CA G1"},
    "tl-signer": {"O": "Kementerian Komunikasi dan Digital", "CN": "Penanda Tangan TSL Indonesia"},
    "natural-person": {
        "C": "ID",
        "O": "Kementerian Contoh & Mitra",  # "&" is fine in a UTF8String
        "OU": "Biro Umum",
        "givenName": "Budi",
        "surname": "Santoso",
        "serialNumber": f"PNOID-{NIK}",
        "CN": "Budi Santoso",
    },
    "legal-person-seal": {
        "O": "Kementerian Contoh",
        "organizationIdentifier": "NTRID-9120001234567",
        "CN": "Kementerian Contoh e-Seal",
    },
    "smime-mailbox": {"CN": "budi@example.go.id"},
    "ocsp-signer": {"O": "PSrE Demo", "CN": "PSrE Demo OCSP Responder"},
    "tsa": {"O": "PSrE Demo", "CN": "PSrE Demo TSA"},
}
GOOD_EMAILS: dict[str, list[str]] = {
    "natural-person": ["budi@example.go.id"],
    "smime-mailbox": ["budi@example.go.id"],
}
PRINTABLE_TAG, UTF8_TAG = 19, 12
NO_HYPOTHESIS_DB = settings(
    database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return load_profiles()


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKey]:
    return {
        "ec-p256": ec.generate_private_key(ec.SECP256R1()),
        "ec-p384": ec.generate_private_key(ec.SECP384R1()),
        "rsa-2048": rsa.generate_private_key(65537, 2048),
    }


# --------------------------------------------------------------------------- loading


def test_every_shipped_profile_loads(profiles: dict[str, Profile]) -> None:
    assert set(profiles) == NAMES
    assert {p.name for p in profiles.values()} == NAMES
    assert sorted(p.name + ".toml" for p in profiles.values()) == sorted(
        f.name for f in PROFILES_DIR.glob("*.toml")
    )
    # CAs first (CPS 7.1 order).
    assert list(profiles)[:4] == ["root-ca", "cross-certificate", "issuing-ca", "psre-subordinate"]
    for p in profiles.values():
        assert load_profile(PROFILES_DIR / f"{p.name}.toml") == p
        assert p.ca == (p.kind != "end-entity")
        assert p.cp_section.strip()


def test_shipped_policy_oids_are_test_oids(profiles: dict[str, Profile]) -> None:
    test_arc = re.compile(r"1\.3\.6\.1\.5\.5\.7\.13\.[1-8]")
    for p in profiles.values():
        for oid in p.policy_oids:
            assert not oid.startswith("2.16.360"), "never an invented OID under Indonesia's arc"
            assert test_arc.fullmatch(oid) or oid == "2.23.140.1.5.1.3", oid
    assert "2.23.140.1.5.1.3" in profiles["smime-mailbox"].policy_oids
    assert "cabf_smime" in profiles["smime-mailbox"].lint


def test_shipped_profile_values(profiles: dict[str, Profile]) -> None:
    root, issuing = profiles["root-ca"], profiles["issuing-ca"]
    assert (root.kind, root.path_length, root.aki) == ("root", None, True)
    assert (issuing.kind, issuing.path_length) == ("intermediate", 0)
    assert profiles["natural-person"].qc_types == ("esign",)
    assert profiles["legal-person-seal"].qc_types == ("eseal",)
    assert profiles["natural-person"].qc_cc_legislation == ("ID",)
    assert profiles["smime-mailbox"].max_validity_days == 825
    assert profiles["smime-mailbox"].key_usage_rsa_extra == ("key_encipherment",)
    assert profiles["tsa"].eku == ("1.3.6.1.5.5.7.3.8",) and profiles["tsa"].eku_critical
    assert profiles["ocsp-signer"].ocsp_nocheck
    serial = next(f for f in profiles["natural-person"].subject if f.attr == "serialNumber")
    assert serial.pattern == "PNOID-[0-9]{16}" and serial.printable
    assert set(SUBJECT_OIDS) == set(SUBJECT_ATTRS)


def _variant(tmp_path: Path, source: str, edit: Callable[[str], str]) -> Path:
    text = (PROFILES_DIR / f"{source}.toml").read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text, "the edit did not apply"
    path = tmp_path / f"{source}.toml"
    path.write_text(changed, encoding="utf-8")
    return path


def _sub(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


BAD_PROFILES = [
    # (id, source profile, edit, key path, reason fragment)
    ("role-missing", "tsa", _sub('role = "tsa"\n', ""), "role", "required key is missing"),
    ("role-unknown", "tsa", _sub('role = "tsa"', 'role = "notary"'), "role", "unknown role"),
    ("role-kind", "tsa", _sub('role = "tsa"', 'role = "ca"'), "role", "does not fit kind"),
    (
        "subscriber-missing",
        "smime-mailbox",
        lambda t: t[: t.index("[subscriber]")],
        "subscriber",
        "required for role 'smime'",
    ),
    (
        "subscriber-on-ca",
        "issuing-ca",
        lambda t: t + '\n[subscriber]\nkinds = ["person"]\nemails = []\n[subscriber.subject]\n',
        "subscriber",
        "only for roles",
    ),
    (
        "subscriber-unknown-field",
        "natural-person",
        _sub('CN = "{name}"', 'CN = "{nama}"'),
        "subscriber.subject.CN",
        "unknown field {nama}",
    ),
    (
        "subscriber-unmapped-required",
        "legal-person-seal",
        _sub('CN = "{name}"\n', ""),
        "subscriber.subject.CN",
        "map it from the record",
    ),
    (
        "subscriber-attr-not-in-subject",
        "smime-mailbox",
        _sub('CN = "{email}"', 'CN = "{email}"\nO = "{agency}"'),
        "subscriber.subject.O",
        "unknown key",
    ),
    (
        "subscriber-kind",
        "natural-person",
        _sub('kinds = ["person"]', 'kinds = ["robot"]'),
        "subscriber.kinds[0]",
        "robot",
    ),
    (
        "name-constraints-on-end-entity",
        "natural-person",
        lambda t: t + '\n[name_constraints]\npermitted_countries = ["ID"]\n',
        "name_constraints.permitted_countries",
        "CA certificates only",
    ),
    (
        "name-constraints-bad-country",
        "psre-subordinate",
        _sub('permitted_countries = ["ID"]', 'permitted_countries = ["Indonesia"]'),
        "name_constraints.permitted_countries[0]",
        "ISO 3166-1",
    ),
    ("unknown-top", "natural-person", lambda t: 'colour = "blue"\n' + t, "colour", "unknown key"),
    (
        "unknown-nested",
        "natural-person",
        _sub("[basic_constraints]\nca = false", "[basic_constraints]\nca = false\nmax_path = 1"),
        "basic_constraints.max_path",
        "unknown key",
    ),
    (
        "unknown-subject-key",
        "natural-person",
        _sub('attr = "C"', 'attr = "C"\nencoding = "utf8"'),
        "subject[0].encoding",
        "unknown key",
    ),
    (
        "unknown-table",
        "tsa",
        lambda t: t + "\n[name_limits]\npermitted = []\n",
        "name_limits",
        "unknown key",
    ),
    (
        "wrong-type",
        "natural-person",
        _sub("max_validity_days = 730", 'max_validity_days = "730"'),
        "max_validity_days",
        "must be an integer, not a string",
    ),
    (
        "bool-is-not-int",
        "natural-person",
        _sub("max_validity_days = 730", "max_validity_days = true"),
        "max_validity_days",
        "must be an integer, not a boolean",
    ),
    (
        "missing-key",
        "natural-person",
        _sub('lint = ["pkix", "etsi"]\n', ""),
        "lint",
        "required key is missing",
    ),
    (
        "unknown-key-type",
        "natural-person",
        _sub('key_types = ["rsa-2048"', 'key_types = ["rsa-1024"'),
        "key_types[0]",
        "unknown value 'rsa-1024'",
    ),
    (
        "unknown-key-usage",
        "natural-person",
        _sub('"content_commitment"]', '"non_repudiation"]'),
        "key_usage.usages[1]",
        "unknown value 'non_repudiation'",
    ),
    (
        "malformed-oid-trailing-dot",
        "natural-person",
        _sub('oids = ["1.3.6.1.5.5.7.13.1"]', 'oids = ["1.3.6.1.5.5.7.13.1."]'),
        "certificate_policies.oids[0]",
        "malformed object identifier",
    ),
    (
        "malformed-oid-leading-zero",
        "natural-person",
        _sub('oids = ["1.3.6.1.5.5.7.3.36"', 'oids = ["1.3.6.01.5.5.7.3.36"'),
        "extended_key_usage.oids[0]",
        "malformed object identifier",
    ),
    (
        "malformed-oid-second-arc",
        "natural-person",
        _sub('oids = ["1.3.6.1.5.5.7.13.1"]', 'oids = ["1.40.6"]'),
        "certificate_policies.oids[0]",
        "malformed object identifier",
    ),
    (
        "ca-with-ocsp-signing",
        "issuing-ca",
        _sub(
            "[basic_constraints]",
            '[extended_key_usage]\noids = ["1.3.6.1.5.5.7.3.9"]\ncritical = false\n\n'
            "[basic_constraints]",
        ),
        "extended_key_usage.oids[0]",
        "must not carry OCSPSigning",
    ),
    (
        "kind-ca-mismatch",
        "natural-person",
        _sub('kind = "end-entity"', 'kind = "intermediate"'),
        "basic_constraints.ca",
        "must be true for kind 'intermediate'",
    ),
    (
        "ca-kind-mismatch",
        "issuing-ca",
        _sub("ca = true", "ca = false"),
        "basic_constraints.ca",
        "must be true",
    ),
    (
        "validity-zero",
        "natural-person",
        _sub("max_validity_days = 730", "max_validity_days = 0"),
        "max_validity_days",
        "positive",
    ),
    (
        "validity-negative",
        "natural-person",
        _sub("max_validity_days = 730", "max_validity_days = -30"),
        "max_validity_days",
        "positive",
    ),
    (
        "unknown-lint",
        "natural-person",
        _sub('lint = ["pkix", "etsi"]', 'lint = ["pkix", "zlint"]'),
        "lint[1]",
        "unknown value 'zlint'",
    ),
    (
        "invalid-regex",
        "natural-person",
        _sub('pattern = "PNOID-[0-9]{16}"', 'pattern = "PNOID-[0-9{16}"'),
        "subject[5].pattern",
        "invalid regular expression",
    ),
    (
        "unknown-attribute",
        "tsa",
        _sub('attr = "O"', 'attr = "title"'),
        "subject[1].attr",
        "unknown attribute 'title'",
    ),
    (
        "duplicate-attribute",
        "tsa",
        _sub('attr = "O"', 'attr = "CN"'),
        "subject[2].attr",
        "CN is already in the subject",
    ),
    (
        "fixed-breaks-rules",
        "tsa",
        _sub('fixed = "ID"', 'fixed = "Indonesia"'),
        "subject[0].fixed",
        "longer than 2 characters",
    ),
    (
        "serial-number-not-printable",
        "natural-person",
        _sub("max_length = 22", "max_length = 22\nprintable = false"),
        "subject[5].printable",
        "always a PrintableString",
    ),
    (
        "max-length-over-rfc5280",
        "tsa",
        _sub(
            'attr = "CN"\nrequired = true\nmax_length = 64',
            'attr = "CN"\nrequired = true\nmax_length = 65',
        ),
        "subject[2].max_length",
        "must be 1..64",
    ),
    (
        "unknown-san-mode",
        "tsa",
        _sub('email = "forbidden"', 'email = "maybe"'),
        "san.email",
        "unknown value 'maybe'",
    ),
    (
        "timestamping-not-critical",
        "tsa",
        _sub("critical = true", "critical = false"),
        "extended_key_usage.oids",
        "timeStamping must be the only EKU, and critical",
    ),
    (
        "nocheck-without-ocsp-signing",
        "tsa",
        _sub("ocsp_nocheck = false", "ocsp_nocheck = true"),
        "extensions.ocsp_nocheck",
        "needs the OCSPSigning",
    ),
    (
        "path-length-on-end-entity",
        "tsa",
        _sub("ca = false", "ca = false\npath_length = 0"),
        "basic_constraints.path_length",
        "only a CA",
    ),
    (
        "end-entity-key-cert-sign",
        "tsa",
        _sub('usages = ["digital_signature"', 'usages = ["key_cert_sign", "digital_signature"'),
        "key_usage.usages",
        "key_cert_sign is for CA profiles only",
    ),
    (
        "two-qc-types",
        "natural-person",
        _sub('types = ["esign"]', 'types = ["esign", "eseal"]'),
        "qc_statements.types",
        "at most one QcType",
    ),
    (
        "unknown-qc-type",
        "natural-person",
        _sub('types = ["esign"]', 'types = ["qwac"]'),
        "qc_statements.types[0]",
        "unknown value 'qwac'",
    ),
    (
        "end-entity-without-policy",
        "tsa",
        _sub('oids = ["1.3.6.1.5.5.7.13.5"]\ncps_uri = true', "oids = []"),
        "certificate_policies.oids",
        "every end-entity certificate",
    ),
    (
        "smime-br-policy-without-smime-lint",
        "smime-mailbox",
        _sub('lint = ["pkix", "cabf_smime"]', 'lint = ["pkix", "etsi"]'),
        "lint",
        "needs the cabf_smime lint",
    ),
    (
        "intermediate-without-aki",
        "issuing-ca",
        _sub("authority_key_identifier = true", "authority_key_identifier = false"),
        "extensions.authority_key_identifier",
        "RFC 5280 §4.2.1.1",
    ),
    (
        "toml-syntax",
        "tsa",
        _sub('name = "tsa"', 'name = "tsa'),
        "(syntax)",
        "",
    ),
]


@pytest.mark.parametrize(
    ("source", "edit", "key", "reason"),
    [case[1:] for case in BAD_PROFILES],
    ids=[case[0] for case in BAD_PROFILES],
)
def test_bad_profile_is_refused_naming_file_and_key(
    tmp_path: Path, source: str, edit: Callable[[str], str], key: str, reason: str
) -> None:
    path = _variant(tmp_path, source, edit)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    err = info.value
    assert (err.file, err.key) == (str(path), key)
    assert reason in err.reason
    assert str(err).startswith(f"{path}: {key}: ")
    assert isinstance(err, PolicyError) and err.code == "profile_invalid"
    # The directory loader stops on the same error.
    with pytest.raises(ProfileError, match=re.escape(f"{path}: {key}: ")):
        load_profiles(tmp_path)


def test_name_must_match_file(tmp_path: Path) -> None:
    path = tmp_path / "time-stamping.toml"
    path.write_text((PROFILES_DIR / "tsa.toml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"time-stamping\.toml: name: must equal the file name"):
        load_profile(path)


def test_empty_or_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no profile files"):
        load_profiles(tmp_path)
    with pytest.raises(ProfileError, match="not a directory"):
        load_profiles(tmp_path / "absent")
    with pytest.raises(ProfileError, match=r"\(file\): cannot read"):
        load_profile(tmp_path / "absent.toml")


# --------------------------------------------------------------------------- subject


def _decoded(name: x509.Name) -> list[tuple[str, str, int]]:
    """(attribute OID, value, universal tag) per RDN, read back from the DER."""
    out = []
    for rdn in asn1_x509.Name.load(name.public_bytes()).chosen:
        assert len(rdn) == 1, "one attribute per RDN"
        atv = rdn[0]
        value = atv["value"]
        if isinstance(value, asn1_core.Choice):
            value = value.chosen
        out.append((atv["type"].dotted, value.native, value.tag))
    return out


@pytest.mark.parametrize("profile_name", sorted(NAMES))
def test_build_subject_happy_path(profiles: dict[str, Profile], profile_name: str) -> None:
    profile = profiles[profile_name]
    values = GOOD_SUBJECTS[profile_name]
    decoded = _decoded(build_subject(profile, values))
    present = [f for f in profile.subject if f.fixed is not None or f.attr in values]
    assert [oid for oid, _, _ in decoded] == [SUBJECT_OIDS[f.attr].dotted_string for f in present]
    for field, (_, value, tag) in zip(present, decoded, strict=True):
        assert value == (field.fixed if field.fixed is not None else values[field.attr])
        assert tag == (PRINTABLE_TAG if field.printable else UTF8_TAG)
        if field.attr in ("C", "serialNumber"):
            assert tag == PRINTABLE_TAG


def test_fixed_value_is_applied_and_may_be_repeated(profiles: dict[str, Profile]) -> None:
    profile = profiles["tsa"]
    without = build_subject(profile, {"O": "X", "CN": "Y"})
    with_same = build_subject(profile, {"C": "ID", "O": "X", "CN": "Y"})
    assert without == with_same
    assert without.rfc4514_string() == "CN=Y,O=X,C=ID"


NATURAL = GOOD_SUBJECTS["natural-person"]
SUBJECT_REFUSALS = [
    (
        "missing-required",
        "natural-person",
        {k: v for k, v in NATURAL.items() if k != "serialNumber"},
        "subject.serialNumber",
        "required",
    ),
    (
        "unknown-field",
        "natural-person",
        {**NATURAL, "title": "Kepala"},
        "subject.title",
        "not allowed",
    ),
    (
        "unknown-field-on-smime",
        "smime-mailbox",
        {"CN": "a@example.id", "O": "X"},
        "subject.O",
        "not allowed",
    ),
    (
        "nik-15-digits",
        "natural-person",
        {**NATURAL, "serialNumber": "PNOID-320123456789012"},
        "subject.serialNumber",
        "does not match",
    ),
    (
        "nik-17-digits",
        "natural-person",
        {**NATURAL, "serialNumber": "PNOID-32012345678901234"},
        "subject.serialNumber",
        "longer than 22",
    ),
    (
        "nik-wrong-prefix",
        "natural-person",
        {**NATURAL, "serialNumber": f"IDCID-{NIK}"},
        "subject.serialNumber",
        "does not match",
    ),
    (
        "nik-arabic-indic-digits",
        "natural-person",
        {**NATURAL, "serialNumber": "PNOID-" + "\u0663" * 16},
        "subject.serialNumber",
        "not allowed in a PrintableString",
    ),
    (
        "ampersand-in-printable",
        "legal-person-seal",
        {**GOOD_SUBJECTS["legal-person-seal"], "organizationIdentifier": "NTRID-A&B"},
        "subject.organizationIdentifier",
        "'&' is not allowed in a PrintableString",
    ),
    ("fixed-mismatch", "natural-person", {**NATURAL, "C": "MY"}, "subject.C", "fixed to 'ID'"),
    ("empty", "natural-person", {**NATURAL, "OU": ""}, "subject.OU", "must not be empty"),
    ("too-long", "natural-person", {**NATURAL, "O": "x" * 65}, "subject.O", "longer than 64"),
    ("cn-octets", "natural-person", {**NATURAL, "CN": "é" * 40}, "subject.CN", "64 octets"),
    (
        "control-char",
        "natural-person",
        {**NATURAL, "CN": "Budi\x00Santoso"},
        "subject.CN",
        "U+0000",
    ),
    (
        "bidi-override",
        "natural-person",
        {**NATURAL, "CN": "Budi\u202eSantoso"},
        "subject.CN",
        "U+202E",
    ),
    ("leading-space", "natural-person", {**NATURAL, "CN": " Budi"}, "subject.CN", "whitespace"),
    ("not-nfc", "natural-person", {**NATURAL, "CN": "Jose\u0301"}, "subject.CN", "NFC"),
    ("not-a-string", "natural-person", {**NATURAL, "CN": 42}, "subject.CN", "must be a string"),
]


@pytest.mark.parametrize(
    ("profile_name", "values", "field", "reason"),
    [case[1:] for case in SUBJECT_REFUSALS],
    ids=[case[0] for case in SUBJECT_REFUSALS],
)
def test_build_subject_refusals(
    profiles: dict[str, Profile], profile_name: str, values: dict, field: str, reason: str
) -> None:
    with pytest.raises(SubjectError) as info:
        build_subject(profiles[profile_name], values)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{field}: ")


# Random strings for CN and serialNumber: either a Name obeying the profile's rules, or a
# SubjectError naming the field — never another exception.
@NO_HYPOTHESIS_DB
@given(cn=st.text(max_size=80))
def test_property_common_name(profiles: dict[str, Profile], cn: str) -> None:
    try:
        name = build_subject(profiles["natural-person"], {**NATURAL, "CN": cn})
    except SubjectError as ex:
        assert ex.field == "subject.CN"
        return
    [(oid, value, tag)] = [d for d in _decoded(name) if d[0] == "2.5.4.3"]
    assert value == cn and tag == UTF8_TAG
    assert 1 <= len(cn) <= 64 and len(cn.encode()) <= 64
    assert cn == cn.strip()
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in cn)


PRINTABLE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"


@NO_HYPOTHESIS_DB
@given(
    serial=st.one_of(
        st.text(max_size=30),
        st.from_regex(r"PNOID-[0-9]{14,18}", fullmatch=True),
        st.text(alphabet=PRINTABLE_ALPHABET + "&@_*", max_size=30).map(lambda s: "PNOID-" + s),
    )
)
def test_property_serial_number(profiles: dict[str, Profile], serial: str) -> None:
    try:
        name = build_subject(profiles["natural-person"], {**NATURAL, "serialNumber": serial})
    except SubjectError as ex:
        assert ex.field == "subject.serialNumber"
        assert not re.fullmatch(r"PNOID-[0-9]{16}", serial, flags=re.ASCII)
        return
    assert re.fullmatch(r"PNOID-[0-9]{16}", serial, flags=re.ASCII)
    [(_, value, tag)] = [d for d in _decoded(name) if d[0] == "2.5.4.5"]
    assert value == serial and tag == PRINTABLE_TAG


# --------------------------------------------------------------------------- emails


def test_check_emails_normalises_domain(profiles: dict[str, Profile]) -> None:
    got = check_emails(
        profiles["smime-mailbox"], ["Budi.Santoso@Example.GO.ID", "x+tag@xn--bcher-kva.id"]
    )
    assert got == ["Budi.Santoso@example.go.id", "x+tag@xn--bcher-kva.id"]
    assert check_emails(profiles["legal-person-seal"], []) == []  # optional


@pytest.mark.parametrize(
    ("profile_name", "emails", "reason"),
    [
        ("smime-mailbox", [], "required"),
        ("natural-person", [], "required"),
        ("tsa", ["a@example.id"], "not allowed"),
        ("root-ca", ["a@example.id"], "not allowed"),
        ("smime-mailbox", "a@example.id", "not one string"),
        ("smime-mailbox", ["no-at-sign.example.id"], "local-part@domain"),
        ("smime-mailbox", ["a@b@example.id"], "local-part@domain"),
        ("smime-mailbox", ["a..b@example.id"], "dot-string"),
        ("smime-mailbox", [".a@example.id"], "dot-string"),
        ("smime-mailbox", ['"quoted"@example.id'], "dot-string"),
        ("smime-mailbox", ["a b@example.id"], "dot-string"),
        ("smime-mailbox", ["@example.id"], "1 to 64"),
        ("smime-mailbox", ["x" * 65 + "@example.id"], "1 to 64"),
        ("smime-mailbox", ["a@-example.id"], "label"),
        ("smime-mailbox", ["a@example-.id"], "label"),
        ("smime-mailbox", ["a@exa_mple.id"], "label"),
        ("smime-mailbox", ["a@" + "x" * 64 + ".id"], "label"),
        ("smime-mailbox", ["a@example..id"], "label"),
        ("smime-mailbox", ["a@localhost"], "two labels"),
        ("smime-mailbox", ["a@[192.0.2.1]"], "label"),
        ("smime-mailbox", ["a@example.123"], "all-numeric"),
        ("smime-mailbox", ["budi@bücher.id"], "ASCII"),
        ("smime-mailbox", ["a@" + ".".join(["x" * 60] * 5) + ".id"], "254"),
        ("smime-mailbox", ["a@example.id", "a@EXAMPLE.id"], "duplicate"),
        ("smime-mailbox", [None], "must be a string"),
    ],
)
def test_check_emails_refusals(
    profiles: dict[str, Profile], profile_name: str, emails: object, reason: str
) -> None:
    with pytest.raises(SubjectError) as info:
        check_emails(profiles[profile_name], emails)  # type: ignore[arg-type]
    assert info.value.field == "san.email"
    assert reason in info.value.reason


# --------------------------------------------------------------------------- extensions


def _key_for(profile: Profile, keys: dict[str, PrivateKey]) -> PrivateKey:
    for kind in ("ec-p256", "ec-p384", "rsa-2048"):
        if kind in profile.key_types:
            return keys[kind]
    raise AssertionError(profile.name)


def _extensions(profile: Profile, keys: dict[str, PrivateKey], **overrides: object) -> dict:
    key = overrides.pop("key", None) or _key_for(profile, keys)
    ca_name = {"root": "root-ca", "intermediate": "issuing-ca"}.get(profile.kind, "issuing-ca")
    issuer_name = "issuing-ca" if profile.kind == "end-entity" else "root-ca"
    args = {
        "public_key": key.public_key(),
        "issuer_public_key": None if profile.kind == "root" else keys["ec-p384"].public_key(),
        "base_url": BASE,
        "ca_name": ca_name,
        "issuer_name": issuer_name,
        "emails": GOOD_EMAILS.get(profile.name, []),
    }
    args.update(overrides)
    built = build_extensions(profile, **args)
    oids = [ext.oid for ext, _ in built]
    assert len(oids) == len(set(oids)), "each extension once"
    return {ext.oid: (ext, critical) for ext, critical in built}


EXPECTED_EXTENSIONS = {
    "root-ca": {"BC", "KU", "SKI", "AKI"},
    "issuing-ca": {"BC", "KU", "SKI", "AKI", "CRLDP", "AIA", "CP"},
    "psre-subordinate": {"BC", "KU", "EKU", "SKI", "AKI", "CRLDP", "AIA", "CP", "NC"},
    "cross-certificate": {"BC", "KU", "SKI", "AKI", "CRLDP", "AIA", "CP"},
    "tl-signer": {"KU", "EKU", "SKI", "AKI", "CRLDP", "AIA", "CP"},
    "natural-person": {"KU", "EKU", "SKI", "AKI", "CRLDP", "AIA", "CP", "SAN", "QCS"},
    "legal-person-seal": {"KU", "EKU", "SKI", "AKI", "CRLDP", "AIA", "CP", "QCS"},
    "smime-mailbox": {"KU", "EKU", "SKI", "AKI", "CRLDP", "AIA", "CP", "SAN"},
    "ocsp-signer": {"KU", "EKU", "SKI", "AKI", "AIA", "CP", "NOCHECK"},
    "tsa": {"KU", "EKU", "SKI", "AKI", "CRLDP", "AIA", "CP"},
}
SHORT = {
    "BC": ExtensionOID.BASIC_CONSTRAINTS,
    "KU": ExtensionOID.KEY_USAGE,
    "EKU": ExtensionOID.EXTENDED_KEY_USAGE,
    "SKI": ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    "AKI": ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    "CRLDP": ExtensionOID.CRL_DISTRIBUTION_POINTS,
    "AIA": ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    "CP": ExtensionOID.CERTIFICATE_POLICIES,
    "SAN": ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    "QCS": QC_STATEMENTS_OID,
    "NOCHECK": ExtensionOID.OCSP_NO_CHECK,
    "NC": ExtensionOID.NAME_CONSTRAINTS,
}


@pytest.mark.parametrize("profile_name", sorted(NAMES))
def test_extension_set_and_criticality(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey], profile_name: str
) -> None:
    profile = profiles[profile_name]
    exts = _extensions(profile, keys)
    assert set(exts) == {SHORT[s] for s in EXPECTED_EXTENSIONS[profile_name]}
    critical = {oid for oid, (_, crit) in exts.items() if crit}
    expected_critical = {ExtensionOID.KEY_USAGE}
    if profile.ca:
        expected_critical.add(ExtensionOID.BASIC_CONSTRAINTS)
    if profile_name == "tsa":
        expected_critical.add(ExtensionOID.EXTENDED_KEY_USAGE)
    if profile.nc_permitted_countries:
        # RFC 5280 §4.2.1.10: nameConstraints MUST be critical.
        expected_critical.add(ExtensionOID.NAME_CONSTRAINTS)
    assert critical == expected_critical
    eku = exts.get(ExtensionOID.EXTENDED_KEY_USAGE)
    if profile.ca:
        assert eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku[0]
        bc = exts[ExtensionOID.BASIC_CONSTRAINTS][0]
        assert bc.ca and bc.path_length == profile.path_length
    if ExtensionOID.CRL_DISTRIBUTION_POINTS in exts:
        [point] = exts[ExtensionOID.CRL_DISTRIBUTION_POINTS][0]
        issuer = "issuing-ca" if profile.kind == "end-entity" else "root-ca"
        assert [n.value for n in point.full_name] == [f"{BASE}/crl/{issuer}.crl"]
    if ExtensionOID.CERTIFICATE_POLICIES in exts:
        policies = exts[ExtensionOID.CERTIFICATE_POLICIES][0]
        assert [p.policy_identifier.dotted_string for p in policies] == list(profile.policy_oids)
        assert all(p.policy_qualifiers == [f"{BASE}/cps"] for p in policies)


def test_aia_urls(profiles: dict[str, Profile], keys: dict[str, PrivateKey]) -> None:
    aia = _extensions(profiles["natural-person"], keys)[ExtensionOID.AUTHORITY_INFORMATION_ACCESS][
        0
    ]
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.OCSP, f"{BASE}/ocsp"),
        (AuthorityInformationAccessOID.CA_ISSUERS, f"{BASE}/ca/issuing-ca.crt"),
    ]
    aia = _extensions(profiles["ocsp-signer"], keys)[ExtensionOID.AUTHORITY_INFORMATION_ACCESS][0]
    assert [d.access_method for d in aia] == [AuthorityInformationAccessOID.CA_ISSUERS]


def test_key_identifiers(profiles: dict[str, Profile], keys: dict[str, PrivateKey]) -> None:
    issuer = keys["ec-p384"].public_key()
    exts = _extensions(profiles["tsa"], keys)
    ski = exts[ExtensionOID.SUBJECT_KEY_IDENTIFIER][0]
    aki = exts[ExtensionOID.AUTHORITY_KEY_IDENTIFIER][0]
    assert ski == x509.SubjectKeyIdentifier.from_public_key(keys["ec-p256"].public_key())
    assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(issuer).digest


def _qc_statements(der: bytes) -> dict[str, bytes]:
    statements, rest = decoder.decode(der, asn1Spec=rfc3739.QCStatements())
    assert rest == b""
    return {str(s["statementId"]): bytes(s["statementInfo"]) for s in statements}


@pytest.mark.parametrize(
    ("profile_name", "qc_type"),
    [("natural-person", "0.4.0.1862.1.6.1"), ("legal-person-seal", "0.4.0.1862.1.6.2")],
)
def test_qc_statements_decode(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey], profile_name: str, qc_type: str
) -> None:
    ext, critical = _extensions(profiles[profile_name], keys)[QC_STATEMENTS_OID]
    assert isinstance(ext, x509.UnrecognizedExtension) and not critical
    statements = _qc_statements(ext.value)
    assert set(statements) == {"0.4.0.1862.1.6", "0.4.0.1862.1.7"}
    assert "0.4.0.1862.1.1" not in statements  # never QcCompliance (EU status)
    # Decoded with pkilint's own EN 319 412-5 Annex B types, not ours.
    types, _ = decoder.decode(statements["0.4.0.1862.1.6"], asn1Spec=en_319_412_5.QcType())
    assert [str(t) for t in types] == [qc_type]
    legislation, _ = decoder.decode(
        statements["0.4.0.1862.1.7"], asn1Spec=en_319_412_5.QcCClegislation()
    )
    assert [str(c) for c in legislation] == ["ID"]
    # The DER is also well-formed for a generic parser.
    assert asn1_core.Sequence.load(ext.value).native is not None


def test_ocsp_signer_has_nocheck_and_ocsp_signing(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey]
) -> None:
    exts = _extensions(profiles["ocsp-signer"], keys)
    assert exts[ExtensionOID.OCSP_NO_CHECK] == (x509.OCSPNoCheck(), False)
    eku, critical = exts[ExtensionOID.EXTENDED_KEY_USAGE]
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING] and not critical
    assert ExtensionOID.CRL_DISTRIBUTION_POINTS not in exts


def test_tsa_eku_is_critical_time_stamping_only(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey]
) -> None:
    eku, critical = _extensions(profiles["tsa"], keys)[ExtensionOID.EXTENDED_KEY_USAGE]
    assert list(eku) == [ExtendedKeyUsageOID.TIME_STAMPING] and critical


def test_smime_key_usage_depends_on_key(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey]
) -> None:
    profile = profiles["smime-mailbox"]
    ku_rsa = _extensions(profile, keys, key=keys["rsa-2048"])[ExtensionOID.KEY_USAGE][0]
    ku_ec = _extensions(profile, keys, key=keys["ec-p256"])[ExtensionOID.KEY_USAGE][0]
    assert ku_rsa.digital_signature and ku_rsa.key_encipherment
    assert ku_ec.digital_signature and not ku_ec.key_encipherment
    san = _extensions(profile, keys, emails=["A@Example.ID"])[ExtensionOID.SUBJECT_ALTERNATIVE_NAME]
    assert san[0].get_values_for_type(x509.RFC822Name) == ["A@example.id"] and not san[1]


def test_natural_person_key_usage(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey]
) -> None:
    ku = _extensions(profiles["natural-person"], keys)[ExtensionOID.KEY_USAGE][0]
    assert ku.digital_signature and ku.content_commitment
    assert not (ku.key_encipherment or ku.key_cert_sign or ku.crl_sign)


@pytest.mark.parametrize(
    ("profile_name", "overrides", "field"),
    [
        ("root-ca", {"key": "rsa-2048"}, "public_key"),  # root: RSA 4096 or P-384 only
        ("natural-person", {"key": "ec-p384"}, "public_key"),
        ("natural-person", {"key": "ed25519"}, "public_key"),
        ("natural-person", {"issuer_public_key": None}, "issuer_public_key"),
        ("root-ca", {"issuer_name": "other-root"}, "issuer_name"),
        ("tsa", {"issuer_name": "../etc/passwd"}, "issuer_name"),
        ("issuing-ca", {"ca_name": "issuing ca"}, "ca_name"),
    ],
)
def test_build_extensions_refusals(
    profiles: dict[str, Profile],
    keys: dict[str, PrivateKey],
    profile_name: str,
    overrides: dict,
    field: str,
) -> None:
    if "key" in overrides:
        name = overrides["key"]
        overrides = {
            **overrides,
            "key": ed25519.Ed25519PrivateKey.generate() if name == "ed25519" else keys[name],
        }
    with pytest.raises(ExtensionError) as info:
        _extensions(profiles[profile_name], keys, **overrides)
    assert info.value.field == field


def test_build_extensions_checks_emails(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey]
) -> None:
    with pytest.raises(SubjectError, match="san.email"):
        _extensions(profiles["tsa"], keys, emails=["ops@example.id"])
    with pytest.raises(SubjectError, match="san.email"):
        _extensions(profiles["smime-mailbox"], keys, emails=[])


def test_public_key_type(keys: dict[str, PrivateKey]) -> None:
    assert {public_key_type(k.public_key()) for k in keys.values()} == {
        "ec-p256",
        "ec-p384",
        "rsa-2048",
    }
    with pytest.raises(ExtensionError):
        public_key_type(ec.generate_private_key(ec.SECP521R1()).public_key())


# --------------------------------------------------------------------------- lint


def _issue(
    profile: Profile,
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    issuer_key: PrivateKey,
    exts: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    not_before = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    # Inclusive validity (RFC 5280 §4.1.2.5): the last second counts, so subtract one.
    not_after = not_before + datetime.timedelta(days=profile.max_validity_days, seconds=-1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(secrets.randbits(127) | 1 << 126)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for ext, critical in exts:
        builder = builder.add_extension(ext, critical)
    return builder.sign(issuer_key, hashes.SHA384())


def _lint_errors(cert: x509.Certificate, linters: tuple[str, ...]) -> list[str]:
    doc = loader.RFC5280CertificateDocumentLoader().load_der_document(
        cert.public_bytes(Encoding.DER), "cert"
    )
    containers = []
    if "pkix" in linters:
        containers.append(
            pkix_certificate.create_pkix_certificate_validator_container(
                pkix_certificate.create_decoding_validators(
                    pkix_name.ATTRIBUTE_TYPE_MAPPINGS, pkix_extension.EXTENSION_MAPPINGS
                ),
                [
                    pkix_certificate.create_issuer_validator_container([]),
                    pkix_certificate.create_validity_validator_container(),
                    pkix_certificate.create_subject_validator_container([]),
                    pkix_certificate.create_extensions_validator_container([]),
                    pkix_certificate.create_spki_validator_container([]),
                ],
            )
        )
    if "etsi" in linters:
        kind = etsi.determine_certificate_type(doc)
        containers.append(
            pkix_certificate.create_pkix_certificate_validator_container(
                etsi.create_decoding_validators(kind), etsi.create_validators(kind)
            )
        )
    if "cabf_smime" in linters:
        level, generation = smime.determine_validation_level_and_generation(doc)
        containers.append(
            pkix_certificate.create_pkix_certificate_validator_container(
                smime.create_decoding_validators(),
                smime.create_subscriber_validators(level, generation),
            )
        )
    bad = (ValidationFindingSeverity.ERROR, ValidationFindingSeverity.FATAL)
    return [
        str(f)
        for container in containers
        for result in container.validate(doc.root)
        for f in result.finding_descriptions
        if f.finding.severity in bad
    ]


# Each profile with its first EC key, plus the RSA variants whose key usage differs.
LINT_CASES = [(name, None) for name in sorted(NAMES)] + [
    ("smime-mailbox", "rsa-2048"),
    ("natural-person", "rsa-2048"),
]


@pytest.mark.parametrize(("profile_name", "key_type"), LINT_CASES)
def test_issued_certificates_lint_clean(
    profiles: dict[str, Profile],
    keys: dict[str, PrivateKey],
    profile_name: str,
    key_type: str | None,
) -> None:
    """A certificate built from the profile passes the linters the profile names."""
    profile = profiles[profile_name]
    root_key = keys["ec-p384"]
    issuing_key = ec.derive_private_key(0x1550E, ec.SECP384R1())  # a second P-384 key
    if profile.kind == "end-entity":
        key = keys[key_type] if key_type else _key_for(profile, keys)
        issuer_key, issuer_name, ca_name = issuing_key, "issuing-ca", "issuing-ca"
        issuer = build_subject(profiles["issuing-ca"], GOOD_SUBJECTS["issuing-ca"])
    else:
        key = root_key if profile.kind == "root" else issuing_key
        issuer_key, issuer_name = root_key, "root-ca"
        ca_name = "root-ca" if profile.kind == "root" else "issuing-ca"
        issuer = build_subject(profiles["root-ca"], GOOD_SUBJECTS["root-ca"])
    exts = build_extensions(
        profile,
        public_key=key.public_key(),
        issuer_public_key=issuer_key.public_key(),
        base_url=BASE,
        ca_name=ca_name,
        issuer_name=issuer_name,
        emails=GOOD_EMAILS.get(profile.name, []),
    )
    subject = build_subject(profile, GOOD_SUBJECTS[profile.name])
    cert = _issue(profile, subject, issuer, key, issuer_key, exts)
    if profile.kind == "root":
        assert cert.subject == cert.issuer
    assert _lint_errors(cert, profile.lint) == []


def test_self_signed_aki_uses_own_key(
    profiles: dict[str, Profile], keys: dict[str, PrivateKey]
) -> None:
    root = dataclasses.replace(profiles["root-ca"], aki=True)
    exts = _extensions(root, keys, key=keys["ec-p384"])
    aki = exts[ExtensionOID.AUTHORITY_KEY_IDENTIFIER][0]
    assert aki.key_identifier == exts[ExtensionOID.SUBJECT_KEY_IDENTIFIER][0].digest


# --------------------------------------------------------------------------- CP/CPS


def test_render_markdown_and_html(profiles: dict[str, Profile]) -> None:
    md = render_cps(profiles, base_url=BASE, fmt="markdown")
    html = render_cps(profiles, base_url=BASE, fmt="html")
    for text in (md, html):
        for name in NAMES:
            assert name in text
        for section in ("7.1", "7.2", "7.3", "7.1.7"):
            assert section in text
        assert f"{BASE}/cps" in text and f"{BASE}/ocsp" in text
        assert "certificateHold" in text and "ocsp-nocheck" in text
    assert md.startswith("# ") and "## 9. Other business and legal matters" in md
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    md_headings = re.findall(r"^#{2,4} (\d[\d.]*(?: – [\d.]+)?) (.+)$", md, flags=re.M)
    html_headings = re.findall(r"<h[2-4][^>]*>(\d[\d.]*(?: – [\d.]+)?) (.+?)</h[2-4]>", html)
    assert [n for n, _ in md_headings] == [n for n, _ in html_headings]
    assert [n.rstrip(".") for n, _ in md_headings if "." not in n.rstrip(".")] == [
        str(i) for i in range(1, 10)
    ]


def test_render_escapes(profiles: dict[str, Profile]) -> None:
    evil = dataclasses.replace(
        profiles["tsa"],
        description="Pipes | and <script>alert(1)</script> & co",
        cp_section="1. starts like a list <b>bold</b> | pipe",
    )
    data = {**profiles, "tsa": evil}
    html = render_cps(data, base_url=BASE, fmt="html")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    md = render_cps(data, base_url=BASE, fmt="markdown")
    assert "<script>" not in md and r"Pipes \| and \<script\>" in md
    assert "\n1\\. starts like a list" in md
    # Every table row keeps its column count: no unescaped pipe leaks from a cell.
    for line in md.splitlines():
        if line.startswith("| "):
            cells = re.split(r"(?<!\\)\|", line)
            assert len(cells) in (4, 5), line
    assert md_escape("a|b\nc") == r"a\|b c"
    with pytest.raises(ValueError):
        render_cps(profiles, base_url=BASE, fmt="pdf")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CLI


@dataclasses.dataclass(frozen=True)
class _Config:
    public_base_url: str = BASE


@dataclasses.dataclass(frozen=True)
class _Runtime:
    config: _Config = dataclasses.field(default_factory=_Config)


def test_cli_check() -> None:
    result = CliRunner().invoke(policy, ["check"], obj=_Runtime())
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(NAMES)
    assert {line.split()[0] for line in lines} == NAMES


def test_cli_check_reports_bad_file(tmp_path: Path) -> None:
    path = _variant(tmp_path, "tsa", _sub('lint = ["pkix"]', 'lint = ["pkix", "zlint"]'))
    result = CliRunner().invoke(policy, ["check", "--dir", str(tmp_path)], obj=_Runtime())
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"psre: error: {path}: lint[1]: unknown value 'zlint' (one of: pkix, etsi, cabf_smime)"
    )
    assert result.stdout == ""


def test_cli_render(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(policy, ["render", "--out", str(out)], obj=_Runtime())
    assert result.exit_code == 0, result.output
    assert (out / "cps.md").read_text(encoding="utf-8").startswith("# ")
    assert f"{BASE}/cps" in (out / "cps.html").read_text(encoding="utf-8")
    only_md = tmp_path / "md"
    result = CliRunner().invoke(
        policy,
        ["render", "--out", str(only_md), "--format", "md"],
        obj=_Runtime(_Config("https://x.example")),
    )
    assert result.exit_code == 0
    assert [p.name for p in only_md.iterdir()] == ["cps.md"]
    assert "https://x.example/cps" in (only_md / "cps.md").read_text(encoding="utf-8")
