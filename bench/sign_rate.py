"""PDF signatures per second in-process (the engine), next to its limits.

Run: .venv/bin/python bench/sign_rate.py [--seconds 3]

Scratch set-up: a SoftHSM token in a temporary directory, a SQLite file, a root + issuing CA
(EC P-384), a TSA unit and a natural-person subscriber (EC P-256), as tests/signing_support
builds them. One thread, documents of 1 page and ~5 MB (one incompressible 5 MB stream). Rows:

1. ``raw HSM sign``: backend.sign of a SHA-256 digest with the subscriber's key (the floor of
   any HSM signature: PKCS#11 + SoftHSM, no PDF);
2. ``pyHanko, software key``: pyHanko's PdfSigner with an in-memory P-256 key loaded once
   (SimpleSigner, same CA certificates embedded), PAdES B-B — the library ceiling here;
3. ``engine B-B``/``B-T``/``B-LT``/``B-LTA``: signing_api.pdf_sign.sign_pdf, key in the HSM,
   timestamps from the in-process TSA (itself an HSM signature), DSS from our store (OCSP and
   CRLs cached up to a minute, as for a busy signer); ``cold revinfo`` empties that cache
   before every signature (a signer's first document).

Ratios: engine B-B / pyHanko software B-B (what the HSM and our wrapper cost) and the latency of
each level over B-B (the issue's goal: B-LT < 2x B-B because validation data is local).
The HTTP numbers (2 gunicorn workers) are the API's part of this bench.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ca_core.store import Store
from hsm import SignScheme
from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend
from hsm.softhsm import init_token, write_softhsm_conf
from signing_api import revinfo
from signing_api.pdf_sign import SignOptions, sign_pdf
from tests.pdf_support import minimal_pdf
from tests.signing_support import big_pdf, build_signing_pki

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass
class Row:
    name: str
    doc: str
    n: int
    seconds: float
    latencies: list[float]

    @property
    def per_s(self) -> float:
        return self.n / self.seconds

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def measure(name: str, doc: str, fn: Callable[[], object], seconds: float) -> Row:
    fn()  # warm-up: caches, first TSA unit look-up, pool sessions
    lat: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(lat) < 5:
        t = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t)
    return Row(name, doc, len(lat), time.perf_counter() - start, lat)


def software_signer(chain: list) -> signers.SimpleSigner:
    """A P-256 key in memory with a self-signed certificate, loaded once; it embeds the same
    CA certificates as the engine's signatures, so both CMS objects are the same size."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench software key")])
    now = time.time()
    import datetime as dt

    t0 = dt.datetime.fromtimestamp(now, dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(t0 - dt.timedelta(minutes=1))
        .not_valid_after(t0 + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509

    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )


def pyhanko_software(doc: bytes, signer: signers.SimpleSigner) -> Callable[[], bytes]:
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1", md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES
    )

    def run() -> bytes:
        out = io.BytesIO()
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(doc)), meta, signer, output=out)
        return out.getvalue()

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    print(f"# bench/sign_rate.py — {platform.python_implementation()} {platform.python_version()}")
    print(f"# {platform.machine()}, SoftHSM2, SQLite, 1 thread, {args.seconds:.0f} s per row")
    print(f"# OCSP/CRL sources present: {revinfo.available()} (B-LT without them: DSS certs only)")

    tmp = Path(tempfile.mkdtemp(prefix="psre-bench-sign-"))
    backend = None
    try:
        write_softhsm_conf(tmp / "softhsm2.conf", tmp / "tokens")
        pin = secrets.token_hex(8)
        init_token(MODULE, "bench-sign", secrets.token_hex(8), pin)
        backend = Pkcs11Backend(MODULE, "bench-sign", PinSource.literal(pin), pool_size=4)
        url = f"sqlite:///{tmp / 'psre.sqlite3'}"
        store = Store.open(url)
        spki = build_signing_pki(store, backend, url)
        _publish_revinfo(spki)
        cert = spki.new_signer("Bench Signer")
        docs = {"1 page": minimal_pdf(), "5 MB": big_pdf(5 * 1024 * 1024)}
        soft = software_signer(list(spki.rt.signers.signer(cert).cert_registry))
        digest = hashlib.sha256(b"bench").digest()

        rows = [
            measure(
                "raw HSM sign (P-256)",
                "-",
                lambda: backend.sign(
                    cert.key_label, digest, "sha256", SignScheme.ECDSA, prehashed=True
                ),
                args.seconds,
            )
        ]
        for doc_name, doc in docs.items():
            rows.append(
                measure(
                    "pyHanko, software key B-B", doc_name, pyhanko_software(doc, soft), args.seconds
                )
            )
            for level in ("B-B", "B-T", "B-LT", "B-LTA"):
                opts = SignOptions(level=level)
                rows.append(
                    measure(
                        f"engine {level}",
                        doc_name,
                        lambda doc=doc, opts=opts: sign_pdf(spki.engine, doc, cert, opts),
                        args.seconds,
                    )
                )

            def cold(doc: bytes = doc) -> bytes:
                revinfo.clear_cache(spki.store)
                return sign_pdf(spki.engine, doc, cert, SignOptions(level="B-LT"))

            rows.append(measure("engine B-LT, cold revinfo", doc_name, cold, args.seconds))
        print()
        print(f"{'row':28} {'doc':7} {'sig/s':>8} {'p50 ms':>8} {'p99 ms':>8}  ratio")
        for r in rows:
            figures = f"{r.per_s:8.1f} {r.pct(0.5):8.1f} {r.pct(0.99):8.1f}"
            print(f"{r.name:28} {r.doc:7} {figures}  {_ratio(r, rows)}")
        store.close()
    finally:
        if backend is not None:
            backend.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _ratio(r: Row, rows: list[Row]) -> str:
    def find(name: str) -> Row:
        return next(x for x in rows if x.name == name and x.doc == r.doc)

    if r.name == "engine B-B":
        soft = find("pyHanko, software key B-B")
        return f"{r.per_s / soft.per_s:.0%} of pyHanko software-key rate"
    if r.name.startswith("engine "):
        bb = find("engine B-B")
        return f"p50 {r.pct(0.5) / bb.pct(0.5):.2f}x B-B"
    return ""


def _publish_revinfo(spki) -> None:
    """Publish CRLs and pre-sign OCSP responses when those areas are present."""
    try:
        from crl.publish import publish_all
        from ocsp.responses import presign_all
    except ImportError:
        return
    publish_all(spki.rt.crl_publisher)
    presign_all(spki.rt.presigner)


if __name__ == "__main__":
    main()
