"""What the readers of signed PDFs accept in a signer certificate, stated as data, and every
profile whose key signs PDFs checked against it: in the profile files and in certificates the
issuer really makes (and pkilint passes).

Adobe Acrobat (its documented rule for signing certificates): extended key usage absent, or
containing emailProtection, Microsoft Document Signing, Adobe Authentic Documents Trust or
anyExtendedKeyUsage. NSS (Firefox, Thunderbird, poppler's pdfsig) checks a PDF signer with its
e-mail-signer usage: key usage digitalSignature or nonRepudiation, and extended key usage absent
or containing emailProtection — measured with vfychain: documentSigning alone, Microsoft
Document Signing alone and Adobe Authentic Documents Trust alone are refused (ERROR -8101).
tests/test_nss_relying_party.py runs the real NSS on real signed PDFs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from ca_core import lint
from ca_core.store.models import Certificate
from policies.roles import ca_level_names, names_with_role
from policies.schema import SMIME_BR_POLICY_ARC, Profile, load_profiles
from tests.esign_support import new_agency
from tests.pki_support import Pki, enrol_signer

EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"  # RFC 9336
MS_DOCUMENT_SIGNING = "1.3.6.1.4.1.311.10.3.12"
ADOBE_AUTHENTIC_DOCUMENTS_TRUST = "1.2.840.113583.1.1.5"
ANY_EKU = "2.5.29.37.0"


@dataclass(frozen=True)
class SignerRule:
    """A relying party's acceptance of a document signer's certificate."""

    name: str
    #: Any one of these EKUs is enough; an absent EKU extension is accepted too.
    ekus: frozenset[str]
    #: Key usage must contain one of these (empty: key usage is not looked at).
    key_usages: frozenset[str] = frozenset()

    def accepts(self, eku: Collection[str] | None, key_usage: Collection[str]) -> bool:
        eku_ok = eku is None or bool(self.ekus & set(eku))
        ku_ok = not self.key_usages or bool(self.key_usages & set(key_usage))
        return eku_ok and ku_ok


ACROBAT = SignerRule(
    "Adobe Acrobat",
    frozenset({EMAIL_PROTECTION, MS_DOCUMENT_SIGNING, ADOBE_AUTHENTIC_DOCUMENTS_TRUST, ANY_EKU}),
)
NSS_EMAIL_SIGNER = SignerRule(
    "NSS certUsageEmailSigner",
    frozenset({EMAIL_PROTECTION}),
    frozenset({"digital_signature", "content_commitment"}),
)
RULES = (ACROBAT, NSS_EMAIL_SIGNER)


def pdf_signing_profiles(profiles: dict[str, Profile]) -> list[Profile]:
    """Every profile whose key signs PDFs: those the signing API signs with, and any other that
    declares a document-signing purpose (documentSigning EKU or an esign/eseal QcType)."""
    # A CA profile's EKU constrains what its subordinates may issue (psre-subordinate); its key
    # signs certificates, not PDFs.
    ca_level = ca_level_names(profiles)
    names = names_with_role("subscriber-signing", "seal", profiles=profiles) | {
        p.name
        for p in profiles.values()
        if (DOCUMENT_SIGNING in p.eku or p.qc_types) and p.name not in ca_level
    }
    return [profiles[n] for n in sorted(names)]


PROFILES = load_profiles()
SIGNING = pdf_signing_profiles(PROFILES)


def test_the_rules_say_what_was_measured() -> None:
    """The rules reproduce the issue's measurements on NSS and Acrobat's documented rule."""
    ku = ("digital_signature", "content_commitment")
    for eku in (None, [EMAIL_PROTECTION], [DOCUMENT_SIGNING, EMAIL_PROTECTION]):
        assert NSS_EMAIL_SIGNER.accepts(eku, ku), eku
    for eku in ([DOCUMENT_SIGNING], [MS_DOCUMENT_SIGNING], [ADOBE_AUTHENTIC_DOCUMENTS_TRUST]):
        assert not NSS_EMAIL_SIGNER.accepts(eku, ku), eku
    assert not NSS_EMAIL_SIGNER.accepts([EMAIL_PROTECTION], ["key_encipherment"])
    for eku in (None, [EMAIL_PROTECTION], [MS_DOCUMENT_SIGNING], [ANY_EKU]):
        assert ACROBAT.accepts(eku, ku), eku
    assert ACROBAT.accepts([ADOBE_AUTHENTIC_DOCUMENTS_TRUST], ku)
    assert not ACROBAT.accepts([DOCUMENT_SIGNING], ku)


def test_the_signing_profiles_are_found() -> None:
    assert [p.name for p in SIGNING] == ["legal-person-seal", "natural-person"]


@pytest.mark.parametrize("profile", SIGNING, ids=lambda p: p.name)
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_every_signing_profile_satisfies_the_rule(profile: Profile, rule: SignerRule) -> None:
    usages = profile.key_usage + profile.key_usage_rsa_extra
    assert rule.accepts(profile.eku or None, usages), (profile.name, profile.eku)
    assert not profile.eku_critical  # a critical EKU would stop readers that do not know one
    # RFC 9336 keeps naming the purpose for readers that know it.
    assert DOCUMENT_SIGNING in profile.eku


@pytest.mark.parametrize("profile", SIGNING, ids=lambda p: p.name)
def test_signing_profiles_are_not_smime_br_certificates(profile: Profile) -> None:
    """The CP/CPS decision (the profiles' cp_section): emailProtection is there for PDF readers;
    the CA/B S/MIME BR do not apply, so no reserved S/MIME policy and no cabf_smime lint — and
    the profile that is an S/MIME BR certificate is linted by them (policies.schema enforces
    that for every profile)."""
    assert not any(o.startswith(SMIME_BR_POLICY_ARC) for o in profile.policy_oids)
    assert "cabf_smime" not in profile.lint and "etsi" in profile.lint
    text = " ".join(profile.cp_section.split())
    assert "S/MIME Baseline Requirements do not apply" in text
    mailbox = PROFILES["smime-mailbox"]
    assert "cabf_smime" in mailbox.lint
    assert any(o.startswith(SMIME_BR_POLICY_ARC) for o in mailbox.policy_oids)


def _usages(cert: x509.Certificate) -> tuple[list[str] | None, list[str]]:
    try:
        eku = [o.dotted_string for o in cert.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value]  # fmt: skip
    except x509.ExtensionNotFound:
        eku = None
    ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    names = ("digital_signature", "content_commitment", "key_encipherment")
    return eku, [n for n in names if getattr(ku, n)]


def test_issued_signer_and_seal_certificates_satisfy_both_and_lint_clean(pki: Pki) -> None:
    person = enrol_signer(pki, "Siti Rahayu", "3174050607080910")
    agency = pki.store.find_certificate(new_agency(pki).serial_hex)
    rows: list[Certificate] = [person, agency]
    for row in rows:
        cert = x509.load_der_x509_certificate(row.der)
        eku, ku = _usages(cert)
        for rule in RULES:
            assert rule.accepts(eku, ku), (row.profile, rule.name, eku, ku)
        assert eku == [DOCUMENT_SIGNING, EMAIL_PROTECTION]
        found = lint.lint_certificate(row.der, PROFILES[row.profile].lint)
        assert not lint.blocking(found), found
