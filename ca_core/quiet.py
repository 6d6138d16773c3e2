"""Dependency warnings that tell a psre operator nothing, silenced at the entry points."""

from __future__ import annotations

import warnings


def silence_dependency_warnings() -> None:
    """Hide import-time notices of dependencies about features psre never uses.

    pyHanko imports cryptography's ``DSAPrivateKey`` for its generic signer, and cryptography
    announces DSA's deprecation on that import: a line on every command that signs or verifies.
    psre neither issues to nor signs with DSA keys (``keycheck`` refuses them), so the notice is
    noise. Only that message, and only when raised from pyHanko's modules, is hidden.
    """
    warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko(\..*)?$")
