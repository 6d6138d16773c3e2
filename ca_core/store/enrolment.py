"""Enrolment codes: with one, a subscriber sets their own signing passphrase (sole control;
signing_api.enrolment sends the codes and checks the passphrase).

A code is stored only as its SHA-256. Each write here is one transaction with its audit event;
redeeming spends the code with a conditional UPDATE, so it works exactly once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from ca_core import audit_objects
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.db import rows_changed
from ca_core.store.lockout import forget_failures
from ca_core.store.models import EnrolmentCode, Subscriber
from ca_core.store.repo import read_session


class EnrolmentReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self._store = store

    def live_code(self, code_sha256: str, now: datetime) -> int | None:
        """The id of the unused, unexpired code with this digest; None if there is none."""
        with read_session(self._store) as s:
            return s.execute(
                select(EnrolmentCode.id).where(
                    EnrolmentCode.code_sha256 == code_sha256,
                    EnrolmentCode.used_at.is_(None),
                    EnrolmentCode.expires_at > now,
                )
            ).scalar_one_or_none()


class Enrolments:
    def __init__(self, store: Store) -> None:
        self._store = store

    def replace_code(
        self,
        subscriber_id: int,
        code_sha256: str,
        expires_at: datetime,
        now: datetime,
        *,
        actor: str,
        subject: str,
        reason: str,
    ) -> None:
        """Store a new code for the subscriber, voiding the unused older ones; audited
        ``subscriber.enrolment_sent``."""
        with self._store.session() as s:
            s.execute(
                update(EnrolmentCode)
                .where(
                    EnrolmentCode.subscriber_id == subscriber_id, EnrolmentCode.used_at.is_(None)
                )
                .values(used_at=now)
            )
            s.add(
                EnrolmentCode(
                    subscriber_id=subscriber_id, code_sha256=code_sha256, expires_at=expires_at
                )
            )
            self._store.audit.append(
                actor,
                "subscriber.enrolment_sent",
                subject,
                {"reason": reason, "expires": expires_at.isoformat()},
                session=s,
            )

    def reset_passphrase(self, subscriber_id: int, *, actor: str, subject: str) -> bool:
        """Forget the subscriber's passphrase and every failure count and lock; audited
        ``subscriber.reset_activation``. False (nothing written) if there is no such subscriber."""
        with self._store.session() as s:
            row = s.get(Subscriber, subscriber_id)
            if row is None:
                return False
            row.passphrase_hash = None
            forget_failures(s, subscriber_id)
            self._store.audit.append(actor, "subscriber.reset_activation", subject, {}, session=s)
        return True

    def redeem(self, code_id: int, passphrase_hash: str, now: datetime) -> Subscriber | None:
        """Spend code ``code_id`` and give its subscriber ``passphrase_hash``, clearing their
        failure counts; audited ``subscriber.passphrase_set`` with the signer as the actor (they
        alone chose it). None, and nothing written, if the code is used or expired by now."""
        with self._store.session() as s:
            # Spent exactly once, even against a concurrent post of the same code.
            taken = rows_changed(
                s,
                update(EnrolmentCode)
                .where(
                    EnrolmentCode.id == code_id,
                    EnrolmentCode.used_at.is_(None),
                    EnrolmentCode.expires_at > now,
                )
                .values(used_at=now),
            )
            if taken != 1:
                return None
            found = s.get(EnrolmentCode, code_id)
            assert found is not None
            sub = s.get(Subscriber, found.subscriber_id)
            assert sub is not None
            sub.passphrase_hash = passphrase_hash
            forget_failures(s, sub.id)
            key = audit_objects.subscriber_record(sub.nik, sub.organization_identifier)
            self._store.audit.append(key, "subscriber.passphrase_set", key, {}, session=s)
            s.flush()
            s.expunge(sub)
        return sub
