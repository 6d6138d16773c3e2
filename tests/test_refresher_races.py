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
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from sqlalchemy import select, update

from ca_core.config import CrlConfig
from ca_core.store import Store
from ca_core.store.models import CrlCounter, OcspResponse
from crl.errors import CrlBusyError
from crl.publish import CrlPublisher
from ocsp import static
from ocsp.responses import Presigner
from ocsp.signing import IssuerHashes
from tests.conftest import _backends, _pg_schema_url
from tests.crl_support import CrlPki, crl_pki, serials
from tests.ocsp_support import OcspPki, ocsp_pki_per_backend
from tests.pki_support import BASE_URL, Pki, build_pki


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
