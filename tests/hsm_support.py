"""A real SoftHSM2 token for the tests, made once per test session in a temporary directory.

SoftHSM reads SOFTHSM2_CONF once per process, at C_Initialize, so every test in the run shares
one token directory; tests that need a token of their own create another one in it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend
from hsm.softhsm import init_token

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class TestToken:
    module: str
    label: str
    user_pin: str
    so_pin: str
    conf: Path

    def backend(self, **kwargs: object) -> Pkcs11Backend:
        return Pkcs11Backend(self.module, self.label, PinSource.literal(self.user_pin), **kwargs)


def make_token(conf: Path, label: str | None = None) -> TestToken:
    label = label or f"t-{secrets.token_hex(4)}"
    user_pin, so_pin = secrets.token_hex(8), secrets.token_hex(8)
    init_token(MODULE, label, so_pin, user_pin)
    return TestToken(MODULE, label, user_pin, so_pin, conf)


# -- pytest fixtures (registered by tests/conftest.py through pytest_plugins) ---------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def softhsm_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hsm.softhsm import write_softhsm_conf

    base = tmp_path_factory.mktemp("softhsm")
    conf = base / "softhsm2.conf"
    write_softhsm_conf(conf, base / "tokens")
    return conf


@pytest.fixture(scope="session")
def token(softhsm_conf: Path) -> TestToken:
    """The test run's shared SoftHSM token."""
    return make_token(softhsm_conf, "psre-test")


@pytest.fixture(scope="session")
def backend(token: TestToken):
    b = token.backend()
    yield b
    b.close()
