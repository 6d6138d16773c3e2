"""psre on several machines (issue 18, part 2): a dead host and a database failover under load.

The cluster, all made by the test and torn down after, even on failure (tests/cluster_support.py):

- three hosts ``h1``, ``h2``, ``h3``, each a Linux network namespace with its own address on a
  bridge, its own hostname (``unshare --uts``), data_dir and psre.toml, running the real
  ``psre serve`` (gunicorn) started inside it with ``ip netns exec``: ``--role all`` on h1 and
  h2, ``--role public`` plus a stand-by ``psre refresher`` on h3 (issue 12; before the roles
  existed, plain ``psre serve`` on all three);
- one PostgreSQL: a primary and a synchronous streaming standby (``initdb``/``pg_basebackup``
  on ports of their own, listening on the bridge; never the shared server on 5432), reached by
  every host through one multi-host URL with ``target_session_attrs=read-write``;
- one HSM over the wire: ``p11-kit server`` exporting the SoftHSM token on a unix socket, each
  host loading ``p11-kit-client.so`` (``P11_KIT_SERVER_ADDRESS``), as a network HSM is shared;
- nginx in the root namespace as the load balancer: the public upstream on all three hosts, the
  signing upstream (``/api/``, ``/csc/``) on h1 and h2, ``proxy_next_upstream``.

The load, through nginx and the hosts: certificates issued by ``psre issue --csr
--idempotency-key`` run on a live host (retried on another with the same key), revocations by
``psre revoke`` likewise, PDFs signed by ``POST /api/v2/sign/pdf``, OCSP GET and POST for issued,
revoked and never-issued serials, CRL fetches. Then every process of one host is ``kill -9``-ed
(the refresher's lease holder, else h1), CLI commands running there included; then the primary
is stopped (``pg_ctl -m immediate``) and the standby promoted.

Asserted: no acknowledged certificate (the very DER the client got) or signed document (its
``sign.pdf`` audit event) is lost and every acknowledged revocation is there; no serial is used
twice; CRL numbers strictly increase and are never reused (the audited publications), no
client sees one go back, one number is one CRL whichever host served it; the refresher's lease
is held by a live host within LEASE_MOVE_SECONDS and ``psre refresher status`` says so; OCSP
never answers ``good`` for a never-issued serial, nor for a revoked one once the revocation has
been acknowledged for longer than a responder trusts its cache (OCSP_TRUST_SECONDS); after the
dust settles every serial's OCSP answer, GET and POST, agrees with the database; from a
client's first failure its retry succeeds within RETRY_SECONDS; signing, OCSP and CRLs work
again within FAILOVER_SECONDS of the promotion and no attempt of any kind fails after that;
``psre audit verify`` passes on a live host. The times measured are printed (README
"Production, several machines"); every client attempt is left in ``clients.json`` in the test's
tmp directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, inspect, select, text

from ca_core.config import load_config
from ca_core.store.models import AuditEvent, Certificate, CertificateAuthority, PublishedCrl
from tests.cli_support import REPO, EsignInstall, PsreEnv, free_port, install_esign, wait_http
from tests.cluster_support import NetHost, Network, Upstream, network, nginx, nginx_site
from tests.pdf_support import minimal_pdf
from tests.pg_support import PgCluster, own_cluster, pg_bin

P11_CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
HOSTS = ("h1", "h2", "h3")
SIGNING_HOSTS = ("h1", "h2")
#: Within this many seconds of the standby's promotion signing, OCSP and CRLs work again, and
#: no attempt of any kind sent later fails.
FAILOVER_SECONDS = 30.0
#: From a client's first failed attempt (a dead host, the database between primary and
#: standby) to the sending of the retry that succeeds, at most this many seconds.
RETRY_SECONDS = 45.0
#: How long one ``psre issue``/``psre revoke`` may take on a busy machine (Python start-up,
#: lint, HSM and database round trips; tens of seconds with a load average of 20).
CLI_SECONDS = 90.0
#: The refresher's lease must be held by a live host this long after its holder died.
LEASE_MOVE_SECONDS = 30.0
#: ocsp.index_refresh_seconds on the hosts: how long a responder trusts a response it read.
OCSP_TRUST_SECONDS = 2.0

# Part of `make test` (2-4 minutes on 2 busy cores, set-up included); marked slow so a quick run
# can leave it out with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_cluster_parts_are_installed() -> None:
    # tools/sysdeps.sh installs them for `make test`: missing, this is a broken set-up, not a skip.
    assert pg_bin() is not None, "PostgreSQL server binaries (tools/sysdeps.sh)"
    assert shutil.which("p11-kit") and Path(P11_CLIENT).exists(), "p11-kit (tools/sysdeps.sh)"
    assert shutil.which("nginx"), "nginx (tools/sysdeps.sh)"
    assert shutil.which("ip") and shutil.which("unshare"), "iproute2, util-linux (tools/sysdeps.sh)"
    assert os.geteuid() == 0, "the cluster test makes network namespaces: run the suite as root"


def roles_available() -> bool:
    """``psre serve --role`` and ``psre refresher`` (issue 12) are in this tree."""
    from psre.cli import COMMANDS

    return "refresher" in COMMANDS


# --- the cluster ----------------------------------------------------------------------------


@dataclass
class Host:
    net: NetHost
    root: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dead: bool = False

    @property
    def name(self) -> str:
        return self.net.name

    @property
    def url(self) -> str:
        return f"http://{self.net.address}:8080"

    def psre(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A ``psre`` command run on this host (its namespace, config and HSM client)."""
        return subprocess.run(
            self.net.argv([sys.executable, "-m", "psre.cli", *args]),
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def start(self, *args: str, log: str) -> None:
        out = (self.root / log).open("ab")
        self.procs.append(
            subprocess.Popen(
                self.net.argv([sys.executable, "-m", "psre.cli", *args]),
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=out,
            )  # fmt: skip
        )


@dataclass
class Cluster:
    net: Network
    primary: PgCluster
    standby: PgCluster
    db_url: str
    lb: str
    hosts: list[Host]
    seed: EsignInstall
    issuer: x509.Certificate
    tmp: Path
    #: Certificates issued before the hosts start: idempotency key -> (serial, DER's sha256).
    pre_issued: dict[str, tuple[str, str]]

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def live(self) -> list[Host]:
        return [h for h in self.hosts if not h.dead]


def _standby_of(primary: PgCluster) -> PgCluster:
    """pg_basebackup -R of ``primary``, started on a port of its own, streaming, made the
    synchronous standby. Under /tmp, not pytest's tmp_path: the postgres user must reach it."""
    base = Path(tempfile.mkdtemp(prefix="psre-pg-standby-"))
    datadir = base / "standby"
    shutil.chown(base, "postgres")
    standby = PgCluster(primary.bindir, datadir, free_port(), primary.listen)
    primary._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", str(datadir), "-R", "-X", "stream", "-c", "fast")  # fmt: skip
    standby.start()
    admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{primary.port}/postgres")
    try:
        _wait(
            lambda: _scalar(
                admin, "select count(*) from pg_stat_replication where state = 'streaming'"
            ),
            30,
            "standby never streamed",
        )
        # Only now: with no standby, synchronous commits would wait for ever.
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ALTER SYSTEM SET synchronous_standby_names = '*'"))
            c.execute(text("SELECT pg_reload_conf()"))
    finally:
        admin.dispose()
    return standby


def _scalar(engine, sql: str):
    with engine.connect() as c:
        return c.execute(text(sql)).scalar()


def _host_config(db_url: str, lb: str, token_label: str) -> str:
    return f"""\
data_dir = "var"
database_url = "{db_url}"
public_base_url = "{lb}"

[hsm]
module = "{P11_CLIENT}"
token_label = "{token_label}"
pin_source = "file:secrets/hsm-user.pin"
pool_size = 2

[server]
host = "0.0.0.0"
port = 8080
workers = 1
threads = 4
trusted_proxies = 1

[pdf]
workers = 1

[crl]
poll_seconds = 2

[ocsp]
presign_interval_seconds = 5
index_refresh_seconds = {OCSP_TRUST_SECONDS}
static_files = false

[metrics]
listen = ""
"""


@contextmanager
def p11_kit_server(seed: PsreEnv, sock: Path, token_label: str) -> Iterator[None]:
    """The HSM on the wire: ``p11-kit server`` exporting the seed's SoftHSM token."""
    server = subprocess.Popen(
        ["p11-kit", "server", "-f", "--provider", "/usr/lib/softhsm/libsofthsm2.so",
         "-n", str(sock), f"pkcs11:token={token_label}"],
        env={**os.environ, "SOFTHSM2_CONF": str(seed.root / "var" / "softhsm2.conf")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(sock.exists, 10, "p11-kit server did not start")
        yield
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def cluster(tmp: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        net = stack.enter_context(network(HOSTS))
        subnet = f"{net.gateway.rsplit('.', 1)[0]}.0/24"
        primary = stack.enter_context(own_cluster(f"127.0.0.1,{net.gateway}", subnet))
        standby = _standby_of(primary)
        stack.callback(shutil.rmtree, standby.datadir.parent, True)
        stack.callback(
            standby._run, "pg_ctl", "-D", str(standby.datadir), "-m", "immediate", "stop",
            check=False,
        )  # fmt: skip
        db_url = (
            "postgresql+psycopg://postgres@/psre"
            f"?host={net.gateway}:{primary.port}&host={net.gateway}:{standby.port}"
            "&target_session_attrs=read-write&connect_timeout=2"
        )
        lb_port = free_port()
        # What certificates name (CRL DP, AIA) and what the clients use: nginx, seen from the
        # root namespace (an address on the bridge would fail the lint's internal-name check).
        lb = f"http://127.0.0.1:{lb_port}"
        # The installation is made once, by an operator's machine with the token at hand (the
        # demo ceremonies, a client app, a signer with a key in the HSM and a passphrase).
        seed_env = PsreEnv(tmp / "seed", {"PSRE_DATABASE_URL": db_url, "PSRE_PUBLIC_BASE_URL": lb})
        seed_env.root.mkdir()
        seed = install_esign(seed_env)
        token_label = load_config(seed_env.config, env=seed_env.env()).hsm.token_label
        pre_issued = _issue_in_process(seed_env, 4)
        sock = Path(tempfile.mkdtemp(prefix="psre-p11-")) / "p11.sock"
        stack.callback(shutil.rmtree, sock.parent, True)
        stack.enter_context(p11_kit_server(seed_env, sock, token_label))
        hosts = []
        for nh in net.hosts:
            root = tmp / nh.name
            (root / "var" / "secrets").mkdir(parents=True, mode=0o700)
            os.chmod(root / "var", 0o700)
            pin = root / "var" / "secrets" / "hsm-user.pin"
            shutil.copy(seed_env.root / "var" / "secrets" / "hsm-user.pin", pin)
            os.chmod(pin, 0o600)
            (root / "psre.toml").write_text(_host_config(db_url, lb, token_label))
            env = {k: v for k, v in os.environ.items() if not k.startswith("PSRE_")}
            env.pop("SOFTHSM2_CONF", None)
            env.update(
                PSRE_CONFIG=str(root / "psre.toml"),
                PYTHONPATH=str(REPO),
                P11_KIT_SERVER_ADDRESS=f"unix:path={sock}",
            )
            hosts.append(Host(nh, root, env))
        for h in hosts:
            stack.callback(_stop_host, net, h)
        for h in hosts:
            if roles_available():
                role = "all" if h.name in SIGNING_HOSTS else "public"
                h.start("serve", "--role", role, log="serve.log")
                if role == "public":
                    h.start("refresher", log="refresher.log")
            else:
                h.start("serve", log="serve.log")
        for h in hosts:
            wait_http(f"{h.url}/healthz", timeout=120)
        public = Upstream("psre_public", [f"{h.net.address}:8080" for h in hosts])
        signing = Upstream(
            "psre_signing", [f"{h.net.address}:8080" for h in hosts if h.name in SIGNING_HOSTS]
        )
        site = nginx_site([f"{net.gateway}:{lb_port}", f"127.0.0.1:{lb_port}"], public, signing)
        stack.enter_context(nginx(tmp / "nginx", site, f"{lb}/healthz"))
        issuer = x509.load_pem_x509_certificate(_get(f"{lb}/ca/issuing-ca.pem")[1])
        yield Cluster(net, primary, standby, db_url, lb, hosts, seed, issuer, tmp, pre_issued)


def _issue_in_process(env: PsreEnv, n: int) -> dict[str, tuple[str, str]]:
    """``n`` certificates for the revoking client to start with, issued by the operator's
    machine in one process of its own (a CLI start-up per certificate costs tens of seconds
    here; and not in pytest's process, whose SoftHSM library may already be initialised with
    another test's token configuration, which it reads only once)."""
    code = f"""
import hashlib, json, secrets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ca_core.config import load_config
from ca_core.issuer import IssueRequest
from psre.services import Services

rt = Services(load_config({str(env.config)!r}))
out = {{}}
try:
    for _ in range({n}):
        email = f"s{{secrets.token_hex(4)}}@kemenuji.go.id"
        idem = f"seed-{{secrets.token_hex(8)}}"
        issued = rt.issuer.issue(
            "issuing-ca",
            IssueRequest(
                profile="smime-mailbox", subject={{"CN": email}}, emails=[email],
                public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
                idempotency_key=idem, actor="test:operator",
            ),
        )
        der = issued.certificate.public_bytes(serialization.Encoding.DER)
        out[idem] = [issued.serial_hex, hashlib.sha256(der).hexdigest()]
finally:
    rt.close()
print(json.dumps(out))
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=env.root,
        env=env.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    issued: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return {idem: (sh, fp) for idem, (sh, fp) in issued.items()}


def _stop_host(net: Network, h: Host) -> None:
    if not h.dead:
        net.kill_host(h.net)
    for p in h.procs:
        p.wait(30)


@dataclass(frozen=True)
class Lease:
    holder: str
    expires_at: object


def _lease(db_url: str) -> Lease | None:
    """The refresher's lease row (issue 12's ``leases`` table), None if nobody holds it now."""
    import datetime as dt

    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            if "leases" not in inspect(c).get_table_names():
                return None
            row = c.execute(
                text("select holder, expires_at from leases where name = 'refresher'")
            ).first()
    except Exception:  # the database is failing over: nobody is known to hold it
        return None
    finally:
        engine.dispose()
    if row is None or row[0] is None:
        return None
    expires = row[1] if row[1].tzinfo else row[1].replace(tzinfo=dt.UTC)
    return Lease(row[0], expires) if expires > dt.datetime.now(dt.UTC) else None


def _lease_host(db_url: str) -> str | None:
    lease = _lease(db_url)
    return lease.holder.split(":")[0] if lease else None


# --- clients ----------------------------------------------------------------------------------


def _get(url: str, body: bytes | None = None, ctype: str = "") -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype} if ctype else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read()
    except OSError as ex:
        return 0, str(ex).encode()


@dataclass
class Op:
    """One client operation and its attempts: (sent, finished, ok, what)."""

    kind: str
    started: float
    attempts: list[tuple[float, float, bool, str]] = field(default_factory=list)
    done: float | None = None
    result: str = ""


@dataclass(frozen=True)
class OcspSeen:
    sent: float
    serial: int
    method: str
    answer: str  # good, revoked, unknown, or the response status / HTTP failure


@dataclass(frozen=True)
class CrlSeen:
    sent: float
    received: float
    number: int
    this_update: object
    sha256: str


@dataclass
class Load:
    """The clients' view: what was acknowledged, when, and every answer."""

    c: Cluster
    stop: threading.Event = field(default_factory=threading.Event)
    ops: list[Op] = field(default_factory=list)
    issued: dict[str, str] = field(default_factory=dict)  # idempotency key -> serial hex
    fingerprints: dict[str, str] = field(default_factory=dict)  # serial hex -> sha256 of DER
    revoked_ack: dict[int, float] = field(default_factory=dict)
    revoking: set[int] = field(default_factory=set)
    signed: list[str] = field(default_factory=list)  # sha256 of each signed PDF received
    ocsp_seen: list[OcspSeen] = field(default_factory=list)
    crls: list[CrlSeen] = field(default_factory=list)
    never_issued: list[int] = field(default_factory=lambda: [
        int.from_bytes(secrets.token_bytes(16), "big") >> 1 for _ in range(5)
    ])  # fmt: skip
    errors: list[str] = field(default_factory=list)
    victim: str = ""

    def __post_init__(self) -> None:
        for idem, (serial, sha) in self.c.pre_issued.items():
            self.issued[idem] = serial
            self.fingerprints[serial] = sha

    def retry(self, kind: str, attempt: Callable[[int], tuple[bool, str]]) -> Op:
        """``attempt(n)`` until it succeeds (or the load stops): what a client with a retry
        loop does. ``attempt`` gets the attempt number, to spread attempts over hosts."""
        op = Op(kind, time.monotonic())
        self.ops.append(op)
        n = 0
        while True:
            sent = time.monotonic()
            try:
                ok, what = attempt(n)
            except Exception as ex:  # a client sees a failure, whatever it was
                ok, what = False, f"{type(ex).__name__}: {ex}"
            op.attempts.append((sent, time.monotonic(), ok, what[:300]))
            if ok:
                op.done, op.result = time.monotonic(), what
                return op
            if self.stop.is_set() and time.monotonic() - op.started > RETRY_SECONDS + 5:
                return op
            n += 1
            time.sleep(0.5)

    def on_live_host(self, n: int, *args: str) -> subprocess.CompletedProcess[str]:
        live = self.c.live()
        return live[n % len(live)].psre(*args)

    # -- the client kinds ---------------------------------------------------------------------
    def issuer_client(self, k: int) -> None:
        while not self.stop.is_set():
            key = ec.generate_private_key(ec.SECP256R1())
            email = f"k{secrets.token_hex(4)}@kemenuji.go.id"
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email)]))
                .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), False)
                .sign(key, hashes.SHA256())
            )
            path = self.c.tmp / f"csr-{email}.pem"
            path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
            idem = f"cluster-{secrets.token_hex(8)}"
            out = self.c.tmp / f"cert-{idem}.pem"
            start = k + len(self.ops)

            def attempt(
                n: int, start: int = start, path: Path = path, idem: str = idem, out: Path = out
            ) -> tuple[bool, str]:
                res = self.on_live_host(
                    start + n, "issue", "--profile", "smime-mailbox", "--csr", str(path),
                    "--idempotency-key", idem, "--out", str(out),
                )  # fmt: skip
                m = re.search(r"serial ([0-9a-f]+)", res.stdout)
                return (res.returncode == 0 and m is not None), (
                    m.group(1) if m else f"exit {res.returncode}: {res.stderr[-300:]}"
                )

            op = self.retry("issue", attempt)
            if op.done is not None:
                cert = x509.load_pem_x509_certificate(out.read_bytes())
                assert format(cert.serial_number, "x") == op.result
                self.issued[idem] = op.result
                self.fingerprints[op.result] = hashlib.sha256(
                    cert.public_bytes(serialization.Encoding.DER)
                ).hexdigest()

    def revoker_client(self) -> None:
        while not self.stop.wait(2.0):
            candidates = [s for s in self.issued.values() if int(s, 16) not in self.revoking]
            if not candidates:
                continue
            serial = candidates[0]
            self.revoking.add(int(serial, 16))

            def attempt(n: int, serial: str = serial) -> tuple[bool, str]:
                res = self.on_live_host(n, "revoke", serial, "--reason", "superseded")
                return res.returncode == 0, res.stdout.strip() or res.stderr[-300:]

            op = self.retry("revoke", attempt)
            if op.done is not None:
                self.revoked_ack[int(serial, 16)] = op.done

    def signer_client(self) -> None:
        inst = self.c.seed
        auth = base64.b64encode(f"{inst.username}:{inst.password}".encode()).decode()
        while not self.stop.is_set():
            pdf = minimal_pdf(f"Surat {secrets.token_hex(4)}")
            body = json.dumps(
                {"nik": inst.nik, "passphrase": inst.passphrase,
                 "file": [base64.b64encode(pdf).decode()]}
            ).encode()  # fmt: skip

            def attempt(n: int, body: bytes = body) -> tuple[bool, str]:
                req = urllib.request.Request(
                    f"{self.c.lb}/api/v2/sign/pdf", data=body,
                    headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
                )  # fmt: skip
                try:
                    with urllib.request.urlopen(req, timeout=90) as r:
                        signed = base64.b64decode(json.load(r)["file"][0])
                except urllib.error.HTTPError as ex:
                    return False, f"HTTP {ex.code} {ex.read()[:200]!r}"
                return True, hashlib.sha256(signed).hexdigest()

            op = self.retry("sign", attempt)
            if op.done is not None:
                self.signed.append(op.result)

    def ocsp_client(self) -> None:
        rnd = random.Random()
        while not self.stop.is_set():
            good = [int(s, 16) for s in self.issued.values()]
            pool = good + list(self.revoked_ack) * 3 + self.never_issued
            serial = rnd.choice(pool)
            method = rnd.choice(("GET", "POST"))
            self.retry("ocsp", lambda n, s=serial, m=method: self.ocsp_once(s, m))
            time.sleep(0.05)

    def ocsp_once(self, serial: int, method: str) -> tuple[bool, str]:
        sent = time.monotonic()
        answer = ocsp_status(self.c.lb, self.c.issuer, serial, method)
        self.ocsp_seen.append(OcspSeen(sent, serial, method, answer))
        return answer in ("good", "revoked", "unknown"), answer

    def crl_client(self) -> None:
        while not self.stop.wait(0.5):
            self.retry("crl", self.crl_once)

    def crl_once(self, n: int) -> tuple[bool, str]:
        sent = time.monotonic()
        status, der = _get(f"{self.c.lb}/crl/issuing-ca.crl")
        if status != 200:
            return False, f"HTTP {status}"
        crl = x509.load_der_x509_crl(der)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        self.crls.append(
            CrlSeen(sent, time.monotonic(), number, crl.last_update_utc,
                    hashlib.sha256(der).hexdigest())
        )  # fmt: skip
        return True, str(number)

    def run(self) -> list[threading.Thread]:
        targets: list[Callable[[], None]] = [
            lambda: self.issuer_client(0), self.revoker_client,
            self.signer_client, self.signer_client, self.ocsp_client, self.ocsp_client,
            self.crl_client,
        ]  # fmt: skip

        def guarded(t: Callable[[], None]) -> None:
            try:
                t()
            except BaseException as ex:  # an assertion in a client must fail the test
                self.errors.append(f"{type(ex).__name__}: {ex}")

        threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
        for t in threads:
            t.start()
        return threads

    def dump(self, path: Path, timings: dict[str, float]) -> None:
        """Every operation and attempt, times relative to the first: to read after a failure."""
        t0 = min((o.started for o in self.ops), default=0.0)
        path.write_text(
            json.dumps(
                {
                    "timings": {
                        k: v - t0 if k.startswith("mark:") else v for k, v in timings.items()
                    },
                    "errors": self.errors,
                    "ops": [
                        [o.kind, round(o.started - t0, 2), o.done and round(o.done - t0, 2),
                         [[round(a - t0, 2), round(b - a, 2), ok, w] for a, b, ok, w in o.attempts]]
                        for o in self.ops if o.kind != "ocsp" or len(o.attempts) > 1
                    ],
                },
                indent=1,
            )
        )  # fmt: skip

    def in_flight(self, kind: str) -> bool:
        return any(o.kind == kind and o.done is None for o in self.ops)

    def succeeded_after(self, kind: str, t: float) -> float | None:
        """How long after ``t`` the first attempt that then succeeded was sent, if any."""
        sent = [a[0] for o in self.ops if o.kind == kind for a in o.attempts if a[2] and a[0] >= t]
        return min(sent) - t if sent else None

    def count(self, kind: str, after: float = 0.0) -> int:
        return sum(1 for o in self.ops if o.kind == kind and o.done and o.done > after)


def ocsp_status(lb: str, issuer: x509.Certificate, serial: int, method: str) -> str:
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            _name_hash(issuer),
            _key_hash(issuer),
            serial,
            hashes.SHA1(),  # noqa: S303 - what RFC 5019 clients send
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    if method == "GET":
        path = urllib.parse.quote(base64.b64encode(req).decode(), safe="")
        status, body = _get(f"{lb}/ocsp/{path}")
    else:
        status, body = _get(f"{lb}/ocsp", req, "application/ocsp-request")
    if status != 200:
        return f"HTTP {status}"
    resp = ocsp.load_der_ocsp_response(body)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return resp.response_status.name
    assert resp.serial_number == serial
    return resp.certificate_status.name.lower()


def _name_hash(cert: x509.Certificate) -> bytes:
    h = hashes.Hash(hashes.SHA1())  # noqa: S303 - the CertID's hash
    h.update(cert.subject.public_bytes())
    return h.finalize()


def _key_hash(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The BIT STRING of the SubjectPublicKeyInfo, without its DER header: for the EC keys of
    # the demo PKI (uncompressed points) the point is the tail of the encoding.
    point = cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert spki.endswith(point)
    h = hashes.Hash(hashes.SHA1())  # noqa: S303 - the CertID's hash
    h.update(point)
    return h.finalize()


# --- the test -------------------------------------------------------------------------------


def test_a_dead_host_and_a_database_failover_under_load(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        load = Load(c)
        threads = load.run()
        timings: dict[str, float] = {}
        try:
            _wait(
                lambda: load.count("sign") >= 2 and len(load.crls) >= 2
                and len(load.ocsp_seen) >= 10 and load.in_flight("issue")
                and load.in_flight("revoke"),
                120, f"no load before the faults: {load.errors}",
            )  # fmt: skip
            # 1. a whole host dies: every process of it kill -9, CLI commands running on it
            # included. With the refresher's lease (issue 12) it is the host holding the lease,
            # else h1 (public and signing).
            victim = c.host("h1")
            if roles_available():
                _wait(lambda: _lease_host(c.db_url), LEASE_MOVE_SECONDS, "nobody took the lease")
                victim = c.host(str(_lease_host(c.db_url)))
            victim.dead = True
            load.victim = victim.name
            killed_at = time.monotonic()
            c.net.kill_host(victim.net)
            timings["mark: host killed"] = killed_at
            if roles_available():
                _wait(
                    lambda: _lease_host(c.db_url) not in (None, victim.name),
                    LEASE_MOVE_SECONDS, "the refresher's lease did not move to a live host",
                )  # fmt: skip
                timings["lease moved after the host died (s)"] = time.monotonic() - killed_at
                status = c.live()[0].psre("refresher", "status", "--json")
                assert status.returncode == 0, status.stderr
                holder = json.loads(status.stdout)["holder"]
                assert holder.split(":")[0] in {h.name for h in c.live()}, holder
            _wait(lambda: load.succeeded_after("sign", killed_at) and
                  load.succeeded_after("ocsp", killed_at), RETRY_SECONDS,
                  f"signing and OCSP did not go on without {victim.name}")  # fmt: skip

            # 2. the database primary dies; the standby is promoted.
            c.primary._run("pg_ctl", "-D", str(c.primary.datadir), "-m", "immediate", "stop")
            time.sleep(1)
            c.standby._run("pg_ctl", "-D", str(c.standby.datadir), "-w", "promote")
            promoted = time.monotonic()
            timings["mark: standby promoted"] = promoted
            # A CLI command takes tens of seconds on a busy machine: wait for one sent after the
            # promotion to finish, then judge when it was sent.
            _wait(
                lambda: all(load.succeeded_after(k, promoted) for k in ("issue", "revoke", "sign")),
                FAILOVER_SECONDS + CLI_SECONDS,
                "issuance, revocation or signing did not resume on the promoted standby",
            )  # fmt: skip
            # The clients that ask all the time must have had a success too, in the time
            # allowed (nginx may still hold a host it saw fail for fail_timeout).
            _wait(
                lambda: all(load.succeeded_after(k, promoted) for k in ("sign", "ocsp", "crl")),
                FAILOVER_SECONDS,
                "OCSP or CRL did not resume on the promoted standby",
            )  # fmt: skip
            for kind in ("sign", "ocsp", "crl"):  # clients that ask all the time
                after = load.succeeded_after(kind, promoted)
                assert after is not None and after <= FAILOVER_SECONDS, (kind, after)
                timings[f"{kind}: first success sent after the promotion (s)"] = after
            time.sleep(1)
        finally:
            load.stop.set()
            for t in threads:
                t.join(RETRY_SECONDS + CLI_SECONDS)
            load.dump(tmp_path / "clients.json", timings)
        assert not load.errors, load.errors
        check_outcome(c, load, timings)


def check_outcome(c: Cluster, load: Load, timings: dict[str, float]) -> None:
    engine = create_engine(c.db_url)
    try:
        with engine.connect() as s:
            ca_id = s.scalar(
                select(CertificateAuthority.id).where(CertificateAuthority.name == "issuing-ca")
            )
            certs = {
                r.serial_hex: r
                for r in s.execute(
                    select(Certificate.serial_hex, Certificate.status, Certificate.der)
                    .where(Certificate.issuer_id == ca_id)
                )
            }  # fmt: skip
            signed_in_audit = {
                json.loads(d).get("sha256_out")
                for d in s.scalars(
                    select(AuditEvent.details).where(AuditEvent.action == "sign.pdf")
                )
            }  # fmt: skip
            published = [
                (crl["number"], crl["sha256"])
                for d in s.scalars(
                    select(AuditEvent.details)
                    .where(AuditEvent.action == "crl.publish")
                    .order_by(AuditEvent.seq)
                )
                for crl in json.loads(d)["crls"]
                if crl["name"].startswith("issuing-ca")
            ]  # fmt: skip
            crl_rows = s.execute(
                select(PublishedCrl.number, PublishedCrl.this_update, PublishedCrl.sha256)
                .where(PublishedCrl.issuer_id == ca_id)
                .order_by(PublishedCrl.number)
            ).all()  # fmt: skip
    finally:
        engine.dispose()

    # No acknowledged certificate lost, each the very certificate the client got.
    for serial in load.issued.values():
        assert serial in certs, f"acknowledged certificate {serial} lost"
        der = bytes(certs[serial].der)
        assert hashlib.sha256(der).hexdigest() == load.fingerprints[serial]
    # No serial used twice: one serial per idempotency key, one key per serial.
    assert len(set(load.issued.values())) == len(load.issued)
    # Every acknowledged revocation is in the database.
    for serial in load.revoked_ack:
        assert certs[format(serial, "x")].status == "revoked"
    # No signed document lost: every PDF a client received has its signature audited.
    assert set(load.signed) <= signed_in_audit, "an acknowledged signature is not audited"

    # CRL numbers strictly increase with thisUpdate, whichever host signed or served them;
    # no client ever saw the number go back, and one number is one CRL.
    by_number: dict[int, str] = {}
    for seen in load.crls:
        assert by_number.setdefault(seen.number, seen.sha256) == seen.sha256
    numbers = [n for n, _t, _h in crl_rows]
    assert numbers == sorted(set(numbers))
    assert [t for _n, t, _h in crl_rows] == sorted(t for _n, t, _h in crl_rows)
    # Every publication is audited (old rows of published_crls are pruned): one number
    # sequence per CA, strictly increasing, never reused, and every CRL a client got is there.
    audited = [n for n, _h in published]
    assert audited == sorted(set(audited)), audited
    recorded = dict(published)
    for n, h in by_number.items():
        assert recorded.get(n) == h, f"CRL #{n} served but not recorded as published"
    for a in load.crls:
        for b in load.crls:
            if b.sent > a.received:
                assert b.number >= a.number, "a client saw the CRL number go back"

    # OCSP never said good for a never-issued serial, nor for a revoked one once the
    # revocation was acknowledged and the responders' cache trust had passed.
    never = set(load.never_issued)
    for seen in load.ocsp_seen:
        if seen.serial in never:
            assert seen.answer != "good", seen
        ack = load.revoked_ack.get(seen.serial)
        if ack is not None and seen.sent > ack + OCSP_TRUST_SECONDS + 0.5:
            # Seen when the primary stopped between a revocation's commit and the revoking
            # process's OCSP re-sign: README "Production, several machines", found on the way.
            assert seen.answer != "good", (seen, f"acknowledged {seen.sent - ack:.1f} s before")
    # After the dust settles, every serial's answer agrees with the database.
    time.sleep(OCSP_TRUST_SECONDS + 1)
    for serial_hex, row in certs.items():
        want = {"good": "good", "revoked": "revoked", "hold": "revoked"}[row.status]
        for method in ("GET", "POST"):
            got = ocsp_status(c.lb, c.issuer, int(serial_hex, 16), method)
            assert got == want, (serial_hex, method, got, row.status)
    for serial in never:
        assert ocsp_status(c.lb, c.issuer, serial, "POST") != "good"

    # Clients' retries succeed within RETRY_SECONDS.
    failed = [o for o in load.ops if len(o.attempts) > 1]
    assert any(o.kind in ("issue", "sign") for o in failed), "no fault was seen: proved nothing"
    # After FAILOVER_SECONDS from the promotion nothing fails any more, whatever the kind.
    promoted = timings["mark: standby promoted"]
    for o in load.ops:
        for sent, _end, ok, what in o.attempts:
            assert ok or sent <= promoted + FAILOVER_SECONDS, (o.kind, sent - promoted, what)
    for kind in ("issue", "revoke", "sign", "ocsp", "crl"):
        failed = [a[0] for o in load.ops if o.kind == kind for a in o.attempts if not a[2]]
        timings[f"{kind}: last failure sent after the promotion (s)"] = (
            max(failed) - promoted if failed else 0.0
        )

    # From the client's first failure to the sending of the attempt that succeeded: a CLI
    # command's own run time (tens of seconds on a busy machine, before it died with its host)
    # is not the cluster's outage.
    for o in load.ops:
        assert o.done is not None, (o.kind, o.attempts[-3:])
        assert _failing(o) <= RETRY_SECONDS, (o.kind, _failing(o), o.attempts)
    longest = {
        kind: max((_failing(o) for o in load.ops if o.kind == kind), default=0)
        for kind in ("issue", "revoke", "sign", "ocsp", "crl")
    }

    # The audit chain verifies (the real command, on a live host).
    res = c.live()[0].psre("audit", "verify")
    assert res.returncode == 0, res.stdout + res.stderr

    print(
        "cluster:", json.dumps({
            "host killed": load.victim,
            **{k: round(v, 2) for k, v in timings.items() if not k.startswith("mark:")},
            "longest time from a client's first failure to its successful retry (s)": {
                k: round(v, 2) for k, v in longest.items()
            },
            "operations": {k: load.count(k) for k in ("issue", "revoke", "sign", "ocsp", "crl")},
            "operations retried": len(failed),
            "crl numbers seen": sorted(by_number),
        }),
    )  # fmt: skip


def _failing(o: Op) -> float:
    """Seconds from the end of ``o``'s first failed attempt to the sending of its last one."""
    return o.attempts[-1][0] - o.attempts[0][1] if len(o.attempts) > 1 else 0.0


def _wait(cond: Callable[[], object], seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)
