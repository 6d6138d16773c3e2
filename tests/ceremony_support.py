"""Ceremony files for the tests: a full hierarchy in one file, parts of it, and broken ones."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

HEAD = """\
[ceremony]
name = "{name}"
token_label = "{token}"
operator = "Test Operator"
custodians = ["Custodian A", "Custodian B", "Custodian C"]
threshold = 2
witnesses = ["Witness 1", "Witness 2"]
transcript = "out/{name}.jsonl"
sign_transcript_with = "{sign_with}"
"""

ROOT = """
[[step]]
type = "root-key"
title = "Root key and certificate"
ca = "{root}"
key_label = "{tag}-root"
key_type = "ec-p384"
profile = "root-ca"
subject = {{ C = "ID", O = "PSrE Uji", CN = "PSrE Uji Root {tag}" }}
not_before = {nb}
not_after = {root_na}
outputs = {{ certificate = "out/root.pem" }}
"""

ISSUING = """
[[step]]
type = "intermediate-key"
title = "Issuing CA key and CSR"
key_label = "{tag}-issuing"
key_type = "ec-p384"
profile = "issuing-ca"
subject = {{ C = "ID", O = "PSrE Uji", CN = "{issuing_cn}" }}
outputs = {{ csr = "out/issuing.csr" }}

[[step]]
type = "intermediate-cert"
title = "Root certifies the issuing CA"
ca = "{issuing}"
issuer = "{root}"
key_label = "{tag}-issuing"
csr = "out/issuing.csr"
profile = "issuing-ca"
subject = {{ C = "ID", O = "PSrE Uji", CN = "{issuing_cn}" }}
not_before = {nb}
not_after = {issuing_na}
outputs = {{ certificate = "out/issuing.pem" }}
"""

DELEGATED = """
[[step]]
type = "ocsp-signer"
title = "OCSP responder"
issuer = "{issuing}"
key_label = "{tag}-ocsp"
key_type = "ec-p256"
profile = "ocsp-signer"
subject = {{ C = "ID", O = "PSrE Uji", CN = "PSrE Uji OCSP" }}
not_before = {nb}
not_after = {ocsp_na}
outputs = {{ certificate = "out/ocsp.pem" }}

[[step]]
type = "tsa"
title = "Time-stamping unit"
issuer = "{issuing}"
key_label = "{tag}-tsa"
key_type = "ec-p256"
profile = "tsa"
subject = {{ C = "ID", O = "PSrE Uji", CN = "PSrE Uji TSA" }}
not_before = {nb}
not_after = {tsa_na}
outputs = {{ certificate = "out/tsa.pem" }}
"""


def dates() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def z(days: int) -> str:
        t = today + dt.timedelta(days=days) - dt.timedelta(seconds=1)
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "nb": today.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "root_na": z(3650),
        "issuing_na": z(1825),
        "ocsp_na": z(90),
        "tsa_na": z(365),
    }


def ceremony_file(
    directory: Path,
    token: str,
    *parts: str,
    tag: str | None = None,
    sign_with: str | None = None,
    name: str = "test",
    root: str = "root-ca",
    issuing: str = "issuing-ca",
    issuing_cn: str = "PSrE Uji Issuing CA",
) -> tuple[Path, str]:
    """Write a ceremony file of ``parts`` (ROOT, ISSUING, DELEGATED) into ``directory``."""
    tag = tag or f"c{secrets.token_hex(3)}"
    values = {
        "name": name,
        "token": token,
        "tag": tag,
        "root": root,
        "issuing": issuing,
        "issuing_cn": issuing_cn,
        "sign_with": sign_with or f"{tag}-root",
        **dates(),
    }
    text = HEAD.format(**values) + "".join(p.format(**values) for p in parts)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path, tag


DEV_TOKEN = "psre-dev"


def run_ceremony(env, name: str, steps: str, sign_with: str, token: str = DEV_TOKEN) -> Path:
    """Write HEAD + ``steps`` (with dates() and the HEAD values filled in) under
    ``env.root/ceremonies/`` and run it with ``psre ceremony run --yes``; returns the file."""
    values = {"name": name, "token": token, "sign_with": sign_with, **dates()}
    directory = env.root / "ceremonies"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(HEAD.format(**values) + steps.format(**values), encoding="utf-8")
    res = env.run("ceremony", "run", str(path), "--yes")
    assert f"ceremony {name} complete" in res.stdout, res.stdout + res.stderr
    return path
