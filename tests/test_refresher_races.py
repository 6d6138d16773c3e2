"""Races of the refresher's writes with the signing side (issue 17 part 3, adversarial review).

The refresher checks its lease before each write step, but a check is not a fence: a process
paused (SIGSTOP, a long GC, a VM migration) between the check and the write, or a web worker
changing a status while a refresh batch is being signed, must not be able to replace newer data
with older. Each test makes the interleaving happen for certain, with real SoftHSM and the real
database (SQLite, and PostgreSQL when PSRE_TEST_DATABASE_URL is set), by doing the other
process's work at the one moment in between.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from sqlalchemy import select, update

from ca_core.config import CrlConfig
from ca_core.store import Store
from ca_core.store.models import CrlCounter, OcspResponse
from ca_core.store.ocsp_responses import OcspResponses
from crl.errors import CrlBusyError
from crl.publish import CrlPublisher
from ocsp import static
from ocsp.responses import Presigner
from ocsp.signing import IssuerHashes
from tests.cli_support import PSRE, PsreEnv, free_port, wait_http
from tests.conftest import _backends, _pg_schema_url
from tests.crl_support import CrlPki, crl_pki, serials
from tests.ocsp_support import OcspPki, ocsp_pki_per_backend
from tests.pki_support import BASE_URL, Pki, build_pki
from tests.test_refresher import LEASE_SECONDS, installation  # noqa: F401 (a fixture)
from tests.test_refresher import _start as start_refresher
from tests.test_refresher import _status as status
from tests.test_refresher import _wait as wait


@pytest.fixture(scope="module", params=_backends())
def op(request, backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcspPki]:
    yield from ocsp_pki_per_backend(request, backend, tmp_path_factory.mktemp("races"))


def _stored_status(op: OcspPki, serial: int, alg: str = "sha1") -> ocsp.OCSPCertStatus:
    ca = op.store.get_ca(op.pki.issuing)
    with op.store.session() as s:
        der = s.scalar(
            select(OcspResponse.der).where(
                OcspResponse.issuer_id == ca.id,
                OcspResponse.serial_hex == format(serial, "x"),
                OcspResponse.hash_alg == alg,
            )
        )
    assert der is not None
    return ocsp.load_der_ocsp_response(der).certificate_status


def _static_status(op: OcspPki, serial: int, alg: str = "sha1") -> ocsp.OCSPCertStatus:
    ca = op.store.get_ca(op.pki.issuing)
    assert ca.certificate_der is not None
    req = static.canonical_request(IssuerHashes.of(ca.certificate_der), serial, alg)
    root = op.presigner.settings.static_root
    assert root is not None
    der = static.file_for(root, req).read_bytes()
    return ocsp.load_der_ocsp_response(der).certificate_status


def test_a_refresh_batch_signed_before_a_revocation_does_not_overwrite_it(op: OcspPki):
    """The refresher read the certificate (good) and signed its responses; before it stores
    them, a web worker revokes the certificate and its publisher stores the revoked responses.
    The refresher's batch must not replace them: a public server would answer ``good`` for a
    revoked certificate, cacheable until nextUpdate (days)."""
    cert = op.new_cert()
    sh = format(cert.serial_number, "x")
    assert op.presigner.presign_certificate(op.pki.issuing, sh) == 2
    refresher = Presigner(op.store, op.pki.backend, op.presigner.settings)
    fired: list[bool] = []

    def web_worker_revokes() -> None:
        # Runs where the refresher checks its lease, between signing and storing.
        if fired:
            return
        fired.append(True)
        op.pki.revoker.revoke(sh, "keyCompromise", actor="test")
        op.presigner.presign_certificate(op.pki.issuing, sh)  # the worker's publisher
        assert _stored_status(op, cert.serial_number) is ocsp.OCSPCertStatus.REVOKED

    refresher.before_write = web_worker_revokes
    refresher.presign_certificate(op.pki.issuing, sh)
    assert fired
    for alg in ("sha1", "sha256"):
        assert _stored_status(op, cert.serial_number, alg) is ocsp.OCSPCertStatus.REVOKED
        assert _static_status(op, cert.serial_number, alg) is ocsp.OCSPCertStatus.REVOKED


def test_an_older_response_never_replaces_a_newer_one(op: OcspPki):
    """Two responses of the same status: the one signed later stays, whatever order the
    writers commit in (a paused refresher resuming with a batch signed hours ago)."""
    cert = op.new_cert()
    sh = format(cert.serial_number, "x")
    ca = op.store.get_ca(op.pki.issuing)
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old = Presigner(
        op.store, op.pki.backend, op.presigner.settings, clock=lambda: t0 - dt.timedelta(hours=2)
    )
    fired: list[bool] = []

    def newer_first() -> None:
        if fired:
            return
        fired.append(True)
        op.presigner.presign_certificate(op.pki.issuing, sh)

    old.before_write = newer_first
    old.presign_certificate(op.pki.issuing, sh)
    assert fired
    with op.store.session() as s:
        this_updates = s.scalars(
            select(OcspResponse.this_update).where(
                OcspResponse.issuer_id == ca.id, OcspResponse.serial_hex == sh
            )
        ).all()
    assert len(this_updates) == 2
    assert all(t >= t0 - dt.timedelta(minutes=1) for t in this_updates), this_updates


def test_a_good_response_from_a_host_whose_clock_ran_ahead_does_not_block_a_revocation(
    op: OcspPki,
):
    """A refresher on a host whose clock is a day ahead stored a good response dated
    tomorrow; the certificate is then revoked on a host with the right time. Its revoked
    response (dated today) must replace the good one, in the table and in the static file."""
    cert = op.new_cert()
    sh = format(cert.serial_number, "x")
    ahead = Presigner(
        op.store,
        op.pki.backend,
        op.presigner.settings,
        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    assert ahead.presign_certificate(op.pki.issuing, sh) == 2
    op.pki.revoker.revoke(sh, "keyCompromise", actor="test")
    assert op.presigner.presign_certificate(op.pki.issuing, sh) == 2
    for alg in ("sha1", "sha256"):
        assert _stored_status(op, cert.serial_number, alg) is ocsp.OCSPCertStatus.REVOKED
        assert _static_status(op, cert.serial_number, alg) is ocsp.OCSPCertStatus.REVOKED


def test_the_static_file_ends_as_the_stored_row_whatever_order_the_files_are_written(
    op: OcspPki,
):
    """A refresher committed its (good) batch, then paused before writing the files; the
    certificate was revoked and the worker stored and wrote the revoked response. On resuming,
    the refresher's file write must not leave the good response on disk (nginx serves it)."""
    cert = op.new_cert()
    sh = format(cert.serial_number, "x")
    refresher = Presigner(op.store, op.pki.backend, op.presigner.settings)
    real_save = OcspResponses.save
    fired: list[bool] = []

    def save_then_pause(self, issuer_id, signed, **kw):
        saved = real_save(self, issuer_id, signed, **kw)
        if not fired:
            fired.append(True)
            op.pki.revoker.revoke(sh, "keyCompromise", actor="test")
            op.presigner.presign_certificate(op.pki.issuing, sh)
        return saved

    OcspResponses.save = save_then_pause  # type: ignore[method-assign]
    try:
        refresher.presign_certificate(op.pki.issuing, sh)
    finally:
        OcspResponses.save = real_save  # type: ignore[method-assign]
    assert fired
    for alg in ("sha1", "sha256"):
        assert _stored_status(op, cert.serial_number, alg) is ocsp.OCSPCertStatus.REVOKED
        assert _static_status(op, cert.serial_number, alg) is ocsp.OCSPCertStatus.REVOKED


def test_the_status_feed_heals_a_revocation_whose_re_signing_failed(op: OcspPki):
    """The certificate is revoked and committed, but the process that revoked it died before
    its publisher re-signed: the refresher's next pass over the status feed (every
    ``ocsp.follow_seconds``, not only the hourly full comparison) must replace the good
    response, which a public server would otherwise keep serving — and clients caching until
    its nextUpdate, days away. Responses that already agree are not signed again."""
    from ocsp.refresh import OcspFollow

    follow = OcspFollow(
        op.store, lambda: Presigner(op.store, op.pki.backend, op.presigner.settings)
    )
    follow()  # the lookback finds earlier tests' changes: consume them first
    cert = op.new_cert()
    sh = format(cert.serial_number, "x")
    assert op.presigner.presign_certificate(op.pki.issuing, sh) == 2
    other = op.new_cert()
    other_sh = format(other.serial_number, "x")
    assert op.presigner.presign_certificate(op.pki.issuing, other_sh) == 2
    op.pki.revoker.revoke(sh, "keyCompromise", actor="test")  # no publisher ran
    op.pki.revoker.revoke(other_sh, "superseded", actor="test")
    assert op.presigner.presign_certificate(op.pki.issuing, other_sh) == 2  # its own re-sign
    assert _stored_status(op, cert.serial_number) is ocsp.OCSPCertStatus.GOOD
    assert follow() == 2  # both responses of the one that was missed, nothing else
    for alg in ("sha1", "sha256"):
        assert _stored_status(op, cert.serial_number, alg) is ocsp.OCSPCertStatus.REVOKED
    assert follow() == 0  # the cursor moved on


# --- CRLs: a publisher that lost the CA's publication lease while paused ----------------------


@pytest.fixture(scope="module", params=_backends())
def pki_mod(request, tmp_path_factory, backend) -> Iterator[Pki]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('racedb') / 'psre.sqlite3'}"
        store = Store.open(url)
        yield build_pki(store, backend)
        store.close()
    else:
        for url in _pg_schema_url(os.environ["PSRE_TEST_DATABASE_URL"]):
            store = Store.open(url)
            yield build_pki(store, backend)
            store.close()


class _Paused(CrlPublisher):
    """A publisher that 'pauses' at one step of its run: ``at`` is called there."""

    def __init__(self, *a, step: str, at, **kw) -> None:
        super().__init__(*a, **kw)
        self.step = step
        self.at = at

    def _allocate(self, issuer_id: int, count: int) -> list[int]:
        if self.step == "allocate":
            self.at()
        return super()._allocate(issuer_id, count)

    def _record(self, ca, signed, actor):
        if self.step == "record":
            self.at()
        return super()._record(ca, signed, actor)


@pytest.mark.parametrize("step", ["allocate", "record"])
def test_a_paused_publisher_whose_lease_ran_out_publishes_nothing(
    pki_mod: Pki, tmp_path: Path, step: str
):
    """The refresher's publisher planned a CRL (read the revoked rows), then was stopped for
    longer than the CA's publication lease. Meanwhile a web worker revoked a certificate and
    published. On resuming, the refresher's CRL — without that revocation — must not become the
    newest CRL (a higher number) nor replace the published file."""
    cp: CrlPki = crl_pki(pki_mod, tmp_path / "public")
    cp.publisher.publish(cp.pki.issuing)
    victim = cp.issue()
    sh = format(victim.certificate.serial_number, "x")
    ca = cp.pki.store.get_ca(cp.pki.issuing)

    def meanwhile() -> None:
        # The lease (10 min of wall-clock time) runs out while this process is stopped.
        with cp.pki.store.session() as s:
            s.execute(
                update(CrlCounter)
                .where(CrlCounter.issuer_id == ca.id)
                .values(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        cp.pki.revoker.revoke(sh, "keyCompromise", actor="test")
        worker = CrlPublisher(
            cp.pki.store, cp.pki.backend, CrlConfig(), base_url=BASE_URL, public_dir=cp.public_dir
        )
        worker.holder = "webhost:4242"
        worker.publish_changes(cp.pki.issuing, [sh])

    paused = _Paused(
        cp.pki.store,
        cp.pki.backend,
        CrlConfig(),
        base_url=BASE_URL,
        public_dir=cp.public_dir,
        step=step,
        at=meanwhile,
    )
    with pytest.raises(CrlBusyError):
        paused.publish(cp.pki.issuing)
    crl, _der = cp.crl()
    assert victim.certificate.serial_number in serials(crl)
    on_disk = x509.load_der_x509_crl((cp.public_dir / f"{cp.pki.issuing}.crl").read_bytes())
    assert victim.certificate.serial_number in serials(on_disk)


# --- real processes: a refresher paused past its lease, psre serve killed ----------------------


@pytest.fixture(params=[b for b in _backends() if b == "postgresql"])
def pg_installation(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PsreEnv]:
    extra = {"PSRE_REFRESHER_LEASE_SECONDS": str(LEASE_SECONDS), "PSRE_LOG_LEVEL": "DEBUG"}
    for url in _pg_schema_url(os.environ["PSRE_TEST_DATABASE_URL"]):
        env = PsreEnv(tmp_path, {**extra, "PSRE_CRL_POLL_SECONDS": "1", "PSRE_DATABASE_URL": url})
        env.run("init", "--no-demo")
        yield env


def test_a_refresher_paused_past_its_lease_does_no_round_after_it_resumes(
    pg_installation: PsreEnv, tmp_path: Path
):
    """SIGSTOP the holder until a standby has taken the lease, then SIGCONT it: the resumed
    process knows its lease is gone (monotonic time moved on while it was stopped) and does
    no round — only the new holder works. (PostgreSQL, where hosts share the lease: on SQLite
    a holder stopped inside a write transaction keeps the file's write lock, see below.)"""
    env = pg_installation
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    a = start_refresher(env, logs[0])
    procs = [a]
    try:
        assert wait(lambda: "lease acquired" in logs[0].read_text(), 60), logs[0].read_text()
        procs.append(b := start_refresher(env, logs[1]))
        assert wait(lambda: "stands by" in logs[1].read_text(), 60), logs[1].read_text()
        os.kill(a.pid, signal.SIGSTOP)
        took = wait(lambda: "lease acquired" in logs[1].read_text(), LEASE_SECONDS + 15)
        assert took, logs[1].read_text()
        mark = len(logs[0].read_text())
        os.kill(a.pid, signal.SIGCONT)
        time.sleep(4)  # several rounds of the new holder, keeper steps of the old
        resumed = logs[0].read_text()[mark:]
        assert " ran " not in resumed, resumed
        assert "lease lost" in resumed, resumed
        assert status(env)["holder"].endswith(f":{b.pid}")
        assert a.poll() is None  # still running, standing by
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.terminate()
                p.wait(30)


def test_no_refresher_outlives_a_killed_psre_serve(installation: PsreEnv, tmp_path: Path):  # noqa: F811
    """kill -9 of ``psre serve --role all``: its refresher (and nothing of ours) stays behind."""
    env = installation
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as out:
        serve = subprocess.Popen(
            [*PSRE, "serve", "--host", "127.0.0.1", "--port", str(port), "--role", "all"],
            cwd=env.root,
            env=env.env(),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        child = wait(lambda: _refresher_of(serve.pid), 30)
        assert child, "psre serve --role all started no refresher"
        os.kill(serve.pid, signal.SIGKILL)
        serve.wait(10)
        gone = wait(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), 10)
        assert gone, f"refresher {child} outlived psre serve"
    finally:
        try:
            os.killpg(serve.pid, signal.SIGKILL)  # gunicorn workers of the killed master
        except ProcessLookupError:
            pass


def _refresher_of(pid: int) -> int | None:
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"refresher" in cmd:
            return int(p.name)
    return None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --- README: "the database is only read (give it a SELECT-only account)" ----------------------


def test_the_public_role_runs_on_a_select_only_postgresql_account(tmp_path: Path):
    """The README tells operators to give the public role a SELECT-only account: every public
    endpoint must then answer, nothing asking for more than SELECT."""
    from sqlalchemy import create_engine, make_url, text

    from tests.pdf_support import minimal_pdf
    from tests.test_roles import (
        MISSING_MODULE,
        NEVER_ISSUED,
        http,
        serial_of,
        serve,
        verify_upload,
    )
    from tests.test_roles import ocsp as ocsp_query

    # PostgreSQL is installed by tools/sysdeps.sh and named by .ci/run: its absence is a broken
    # set-up, not a reason to skip.
    base_url = os.environ.get("PSRE_TEST_DATABASE_URL")
    assert base_url, "PSRE_TEST_DATABASE_URL must name a PostgreSQL server (.ci/run sets it)"
    for owner_url in _pg_schema_url(base_url):
        env = PsreEnv(tmp_path, {"PSRE_DATABASE_URL": owner_url})
        env.run("init")
        schema = make_url(owner_url).query["options"].split("=", 1)[1]
        role = f"psre_ro_{schema[-12:]}"
        admin = create_engine(os.environ["PSRE_TEST_DATABASE_URL"])
        try:
            with admin.begin() as conn:
                conn.execute(text(f"CREATE ROLE {role} LOGIN"))
                conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
                conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"))
            ro_url = make_url(owner_url).set(username=role).render_as_string(hide_password=False)
            signer = "0x" + serial_of(env, "ocsp-signer")
            log = tmp_path / "public.log"
            with serve(
                env, "public", log, PSRE_HSM_MODULE=MISSING_MODULE, PSRE_DATABASE_URL=ro_url
            ) as (url, _pid):
                status, _, body = http("GET", f"{url}/healthz")
                assert status == 200, body
                for path in ("/ca/issuing-ca.crt", "/crl/issuing-ca.crl", "/repository", "/cps"):
                    assert http("GET", f"{url}{path}")[0] == 200, path
                for path in ("/status", "/verify"):
                    assert http("GET", f"{url}{path}")[0] == 200, path
                assert "Cert Status: good" in ocsp_query(env, url, signer, "-no_nonce")
                assert "Tidak ada tanda tangan" in verify_upload(url, minimal_pdf("Nota Dinas"))
                # A request with a nonce, a serial never issued: still only reads.
                assert "Cert Status: good" in ocsp_query(env, url, signer)
                assert "trylater" in ocsp_query(env, url, NEVER_ISSUED).lower()
            text_ = log.read_text(errors="replace")
            assert "permission denied" not in text_.lower(), text_[-3000:]
            assert "Traceback" not in text_, text_[-3000:]
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP OWNED BY {role}"))
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
            admin.dispose()
