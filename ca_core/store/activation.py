"""Who may sign and the one-time proofs that authorise a request: finding subscribers,
one-time codes (TOTP) and agency seal activations (signing_api.activation says what they mean).

Codes and tokens are stored only as HMACs or hashes; taking a code is one conditional UPDATE,
so of two concurrent requests with one code only one gets it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.db import rows_changed
from ca_core.store.models import ActivationCode, SealActivation, Subscriber
from ca_core.store.repo import read_session


class ActivationReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self._store = store

    def subscribers_matching(
        self, *, nik: str | None = None, email: str | None = None, org_id: str | None = None
    ) -> list[Subscriber]:
        """At most two subscribers with the first key given (NIK, e-mail, organizationIdentifier):
        enough to tell one from "ambiguous"; none when no key is given."""
        cond: ColumnElement[bool]
        if nik:
            cond = Subscriber.nik == nik
        elif email:
            cond = Subscriber.email == email
        elif org_id:
            cond = Subscriber.organization_identifier == org_id
        else:
            return []
        with read_session(self._store) as s:
            return list(s.execute(select(Subscriber).where(cond).limit(2)).scalars())

    def live_codes_of_other_apps(
        self, subscriber_id: int, client_id: int, purpose: str, now: datetime
    ) -> list[ActivationCode]:
        """Unused, unexpired ``purpose`` codes of the subscriber held by other client apps."""
        with read_session(self._store) as s:
            return list(
                s.execute(
                    select(ActivationCode).where(
                        ActivationCode.subscriber_id == subscriber_id,
                        ActivationCode.client_id != client_id,
                        ActivationCode.purpose == purpose,
                        ActivationCode.used_at.is_(None),
                        ActivationCode.expires_at > now,
                    )
                ).scalars()
            )

    def live_seal_activation(
        self, token_sha256: str, subscriber_id: int, client_id: int, now: datetime
    ) -> SealActivation | None:
        """The unrevoked, unexpired seal activation of this client for the subscriber whose
        token hashes to ``token_sha256``."""
        with read_session(self._store) as s:
            return s.execute(
                select(SealActivation).where(
                    SealActivation.token_sha256 == token_sha256,
                    SealActivation.subscriber_id == subscriber_id,
                    SealActivation.client_id == client_id,
                    SealActivation.revoked_at.is_(None),
                    SealActivation.expires_at > now,
                )
            ).scalar_one_or_none()


@dataclass(frozen=True)
class NewCode:
    """A one-time code to store: its salted HMAC, for ``documents`` signatures (and, when the
    client named them, exactly the documents whose sorted hashes are ``document_sha256``)."""

    subscriber_id: int
    client_id: int
    purpose: str
    salt: str
    code_hmac: str
    documents: int
    expires_at: datetime
    document_sha256: str | None = None
    seal_activation_id: int | None = None


class Activations:
    def __init__(self, store: Store) -> None:
        self._store = store

    def take_code(
        self,
        subscriber_id: int,
        client_id: int,
        purpose: str,
        now: datetime,
        matches: Callable[[ActivationCode], bool],
    ) -> ActivationCode | None:
        """Spend the live code of this subscriber, client and purpose for which ``matches`` is
        true (it compares the presented code with the stored HMAC); None if there is none or a
        concurrent request spent it first. Seal codes count only under a live seal activation."""
        stmt = select(ActivationCode).where(
            ActivationCode.subscriber_id == subscriber_id,
            ActivationCode.client_id == client_id,
            ActivationCode.purpose == purpose,
            ActivationCode.used_at.is_(None),
            ActivationCode.expires_at > now,
        )
        if purpose == "seal":
            stmt = stmt.join(
                SealActivation, SealActivation.id == ActivationCode.seal_activation_id
            ).where(SealActivation.revoked_at.is_(None), SealActivation.expires_at > now)
        with self._store.session() as s:
            candidates = s.execute(stmt).scalars().all()
            match = next((c for c in candidates if matches(c)), None)
            if match is None:
                return None
            # Single use even against a concurrent request with the same code.
            taken = rows_changed(
                s,
                update(ActivationCode)
                .where(ActivationCode.id == match.id, ActivationCode.used_at.is_(None))
                .values(used_at=now),
            )
        return match if taken == 1 else None

    def issue_code(self, code: NewCode, now: datetime, *, actor: str, subject: str) -> None:
        """Store ``code``, voiding the earlier unused codes of its subscriber, client and
        purpose (only the newest works), with its audit event ``<purpose>.code_issued``."""
        with self._store.session() as s:
            s.execute(
                update(ActivationCode)
                .where(
                    ActivationCode.subscriber_id == code.subscriber_id,
                    ActivationCode.client_id == code.client_id,
                    ActivationCode.purpose == code.purpose,
                    ActivationCode.used_at.is_(None),
                )
                .values(used_at=now)
            )
            s.add(
                ActivationCode(
                    subscriber_id=code.subscriber_id,
                    client_id=code.client_id,
                    purpose=code.purpose,
                    seal_activation_id=code.seal_activation_id,
                    salt=code.salt,
                    code_hmac=code.code_hmac,
                    documents=code.documents,
                    document_sha256=code.document_sha256,
                    expires_at=code.expires_at,
                )
            )
            self._store.audit.append(
                actor,
                f"{code.purpose}.code_issued",
                subject,
                {"documents": code.documents, "expires": code.expires_at.isoformat()},
                session=s,
            )

    def add_seal_activation(
        self,
        subscriber_id: int,
        client_id: int,
        token_sha256: str,
        expires_at: datetime,
        *,
        actor: str,
        subject: str,
    ) -> None:
        """Let ``client_id`` seal for the agency until ``expires_at``; audited
        ``seal.activate``."""
        with self._store.session() as s:
            s.add(
                SealActivation(
                    subscriber_id=subscriber_id,
                    client_id=client_id,
                    token_sha256=token_sha256,
                    expires_at=expires_at,
                )
            )
            self._store.audit.append(
                actor, "seal.activate", subject, {"expires": expires_at.isoformat()}, session=s
            )

    def revoke_seal_activations(
        self,
        subscriber_id: int,
        client_id: int,
        now: datetime,
        *,
        token_sha256: str | None,
        actor: str,
        subject: str,
    ) -> int:
        """Revoke the client's live activations for the subscriber (only the one whose token
        hashes to ``token_sha256`` when given); audited ``seal.revoke``. Returns how many."""
        stmt = update(SealActivation).where(
            SealActivation.subscriber_id == subscriber_id,
            SealActivation.client_id == client_id,
            SealActivation.revoked_at.is_(None),
        )
        if token_sha256 is not None:
            stmt = stmt.where(SealActivation.token_sha256 == token_sha256)
        with self._store.session() as s:
            n = rows_changed(s, stmt.values(revoked_at=now))
            self._store.audit.append(actor, "seal.revoke", subject, {"revoked": n}, session=s)
        return n
