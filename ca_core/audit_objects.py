"""The ``object`` of an audit event, built in one place.

People and tools search the log by these strings, so every writer must spell them the same
way: a certificate is always named with its CA, since serials are unique only per issuer.
(Other processes follow status changes through the ``status_changes`` table, not the log.)
Kept free of SQLAlchemy: the CLI and the HSM commands build objects without the models.
"""

from __future__ import annotations


def certificate(ca: str, serial_hex: str) -> str:
    """``certificate:<ca>:<serial hex>``."""
    return f"{certificate_prefix(ca)}{serial_hex}"


def certificate_prefix(ca: str) -> str:
    """What every certificate object of ``ca`` starts with (for prefix matching)."""
    return f"certificate:{ca}:"


def ca(name: str) -> str:
    return f"ca:{name}"


def subscriber(key: str) -> str:
    """A subscriber by NIK (person) or organizationIdentifier (agency)."""
    return f"subscriber:{key}"


def subscriber_record(nik: str | None, organization_identifier: str | None) -> str:
    """A subscriber from its record: a person has a NIK, an agency an organizationIdentifier."""
    key = nik or organization_identifier
    if not key:
        raise ValueError("a subscriber record has a NIK or an organizationIdentifier")
    return subscriber(key)


def key(label: str) -> str:
    """A key pair on the token, by label."""
    return f"key:{label}"


def client(username: str) -> str:
    """A client application of the e-sign API."""
    return f"client:{username}"


def operator(name: str) -> str:
    """An operator of the web console."""
    return f"operator:{name}"


def recognized(name: str) -> str:
    """A CA the PSrE Induk recognizes (a licensed PSrE's CA, a cross-certified foreign root)."""
    return f"recognized:{name}"


def token(label: str) -> str:
    """An HSM token, by label."""
    return f"token:{label}"


def crl(ca: str) -> str:
    """The CRLs of a CA."""
    return f"crl:{ca}"


def ceremony(name: str) -> str:
    """A key ceremony, by the name in its file."""
    return f"ceremony:{name}"


def ceremony_step(number: int) -> str:
    """A step of the ceremony being run (its transcript names the ceremony)."""
    return f"step:{number}"


def ceremony_file(path: object) -> str:
    """A file a ceremony reads or writes (a CSR, a certificate), by its path."""
    return f"file:{path}"
