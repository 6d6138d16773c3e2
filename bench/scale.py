"""psre at national scale: what each part costs as the certificate table grows (issue 18).

Run: .venv/bin/python bench/scale.py --certificates N [--revoked-share 0.05] [--seconds 5]
     [--keep] [--json FILE]

Makes a scratch installation (``psre init``: SoftHSM token, demo PKI) on a PostgreSQL database
of its own (``psre_scale`` on 127.0.0.1:5432, dropped at the end unless --keep), measures
issuance on the nearly empty database, then fills it with ``COPY``:

* N certificate rows under the issuing CA. Each row is a copy of one certificate the pipeline
  really issued (its DER, ~1 KB, and its columns) with its own serial, subject, fingerprint and
  SPKI hash; a --revoked-share of them revoked. The DER is the template's for every row (its
  serial does not match the row's): nothing measured here reads the DER (OCSP, CRLs and
  pre-signing work from the columns), and signing N real certificates would take hours of HSM
  time at 10^6. The rows have the size, the indexes and the uniqueness checks of real ones.
* 2 N pre-signed OCSP rows (SHA-1 and SHA-256 CertIDs), copies of the template's real
  responses, with the row's status.
* N serial reservations in state "stored", copies of the template's (issuance keeps one per
  certificate, with the signed and the TBS DER).
* N audit events (one per issuance), a real hash chain appended to the installation's, so
  ``psre audit verify`` walks a valid chain.

Then, at that size, it measures: issuance certificates/s (same pipeline, same seconds);
OCSP serving through gunicorn (2 gthread workers x 4 threads, wrk -t2): GET of a few hot URLs
(cache hits), GET and POST spread over 20 000 random certificates (cache misses: one indexed
row each), GET for never-issued serials (signed live), and each worker's RSS; one pre-signing
round (``psre ocsp presign --age-only``, the daemon's every-minute look, after making 200
certificates due) against what freshness needs (2 N signatures per validity x
refresh_fraction), and the hourly full check (``psre ocsp presign``, nothing due);
``psre crl generate`` (complete + 16
partitions + delta); ``psre audit verify``; database bytes per certificate. Time and peak RSS
of the CLI commands come from /usr/bin/time. The static file tree is not filled (2 N files);
its size is estimated from one file's blocks.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

# Column and table names below come from information_schema of the scratch database, never
# from input: S608 does not apply to this file.
# ruff: noqa: S608
from tests.cli_support import free_port, wait_http  # noqa: E402

PY = sys.executable
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOT_URLS = 200
SPREAD = 20_000
DUE = 200


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the scratch database and installation ----------------------------------------------------


def recreate_db(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')


def drop_db(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of a command, and its output."""
    p = subprocess.run(
        ["/usr/bin/time", "-f", "TIME %e %M", *cmd],
        env=env, cwd=cwd, capture_output=True, text=True,
    )  # fmt: skip
    m = re.search(r"TIME ([\d.]+) (\d+)", p.stderr)
    if p.returncode != 0 or m is None:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return float(m.group(1)), int(m.group(2)) / 1024, p.stdout


# --- issuance -----------------------------------------------------------------------------------


def issuance_rate(rt, seconds: float) -> tuple[float, str]:
    """Certificates/s through Issuer.issue (one thread): the best of three rounds of
    ``seconds`` (the cores are shared: the best round is the least disturbed); the last serial."""
    rates = []
    last = ""
    for _ in range(3):
        rate, last = _issuance_round(rt, seconds)
        rates.append(rate)
    return max(rates), last


def _issuance_round(rt, seconds: float) -> tuple[float, str]:
    from ca_core.issuer import IssueRequest

    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(403)]
    n, last = 0, ""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds and n < len(keys):
        if n == 3:  # the first three warm up (lint engine, sessions, caches): not counted
            t0, keys, n = time.perf_counter(), keys[3:], 0
        email = f"s{os.getpid()}-{time.monotonic_ns()}@kemenuji.go.id"
        issued = rt.issuer.issue(
            "issuing-ca",
            IssueRequest(
                profile="smime-mailbox", subject={"CN": email}, emails=[email],
                public_key=keys[n], actor="bench",
            ),
        )  # fmt: skip
        last = format(issued.certificate.serial_number, "x")
        n += 1
    return n / (time.perf_counter() - t0), last


# --- filling ------------------------------------------------------------------------------------


def fill(conn: psycopg.Connection, n: int, revoked_share: float, template_serial: str) -> None:
    from ca_core.audit import canonical_json, event_hash

    cur = conn.cursor()
    cert_cols = [
        r[0]
        for r in cur.execute(
            "select column_name from information_schema.columns where table_name='certificates'"
            " and column_name <> 'id' order by ordinal_position"
        )
    ]
    tpl = dict(
        zip(
            cert_cols,
            cur.execute(
                f"select {','.join(cert_cols)} from certificates where serial_hex=%s",
                (template_serial,),
            ).fetchone(),
            strict=True,
        )
    )
    resp_cols = [
        r[0]
        for r in cur.execute(
            "select column_name from information_schema.columns where table_name='ocsp_responses'"
            " and column_name <> 'id' order by ordinal_position"
        )
    ]
    tpl_resps = [
        dict(zip(resp_cols, row, strict=True))
        for row in cur.execute(
            f"select {','.join(resp_cols)} from ocsp_responses where serial_hex=%s",
            (template_serial,),
        )
    ]
    assert len(tpl_resps) == 2, tpl_resps
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(18)
    base = rng.getrandbits(126) | (1 << 126)  # 127-bit serials, like new_serial's
    serials = [format(base + i * 7919, "x") for i in range(n)]

    log(f"COPY {n} certificates …")
    with cur.copy(f"COPY certificates ({','.join(cert_cols)}) FROM STDIN") as cp:
        for i, sh in enumerate(serials):
            row = dict(tpl)
            revoked = rng.random() < revoked_share
            row.update(
                serial_hex=sh,
                subject_dn=f"CN=s{i}@kemenuji.go.id",
                san=json.dumps([f"email:s{i}@kemenuji.go.id"]),
                fingerprint_sha256=hashlib.sha256(b"f" + sh.encode()).hexdigest(),
                spki_sha256=hashlib.sha256(b"k" + sh.encode()).hexdigest(),
                status="revoked" if revoked else "good",
                revoked_at=now if revoked else None,
                revocation_reason="keyCompromise" if revoked else None,
                key_label=None,
                subscriber_id=None,
            )
            cp.write_row([row[c] for c in cert_cols])
    log(f"COPY {2 * n} OCSP responses …")
    with cur.copy(f"COPY ocsp_responses ({','.join(resp_cols)}) FROM STDIN") as cp:
        for sh in serials:
            for r in tpl_resps:
                row = dict(r)
                row.update(serial_hex=sh, sha256=hashlib.sha256(sh.encode() + b"r").hexdigest())
                cp.write_row([row[c] for c in resp_cols])
    log(f"COPY {n} serial reservations …")
    res_cols = [
        r[0]
        for r in cur.execute(
            "select column_name from information_schema.columns where"
            " table_name='serial_reservations' and column_name <> 'id' order by ordinal_position"
        )
    ]
    tpl_res = dict(
        zip(
            res_cols,
            cur.execute(
                f"select {','.join(res_cols)} from serial_reservations where serial_hex=%s",
                (template_serial,),
            ).fetchone(),
            strict=True,
        )
    )
    with cur.copy(f"COPY serial_reservations ({','.join(res_cols)}) FROM STDIN") as cp:
        for sh in serials:
            row = dict(tpl_res)
            row.update(serial_hex=sh, idempotency_key=None,
                       tbs_sha256=hashlib.sha256(b"t" + sh.encode()).hexdigest())  # fmt: skip
            cp.write_row([row[c] for c in res_cols])
    # A status different from the response's would make every row "due": keep them agreeing.
    cur.execute(
        "update ocsp_responses o set cert_status = c.status from certificates c"
        " where c.serial_hex = o.serial_hex and c.issuer_id = o.issuer_id"
        " and c.status <> o.cert_status"
    )
    log(f"COPY {n} audit events …")
    last_seq, last_hash = cur.execute("select last_seq, last_hash from audit_head").fetchone()
    prev = last_hash
    t = now
    with cur.copy(
        "COPY audit_events (seq, time, actor, action, object, details, prev_hash, hash) FROM STDIN"
    ) as cp:
        for i, sh in enumerate(serials):
            seq = last_seq + 1 + i
            details = {"profile": "smime-mailbox", "serial": sh}
            h = event_hash(seq, t, "bench", "certificate.issue", f"cert:{sh}", details, prev)
            cp.write_row(
                [seq, t, "bench", "certificate.issue", f"cert:{sh}", canonical_json(details),
                 prev, h]
            )  # fmt: skip
            prev = h
    cur.execute("update audit_head set last_seq=%s, last_hash=%s", (last_seq + n, prev))
    conn.commit()
    log("ANALYZE …")
    conn.autocommit = True
    conn.execute("ANALYZE")
    conn.autocommit = False


# --- OCSP serving -------------------------------------------------------------------------------


def gunicorn(env: dict[str, str], cwd: Path, port: int):
    """The Python responder under 2 gthread workers, as bench/ocsp_rate.py runs it."""
    from ocsp_rate import proc

    cmd = [PY, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4",
           "-b", f"127.0.0.1:{port}", "psre.wsgi:create_wsgi()"]  # fmt: skip
    return proc(cmd, env=env, cwd=cwd, log=cwd / "gunicorn.log")


def worker_rss_mb(master: int) -> list[float]:
    out = []
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        status = Path(f"/proc/{pid}/status").read_text()
        out.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
    return out


def lua_paths(path: Path, urls: list[str]) -> Path:
    items = ",".join(f'"{u}"' for u in urls)
    path.write_text(
        f"paths = {{{items}}}\n"
        "request = function() return wrk.format('GET', paths[math.random(#paths)]) end\n"
    )
    return path


def lua_posts(path: Path, bodies: list[bytes]) -> Path:
    items = ",".join('"' + "".join(f"\\{b}" for b in body) + '"' for body in bodies)
    path.write_text(
        f"bodies = {{{items}}}\n"
        "wrk.headers['Content-Type'] = 'application/ocsp-request'\n"
        "request = function() return wrk.format('POST', '/ocsp', nil,"
        " bodies[math.random(#bodies)]) end\n"
    )
    return path


def wrk(url: str, lua: Path, seconds: int) -> tuple[float, float, int]:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "--timeout", "5s", "-s", str(lua),
         url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else -1
    err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n2 = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = (sum(int(x) for x in err.groups()) if err else 0) + (int(n2.group(1)) if n2 else 0)
    return rps, p99, bad


def ocsp_serving(
    conn: psycopg.Connection, env: dict[str, str], tmp: Path, seconds: int
) -> dict[str, float]:
    from ocsp.signing import IssuerHashes
    from ocsp.static import canonical_request

    (ca_der,) = conn.execute(
        "select certificate_der from certificate_authorities where name='issuing-ca'"
    ).fetchone()
    hashes_ = IssuerHashes.of(bytes(ca_der))
    serials = [
        int(r[0], 16)
        for r in conn.execute(
            "select serial_hex from certificates where issuer_id=(select id from"
            " certificate_authorities where name='issuing-ca') and profile='smime-mailbox'"
            f" order by random() limit {SPREAD}"
        )
    ]
    reqs = [canonical_request(hashes_, s, "sha1") for s in serials]
    urls = ["/ocsp/" + base64.b64encode(r).decode() for r in reqs]
    never = [
        "/ocsp/" + base64.b64encode(canonical_request(hashes_, 0x7E57 + i, "sha1")).decode()
        for i in range(50)
    ]
    port = free_port()
    genv = dict(env, PSRE_OCSP_LIVE_RATE="1000000", PSRE_OCSP_LIVE_BURST="1000000",
                PSRE_CRL_SCHEDULER="false")  # fmt: skip
    out: dict[str, float] = {}
    with gunicorn(genv, tmp, port) as g:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}{urls[0]}", timeout=120)
        for u in urls[:5]:
            urllib.request.urlopen(base + u).read()  # noqa: S310
        out["rss_start"] = max(worker_rss_mb(g.pid))
        runs = {
            "get_hot": lua_paths(tmp / "hot.lua", urls[:HOT_URLS]),
            "get_spread": lua_paths(tmp / "spread.lua", urls),
            "post_spread": lua_posts(tmp / "post.lua", reqs[:5000]),
            "get_never": lua_paths(tmp / "never.lua", never),
        }
        for name, lua in runs.items():
            rps, p99, bad = wrk(base, lua, seconds)
            out[name] = rps
            out[name + "_p99"] = p99
            out[name + "_bad"] = bad
            log(f"  {name}: {rps:.0f} req/s p99 {p99:.1f} ms bad {bad}")
        out["rss_end"] = max(worker_rss_mb(g.pid))
    return out


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--certificates", type=int, required=True)
    ap.add_argument("--revoked-share", type=float, default=0.05)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--database", default="psre_scale")
    ap.add_argument("--keep", action="store_true", help="keep the database and scratch dir")
    ap.add_argument("--json", type=Path, help="append the results as one JSON line")
    args = ap.parse_args()
    n = args.certificates
    tmp = Path(tempfile.mkdtemp(prefix="psre-scale-"))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSRE_")}
    env.pop("SOFTHSM2_CONF", None)
    env.update(PSRE_CONFIG=str(tmp / "psre.toml"), PYTHONPATH=str(REPO), PSRE_DATABASE_URL=url)
    psre = [PY, "-m", "psre.cli"]
    r: dict[str, float] = {"n": n}
    recreate_db(args.database)
    try:
        log(f"psre init in {tmp} on {args.database} …")
        subprocess.run([*psre, "init"], env=env, cwd=tmp, check=True, capture_output=True)
        os.environ.update(env)
        os.chdir(tmp)
        from ca_core.config import load_config
        from ocsp.responses import presigner
        from psre.services import Services

        rt = Services(load_config())
        r["issue_empty"], template = issuance_rate(rt, args.seconds)
        log(f"issuance, empty: {r['issue_empty']:.1f}/s")
        presigner(rt).presign_certificate("issuing-ca", template)
        static_one = next((tmp / "var" / "public" / "ocsp").rglob("*"))
        conn = psycopg.connect(url.replace("+psycopg", ""))
        t0 = time.perf_counter()
        fill(conn, n, args.revoked_share, template)
        r["fill_s"] = time.perf_counter() - t0
        r["issue_full"], _ = issuance_rate(rt, args.seconds)
        log(f"issuance at {n}: {r['issue_full']:.1f}/s")

        sizes = dict(
            conn.execute(
                "select relname, pg_total_relation_size(oid) from pg_class where relname in"
                " ('certificates','ocsp_responses','audit_events','serial_reservations')"
            ).fetchall()
        )
        r["db_bytes_per_cert"] = sum(sizes.values()) / n
        r["db_bytes_total"] = float(
            conn.execute("select pg_database_size(current_database())").fetchone()[0]
        )
        blocks = max(4096, static_one.stat().st_blocks * 512) if static_one.is_file() else 4096
        r["static_tree_bytes_est"] = 2.0 * n * blocks

        # One pre-signing round with DUE certificates due (their responses made old).
        cfg = rt.config.ocsp
        age = dt.timedelta(hours=cfg.validity_hours * cfg.refresh_fraction, minutes=1)
        conn.execute(
            "update ocsp_responses set this_update = this_update - %s,"
            " next_update = next_update - %s where serial_hex in"
            " (select serial_hex from certificates where profile='smime-mailbox'"
            f" order by random() limit {DUE})",
            (age, age),
        )
        conn.commit()
        # The daemon's every-minute round: due by age, through the nextUpdate index.
        secs, rss, out = timed(
            [*psre, "ocsp", "presign", "--ca", "issuing-ca", "--age-only"], env, tmp
        )
        signed = int(re.search(r"issuing-ca: (\d+)", out).group(1)) if "issuing-ca" in out else 0
        r["presign_round_s"], r["presign_round_mb"], r["presign_signed"] = secs, rss, signed
        r["presign_rate"] = signed / secs
        r["presign_needed_per_s"] = 2 * n / (cfg.validity_hours * 3600 * cfg.refresh_fraction)
        log(f"presign round (age only): {signed} signed in {secs:.1f} s, {rss:.0f} MB")
        # The hourly full comparison of every certificate with its responses (nothing due).
        secs, rss, out = timed([*psre, "ocsp", "presign", "--ca", "issuing-ca"], env, tmp)
        r["presign_full_s"], r["presign_full_mb"] = secs, rss
        log(f"presign full check: {secs:.1f} s, {rss:.0f} MB ({out.strip()})")

        cenv = dict(env, PSRE_CRL_PARTITIONS="16")
        secs, rss, _ = timed([*psre, "crl", "generate", "--ca", "issuing-ca"], cenv, tmp)
        r["crl_s"], r["crl_mb"] = secs, rss
        log(f"crl generate: {secs:.1f} s, {rss:.0f} MB")
        secs, rss, out = timed([*psre, "audit", "verify"], env, tmp)
        r["audit_s"], r["audit_mb"] = secs, rss
        log(f"audit verify: {secs:.1f} s, {rss:.0f} MB: {out.strip()[:80]}")

        log("OCSP serving …")
        r.update(ocsp_serving(conn, env, tmp, args.seconds))
        conn.close()
    finally:
        if not args.keep:
            drop_db(args.database)
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(r) + "\n")
    print_table([r])


ROWS = [
    ("certificates", "n", "{:,.0f}"),
    ("issuance, empty DB (cert/s)", "issue_empty", "{:.1f}"),
    ("issuance at N (cert/s)", "issue_full", "{:.1f}"),
    ("OCSP worker RSS start / after load (MB)", ("rss_start", "rss_end"), "{:.0f}"),
    ("OCSP GET hot, cached (req/s)", "get_hot", "{:.0f}"),
    ("OCSP GET spread, DB row (req/s)", "get_spread", "{:.0f}"),
    ("OCSP POST spread, DB row (req/s)", "post_spread", "{:.0f}"),
    ("OCSP GET never issued, live (req/s)", "get_never", "{:.0f}"),
    ("pre-sign round, 400 due: s / MB", ("presign_round_s", "presign_round_mb"), "{:.1f}"),
    ("pre-sign rate in that round (sig/s)", "presign_rate", "{:.0f}"),
    ("pre-sign full check (hourly): s / MB", ("presign_full_s", "presign_full_mb"), "{:.1f}"),
    ("pre-sign needed (sig/s sustained)", "presign_needed_per_s", "{:.2f}"),
    ("CRL complete+16 parts+delta: s / MB", ("crl_s", "crl_mb"), "{:.1f}"),
    ("audit verify: s / MB", ("audit_s", "audit_mb"), "{:.1f}"),
    ("DB bytes per certificate", "db_bytes_per_cert", "{:,.0f}"),
    ("fill by COPY (s)", "fill_s", "{:.0f}"),
    ("static tree (estimated, GB)", "static_tree_gb", "{:.2f}"),
]


def print_table(results: list[dict[str, float]]) -> None:
    for r in results:
        r["static_tree_gb"] = r.get("static_tree_bytes_est", 0) / 1e9
    print("| measure | " + " | ".join(f"N={r['n']:,.0f}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for label, key, fmt in ROWS:
        cells = []
        for r in results:
            keys = key if isinstance(key, tuple) else (key,)
            cells.append(" / ".join(fmt.format(r[k]) if k in r else "–" for k in keys))
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        print_table([json.loads(line) for line in Path(sys.argv[2]).read_text().splitlines()])
    else:
        main()
