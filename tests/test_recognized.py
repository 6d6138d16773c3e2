"""A recognized PSrE's CA revoked any legitimate way — here by two admins, not the
``revoke-psre`` ceremony step — is withdrawn from the PSrE Induk's trusted list in the same
transaction (ca_core.revocation → ca_core.recognized.withdraw)."""

from __future__ import annotations

import datetime as dt

from ca_core.recognized import list_recognized
from ca_core.store.models import RecognizedCa
from tests.authority_support import ca_certificate, change_ca_status


def test_dual_control_revocation_withdraws_the_recognized_ca(pki):
    # The issuing CA stands in for a PSrE's CA the root certified (same row shape).
    row = ca_certificate(pki, "issuing-ca")
    with pki.store.session() as s:
        s.add(
            RecognizedCa(
                name="psre-uji",
                kind="psre",
                display_name="PT Uji",
                issuer_id=row.issuer_id,
                serial_hex=row.serial_hex,
                certificate_der=row.der,
                fingerprint_sha256=row.fingerprint_sha256,
                status="granted",
                granted_at=dt.datetime.now(dt.UTC),
            )
        )
    (before,) = list_recognized(pki.store)
    assert before.status == "granted" and before.withdrawn_at is None
    change_ca_status(pki, "issuing-ca", "revoke", "cessationOfOperation")
    (after,) = list_recognized(pki.store)
    assert after.status == "withdrawn" and after.withdrawn_at is not None
    (event,) = pki.store.audit.list(action="psre.withdraw")
    assert event.object == "recognized:psre-uji"
    assert event.details["reason"] == "cessationOfOperation"
