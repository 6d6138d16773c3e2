"""The demo hierarchy ``psre init`` makes on the dev token: root, issuing CA, OCSP signer, TSA.

It is made by running the demo key ceremonies (ceremony_scripts/demo/) unattended, the same
runner and step code as a witnessed production ceremony, so the newcomer's PKI comes with
transcripts ``psre ceremony verify`` can check. Idempotent: whatever exists is kept, whatever is
missing is made.
"""

from __future__ import annotations

from collections.abc import Callable

from ca_core.runtime import Runtime

ROOT_NAME = "root-ca"
ISSUING_NAME = "issuing-ca"


def ensure_demo_pki(rt: Runtime, echo: Callable[[str], None] = print) -> None:
    from ceremony_scripts.demo import ensure_demo_ceremonies

    ensure_demo_ceremonies(rt, echo)
    echo(f"demo PKI ready: {ROOT_NAME} -> {ISSUING_NAME}")
