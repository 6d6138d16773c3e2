"""CRL build + sign time, peak memory and DER size for 10k..1M revoked certificates.

Run: .venv/bin/python bench/crl_build.py [--sizes 10000,100000,1000000] [--partitions 64]

Everything is scratch: a SoftHSM token and SQLite files in a temporary directory. For each size
a root + issuing CA is built (tests/pki_support.build_pki) and N revoked/held certificate rows
are bulk-inserted under the issuing CA (sqlite3 executemany: reasons mixed, 1 in 10 with an
invalidity date, 1 in 20 on hold). Each measurement runs in a fresh child process, so its peak
RSS (ru_maxrss, interpreter and imports included) is its own:

* ``raw builder``: the ceiling. The same rows, already in memory as tuples, turned into
  RevokedCertificate objects and passed whole to CertificateRevocationListBuilder, signed with a
  software key. No database, no lint, no HSM.
* ``full``: CrlPublisher.publish of the complete CRL only: stream the rows from SQLite, build,
  lint (a one-entry-per-shape copy above crl.lint_max_entries), sign in SoftHSM, verify, store
  the row, write the file.
* ``full + partitions``: the complete CRL and --partitions partition CRLs in the same pass.
pkilint is loaded before the clock starts (a serving process has it loaded already).

* ``one partition``: re-signing the single partition a revocation touches (what happens at
  once after a revocation on a CA above crl.immediate_full_max_entries).

Ratios are seconds / the raw builder's seconds for the same N.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
REASONS = ("keyCompromise", "superseded", "affiliationChanged", "cessationOfOperation", None)


def _ts(t: dt.datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text format (naive UTC), as UTCDateTime stores it.
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(db_file: Path, issuer_id: int, n: int) -> None:
    """N revoked or held certificates of ``issuer_id``, bulk-inserted."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    nb, na = _ts(now - dt.timedelta(days=30)), _ts(now + dt.timedelta(days=335))
    con = sqlite3.connect(db_file)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    sql = (
        "INSERT INTO certificates (issuer_id, serial_hex, subject_dn, san, not_before, not_after,"
        " profile, status, revoked_at, revocation_reason, invalidity_date, der,"
        " fingerprint_sha256, spki_sha256, created_at)"
        " VALUES (?, ?, 'CN=x', '[]', ?, ?, 'natural-person', ?, ?, ?, ?, x'00', ?, ?, ?)"
    )
    batch = 50_000
    for start in range(0, n, batch):
        rows = []
        for i in range(start, min(n, start + batch)):
            serial = format(secrets.randbits(127) | (1 << 120), "x")
            hold = i % 20 == 0
            reason = "certificateHold" if hold else REASONS[i % len(REASONS)]
            revoked = _ts(now - dt.timedelta(seconds=i % 86400))
            inv = _ts(now - dt.timedelta(days=1)) if i % 10 == 1 else None
            fp = secrets.token_hex(32)
            rows.append(
                (issuer_id, serial, nb, na, "hold" if hold else "revoked", revoked, reason, inv,
                 fp, fp, nb)
            )  # fmt: skip
        con.executemany(sql, rows)
        con.commit()
    con.close()


def _empty_crl() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warm-up")])
    b = x509.CertificateRevocationListBuilder(
        issuer_name=name, last_update=now, next_update=now + dt.timedelta(hours=1)
    )
    b = b.add_extension(x509.CRLNumber(1), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# --- child: one measurement in its own process -------------------------------------------------
def child(args: argparse.Namespace) -> None:
    from ca_core.config import CrlConfig
    from ca_core.store import Store
    from crl.publish import CrlPublisher
    from hsm.pin import PinSource
    from hsm.pkcs11_backend import Pkcs11Backend

    store = Store.open(args.url)
    backend = Pkcs11Backend(MODULE, args.token, PinSource.literal(args.pin), pool_size=1)
    parts = args.partitions
    ca = store.get_ca("issuing-ca")
    out: dict[str, object] = {}
    if args.child == "raw":
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from sqlalchemy import text

        from crl.build import REASON_FLAGS

        with store.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT serial_hex, revoked_at, revocation_reason, invalidity_date "
                    "FROM certificates WHERE issuer_id = :i AND status != 'good'"
                ),
                {"i": ca.id},
            ).all()
        rows = [
            (
                int(s, 16),
                dt.datetime.fromisoformat(r),
                reason,
                dt.datetime.fromisoformat(inv) if inv else None,
            )
            for s, r, reason, inv in rows
        ]
        key = ec.generate_private_key(ec.SECP384R1())
        cert = x509.load_der_x509_certificate(ca.certificate_der)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        entries = []
        for serial, revoked, reason, inv in rows:
            b = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked)
            if reason:
                b = b.add_extension(x509.CRLReason(REASON_FLAGS[reason]), critical=False)
            if inv:
                b = b.add_extension(x509.InvalidityDate(inv), critical=False)
            entries.append(b.build())
        now = dt.datetime.now(dt.UTC)
        crl = (
            x509.CertificateRevocationListBuilder(
                issuer_name=cert.subject,
                last_update=now,
                next_update=now + dt.timedelta(hours=24),
                revoked_certificates=entries,
            )
            .add_extension(x509.CRLNumber(1), critical=False)
            .sign(key, hashes.SHA384())
        )
        der = crl.public_bytes(serialization.Encoding.DER)
        out["seconds"] = time.perf_counter() - t0
        out["full_bytes"] = len(der)
    else:
        cfg = CrlConfig(partitions=parts if args.child != "full" else 1, delta=False)
        pub = CrlPublisher(
            store, backend, cfg, base_url="http://pki.psre-uji.id", public_dir=Path(args.out)
        )
        # A serving process has pkilint loaded already: load it before the clock starts.
        from ca_core import lint

        lint.lint_crl(_empty_crl())
        if args.child == "one-partition":
            pub.publish("issuing-ca")  # the starting point (not timed)
            t0 = time.perf_counter()
            infos = pub.publish("issuing-ca", full=False, partitions={0}, delta=False)
        else:
            t0 = time.perf_counter()
            infos = pub.publish("issuing-ca", partitions=None if args.child != "full" else ())
        out["seconds"] = time.perf_counter() - t0
        sizes = {i.name: (Path(args.out) / i.name).stat().st_size for i in infos}
        full = [
            v for k, v in sizes.items() if not k.rsplit("-", 1)[-1].removesuffix(".crl").isdigit()
        ]
        part = [v for k, v in sizes.items() if k.rsplit("-", 1)[-1].removesuffix(".crl").isdigit()]
        out["full_bytes"] = full[0] if full else None
        out["max_partition_bytes"] = max(part) if part else None
        out["entries"] = max(i.entries for i in infos)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    backend.close()
    store.close()
    print(json.dumps(out))


# --- parent -----------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    for hidden in ("url", "token", "pin", "out"):
        ap.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    from ca_core.store import Store
    from hsm.pin import PinSource
    from hsm.pkcs11_backend import Pkcs11Backend
    from hsm.softhsm import init_token, write_softhsm_conf
    from tests.pki_support import build_pki

    tmp = Path(tempfile.mkdtemp(prefix="psre-crl-bench-"))
    conf = tmp / "softhsm2.conf"
    write_softhsm_conf(conf, tmp / "tokens")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_hex(8)
    init_token(MODULE, "bench-crl", secrets.token_hex(8), pin)
    backend = Pkcs11Backend(MODULE, "bench-crl", PinSource.literal(pin), pool_size=1)
    print(f"psre CRL bench: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; issuing CA EC P-384 in SoftHSM; "
          f"{args.partitions} partitions")  # fmt: skip
    print(f"{'N':>9} {'mode':<18} {'seconds':>8} {'x raw':>6} {'peak MB':>8} "
          f"{'full DER':>10} {'max part.':>10}")  # fmt: skip
    for n in (int(s) for s in args.sizes.split(",")):
        db_file = tmp / f"n{n}" / "psre.sqlite3"
        url = f"sqlite:///{db_file}"
        store = Store.open(url)
        pki = build_pki(store, backend)
        issuer_id = store.get_ca(pki.issuing).id
        store.close()
        t0 = time.perf_counter()
        fill(db_file, issuer_id, n)
        print(f"{n:>9} {'(insert rows)':<18} {time.perf_counter() - t0:>8.1f}")
        raw = None
        for mode in ("raw", "full", "full+partitions", "one-partition"):
            out_dir = tmp / f"n{n}" / mode
            out_dir.mkdir(parents=True)
            res = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--url", url, "--token", "bench-crl",
                 "--pin", pin, "--out", str(out_dir), "--partitions", str(args.partitions)],
                capture_output=True, text=True, check=False, env=os.environ,
            )  # fmt: skip
            if res.returncode != 0:
                print(f"{n:>9} {mode:<18} FAILED: {res.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            raw = r["seconds"] if mode == "raw" else raw
            ratio = f"{r['seconds'] / raw:>6.2f}" if raw else "     -"
            full = f"{r['full_bytes'] / 1e6:>8.2f}MB" if r.get("full_bytes") else f"{'-':>10}"
            part = r.get("max_partition_bytes")
            part_s = f"{part / 1e3:>8.1f}kB" if part else f"{'-':>10}"
            print(f"{n:>9} {mode:<18} {r['seconds']:>8.2f} {ratio} {r['max_rss_mb']:>8.0f} "
                  f"{full} {part_s}")  # fmt: skip
    backend.close()
    print("goals: 1M entries < 30 s and < 1 GB; a partition a few MB at most.")


if __name__ == "__main__":
    main()
