"""After a restore: tell the database what it missed, and mark the gap in the audit log.

A database put back from a backup misses everything done after the backup was taken. What the
world saw of that time survives in the published repository (ca_core.published_evidence), and
this module brings it back:

* CRL numbers: each CA's counter is raised above every number it ever published (the higher of
  the backup's counter, the highest number in the published CRL files), plus a margin for any
  copy fresher than the one at hand — so the next CRL never repeats or goes below a number
  relying parties have seen.
* Revocations and holds of certificates the database knows are applied again, with the
  published revocation time and reason (audited like any revocation, actor = the operator).
* Serials the database never heard of (issued after the backup) are recorded as lost: an
  ``abandoned`` serial reservation, so the serial is never used again and OCSP never calls it
  good, and a ``lost_serials`` row, so every later CRL lists it as revoked (at its published
  revocation time if it had one, else at the time of the restore): the CA has no record of the
  certificate any more and cannot manage it; its holder must get a new one.
* A ``system.restore`` audit event names the backup's last audit sequence number and hash and
  the time of the restore: the chain still verifies, and the gap is explicit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ca_core.backup import Manifest
from ca_core.ca_level import CA_LEVEL_PROFILES, Authorisation
from ca_core.clock import Clock, utcnow
from ca_core.errors import CaError
from ca_core.published_evidence import CaEvidence, Revocation
from ca_core.revocation import Revoker
from ca_core.store import Store, restore
from ca_core.store.models import CertificateAuthority

#: (CA name, the published revocation, whether it is a hold)
_Planned = tuple[str, Revocation, bool]
#: (CA id, serial, its published revocation or hold if any, where it was found)
_Lost = tuple[int, str, Revocation | None, str]


class RestoreError(CaError):
    code = "restore"


#: Added to the highest CRL number known: numbers need not be consecutive, and a CDN edge or a
#: relying party may hold a CRL fresher than the copy of the repository the restore reads.
DEFAULT_CRL_NUMBER_MARGIN = 1000
_LOST_PROFILE = "lost-in-restore"


@dataclass
class RestoreReport:
    restored_at: dt.datetime
    crl_number_floor: dict[str, int] = field(default_factory=dict)
    revocations_reapplied: list[str] = field(default_factory=list)
    holds_reapplied: list[str] = field(default_factory=list)
    lost_serials: list[str] = field(default_factory=list)

    def details(self, manifest: Manifest, published: str | None) -> dict[str, object]:
        return {
            "backup_created_at": manifest.created_at,
            "backup_last_seq": manifest.audit_last_seq,
            "backup_last_hash": manifest.audit_last_hash,
            "restored_at": self.restored_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "gap": "audit events after backup_last_seq were lost with the machine",
            "published_repository": published,
            "crl_number_floor": self.crl_number_floor,
            "revocations_reapplied": self.revocations_reapplied,
            "holds_reapplied": self.holds_reapplied,
            "lost_serials": self.lost_serials,
        }


def reconcile(
    store: Store,
    manifest: Manifest,
    evidence: dict[str, CaEvidence],
    *,
    actor: str,
    published: str | None,
    margin: int = DEFAULT_CRL_NUMBER_MARGIN,
    clock: Clock = utcnow,
    witness: str | None = None,
) -> RestoreReport:
    """Apply ``evidence`` to the restored ``store`` and audit the restore; see the module doc.

    A CA-level certificate (a CA, its OCSP responder or TSA) revoked or suspended after the
    backup gets that status back only with ``witness``, a second person (ca_core.ca_level):
    the published CRL proves the change was authorised, but who did so is lost with the
    audit log. Without one nothing is changed and RestoreError names the certificates.
    ``clock`` gives the time of the restore (lost serials without a published time are revoked
    then)."""
    now = clock().replace(microsecond=0)
    report = RestoreReport(now)
    plan: list[_Planned] = []
    with restore.transaction(store) as tx:
        cas = {c.name: c for c in tx.cas()}
        lost: list[_Lost] = []
        for ca in cas.values():
            if ca.certificate_der is None:
                continue
            ev = evidence.get(ca.name, CaEvidence(ca.name))
            report.crl_number_floor[ca.name] = _raise_crl_number(tx, ca, ev, manifest, margin)
            _compare(tx, ca, ev, plan, lost)
        for issuer_id, sh, rev, where in lost:
            tx.record_lost(
                issuer_id,
                sh,
                revoked_at=rev.revoked_at if rev else now,
                reason=rev.reason if rev and rev.reason != "certificateHold" else None,
                found_in=where,
                now=now,
                profile=_LOST_PROFILE,
            )
        names = {ca.id: name for name, ca in cas.items()}
        report.lost_serials = [f"{names[i]}:{sh}" for i, sh, _rev, _where in lost]
        ca_level = _ca_level(tx, cas, plan)
        if ca_level and witness is None:
            raise RestoreError(
                "CA-level certificates were revoked or suspended after the backup ("
                + ", ".join(sorted(ca_level.values()))
                + "): restoring their status needs a second person; run the restore again"
                " with --force --witness NAME"
            )
        authorisation = _authorisation(actor, witness, published) if ca_level else None
        for ca_name, rev, hold in plan:
            (report.holds_reapplied if hold else report.revocations_reapplied).append(
                f"{ca_name}:{rev.serial_hex}"
            )
        # The gap first in the chain's order: everything after the backup's last event is
        # lost; what follows is the restore's own doing.
        details = {**report.details(manifest, published), "witness": witness}
        tx.audit(actor, "system.restore", "psre", details, now)
    _reapply(store, plan, actor, authorisation, set(ca_level))
    return report


def _raise_crl_number(
    tx: restore.RestoreTransaction,
    ca: CertificateAuthority,
    ev: CaEvidence,
    manifest: Manifest,
    margin: int,
) -> int:
    """Raise the CA's CRL counter above every number it may have published; the new floor."""
    known = max(manifest.crl_numbers.get(ca.name, 0), tx.lock_crl_number(ca.id), ev.crl_high_water)
    floor = known + margin
    tx.set_crl_number(ca.id, floor)
    return floor


def _compare(
    tx: restore.RestoreTransaction,
    ca: CertificateAuthority,
    ev: CaEvidence,
    plan: list[_Planned],
    lost: list[_Lost],
) -> None:
    """What the published evidence of ``ca`` says the database missed: status changes to
    apply again (``plan``) and serials it never heard of (``lost``)."""
    status = tx.statuses(ca.id, ev.seen)
    reserved = tx.reserved(ca.id, ev.seen)
    for sh, where in sorted(ev.seen.items()):
        if sh in status:
            if sh in ev.revoked and status[sh] != "revoked":
                plan.append((ca.name, ev.revoked[sh], False))
            elif sh in ev.held and status[sh] == "good":
                plan.append((ca.name, ev.held[sh], True))
        elif sh not in reserved:
            lost.append((ca.id, sh, ev.revoked.get(sh) or ev.held.get(sh), where))


def _ca_level(
    tx: restore.RestoreTransaction, cas: dict[str, CertificateAuthority], plan: list[_Planned]
) -> dict[tuple[str, str], str]:
    """The planned changes that touch CA-level certificates: (CA, serial) -> a label."""
    out = {}
    for ca_name, rev, _hold in plan:
        cert = tx.certificate(cas[ca_name].id, rev.serial_hex)
        # By profile, or because it is a CA's own certificate (whatever profile made it).
        if cert.profile in CA_LEVEL_PROFILES or tx.is_ca_fingerprint(cert.fingerprint_sha256):
            out[(ca_name, rev.serial_hex)] = f"{ca_name}:{rev.serial_hex} ({cert.profile})"
    return out


def _authorisation(actor: str, witness: str | None, published: str | None) -> Authorisation:
    try:
        return Authorisation(
            "dual-control",
            f"restore: status published in {published or 'the backup'}",
            (actor, witness or ""),
        )
    except ValueError as ex:
        raise RestoreError(f"--witness: {ex}") from None


def _reapply(
    store: Store,
    plan: list[_Planned],
    actor: str,
    authorisation: Authorisation | None,
    ca_level: set[tuple[str, str]],
) -> None:
    for ca_name, rev, hold in plan:
        revoker = Revoker(store, _no_recovery, clock=_fixed_clock(rev.revoked_at))
        revoker.revoke(
            rev.serial_hex,
            "certificateHold" if hold else rev.reason,
            actor=actor,
            ca=ca_name,
            invalidity_date=rev.invalidity_date,
            authorisation=authorisation if (ca_name, rev.serial_hex) in ca_level else None,
        )


def _fixed_clock(when: dt.datetime) -> Clock:
    """A clock stuck at ``when``: a re-applied revocation keeps its original time."""
    return lambda: when


def _no_recovery(_issuer_id: int, serial: str) -> object:
    raise CaError(f"serial {serial} is not stored; a restore does not recover reservations")
