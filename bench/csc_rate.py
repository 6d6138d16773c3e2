"""The CSC API's cost: signHash round trips per second through HTTP next to raw HSM
signatures, and a whole pyHanko ``CSCSigner`` PDF signature next to psre's own
``POST /api/v2/sign/pdf`` on the same PDF.

Run: .venv/bin/python bench/csc_rate.py [--seconds 3] [--pdfs 5] [--level B-B]

Sets up a scratch installation with the real CLI (tests.cli_support.install_esign: ``psre
init``, ``client add``, ``subscriber add``, ``issue``, the signer's own passphrase) and
``psre serve`` (gunicorn), then measures, one client at a time:

- raw HSM: ``backend.sign`` of a pre-hashed SHA-256 with the signer's ECDSA key (in-process);
- signHash: ``signatures/signHash`` over HTTP with SADs authorized beforehand (the signing
  call alone);
- authorize + signHash: what a client pays per hash under SCAL 2 (a SAD per signature; the
  passphrase's scrypt is cached by the worker after its first check);
- PDF: pyHanko's CSCSigner (login, credentials/list, credentials/info, authorize, signHash:
  five round trips plus the client's own CMS work) vs /api/v2/sign/pdf, at ``--level``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cli_support import PsreEnv, free_port, install_esign, served
from tests.csc_support import CscAccount, credential_of, csc_call, csc_login, csc_sign_pdf
from tests.pdf_support import minimal_pdf

SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"


def per_second(fn, seconds: float) -> tuple[float, float]:
    """(calls per second, median ms) of ``fn`` run back to back for ``seconds``."""
    times: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return len(times) / sum(times), statistics.median(times) * 1000


def raw_hsm(env: PsreEnv, nik: str, seconds: float) -> tuple[float, float]:
    from ca_core.config import load_config
    from ca_core.store.db import utcnow
    from hsm.backend import SignScheme
    from psre.services import Services
    from signing_api.activation import find_subscriber, usable_certificate

    rt = Services(load_config(env.config, env=env.env()))
    try:
        sub = find_subscriber(rt.store, nik=nik)
        assert sub is not None
        cert = usable_certificate(rt.store, sub, utcnow())
        assert cert is not None and cert.key_label
        digest = hashlib.sha256(os.urandom(32)).digest()
        return per_second(
            lambda: rt.backend.sign(
                cert.key_label, digest, "sha256", SignScheme.ECDSA, prehashed=True
            ),
            seconds,
        )
    finally:
        rt.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--pdfs", type=int, default=5)
    ap.add_argument("--level", default="B-B", choices=["B-B", "B-T"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = PsreEnv(Path(tmp), {"PSRE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
        inst = install_esign(env)
        hsm_rate, hsm_ms = raw_hsm(env, inst.nik, args.seconds)
        with served(env, port=port) as s:
            acct = CscAccount(s.url, inst.username, inst.password)
            token = csc_login(acct)
            cred = credential_of(acct, token, inst.nik)

            def authorize(h: str) -> str:
                body = {
                    "credentialID": cred,
                    "numSignatures": 1,
                    "hash": [h],
                    "PIN": inst.passphrase,
                }
                status, answer = csc_call(s.url, "credentials/authorize", body, token=token)
                assert status == 200, answer
                return answer["SAD"]

            def sign_hash(h: str, sad: str) -> None:
                body = {
                    "credentialID": cred, "SAD": sad, "hash": [h], "hashAlgo": SHA256,
                    "signAlgo": ECDSA_SHA256,
                }  # fmt: skip
                status, answer = csc_call(s.url, "signatures/signHash", body, token=token)
                assert status == 200, answer

            def fresh() -> str:
                return base64.b64encode(os.urandom(32)).decode()

            authorize(fresh())  # the worker's first scrypt check, not measured
            # signHash alone: SADs authorized beforehand (enough for the measuring window).
            n = max(20, int(args.seconds * 150))
            ready = [(h, authorize(h)) for h in (fresh() for _ in range(n))]
            it = iter(ready)
            sh_rate, sh_ms = per_second(lambda: sign_hash(*next(it)), args.seconds / 2)

            def pair() -> None:
                h = fresh()
                sign_hash(h, authorize(h))

            pair_rate, pair_ms = per_second(pair, args.seconds)

            pdf = minimal_pdf("bench CSC vs /api/v2/sign/pdf")
            basic = base64.b64encode(f"{inst.username}:{inst.password}".encode()).decode()

            def own_api() -> None:
                body = {
                    "nik": inst.nik, "passphrase": inst.passphrase,
                    "file": [base64.b64encode(pdf).decode()],
                    "signatureProperties": [{"level": args.level}],
                }  # fmt: skip
                req = urllib.request.Request(  # noqa: S310 - loopback
                    f"{s.url}/api/v2/sign/pdf", data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json", "Authorization": f"Basic {basic}"},
                )  # fmt: skip
                with urllib.request.urlopen(req, timeout=120) as r:  # noqa: S310 - loopback
                    assert r.status == 200

            def via_csc() -> None:
                asyncio.run(
                    csc_sign_pdf(acct, inst.nik, pdf, pin=inst.passphrase, level=args.level)
                )

            own_api()
            via_csc()  # warm both paths
            own_ms = statistics.median(_timed(own_api) for _ in range(args.pdfs)) * 1000
            csc_ms = statistics.median(_timed(via_csc) for _ in range(args.pdfs)) * 1000
    print(f"raw HSM ECDSA P-256 (pre-hashed)      {hsm_rate:8.1f} /s   median {hsm_ms:6.2f} ms")
    print(f"HTTP signHash (SAD ready)              {sh_rate:8.1f} /s   median {sh_ms:6.2f} ms")
    print(f"HTTP authorize + signHash (SCAL 2)     {pair_rate:8.1f} /s   median {pair_ms:6.2f} ms")
    print(f"  signHash vs raw HSM: {hsm_rate / sh_rate:.1f}x slower")
    print(
        f"PDF {args.level}: /api/v2/sign/pdf median {own_ms:.1f} ms; "
        f"pyHanko CSCSigner {csc_ms:.1f} ms"
    )
    print(f"  CSC / own API: {csc_ms / own_ms:.2f}")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
