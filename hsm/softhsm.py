"""SoftHSM2 as psre's embedded token: its config file, and creating a token with fresh PINs.

The dev token's PINs are random, written once to files under ``data_dir/secrets`` (mode 0600)
that the configuration's ``pin_source`` points at. A production HSM gets its PINs from an
operator prompt, an environment variable or a ceremony's custodians instead.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pkcs11
from pkcs11 import TokenFlag

from hsm.errors import HsmError
from hsm.p11lib import ModuleControl, load_module


def write_softhsm_conf(conf_path: Path, token_dir: Path) -> None:
    """Write SoftHSM2's config (tokens under ``token_dir``) unless it exists, and export it."""
    token_dir.mkdir(parents=True, exist_ok=True)
    if not conf_path.exists():
        conf_path.parent.mkdir(parents=True, exist_ok=True)
        conf_path.write_text(
            f"directories.tokendir = {token_dir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )
    use_softhsm_conf(conf_path)


def use_softhsm_conf(conf_path: Path) -> None:
    # SoftHSM reads SOFTHSM2_CONF once, at C_Initialize: set it before the module loads.
    os.environ["SOFTHSM2_CONF"] = str(conf_path)


def write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")


def new_pin() -> str:
    return secrets.token_urlsafe(18)


def token_exists(module: str, label: str) -> bool:
    lib = load_module(module)
    return any(t.label == label for t in (s.get_token() for s in lib.get_slots(token_present=True)))


def init_token(module: str, label: str, so_pin: str, user_pin: str) -> None:
    """Initialise a free slot as token ``label`` and set its user PIN."""
    lib = load_module(module)
    if token_exists(module, label):
        raise HsmError(f"a token labelled '{label}' already exists")
    free = [
        s
        for s in lib.get_slots(token_present=True)
        if not (s.get_token().flags & TokenFlag.TOKEN_INITIALIZED)
    ]
    if not free:
        raise HsmError("no free slot to initialise a token in")
    ModuleControl(module).init_token(free[0].slot_id, so_pin, label)
    token = lib.get_token(token_label=label)
    try:
        with token.open(rw=True, so_pin=so_pin) as session:
            session.init_pin(user_pin)
    except pkcs11.PKCS11Error as ex:
        raise HsmError(
            f"setting the user PIN of token '{label}' failed: {type(ex).__name__}"
        ) from None
