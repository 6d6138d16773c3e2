"""Running the real ``psre`` command in a scratch directory, and serving it over real HTTP."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PSRE = [sys.executable, "-m", "psre.cli"]
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
        # No metrics listener on the fixed default port: servers of parallel test runs would
        # fight over it (tests/test_metrics.py gives its own a free port).
        env["PSRE_METRICS_LISTEN"] = ""
        env.update(self.extra_env)
        return env

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [*PSRE, *args],
            cwd=self.root,
            env={**self.env(), **(extra_env or {})},
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
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@dataclass
class Serving:
    """A running ``psre serve``: its base URL, its process and (when asked for) its log."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path | None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


@contextmanager
def served(
    env: PsreEnv,
    timeout: float = 60.0,
    log: Path | None = None,
    *,
    with_stdout: bool = True,
    port: int | None = None,
) -> Iterator[Serving]:
    """``psre serve`` (gunicorn) for ``env`` on ``port`` (default: a free one). A port chosen
    before ``psre init`` lets certificates point their AIA and CRL DP here. Its standard error
    (and standard output, the access log, unless ``with_stdout`` is false) goes to ``log`` when
    given (a file, so no pipe fills up), else nowhere."""
    port = port or free_port()
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [*PSRE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=env.root,
        env=env.env(),
        stdout=out if with_stdout else subprocess.DEVNULL,
        stderr=out,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", timeout=timeout)
        yield Serving(base, proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if log is not None:
            out.close()  # type: ignore[union-attr]


@contextmanager
def serving(
    env: PsreEnv,
    timeout: float = 60.0,
    stderr_to: Path | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """``psre serve`` (gunicorn) for ``env`` on ``port`` (default: a free one); yields its base
    URL. Its standard error goes to ``stderr_to`` when given, else nowhere."""
    with served(env, timeout, stderr_to, with_stdout=False, port=port) as s:
        yield s.url


@dataclass(frozen=True)
class EsignInstall:
    """An installation ready for the e-sign API: a client app and one signer with a key."""

    env: PsreEnv
    username: str
    password: str
    nik: str
    passphrase: str


def install_esign(
    env: PsreEnv,
    *,
    nik: str = "3174051203900001",
    passphrase: str = "rahasia-tte-2026",  # noqa: S107 - a test signer's passphrase
    name: str = "Rina Wulandari",
    email: str = "rina.wulandari@kemenkeu.go.id",
) -> EsignInstall:
    """``psre init`` with the demo PKI, ``client add``, ``subscriber add`` and ``issue``, as an
    operator does it, and the signer choosing ``passphrase`` with their enrolment code; the
    signer's certificate is left in ``<root>/signer.pem``."""
    env.run("init")
    creds = json.loads(env.run("client", "add", "siMAYA Uji", "--json").stdout)
    env.run(
        "subscriber", "add", "--nik", nik, "--name", name, "--email", email,
        "--agency", "Kementerian Keuangan",
    )  # fmt: skip
    env.run(
        "issue", "--profile", "natural-person", "--subscriber", nik,
        "--out", str(env.root / "signer.pem"),
    )  # fmt: skip
    choose_passphrase_in_app(env, email, passphrase)
    return EsignInstall(env, creds["username"], creds["password"], nik, passphrase)


def add_signer(
    env: PsreEnv, base_url: str, nik: str, email: str, passphrase: str, key_type: str = "ec-p256"
) -> str:
    """As an operator (``subscriber add``, ``issue --key-type``) and the signer (sets their
    passphrase on the page served at ``base_url``): one more signer of ``env``; returns the
    certificate's serial (hex)."""
    from cryptography import x509

    env.run(
        "subscriber", "add", "--nik", nik, "--name", "Dewi Lestari", "--email", email,
        "--agency", "Kementerian Keuangan",
    )  # fmt: skip
    out = env.root / f"{nik}.pem"
    env.run(
        "issue", "--profile", "natural-person", "--subscriber", nik, "--key-type", key_type,
        "--out", str(out),
    )  # fmt: skip
    choose_passphrase(env, base_url, email, passphrase)
    return format(x509.load_pem_x509_certificate(out.read_bytes()).serial_number, "x")


def add_agency(
    env: PsreEnv, base_url: str, org: str, name: str, email: str, passphrase: str
) -> None:
    """An agency with a ``legal-person-seal`` certificate, its passphrase set on the page."""
    env.run("subscriber", "add", "--org-id", org, "--name", name, "--email", email)
    env.run(
        "issue", "--profile", "legal-person-seal", "--subscriber", org,
        "--out", str(env.root / f"{org}.pem"),
    )  # fmt: skip
    choose_passphrase(env, base_url, email, passphrase)


@contextmanager
def nginx_serving(prefix: Path, site: str, url: str, timeout: float = 20.0) -> Iterator[None]:
    """A real nginx (foreground child process, everything under ``prefix``) with the ``http {}``
    block contents ``site``, until ``url`` answers and for the block; stopped after."""
    prefix.mkdir(parents=True, exist_ok=True)
    temps = " ".join(
        f"{d}_temp_path {prefix / d};" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the test's tmp dirs
    main = prefix / "nginx.conf"
    main.write_text(
        f"{user} worker_processes 1; daemon off; pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'};\nevents {{ worker_connections 512; }}\n"
        f"http {{ {temps}\n{site}\n}}\n"
    )
    proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(main)])
    try:
        wait_http(url, timeout=timeout)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def outbox_take(env: PsreEnv) -> list[dict[str, str]]:
    """What a mail gateway gets from ``psre outbox take`` (the messages leave the outbox)."""
    out = env.run("outbox", "take", "--limit", "10000").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def enrolment_code(messages: list[dict[str, str]], email: str) -> str:
    """The newest enrolment code sent to ``email`` among gateway ``messages``."""
    from tests.esign_support import ENROLMENT_RE

    codes = [
        m.group(1)
        for msg in messages
        if msg["recipient"] == email and (m := re.search(ENROLMENT_RE, msg["body"]))
    ]
    assert codes, f"no enrolment code for {email}"
    return codes[-1]


def set_passphrase_over_http(base_url: str, code: str, passphrase: str) -> int:
    """The subscriber on psre's public page: GET the form (CSRF cookie and token), POST it.
    Returns the HTTP status of the POST."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base_url}/passphrase", timeout=30) as r:
        page = r.read().decode()
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, "no CSRF token on /passphrase"
    form = {"csrf_token": m.group(1), "code": code, "passphrase": passphrase, "repeat": passphrase}
    data = urllib.parse.urlencode(form).encode()
    try:
        with opener.open(f"{base_url}/passphrase", data=data, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as ex:
        return ex.code


def choose_passphrase(env: PsreEnv, base_url: str, email: str, passphrase: str) -> None:
    """After ``psre subscriber add``: the gateway delivers the enrolment code, and the
    subscriber sets their own passphrase on the page served at ``base_url``."""
    code = enrolment_code(outbox_take(env), email)
    assert set_passphrase_over_http(base_url, code, passphrase) == 200


def choose_passphrase_in_app(env: PsreEnv, email: str, passphrase: str) -> None:
    """As :func:`choose_passphrase`, on the page of the installation's app run in this process
    (Flask's test client) when no ``psre serve`` is running yet."""
    from ca_core.config import load_config
    from psre.app import create_app
    from tests.web_support import set_passphrase_on_page

    code = enrolment_code(outbox_take(env), email)
    app = create_app(load_config(env.config, env=env.env()))
    try:
        resp = set_passphrase_on_page(app.test_client(), code, passphrase)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    finally:
        app.extensions["psre"].close()


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
