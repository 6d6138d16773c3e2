"""Issue 17: the composition root's one clock reaches every time-dependent service it builds.

``Services`` is built with a clock ten days ahead over the real test PKI (SoftHSM, SQLite or
PostgreSQL); what its issuer, revoker, CRL publisher, OCSP presigner and responder then write
carries that clock's time, not today's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.x509 import ocsp

from ca_core.config import Config, HsmConfig
from ca_core.issuer import BACKDATE
from ca_core.store.ocsp_responses import OcspResponseReads
from crl.publish import crl_der, newest_crl
from ocsp.signing import BACKDATE as OCSP_BACKDATE
from psre.services import Services
from tests.pki_support import BASE_URL, Pki
from tests.test_issuance import request

#: A whole second: certificates, CRLs and OCSP responses carry no fractions.
FIXED = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).replace(microsecond=0)


def test_the_services_clock_reaches_issuer_revoker_crls_and_ocsp(
    pki: Pki, db_url: str, tmp_path: Path
) -> None:
    cfg = Config(
        database_url=db_url,
        public_base_url=BASE_URL,
        data_dir=str(tmp_path / "var"),
        hsm=HsmConfig(orphan_sweep_minutes=0),
    )
    rt = Services(cfg, clock=lambda: FIXED)
    # The test's store and the session's token; everything else is built by Services itself.
    rt.__dict__.update(store=pki.store, backend=pki.backend)
    try:
        issued = rt.issuer.issue(pki.issuing, request("natural-person"))
        assert issued.certificate.not_valid_before_utc == FIXED - BACKDATE

        # The revocation re-signs the CRL and the OCSP responses at once (status events).
        change = rt.revoker.revoke(issued.serial_hex, "keyCompromise", actor="t")
        assert change.revoked_at == FIXED
        row = pki.store.find_certificate(issued.serial_hex)
        assert row.revoked_at is not None
        assert row.revoked_at.replace(tzinfo=dt.UTC) == FIXED

        info = newest_crl(pki.store, pki.issuing, "full")
        assert info is not None
        crl = x509.load_der_x509_crl(crl_der(pki.store, info.id))
        assert crl.last_update_utc == FIXED
        entry = crl.get_revoked_certificate_by_serial_number(issued.certificate.serial_number)
        assert entry is not None and entry.revocation_date_utc == FIXED

        ca_id = pki.store.get_ca(pki.issuing).id
        stored = OcspResponseReads(pki.store).current(ca_id, issued.serial_hex, "sha1")
        assert stored is not None
        resp = ocsp.load_der_ocsp_response(stored.der)
        assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
        # producedAt is cryptography's own signing time (its builder takes none): not checked.
        assert resp.this_update_utc == FIXED - OCSP_BACKDATE

        # The responder, its live signer and its index of pre-signed responses share it too.
        responder = rt.ocsp_responder(start_refresh=False)
        assert responder.clock() == FIXED
        assert responder.live is not None and responder.live.clock() == FIXED
        assert responder.index.clock() == FIXED.timestamp()
    finally:
        rt.__dict__.pop("store")
        rt.__dict__.pop("backend")
