"""The demo hierarchy ``psre init`` makes on the dev token: a root and one issuing CA.

Idempotent: whatever exists is kept, whatever is missing is made. The scripted, witnessed key
ceremonies (ceremony_scripts/) are the production path; this is the newcomer's one command.
"""

from __future__ import annotations

from collections.abc import Callable

from ca_core.authority import CaSpec, create_issuing, create_root
from ca_core.errors import NotFoundError
from ca_core.runtime import Runtime
from hsm.backend import KeySpec

ROOT = CaSpec(
    "root-ca",
    "demo-root-ca",
    KeySpec.EC_P384,
    {"C": "ID", "O": "PSrE Demo", "CN": "PSrE Demo Root CA"},
    validity_days=7300,
)
ISSUING = CaSpec(
    "issuing-ca",
    "demo-issuing-ca",
    KeySpec.EC_P384,
    {"C": "ID", "O": "PSrE Demo", "CN": "PSrE Demo Issuing CA"},
    validity_days=3650,
)


def _exists(rt: Runtime, name: str) -> bool:
    try:
        return rt.store.get_ca(name).certificate_der is not None
    except NotFoundError:
        return False


def ensure_demo_pki(rt: Runtime, echo: Callable[[str], None] = print) -> None:
    if not _exists(rt, ROOT.name):
        issued = create_root(rt.store, rt.backend, rt.issuer, ROOT, actor="psre-init")
        echo(f"demo root CA '{ROOT.name}' created (sha256 {issued.fingerprint_sha256})")
    if not _exists(rt, ISSUING.name):
        issued = create_issuing(
            rt.store, rt.backend, rt.issuer, ISSUING, parent=ROOT.name, actor="psre-init"
        )
        echo(f"demo issuing CA '{ISSUING.name}' created (sha256 {issued.fingerprint_sha256})")
    echo(f"demo PKI ready: {ROOT.name} -> {ISSUING.name}")
