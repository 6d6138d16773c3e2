"""OCSP requests/s and p99 with wrk on 127.0.0.1, each next to its references in the same run.

Run: .venv/bin/python bench/ocsp_rate.py [--seconds 5] [--connections 64]

Makes a scratch installation (``psre init``: demo PKI, pre-signed responses, static files), then
measures with ``wrk`` (2 threads; client and servers share this machine's cores):

  ceiling   nginx serving a static file of the same size as a response
  (a)       pre-signed GET through the shipped nginx config (deploy/nginx, static file hit)
  bare      a WSGI app returning fixed bytes, gunicorn -w 2 -k gthread --threads 4
  (b) GET   the Python responder (same gunicorn settings), canonical GET URL
  (b) POST  the Python responder, nonce-less POST
  (c)       nonce POST: signed live in SoftHSM by each request
  peer      openssl ocsp -index … -multi 2 (signs every answer, software key)

Goals: (a) >= 50 % of the ceiling and >= 5x the peer; (b) >= 80 % of bare WSGI; no failed or
hung requests. Prints the table and the ratios.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from ocsp.nginx import NginxSite, render  # noqa: E402
from tests.cli_support import free_port, wait_http  # noqa: E402

PY = sys.executable


@dataclass
class Result:
    name: str
    rps: float
    p99_ms: float
    errors: int
    non2xx: int


def wrk(name: str, url: str, seconds: float, conns: int, lua: Path | None = None) -> Result:
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{int(seconds)}s", "--latency", "--timeout", "5s"]
    if lua:
        cmd += ["-s", str(lua)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else -1
    err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(x) for x in err.groups()) if err else 0
    n2 = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(name, rps, p99, errors, int(n2.group(1)) if n2 else 0)


def post_script(path: Path, body: bytes) -> Path:
    # wrk's LuaJIT: the binary body as decimal escapes.
    escaped = "".join(f"\\{b}" for b in body)
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = "{escaped}"\n'
        'wrk.headers["Content-Type"] = "application/ocsp-request"\n'
    )
    return path


@contextlib.contextmanager
def proc(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
         log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    out = log.open("wb") if log else subprocess.DEVNULL
    # A session of its own: `openssl ocsp -multi` and gunicorn fork children that a plain
    # terminate() of the parent would leave running (seen: peers spinning for an hour).
    p = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield p
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    for tool in ("wrk", "nginx", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (tools/sysdeps.sh installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="psre-ocsp-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSRE_")}
    env.pop("SOFTHSM2_CONF", None)
    env.update(PSRE_CONFIG=str(tmp / "psre.toml"), PYTHONPATH=str(REPO))
    print(f"setting up in {tmp} (psre init) …", flush=True)
    subprocess.run([PY, "-m", "psre.cli", "init"], env=env, cwd=tmp, check=True,
                   capture_output=True)  # fmt: skip

    # A good certificate issued by the issuing CA (the demo TSA) and its issuer.
    db = sqlite3.connect(tmp / "var" / "psre.sqlite3")
    (cert_der,) = db.execute("select der from certificates where profile = 'tsa'").fetchone()
    (ca_der,) = db.execute(
        "select certificate_der from certificate_authorities where name = 'issuing-ca'"
    ).fetchone()
    db.close()
    cert = x509.load_der_x509_certificate(cert_der)
    issuer = x509.load_der_x509_certificate(ca_der)
    sha1 = hashes.SHA1()  # noqa: S303 - the CertID hash clients send
    req = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, sha1).build()).public_bytes(
        serialization.Encoding.DER
    )
    nonce_req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, sha1)
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    b64 = base64.b64encode(req).decode()
    static_file = tmp / "var" / "public" / "ocsp" / b64
    size = static_file.stat().st_size
    post = post_script(tmp / "post.lua", req)
    post_nonce = post_script(tmp / "post-nonce.lua", nonce_req)

    app_port, bare_port, site_port, ceil_port, peer_port = (free_port() for _ in range(5))
    genv = dict(env, PSRE_OCSP_LIVE_RATE="1000000", PSRE_OCSP_LIVE_BURST="1000000",
                BARE_BYTES=str(size))  # fmt: skip
    gunicorn = [PY, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4"]

    # nginx: the shipped site (upstream = the Python responder) + a plain static server.
    ng = tmp / "nginx"
    (ng / "ceiling").mkdir(parents=True)
    shutil.copy(static_file, ng / "ceiling" / "resp.der")
    site = ng / "psre-ocsp.conf"
    site.write_text(render(NginxSite(root=tmp / "var" / "public", listen=f"127.0.0.1:{site_port}",
                                     upstream=f"127.0.0.1:{app_port}")))  # fmt: skip
    temps = " ".join(
        f"{d}_temp_path {ng / d};" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""
    (ng / "nginx.conf").write_text(
        f"{user} worker_processes 2; daemon off; pid {ng / 'nginx.pid'}; error_log {ng / 'e.log'};"
        f"\nevents {{ worker_connections 4096; }}\nhttp {{ {temps} access_log off;\n"
        f"include {site};\n"
        f"server {{ listen 127.0.0.1:{ceil_port}; root {ng / 'ceiling'}; access_log off;\n"
        "  location / { types { } default_type application/ocsp-response; } }\n}\n"
    )

    # The peer: openssl's responder over an index with the same certificate, software key.
    peer = tmp / "peer"
    peer.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench responder")])
    now = dt.datetime.now(dt.UTC)
    rcert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (peer / "rsigner.pem").write_bytes(rcert.public_bytes(serialization.Encoding.PEM))
    (peer / "rkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (peer / "ca.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    exp = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    (peer / "index.txt").write_text(f"V\t{exp}\t\t{cert.serial_number:X}\tunknown\t/CN=tsa\n")

    results: list[Result] = []
    s, c = args.seconds, args.connections
    with (
        proc([*gunicorn, "-b", f"127.0.0.1:{app_port}", "psre.wsgi:create_wsgi()"],
             env=genv, cwd=tmp, log=tmp / "gunicorn.log"),
        proc([*gunicorn, "-b", f"127.0.0.1:{bare_port}", "--chdir", str(REPO / "bench"),
              "bare_wsgi:app"], env=genv, cwd=tmp),
        proc(["nginx", "-p", str(ng), "-c", str(ng / "nginx.conf")]),
        proc(["openssl", "ocsp", "-index", str(peer / "index.txt"), "-port", str(peer_port),
              "-rsigner", str(peer / "rsigner.pem"), "-rkey", str(peer / "rkey.pem"),
              "-CA", str(peer / "ca.pem"), "-multi", "2", "-ignore_err"],
             cwd=peer, log=tmp / "openssl.log"),
    ):  # fmt: skip
        for port in (app_port, bare_port, site_port, ceil_port):
            wait_http(f"http://127.0.0.1:{port}/", timeout=60)
        time.sleep(1)
        # Warm the responder's index in both workers.
        for _ in range(20):
            urllib.request.urlopen(f"http://127.0.0.1:{app_port}/ocsp/{b64}").read()
        runs = [
            ("ceiling: nginx static file", f"http://127.0.0.1:{ceil_port}/resp.der", None),
            ("(a) pre-signed GET via nginx", f"http://127.0.0.1:{site_port}/ocsp/{b64}", None),
            ("bare WSGI (gunicorn)", f"http://127.0.0.1:{bare_port}/", None),
            ("(b) Python GET", f"http://127.0.0.1:{app_port}/ocsp/{b64}", None),
            ("(b) Python POST", f"http://127.0.0.1:{app_port}/ocsp", post),
            ("(c) nonce POST, live HSM", f"http://127.0.0.1:{app_port}/ocsp", post_nonce),
            ("peer: openssl ocsp -multi 2", f"http://127.0.0.1:{peer_port}/", post),
        ]
        for name, url, lua in runs:
            results.append(wrk(name, url, s, c, lua))
            r = results[-1]
            print(f"{r.name:32} {r.rps:10.0f} req/s   p99 {r.p99_ms:8.2f} ms   "
                  f"errors {r.errors}  non-2xx {r.non2xx}", flush=True)  # fmt: skip
    by = {r.name: r for r in results}
    ceiling = by["ceiling: nginx static file"].rps
    a = by["(a) pre-signed GET via nginx"].rps
    bare = by["bare WSGI (gunicorn)"].rps
    peer_rps = by["peer: openssl ocsp -multi 2"].rps
    print()
    print(f"response size {size} bytes; wrk -t2 -c{c} -d{s}s on {os.cpu_count()} cores")
    print(f"(a) / ceiling      = {a / ceiling:6.2f}   (goal >= 0.50)")
    print(f"(a) / peer         = {a / peer_rps:6.2f}   (goal >= 5)")
    for k in ("(b) Python GET", "(b) Python POST"):
        print(f"{k} / bare = {by[k].rps / bare:6.2f}   (goal >= 0.80)")
    print(f"(c) live / peer    = {by['(c) nonce POST, live HSM'].rps / peer_rps:6.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
