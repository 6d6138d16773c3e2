"""The CP/CPS, rendered from the profile data (RFC 3647 outline) as Markdown or standalone HTML.

The prose lives in ``templates/cps.md.j2`` and ``templates/cps.html.j2``; everything that
describes a certificate — key types, validity, names, extensions, URLs — comes from the loaded
profiles, so the published CPS cannot drift from what the issuer does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2

from policies.schema import EKU_OCSP_SIGNING, QC_TYPES, Profile

Format = Literal["markdown", "html"]

_TEMPLATES = {"markdown": "cps.md.j2", "html": "cps.html.j2"}

#: Revocation service rules stated in CP/CPS 7.2 and 7.3 (standards checklist: CA/B BR §4.9.7,
#: §4.9.10 and RFC 6960/5019), the bounds the CRL and OCSP services are tested against.
CRL_OCSP_RULES = {
    "subscriber_crl_next_update_days": 10,
    "subscriber_crl_reissue_days": 7,
    "revocation_publication_hours": 24,
    "ca_crl_reissue_months": 12,
    "ocsp_min_validity_hours": 8,
    "ocsp_max_validity_days": 10,
    "ocsp_refresh_before_hours": 8,
    "ocsp_refresh_after_days": 4,
}

_KEY_TYPE_NAMES = {
    "rsa-2048": "RSA 2048",
    "rsa-3072": "RSA 3072",
    "rsa-4096": "RSA 4096",
    "ec-p256": "ECDSA P-256",
    "ec-p384": "ECDSA P-384",
}
# RFC 5280 §4.2.1.3 bit names (contentCommitment was nonRepudiation before X.509 2005).
_KEY_USAGE_NAMES = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation (contentCommitment)",
    "key_encipherment": "keyEncipherment",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}
_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.4": "id-kp-emailProtection",
    "1.3.6.1.5.5.7.3.8": "id-kp-timeStamping",
    EKU_OCSP_SIGNING: "id-kp-OCSPSigning",
    "1.3.6.1.5.5.7.3.36": "id-kp-documentSigning",
}
_POLICY_NAMES = {
    # RFC 7229 §2: test policy OIDs, used by the demo deployment instead of an allocated arc.
    **{
        f"1.3.6.1.5.5.7.13.{i}": f"id-TEST-certPolicy{n} (RFC 7229)"
        for i, n in enumerate(("One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight"), 1)
    },
    "2.23.140.1.5.1.3": "CA/B Forum S/MIME mailbox-validated strict",
}
_SUBJECT_NAMES = {
    "C": "countryName",
    "ST": "stateOrProvinceName",
    "L": "localityName",
    "O": "organizationName",
    "OU": "organizationalUnitName",
    "organizationIdentifier": "organizationIdentifier",
    "givenName": "givenName",
    "surname": "surname",
    "serialNumber": "serialNumber",
    "CN": "commonName",
}
_KIND_NAMES = {"root": "root CA", "intermediate": "subordinate CA", "end-entity": "end entity"}

# Characters with a meaning inside Markdown text or a GFM table cell; a backslash makes any
# ASCII punctuation literal (CommonMark §2.4).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")
# A paragraph starting like a list item, ordered list item or heading underline would change
# the block structure: escape the punctuation that makes it one.
_MD_BLOCK_START = re.compile(r"^(\d*)([-+=.)])")


def md_escape(text: str) -> str:
    """``text`` as literal Markdown inline content, on one line (safe inside a table cell)."""
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"[\r\n]+", " ", text))


def md_paragraph(text: str) -> str:
    """``text`` as one literal Markdown paragraph."""
    return _MD_BLOCK_START.sub(r"\1\\\2", md_escape(text))


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each joined into one line."""
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def _oid(oid: str, names: Mapping[str, str]) -> str:
    return f"{names[oid]} ({oid})" if oid in names else oid


@dataclass(frozen=True)
class _ProfileView:
    """One profile as the templates show it: ``rows`` are (label, values) pairs."""

    name: str
    description: str
    max_validity_days: int
    paragraphs: list[str]
    rows: list[tuple[str, list[str]]]


def _rows(p: Profile, base_url: str) -> list[tuple[str, list[str]]]:
    issuer = "issuing CA" if p.kind == "end-entity" else "root CA"
    crl = f"{base_url}/crl/<{issuer} name>.crl"
    ca_issuers = f"{base_url}/ca/<{issuer} name>.crt"
    subject = []
    for f in p.subject:
        if f.fixed is not None:
            parts = [f"fixed {f.fixed!r}"]
        else:
            parts = ["required" if f.required else "optional"]
        parts.append("PrintableString" if f.printable else "UTF8String")
        parts.append(f"at most {f.max_length} characters")
        if f.pattern:
            parts.append(f"pattern {f.pattern}")
        subject.append(f"{_SUBJECT_NAMES[f.attr]}: {', '.join(parts)}")
    usages = [_KEY_USAGE_NAMES[u] for u in p.key_usage]
    usages += [f"{_KEY_USAGE_NAMES[u]} (RSA keys only)" for u in p.key_usage_rsa_extra]
    eku = [_oid(o, _EKU_NAMES) for o in p.eku]
    if eku:
        eku.append("critical" if p.eku_critical else "non-critical")
    if p.ca:
        path = (
            "no pathLenConstraint"
            if p.path_length is None
            else f"pathLenConstraint {p.path_length}"
        )
        basic = [f"cA TRUE, {path}, critical"]
    else:
        basic = ["absent (end entity)"]
    policies = [_oid(o, _POLICY_NAMES) for o in p.policy_oids]
    if p.cps_uri:
        policies.append(f"CPS qualifier {base_url}/cps")
    qcs = [f"QcType {t} ({QC_TYPES[t]})" for t in p.qc_types]
    qcs += [f"QcCClegislation {c}" for c in p.qc_cc_legislation]
    if qcs:
        qcs.append("no QcCompliance, non-critical")
    aia = ([f"OCSP {base_url}/ocsp"] if p.aia_ocsp else []) + (
        [f"caIssuers {ca_issuers}"] if p.aia_ca_issuers else []
    )
    identifiers = (["subjectKeyIdentifier"] if p.ski else []) + (
        ["authorityKeyIdentifier"] if p.aki else []
    )
    other = ["id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1)"] if p.ocsp_nocheck else []
    return [
        ("Certificate type", [_KIND_NAMES[p.kind]]),
        ("Key types", [_KEY_TYPE_NAMES[k] for k in p.key_types]),
        ("Maximum validity", [f"{p.max_validity_days} days, counted inclusively"]),
        ("Subject (DN order)", subject),
        ("subjectAltName rfc822Name", [p.san_email]),
        ("Key usage (critical)", usages),
        ("Extended key usage", eku or ["absent"]),
        ("Basic constraints", basic),
        ("Certificate policies", policies or ["absent"]),
        (
            "Name constraints",
            [f"permitted directoryName C={c}" for c in p.nc_permitted_countries]
            + (
                ["critical" if p.nc_critical else "non-critical"]
                if p.nc_permitted_countries
                else []
            )
            or ["absent"],
        ),
        ("QCStatements", qcs or ["absent"]),
        ("CRL distribution point", [crl] if p.crl_dp else ["absent"]),
        ("Authority information access", aia or ["absent"]),
        ("Key identifiers", identifiers or ["absent"]),
        ("Other extensions", other or ["none"]),
        ("Linted with", [f"pkilint {name}" for name in p.lint] or ["none"]),
    ]


def _policy_table(profiles: Mapping[str, Profile]) -> list[tuple[str, str, list[str]]]:
    """(OID, name, end-entity profiles issued under it) for every policy OID the data uses."""
    oids: dict[str, list[str]] = {}
    for p in profiles.values():
        for oid in p.policy_oids:
            users = oids.setdefault(oid, [])
            if p.kind == "end-entity":
                users.append(p.name)
    return [(oid, _POLICY_NAMES.get(oid, "—"), users) for oid, users in oids.items()]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        # HTML is escaped by Jinja; Markdown cells and text go through the `md` filter.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["md_para"] = md_paragraph
    return env


def render_cps(profiles: Mapping[str, Profile], *, base_url: str, fmt: Format) -> str:
    """The CP/CPS for ``profiles`` as Markdown or a standalone HTML page.

    :param base_url: the service's public base URL (no trailing ``/``).
    :param fmt: ``"markdown"`` or ``"html"``.
    """
    if fmt not in _TEMPLATES:
        raise ValueError(f"unknown format {fmt!r}")
    views = [
        _ProfileView(
            name=p.name,
            description=p.description,
            max_validity_days=p.max_validity_days,
            paragraphs=_paragraphs(p.cp_section),
            rows=_rows(p, base_url),
        )
        for p in profiles.values()
    ]
    key_sizes = sorted(
        {k for p in profiles.values() for k in p.key_types}, key=list(_KEY_TYPE_NAMES).index
    )
    template = _environment().get_template(_TEMPLATES[fmt])
    return template.render(
        base_url=base_url,
        profiles=views,
        policies=_policy_table(profiles),
        key_types=[_KEY_TYPE_NAMES[k] for k in key_sizes],
        crl_profiles=[p.name for p in profiles.values() if p.crl_dp],
        ocsp_profiles=[p.name for p in profiles.values() if p.aia_ocsp],
        responders=[
            (p.name, [_KEY_TYPE_NAMES[k] for k in p.key_types], p.max_validity_days)
            for p in profiles.values()
            if p.ocsp_nocheck
        ],
        rules=CRL_OCSP_RULES,
    )
