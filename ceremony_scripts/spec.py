"""Ceremony files: strict TOML, no secrets, read once so the bytes reviewed are the bytes run.

Layout (key paths in errors use these names; unknown keys are refused, as Boulder's ceremony
tool does, so a typo never silently becomes a default)::

    [ceremony]   name, description?, token_label, slot?, operator, custodians, threshold,
                 witnesses, transcript, sign_transcript_with
    [[step]]     type, title?, and the keys its type needs (see ceremony_scripts.steps):
                 ca, issuer, key_label, key_type, profile, subject, not_before, not_after,
                 next_update, csr, certificate, serial, reason, service_url,
                 outputs = { role = "path", … }, replaces, switch_at

Paths are relative to the file's directory. Times are RFC 3339 with an offset (TOML datetimes or
strings); ``not_after`` is inclusive (RFC 5280 §4.1.2.5). A file never holds a PIN: keys that
look like one are refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ca_core.names import REASONS
from ceremony_scripts.errors import CeremonyFileError
from hsm.backend import KeySpec
from policies import strict_toml

_CEREMONY_KEYS = {
    "name": True,
    "description": False,
    "token_label": True,
    "slot": False,
    "operator": True,
    "custodians": True,
    "threshold": True,
    "witnesses": True,
    "transcript": True,
    "sign_transcript_with": True,
}
STEP_KEYS = (
    "type",
    "title",
    "ca",
    "issuer",
    "key_label",
    "key_type",
    "profile",
    "subject",
    "not_before",
    "not_after",
    "next_update",
    "csr",
    "certificate",
    "serial",
    "reason",
    "service_url",
    "outputs",
    "replaces",
    "switch_at",
)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*")
_SERIAL_RE = re.compile(r"[0-9A-Fa-f]{1,40}")
_SECRET_WORDS = re.compile(r"(pin|password|passphrase|secret|private_key)", re.IGNORECASE)


@dataclass(frozen=True)
class StepSpec:
    number: int
    type: str
    title: str
    ca: str | None = None
    issuer: str | None = None
    key_label: str | None = None
    key_type: KeySpec | None = None
    profile: str | None = None
    subject: Mapping[str, str] = field(default_factory=dict)
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    #: For CRL steps: the nextUpdate the CRL carries (RFC 5280 §5.1.2.5).
    next_update: dt.datetime | None = None
    csr: Path | None = None
    #: An input certificate (a foreign root's self-signed one; our CA's issued elsewhere).
    certificate: Path | None = None
    #: A recognized PSrE's public base URL (its OCSP, CRL, repository), for the trusted list.
    service_url: str | None = None
    #: For CA-level status steps: the certificate's serial (hex, as stored) and CRL reason.
    serial: str | None = None
    reason: str | None = None
    outputs: Mapping[str, Path] = field(default_factory=dict)
    #: For an issuance switch (rollover): the issuing CA whose issuance ends, and when.
    replaces: str | None = None
    switch_at: dt.datetime | None = None

    @property
    def where(self) -> str:
        return f"step[{self.number}] ({self.type})"

    @property
    def validity_days(self) -> int | None:
        """The whole days from notBefore to notAfter inclusive (what the issuer takes)."""
        if self.not_before is None or self.not_after is None:
            return None
        span = self.not_after - self.not_before + dt.timedelta(seconds=1)
        return span.days if span.seconds == 0 and span.microseconds == 0 else None


@dataclass(frozen=True)
class Ceremony:
    path: Path
    text: str
    sha256: str
    name: str
    description: str
    token_label: str
    slot: int | None
    operator: str
    custodians: tuple[str, ...]
    threshold: int
    witnesses: tuple[str, ...]
    transcript: Path
    sign_transcript_with: str
    steps: tuple[StepSpec, ...]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: str | Path) -> Path:
        q = Path(p)
        return q if q.is_absolute() else (self.base_dir / q).resolve()


def load(path: Path) -> Ceremony:
    """Read and validate a ceremony file (structure only; the step types check the rest)."""
    path = Path(path).resolve()
    try:
        raw = path.read_bytes()
    except OSError as ex:
        raise CeremonyFileError(str(path), f"cannot read ({ex.strerror})") from None
    return parse(raw, path)


def parse(raw: bytes, path: Path) -> Ceremony:
    where = path.name
    try:
        doc = strict_toml.parse(raw, where)
    except strict_toml.StrictTomlError as ex:
        raise CeremonyFileError(where, f"not valid TOML: {ex.reason}") from None
    _no_secrets(doc, where)
    extra = strict_toml.unknown_keys(doc, ("ceremony", "step"))
    if extra:
        raise CeremonyFileError(where, f"unknown top-level key(s): {', '.join(sorted(extra))}")
    head = doc.get("ceremony")
    if not isinstance(head, dict):
        raise CeremonyFileError(where, "missing [ceremony] table")
    for key in strict_toml.unknown_keys(head, _CEREMONY_KEYS):
        raise CeremonyFileError(f"{where}: ceremony.{key}", "unknown key")
    for key, required in _CEREMONY_KEYS.items():
        if required and key not in head:
            raise CeremonyFileError(f"{where}: ceremony.{key}", "required")

    def s(key: str) -> str:
        v = head.get(key, "")
        if not isinstance(v, str) or (_CEREMONY_KEYS[key] and not v.strip()):
            raise CeremonyFileError(f"{where}: ceremony.{key}", "must be a non-empty string")
        return v

    def names(key: str) -> tuple[str, ...]:
        v = head[key]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v):
            raise CeremonyFileError(f"{where}: ceremony.{key}", "must be a list of names")
        if len(set(v)) != len(v):
            raise CeremonyFileError(f"{where}: ceremony.{key}", "names must be distinct")
        return tuple(v)

    name = s("name")
    if not _NAME_RE.fullmatch(name):
        raise CeremonyFileError(f"{where}: ceremony.name", "letters, digits, . _ - only")
    custodians = names("custodians")
    witnesses = names("witnesses")
    threshold = head["threshold"]
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise CeremonyFileError(f"{where}: ceremony.threshold", "must be an integer")
    if not 2 <= threshold <= len(custodians):
        raise CeremonyFileError(
            f"{where}: ceremony.threshold",
            f"must be between 2 and the number of custodians ({len(custodians)}): "
            "no single person may hold the PIN",
        )
    if set(witnesses) & {head["operator"]}:
        raise CeremonyFileError(f"{where}: ceremony.witnesses", "the operator cannot witness")
    slot = head.get("slot")
    if slot is not None and (not isinstance(slot, int) or isinstance(slot, bool) or slot < 0):
        raise CeremonyFileError(f"{where}: ceremony.slot", "must be a non-negative integer")
    steps_raw = doc.get("step")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise CeremonyFileError(where, "no [[step]] tables")
    base = path.parent
    steps = tuple(_step(i, st, where, base) for i, st in enumerate(steps_raw, 1))
    transcript = Path(s("transcript"))
    return Ceremony(
        path=path,
        text=raw.decode("utf-8"),  # parse() has checked it is UTF-8
        sha256=hashlib.sha256(raw).hexdigest(),
        name=name,
        description=head.get("description", ""),
        token_label=s("token_label"),
        slot=slot,
        operator=s("operator"),
        custodians=custodians,
        threshold=threshold,
        witnesses=witnesses,
        transcript=transcript if transcript.is_absolute() else (base / transcript).resolve(),
        sign_transcript_with=s("sign_transcript_with"),
        steps=steps,
    )


def _no_secrets(value: Any, where: str, path: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if _SECRET_WORDS.search(str(k)):
                raise CeremonyFileError(
                    f"{where}: {here}",
                    "ceremony files hold no secrets (PINs come from custodians at run time)",
                )
            _no_secrets(v, where, here)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_secrets(v, where, f"{path}[{i}]")


def _time(value: Any, where: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise CeremonyFileError(where, f"{value!r} is not an RFC 3339 time") from None
    if not isinstance(value, dt.datetime):
        raise CeremonyFileError(where, "must be a date-time with an offset")
    if value.tzinfo is None:
        raise CeremonyFileError(where, "needs an offset (Z for UTC): times are never local")
    if value.microsecond:
        raise CeremonyFileError(where, "certificates carry whole seconds")
    return value.astimezone(dt.UTC)


def _step(number: int, st: Any, where: str, base: Path) -> StepSpec:
    at = f"{where}: step[{number}]"
    if not isinstance(st, dict):
        raise CeremonyFileError(at, "must be a table")
    for key in strict_toml.unknown_keys(st, STEP_KEYS):
        raise CeremonyFileError(f"{at}.{key}", "unknown key")
    stype = st.get("type")
    if not isinstance(stype, str) or not stype:
        raise CeremonyFileError(f"{at}.type", "required")
    kw: dict[str, Any] = {"number": number, "type": stype, "title": st.get("title", stype)}
    for key in ("ca", "issuer", "key_label", "profile", "replaces"):
        if key in st:
            v = st[key]
            if not isinstance(v, str) or not _NAME_RE.fullmatch(v):
                raise CeremonyFileError(f"{at}.{key}", "1-64 letters, digits, . _ -")
            kw[key] = v
    if "serial" in st:
        v = st["serial"]
        if not isinstance(v, str) or not _SERIAL_RE.fullmatch(v.replace(":", "")):
            raise CeremonyFileError(f"{at}.serial", "a hexadecimal serial number (as a string)")
        kw["serial"] = v.replace(":", "").lower().lstrip("0") or "0"
    if "reason" in st:
        if st["reason"] not in REASONS or st["reason"] == "certificateHold":
            raise CeremonyFileError(
                f"{at}.reason", f"one of {', '.join(r for r in REASONS if r != 'certificateHold')}"
            )
        kw["reason"] = st["reason"]
    if "key_type" in st:
        try:
            kw["key_type"] = KeySpec.parse(str(st["key_type"]))
        except ValueError as ex:
            raise CeremonyFileError(f"{at}.key_type", str(ex)) from None
    if "subject" in st:
        subj = st["subject"]
        if not isinstance(subj, dict) or not all(isinstance(v, str) for v in subj.values()):
            raise CeremonyFileError(f"{at}.subject", "must be a table of strings")
        kw["subject"] = dict(subj)
    for key in ("not_before", "not_after", "next_update", "switch_at"):
        if key in st:
            kw[key] = _time(st[key], f"{at}.{key}")
    if "csr" in st:
        if not isinstance(st["csr"], str):
            raise CeremonyFileError(f"{at}.csr", "must be a path")
        kw["csr"] = (base / st["csr"]).resolve()
    if "certificate" in st:
        if not isinstance(st["certificate"], str):
            raise CeremonyFileError(f"{at}.certificate", "must be a path")
        kw["certificate"] = (base / st["certificate"]).resolve()
    if "service_url" in st:
        url = st["service_url"]
        if not isinstance(url, str) or not _URL_RE.fullmatch(url):
            raise CeremonyFileError(
                f"{at}.service_url", "an http(s) URL without a trailing slash, query or fragment"
            )
        kw["service_url"] = url
    if "outputs" in st:
        outs = st["outputs"]
        if not isinstance(outs, dict) or not all(isinstance(v, str) for v in outs.values()):
            raise CeremonyFileError(f"{at}.outputs", "must be a table of paths")
        kw["outputs"] = {k: (base / v).resolve() for k, v in outs.items()}
    spec = StepSpec(**kw)
    if spec.not_before and spec.not_after:
        if spec.not_after <= spec.not_before:
            raise CeremonyFileError(f"{at}.not_after", "must be after not_before")
        if spec.validity_days is None:
            raise CeremonyFileError(
                f"{at}.not_after",
                "must be not_before + whole days - 1 second (validity is inclusive, "
                "RFC 5280 §4.1.2.5), e.g. 2026-01-01T00:00:00Z .. 2045-12-31T23:59:59Z",
            )
    return spec
