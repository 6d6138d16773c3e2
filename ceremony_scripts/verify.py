"""``psre ceremony verify``: re-check a transcript the way an auditor would.

Checks, each reported as OK / FAIL with the reason:

- chain: every entry's hash and link recomputed (the audit log's encoding);
- file: the embedded ceremony file hashes to the recorded SHA-256;
- signature: the last entry signs the chain, with a key the ceremony made or recorded;
- outcome: the ceremony finished (or where it stopped);
- outputs: each file written still has the recorded SHA-256;
- certificates: each is the recorded one, is signed by its recorded issuer, passes pkilint with
  its profile's lint sets, and matches its profile (key type, validity bound, CA flag, key usage,
  extended key usage) and the file's notBefore/notAfter;
- keys: each generated key's public key, read back from the token, has the recorded fingerprint
  (skipped, and said so, when no token is given).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ca_core import lint
from ca_core.issuer import lint_waivers_for
from ca_core.keycheck import spki_sha256
from ceremony_scripts.transcript import check_chain, check_signature, read
from hsm.errors import HsmError
from policies import strict_toml
from policies.schema import Profile

_KU = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "key_cert_sign",
    "crl_sign",
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))


def verify(path: Path, *, backend: Any | None, profiles: Mapping[str, Profile]) -> VerifyReport:
    rep = VerifyReport()
    entries = read(path)
    chain = check_chain(entries)
    rep.add(
        "chain",
        chain.ok,
        f"{chain.count} entries intact" if chain.ok else f"{chain.reason} ({chain.count} intact)",
    )
    if not entries or entries[0].get("action") != "ceremony.start":
        rep.add("start", False, "the first entry is not ceremony.start")
        return rep
    start = entries[0]["details"]
    text = start.get("file_text", "")
    ok = hashlib.sha256(text.encode("utf-8")).hexdigest() == start.get("file_sha256")
    rep.add(
        "file",
        ok,
        f"ceremony file sha256 {start.get('file_sha256')}"
        if ok
        else "embedded ceremony file does not match its recorded hash",
    )
    rep.checks.append(_signature(entries, backend))
    stopped = next((e for e in entries if e.get("action") == "ceremony.stopped"), None)
    rep.checks.append(_outcome(entries, stopped))
    try:
        file_doc = strict_toml.parse(text.encode("utf-8"), "ceremony file")
    except strict_toml.StrictTomlError:
        file_doc = {}
    file_steps = file_doc.get("step", [])
    waivers = lint_waivers_for(start.get("base_url", ""))
    destroyed = set(stopped["details"].get("keys_destroyed", [])) if stopped else set()
    for e in entries:
        d = e.get("details", {})
        if e.get("action") == "output.write":
            rep.checks.append(_output(d))
        elif e.get("action") == "certificate.issue":
            fs = file_steps[d["step"] - 1] if 0 < d["step"] <= len(file_steps) else {}
            rep.checks.extend(_check_certificate(d, fs, profiles, waivers))
        elif e.get("action") == "key.generate":
            rep.checks.append(_key(d, backend, destroyed=d["label"] in destroyed))
    return rep


def _signature(entries: list[dict[str, Any]], backend: Any | None) -> Check:
    """The last entry signs the chain, with a key the ceremony made, or else (given a token)
    the token's key of the recorded label."""
    ok, detail = check_signature(entries)
    if ok:
        signer = entries[-1]["details"]["spki_sha256"]
        known = {
            e["details"].get("spki_sha256")
            for e in entries
            if e.get("action") in ("key.generate", "certificate.issue")
        }
        if signer not in known and backend is None:
            detail += " (key not made in this ceremony; not checked against the token)"
        elif signer not in known and backend is not None:
            try:
                label = entries[-1]["details"]["key_label"]
                ok = spki_sha256(backend.public_key(label)) == signer
            except HsmError as ex:
                ok, detail = False, f"signer key not on the token: {ex}"
            if not ok:
                detail = "the signing key is not the token's key of that label"
    return Check("signature", ok, detail)


def _outcome(entries: list[dict[str, Any]], stopped: dict[str, Any] | None) -> Check:
    """Complete, failed at a step, or cut short (no ceremony.end)."""
    if not any(e.get("action") == "ceremony.end" for e in entries):
        last = entries[-1]
        return Check(
            "outcome",
            False,
            f"INCOMPLETE: stopped after entry {last['seq']} ({last['action']}"
            + (f", step {last['details'].get('step')}" if "step" in last.get("details", {}) else "")
            + ")",
        )
    if stopped is not None:
        d = stopped["details"]
        return Check(
            "outcome", False, f"FAILED at step {d['step']} during {d['stage']}: {d['reason']}"
        )
    return Check("outcome", True, "complete")


def _output(d: Mapping[str, Any]) -> Check:
    """A written file still has the recorded SHA-256."""
    p = Path(d["path"])
    try:
        got = hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError as ex:
        return Check(f"output {p}", False, f"cannot read ({ex.strerror})")
    return Check(
        f"output {p}",
        got == d["sha256"],
        "sha256 matches"
        if got == d["sha256"]
        else f"sha256 is {got}, transcript says {d['sha256']}",
    )


def _key(d: Mapping[str, Any], backend: Any | None, *, destroyed: bool) -> Check:
    """A generated key: on the token with the recorded public key, or gone if the failed
    step's clean-up recorded destroying it."""
    name = f"key {d['label']}"
    if backend is None:
        return Check(name, True, "not checked against the token (no token given)")
    try:
        got = spki_sha256(backend.public_key(d["label"]))
    except HsmError as ex:
        if destroyed:
            return Check(name, True, "destroyed after the failed step, as recorded")
        return Check(name, False, f"not on the token: {ex}")
    if destroyed:
        return Check(
            name, False, "recorded as destroyed, yet a key with that label is on the token"
        )
    if got == d["spki_sha256"]:
        return Check(name, True, "token holds the recorded public key")
    return Check(
        name, False, f"token's key has SPKI sha256 {got}, transcript says {d['spki_sha256']}"
    )


def _check_certificate(
    d: Mapping[str, Any],
    fs: Mapping[str, Any],
    profiles: Mapping[str, Profile],
    waivers: frozenset[str],
) -> list[Check]:
    name = f"certificate {d['subject']}"
    try:
        cert = x509.load_pem_x509_certificate(Path(d["path"]).read_bytes())
    except (OSError, ValueError) as ex:
        return [Check(name, False, f"cannot read {d['path']}: {ex}")]
    der = cert.public_bytes(_DER)
    problems: list[str] = []
    if hashlib.sha256(der).hexdigest() != d["fingerprint_sha256"]:
        problems.append("not the certificate the ceremony issued (fingerprint differs)")
    import base64

    issuer = x509.load_der_x509_certificate(base64.b64decode(d["issuer_certificate_der"]))
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError) as ex:
        problems.append(f"not signed by its recorded issuer ({ex or 'bad signature'})")
    profile = profiles.get(d["profile"])
    if profile is None:
        problems.append(f"unknown profile {d['profile']}")
    else:
        problems += _profile_problems(cert, profile)
        findings = [
            f
            for f in lint.blocking(lint.lint_certificate(der, profile.lint))
            if f.code not in waivers
        ]
        problems += [f"pkilint: {f.code}" for f in findings]
    for key, got in (
        ("not_before", cert.not_valid_before_utc),
        ("not_after", cert.not_valid_after_utc),
    ):
        want = fs.get(key)
        if want is not None and _as_utc(want) != got:
            problems.append(f"{key} {got:%Y-%m-%dT%H:%M:%SZ} is not the file's {want}")
    if problems:
        return [Check(name, False, "; ".join(problems))]
    return [
        Check(
            name,
            True,
            f"profile {d['profile']}, lint clean, signed by {issuer.subject.rfc4514_string()}",
        )
    ]


def _as_utc(v: Any) -> Any:
    import datetime as dt

    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    return v.astimezone(dt.UTC)


def _profile_problems(cert: x509.Certificate, p: Profile) -> list[str]:
    out: list[str] = []
    pub = cert.public_key()
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(pub, rsa.RSAPublicKey):
        kt = f"rsa-{pub.key_size}"
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        kt = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(pub.curve.name, pub.curve.name)
    else:
        kt = "unknown"
    if kt not in p.key_types:
        out.append(f"key type {kt} not in profile {p.name}")
    span = cert.not_valid_after_utc - cert.not_valid_before_utc
    if span.days + 1 > p.max_validity_days:
        out.append(f"validity exceeds profile maximum {p.max_validity_days} days")
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca != p.ca or (p.ca and bc.path_length != p.path_length):
            out.append("basicConstraints differs from the profile")
    except x509.ExtensionNotFound:
        if p.ca:
            out.append("basicConstraints missing")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        got = {u for u in _KU if getattr(ku, u)}
        if not set(p.key_usage) <= got or not got <= set(p.key_usage + p.key_usage_rsa_extra):
            out.append(f"keyUsage {sorted(got)} is not the profile's {sorted(p.key_usage)}")
    except x509.ExtensionNotFound:
        out.append("keyUsage missing")
    want_eku = set(p.eku)
    try:
        eku = {
            o.dotted_string
            for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        }
    except x509.ExtensionNotFound:
        eku = set()
    if eku != want_eku:
        out.append(f"extendedKeyUsage {sorted(eku)} is not the profile's {sorted(want_eku)}")
    return out


from cryptography.hazmat.primitives.serialization import Encoding as _Encoding  # noqa: E402

_DER = _Encoding.DER
