"""Certificates per second through the issuance pipeline, next to its physical limits.

Run: .venv/bin/python bench/issue_rate.py [--seconds 3] [--max-certs 3000]
     PSRE_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test  adds PostgreSQL.

Everything is scratch: a SoftHSM token in a temporary directory, a SQLite file next to it and,
when PSRE_BENCH_DATABASE_URL is set, a fresh PostgreSQL schema (dropped at the end). For each
issuing-CA key type (a root + issuing CA built as tests/pki_support.build_pki does) it measures:

1. ``raw HSM sign``: backend.sign of 300 bytes with the issuing CA's key, the physical limit;
2. ``builder + HSM``: cryptography's CertificateBuilder signed through hsm.keys.private_key,
   i.e. cryptography + token only (the extension list is built once, outside the loop);
3. ``lint only``: ca_core.lint.lint_certificate on certificates the pipeline issued, with the
   profile's lint sets;
4. ``pipeline``: Issuer.issue (validate, reserve serial, build, lint, HSM sign, verify, store,
   audit) for natural-person (lint pkix+etsi) and ocsp-signer (lint pkix), 1 and 2 threads;
5. ``pipeline, NO LINT``: the same with ca_core.lint.lint_certificate replaced by a function
   returning [] for that phase only. A benchmark knob, never product behaviour.

Subscriber keys (software EC P-256) are generated before each phase, one per certificate, and
every certificate gets its own subject, because the issuer refuses duplicates. A phase runs for
--seconds or until its --max-certs keys are used up. Ratios compare like with like: a 2-thread
row is divided by the 2-thread raw HSM / builder+HSM rate.

The issue asks for an EC P-256 and an RSA-3072 issuing CA. The shipped issuing-ca profile allows
rsa-3072, rsa-4096 and ec-p384 only (profiles.md), so the P-256 rows use a BENCH VARIANT of that
profile which also allows ec-p256 (nothing else changes); the P-384 rows are what `psre init`
really deploys. Pick CAs with --ca (default: all three).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import platform
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, make_url, text

import ca_core.lint
from ca_core.issuer import Issued, IssueRequest, new_serial
from ca_core.store import Store
from hsm import KeySpec, SignScheme
from hsm.keys import default_hash, private_key
from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend
from hsm.softhsm import init_token, write_softhsm_conf
from policies.extensions import build_extensions
from policies.schema import Profile, load_profiles
from tests.pki_support import BASE_URL, Pki, build_pki

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PG_ENV = "PSRE_BENCH_DATABASE_URL"
GOAL = 100.0  # fully linted, stored, audited certificates/s on 2 cores, EC issuing CA

# (issuing CA key, root key, title): the root profile allows ec-p384 and rsa-4096 only.
CA_SPECS = [
    (KeySpec.EC_P256, KeySpec.EC_P384, "EC P-256 issuing CA (bench variant of issuing-ca)"),
    (KeySpec.EC_P384, KeySpec.EC_P384, "EC P-384 issuing CA (as shipped)"),
    (KeySpec.RSA_3072, KeySpec.RSA_4096, "RSA-3072 issuing CA (RSA-4096 root)"),
]


def bench_profiles(spec: KeySpec) -> dict[str, Profile]:
    """The shipped profiles; for an EC P-256 issuing CA, issuing-ca also allows ec-p256."""
    profiles = load_profiles()
    ca = profiles["issuing-ca"]
    if spec.value not in ca.key_types:
        profiles["issuing-ca"] = dataclasses.replace(ca, key_types=(*ca.key_types, spec.value))
    return profiles


PROCESSES = 2  # default: as `psre serve` runs gunicorn, one worker process per core
PROFILES = ["natural-person", "ocsp-signer"]

_uid = itertools.count(1)
_uid_lock = threading.Lock()


def next_uid() -> int:
    with _uid_lock:
        return next(_uid)


# -- timing -----------------------------------------------------------------------------------


@dataclass
class Rate:
    count: int
    seconds: float
    #: CPU seconds this process (or, for several processes, all of them) used meanwhile.
    cpu_seconds: float = 0.0

    @property
    def cpu_ms_per_cert(self) -> float:
        return 1000 * self.cpu_seconds / self.count if self.count else 0.0

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def measure(fn: Callable[[], object], seconds: float, threads: int, limit: int | None) -> Rate:
    """Call ``fn`` in ``threads`` threads until ``seconds`` pass or ``limit`` calls are made."""
    done = [0] * threads
    errors: list[BaseException] = []
    budget = itertools.count()  # next() on a count is atomic under the GIL
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        n = 0
        try:
            while time.perf_counter() < stop and (limit is None or next(budget) < limit):
                fn()
                n += 1
        except BaseException as ex:  # re-raised by the caller
            errors.append(ex)
        done[i] = n

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    c0 = time.process_time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return Rate(sum(done), elapsed, time.process_time() - c0)


@contextlib.contextmanager
def lint_disabled() -> Iterator[None]:
    """BENCHMARK KNOB: the issuer's lint step returns no findings, for one phase only."""
    real = ca_core.lint.lint_certificate
    ca_core.lint.lint_certificate = lambda der, lint_sets: []
    try:
        yield
    finally:
        ca_core.lint.lint_certificate = real


# -- requests ---------------------------------------------------------------------------------


def subject_for(profile: str, uid: int) -> tuple[dict[str, str], list[str]]:
    if profile == "natural-person":
        return (
            {
                "C": "ID",
                "O": "Kementerian Uji",
                "givenName": "Budi",
                "surname": f"Santoso {uid}",
                "serialNumber": f"PNOID-{uid:016d}",
                "CN": f"Budi Santoso {uid}",
            },
            [f"budi{uid}@kemenuji.go.id"],
        )
    if profile == "ocsp-signer":
        return {"C": "ID", "O": "PSrE Uji", "CN": f"PSrE Uji OCSP Responder {uid}"}, []
    raise ValueError(profile)


def subscriber_keys(n: int) -> Iterator[ec.EllipticCurvePublicKey]:
    """``n`` fresh P-256 public keys, generated now (not while timing)."""
    return iter([ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(n)])


def issue_fn(
    pki: Pki, profile: str, keys: Iterator[ec.EllipticCurvePublicKey]
) -> Callable[[], Issued]:
    lock = threading.Lock()

    def issue() -> Issued:
        with lock:
            key = next(keys)
        uid = next_uid()
        subject, emails = subject_for(profile, uid)
        return pki.issuer.issue(
            pki.issuing,
            IssueRequest(
                profile=profile, subject=subject, emails=emails, public_key=key, actor="bench"
            ),
        )

    return issue


# -- one CA -----------------------------------------------------------------------------------


@dataclass
class Row:
    phase: str
    threads: int
    rate: Rate
    kind: str  # "raw", "builder", "lint", "pipeline"


@dataclass
class Limits:
    raw: dict[int, float]
    builder: dict[int, float]


def limits_and_lint(pki: Pki, args: argparse.Namespace) -> tuple[list[Row], Limits, dict]:
    """Phases 1-3: they do not touch the database."""
    ca = pki.store.get_ca(pki.issuing)
    spec = KeySpec.parse(ca.key_spec)
    label = ca.key_label
    backend = pki.backend
    msg = secrets.token_bytes(300)
    hash_name = spec.default_hash
    scheme = SignScheme.PKCS1V15 if spec.is_rsa else SignScheme.ECDSA
    rows: list[Row] = []
    limits = Limits({}, {})

    def raw() -> None:
        backend.sign(label, msg, hash_name, scheme)

    for threads in (1, 2):
        r = measure(raw, args.seconds, threads, None)
        limits.raw[threads] = r.per_s
        rows.append(Row(f"raw HSM sign ({spec.value}, {hash_name}, 300 B)", threads, r, "raw"))

    # Builder + HSM: a natural-person shaped certificate, new serial/subject/key per call.
    issuer_cert = x509.load_der_x509_certificate(ca.certificate_der)
    hsm_key = private_key(backend, label)
    halg = default_hash(hsm_key)
    profile = pki.issuer.profile("natural-person")
    one_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    extensions = build_extensions(
        profile,
        public_key=one_key,
        issuer_public_key=issuer_cert.public_key(),
        base_url=BASE_URL,
        ca_name=ca.name,
        issuer_name=ca.name,
        emails=["budi@kemenuji.go.id"],
    )
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(64)]
    key_cycle = itertools.cycle(keys)
    key_lock = threading.Lock()
    now = issuer_cert.not_valid_before_utc

    def build_and_sign() -> None:
        with key_lock:
            key = next(key_cycle)
        uid = next_uid()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kementerian Uji"),
                x509.NameAttribute(NameOID.GIVEN_NAME, "Budi"),
                x509.NameAttribute(NameOID.SURNAME, f"Santoso {uid}"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOID-{uid:016d}"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Budi Santoso {uid}"),
            ]
        )
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_cert.subject)
            .public_key(key)
            .serial_number(new_serial())
            .not_valid_before(now)
            .not_valid_after(now + (issuer_cert.not_valid_after_utc - now) / 2)
        )
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        b.sign(hsm_key, halg).public_bytes(serialization.Encoding.DER)

    for threads in (1, 2):
        r = measure(build_and_sign, args.seconds, threads, None)
        limits.builder[threads] = r.per_s
        rows.append(Row("CertificateBuilder + HSM sign", threads, r, "builder"))

    # Lint only, on certificates the pipeline issued (this also warms pkilint's validators).
    samples: dict[str, list[bytes]] = {}
    for name in PROFILES:
        issue = issue_fn(pki, name, subscriber_keys(8))
        samples[name] = [
            issue().certificate.public_bytes(serialization.Encoding.DER) for _ in range(8)
        ]
    for name in PROFILES:
        sets = pki.issuer.profile(name).lint
        cyc = itertools.cycle(samples[name])
        cyc_lock = threading.Lock()

        def lint_one(cyc=cyc, cyc_lock=cyc_lock, sets=sets) -> None:
            with cyc_lock:
                der = next(cyc)
            ca_core.lint.lint_certificate(der, sets)

        for threads in (1, 2):
            r = measure(lint_one, args.seconds, threads, None)
            rows.append(Row(f"lint only: {name} ({'+'.join(sets)})", threads, r, "lint"))
    return rows, limits, samples


def pipeline(pki: Pki, args: argparse.Namespace) -> list[Row]:
    """Phases 4-5 on ``pki``'s database."""
    rows: list[Row] = []
    for linted in (True, False):
        for name in PROFILES:
            sets = "+".join(pki.issuer.profile(name).lint)
            title = (
                f"pipeline: {name} (lint {sets})"
                if linted
                else f"pipeline: {name}, NO LINT (bench knob)"
            )
            for threads in (1, 2):
                keys = subscriber_keys(args.max_certs)
                fn = issue_fn(pki, name, keys)
                with contextlib.ExitStack() as stack:
                    if not linted:
                        stack.enter_context(lint_disabled())
                    r = measure(fn, args.seconds, threads, args.max_certs)
                rows.append(Row(title, threads, r, "pipeline"))
    return rows


# -- several processes ------------------------------------------------------------------------


def _process_worker(
    conf: str,
    pin: str,
    url: str,
    ca: str,
    spec: str,
    profile: str,
    seconds: float,
    max_certs: int,
    threads: int,
    offset: int,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    """A worker process with its own token sessions and database engine, as under gunicorn."""
    os.environ["SOFTHSM2_CONF"] = conf
    from ca_core.issuer import Issuer

    global _uid
    _uid = itertools.count(offset)  # subjects stay unique across processes
    backend = Pkcs11Backend(MODULE, "bench-issue", PinSource.literal(pin), pool_size=4)
    store = Store.open(url)
    try:
        issuer = Issuer(store, backend, bench_profiles(KeySpec(spec)), base_url=BASE_URL)
        pki = Pki(store, backend, issuer, None, "root-ca", ca)  # type: ignore[arg-type]
        fn = issue_fn(pki, profile, subscriber_keys(max_certs + 2))
        fn(), fn()  # warm pkilint's validators and the pools
        ready.set()
        go.wait()
        rate = measure(fn, seconds, threads, max_certs)
        out.put((rate.count, rate.seconds, rate.cpu_seconds))
    except BaseException as ex:
        ready.set()
        out.put(ex)
    finally:
        store.close()
        backend.close()


def processes_rows(pki: Pki, url: str, tmp: Path, pin: str, args: argparse.Namespace) -> list[Row]:
    """The pipeline in --processes processes x --threads threads on one token and one database."""
    procs_n, threads_n = args.processes, args.threads
    ctx = multiprocessing.get_context("spawn")  # no PKCS#11 state crosses a fork
    rows: list[Row] = []
    for name in PROFILES:
        sets = "+".join(pki.issuer.profile(name).lint)
        go, out = ctx.Event(), ctx.Queue()
        readies = [ctx.Event() for _ in range(procs_n)]
        procs = [
            ctx.Process(
                target=_process_worker,
                args=(
                    os.environ["SOFTHSM2_CONF"],
                    pin,
                    url,
                    pki.issuing,
                    pki.store.get_ca(pki.issuing).key_spec,
                    name,
                    args.seconds,
                    args.max_certs // procs_n,
                    threads_n,
                    10_000_000 * (i + 1) + next_uid(),
                    readies[i],
                    go,
                    out,
                ),
            )
            for i in range(procs_n)
        ]
        for p in procs:
            p.start()
        for r in readies:
            r.wait(120)
        t0 = time.perf_counter()
        go.set()
        results = [out.get(timeout=args.seconds + 120) for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join(30)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        count = sum(r[0] for r in results)
        cpu = sum(r[2] for r in results)
        rows.append(
            Row(
                f"{procs_n} processes: {name} (lint {sets})",
                threads_n * procs_n,
                Rate(count, wall, cpu),
                "pipeline",
            )
        )
    return rows


# -- output -----------------------------------------------------------------------------------


def print_table(title: str, rows: list[Row], limits: Limits) -> None:
    print(f"\n== {title}")
    cols = (
        f"{'thr':>3} {'n':>6} {'s':>5} {'certs/s':>9} {'/raw HSM':>9} {'/bld+HSM':>9} {'cpu ms':>7}"
    )
    head = f"{'phase':52} {cols}"
    print(head)
    print("-" * len(head))
    for row in rows:
        rate = row.rate.per_s
        # Rows with more threads than measured limits (several processes) compare with the
        # widest limit: both cores busy.
        t = min(row.threads, max(limits.raw, default=1))
        raw = rate / limits.raw[t] if limits.raw.get(t) else 0.0
        bld = rate / limits.builder[t] if limits.builder.get(t) else 0.0
        print(
            f"{row.phase:52} {row.threads:>3} {row.rate.count:>6} {row.rate.seconds:>5.1f} "
            f"{rate:>9.1f} {raw:>9.3f} {bld:>9.3f} {row.rate.cpu_ms_per_cert:>7.2f}"
        )


def rate_of(rows: list[Row], phase_prefix: str, threads: int) -> float:
    for row in rows:
        if row.phase.startswith(phase_prefix) and row.threads == threads:
            return row.rate.per_s
    return 0.0


# -- databases --------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_schema(base_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped afterwards (as tests/conftest.py)."""
    schema = f"psre_bench_{secrets.token_hex(6)}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()


@contextlib.contextmanager
def opened(url: str) -> Iterator[Store]:
    store = Store.open(url)
    try:
        yield store
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="per phase (default 3)")
    ap.add_argument(
        "--max-certs", type=int, default=3000, help="cap per pipeline phase (keys made up front)"
    )
    ap.add_argument("--processes", type=int, default=PROCESSES, help="worker processes (2)")
    ap.add_argument("--threads", type=int, default=2, help="threads per worker process (2)")
    ap.add_argument(
        "--processes-only",
        action="store_true",
        help="only the several-processes rows (to compare --processes/--threads settings)",
    )
    ap.add_argument(
        "--ca",
        default=",".join(c[0].value for c in CA_SPECS),
        help="issuing CA key types, comma-separated (default: all)",
    )
    args = ap.parse_args()

    pg_url = os.environ.get(PG_ENV)
    print(
        f"psre issuance benchmark: {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, {args.seconds:g} s per phase, "
        f"SQLite{' + PostgreSQL' if pg_url else f' only (set {PG_ENV} for PostgreSQL)'}"
    )
    print(
        "note: the shipped issuing-ca profile allows rsa-3072, rsa-4096 and ec-p384; the EC P-256 "
        "CA asked for by the issue runs under a bench variant that also allows ec-p256."
    )
    print(
        "ratios: a row divided by the raw HSM sign rate / the builder+HSM rate measured with the "
        "same number of threads on the same CA key type. cpu ms: CPU time per certificate of "
        "the benchmark's own process(es), database server not included; on 2 free cores that "
        "allows at most 2000 / (cpu ms) certificates/s."
    )

    tmp = Path(tempfile.mkdtemp(prefix="psre-bench-"))
    backend: Pkcs11Backend | None = None
    verdicts: list[str] = []
    try:
        wanted = set(args.ca.split(","))
        specs = [c for c in CA_SPECS if c[0].value in wanted]
        if not specs:
            ap.error(
                f"--ca: none of {args.ca!r} is one of {', '.join(c[0].value for c in CA_SPECS)}"
            )
        write_softhsm_conf(tmp / "softhsm2.conf", tmp / "tokens")
        pin = secrets.token_hex(8)
        init_token(MODULE, "bench-issue", secrets.token_hex(8), pin)
        backend = Pkcs11Backend(MODULE, "bench-issue", PinSource.literal(pin), pool_size=4)
        for spec, root_spec, ca_title in specs:
            sqlite_url = f"sqlite:///{tmp / spec.value / 'psre.sqlite3'}"
            with opened(sqlite_url) as store:
                pki = build_pki(store, backend, spec, root_spec, bench_profiles(spec))
                if args.processes_only:
                    base_rows, limits, rows = [], Limits({}, {}), []
                else:
                    base_rows, limits, _ = limits_and_lint(pki, args)
                    rows = pipeline(pki, args)
                rows += processes_rows(pki, sqlite_url, tmp, pin, args)
            print_table(f"{ca_title}, SQLite", base_rows + rows, limits)
            results = [("SQLite", rows)]
            if pg_url:
                with pg_schema(pg_url) as url, opened(url) as store:
                    pg_pki = build_pki(store, backend, spec, root_spec, bench_profiles(spec))
                    # Warm up pkilint for this process is done; warm the PG pool and caches.
                    for name in PROFILES:
                        issue_fn(pg_pki, name, subscriber_keys(2))()
                    rows = [] if args.processes_only else pipeline(pg_pki, args)
                    rows += processes_rows(pg_pki, url, tmp, pin, args)
                print_table(
                    f"{ca_title}, PostgreSQL (limits measured on the SQLite run)", rows, limits
                )
                results.append(("PostgreSQL", rows))
            if spec.is_rsa:
                continue
            for db, rs in results:
                for name in PROFILES:
                    got = rate_of(
                        rs,
                        f"{args.processes} processes: {name} (lint",
                        args.threads * args.processes,
                    )
                    ok = "MET" if got >= GOAL else "NOT MET"
                    verdicts.append(
                        f"goal >= {GOAL:.0f}/s fully linted+stored+audited, "
                        f"{args.processes} processes x {args.threads} threads, {ca_title}, {db}, "
                        f"{name}: {got:.1f}/s -> {ok}"
                    )
        print()
        for v in verdicts:
            print(v)
    finally:
        if backend is not None:
            backend.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
