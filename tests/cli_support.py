"""Running the real ``psre`` command in a scratch directory, and serving it over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PSRE = [sys.executable, "-m", "ca_core.cli"]
REPO = Path(__file__).resolve().parents[1]


@dataclass
class PsreEnv:
    """A psre installation in ``root``: its own psre.toml, var/ and SoftHSM token."""

    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "psre.toml"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PSRE_")}
        env.pop("SOFTHSM2_CONF", None)
        env.update({"PSRE_CONFIG": str(self.config), "PYTHONPATH": str(REPO)})
        env.update(self.extra_env)
        return env

    def run(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [*PSRE, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            input=input,
            timeout=300,
            check=False,
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"psre {' '.join(args)} exited {res.returncode}\n{res.stdout}\n{res.stderr}"
            )
        return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback test URL
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@contextmanager
def serving(env: PsreEnv, timeout: float = 60.0) -> Iterator[str]:
    """``psre serve`` (gunicorn) for ``env`` on a free port; yields its base URL."""
    with serving_process(env, timeout) as (base, _):
        yield base


@contextmanager
def serving_process(
    env: PsreEnv, timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`serving`, also yielding the ``psre serve`` process (to watch its process tree)."""
    port = free_port()
    proc = subprocess.Popen(
        [*PSRE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=env.root,
        env=env.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", timeout=timeout)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, for urllib (which has no encoder)."""
    import secrets

    boundary = f"psre-{secrets.token_hex(12)}"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, (filename, data) in files.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
