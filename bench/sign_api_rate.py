"""PDF signatures through the e-sign HTTP API next to the same engine called in-process.

Run: .venv/bin/python bench/sign_api_rate.py [--seconds 10] [--clients 4] [--big-mb 5]

Sets up a scratch installation with the real CLI (``psre init`` with the demo PKI, ``psre
client add``, ``psre subscriber add`` and the signer's own passphrase, ``psre issue``), then
measures for B-B and B-LT on a 1-page and a ``--big-mb`` PDF:

- in-process: ``signing_api.pdf_sign.sign_pdf`` in a loop (one thread), the API's ceiling;
- HTTP: ``POST /api/v2/sign/pdf`` against ``psre serve`` (gunicorn, 2 workers) from
  ``--clients`` concurrent connections, one file per request (each request pays the signer's
  scrypt passphrase check, ~50 ms of CPU, on purpose), and bulk: ``--bulk`` files per request
  under one passphrase check.

Prints signatures/s, p50/p99 latency per request, and the HTTP/in-process ratio.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cli_support import free_port, wait_http  # noqa: E402
from tests.pdf_support import minimal_pdf  # noqa: E402

NIK = "3174051203900009"
PASSPHRASE = "bench-passphrase-2026"
LEVELS = ("B-B", "B-LT")


def big_pdf(megabytes: int) -> bytes:
    """A valid PDF of about ``megabytes`` MB: one page plus an unreferenced-looking blob that
    is nonetheless a real object (a stream), so the file parses and signs normally."""
    blob = os.urandom(megabytes * 1024 * 1024)
    base = minimal_pdf("bench big document")
    # Append as an incremental update: a stream object and a new trailer chaining to the old.
    startxref = int(base.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    obj = b"6 0 obj\n<< /Length %d >>\nstream\n" % len(blob) + blob + b"\nendstream\nendobj\n"
    off = len(base)
    xref = off + len(obj)
    tail = b"xref\n0 1\n0000000000 65535 f \n6 1\n%010d 00000 n \n" % off
    tail += b"trailer\n<< /Size 7 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        startxref,
        xref,
    )
    return base + obj + tail


def psre(env: dict[str, str], cwd: Path, *args: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "psre.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"psre {' '.join(args)}: {res.stderr}")
    return res.stdout


def setup(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSRE_")}
    env.pop("SOFTHSM2_CONF", None)
    env.update(
        {
            "PSRE_CONFIG": str(root / "psre.toml"),
            "PYTHONPATH": str(ROOT),
            "PSRE_PUBLIC_BASE_URL": "http://pki.psre-uji.id",
            "PSRE_LOG_LEVEL": "WARNING",
        }
    )
    psre(env, root, "init")
    creds = json.loads(psre(env, root, "client", "add", "bench", "--json"))
    psre(
        env,
        root,
        "subscriber",
        "add",
        "--nik",
        NIK,
        "--name",
        "Bench Signer",
        "--email",
        "bench.signer@kemenkeu.go.id",
        "--agency",
        "Kementerian Keuangan",
    )
    psre(env, root, "issue", "--profile", "natural-person", "--subscriber", NIK, "--out", "s.pem")
    choose_passphrase(env, root)
    return env, creds


def choose_passphrase(env: dict[str, str], root: Path) -> None:
    """The signer sets their own passphrase with the enrolment code the gateway delivers (done
    in-process here, as the /passphrase page does it)."""
    from signing_api.enrolment import redeem

    code = ""
    for line in psre(env, root, "outbox", "take").splitlines():
        found = re.search(r"Kode aktivasi Anda: ([A-Z2-7-]+)", json.loads(line)["body"])
        code = found.group(1) if found else code
    from ca_core.store import Store

    store = Store.open(f"sqlite:///{root / 'var' / 'psre.sqlite3'}")
    try:
        redeem(store, code, PASSPHRASE)
    finally:
        store.close()


def summary(latencies: list[float], elapsed: float, per_request: int) -> tuple[float, float, float]:
    lat = sorted(latencies)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return len(lat) * per_request / elapsed, statistics.median(lat) * 1000, p99 * 1000


def in_process(env: dict[str, str], data: bytes, level: str, seconds: float) -> tuple:
    os.environ.update({k: v for k, v in env.items() if k.startswith("PSRE_")})
    from ca_core.config import load_config
    from psre.services import Services
    from signing_api.activation import usable_certificate
    from signing_api.pdf_sign import SignOptions, sign_pdf
    from signing_api.runtime import pdf_engine

    rt = Services(load_config())
    sub = rt.store.get_subscriber(NIK)
    from ca_core.store.db import utcnow

    cert = usable_certificate(rt.store, sub, utcnow())
    assert cert is not None
    engine = pdf_engine(rt)
    sign_pdf(engine, data, cert, SignOptions(level=level))  # warm-up: sessions, caches
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < stop:
        t = time.perf_counter()
        sign_pdf(engine, data, cert, SignOptions(level=level))
        lat.append(time.perf_counter() - t)
    result = summary(lat, time.perf_counter() - t0, 1)
    rt.close()
    return result


def over_http(
    url: str, creds: dict[str, str], data: bytes, level: str, seconds: float, clients: int, n: int
) -> tuple:
    body = json.dumps(
        {
            "nik": NIK,
            "passphrase": PASSPHRASE,
            "signatureProperties": [{"level": level}],
            "file": [base64.b64encode(data).decode()] * n,
        }
    ).encode()
    auth = base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}

    errors: list[str] = []

    def once() -> None:
        req = urllib.request.Request(f"{url}/api/v2/sign/pdf", data=body, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=300) as r:  # noqa: S310 - loopback
                r.read()
        except urllib.error.HTTPError as ex:
            errors.append(f"{ex.code} {ex.read()[:200]!r}")

    once()  # warm-up: each worker opens its sessions on first use
    once()
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            once()
            with lock:
                lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"  {len(errors)} failed requests, first: {errors[0]}", file=sys.stderr)
    return summary(lat, time.perf_counter() - t0, n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--big-mb", type=int, default=5)
    ap.add_argument("--bulk", type=int, default=10)
    ap.add_argument("--server-log", default=None, help="Write the server's log to this file.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="psre-bench-") as tmp:
        root = Path(tmp)
        env, creds = setup(root)
        docs = {"1 page": minimal_pdf("bench"), f"{args.big_mb} MB": big_pdf(args.big_mb)}
        port = free_port()
        log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL
        server = subprocess.Popen(
            [sys.executable, "-m", "psre.cli", "serve", "--port", str(port)],
            cwd=root,
            env={**env, "PSRE_SERVER_WORKERS": "2", "PSRE_LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=log,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/healthz")
            print(
                f"{'document':8} {'level':5} {'path':22} {'sig/s':>7} {'p50 ms':>8} "
                f"{'p99 ms':>8} {'ratio':>6}"
            )
            for doc_name, data in docs.items():
                for level in LEVELS:
                    base = in_process(env, data, level, args.seconds)
                    rows = [("in-process", base)]
                    rows.append(
                        (
                            f"HTTP x{args.clients}, 1 file",
                            over_http(url, creds, data, level, args.seconds, args.clients, 1),
                        )
                    )
                    if doc_name == "1 page":
                        rows.append(
                            (
                                f"HTTP x{args.clients}, {args.bulk} files",
                                over_http(
                                    url, creds, data, level, args.seconds, args.clients, args.bulk
                                ),
                            )
                        )
                    for path, (rate, p50, p99) in rows:
                        print(
                            f"{doc_name:8} {level:5} {path:22} {rate:7.1f} {p50:8.1f} "
                            f"{p99:8.1f} {rate / base[0]:6.2f}"
                        )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
