"""The database schema as SQLAlchemy 2 declarative models.

The schema itself is created by the Alembic revisions in ``ca_core/store/migrations`` (never by
``metadata.create_all``); these models must match them, which a test checks. Constraint names
follow ``NAMING_CONVENTION`` so that both databases report the same names and the store can tell
which unique constraint a conflicting insert hit.

Every timestamp is a :class:`~ca_core.store.db.UTCDateTime`: stored as UTC, returned aware.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ca_core.names import OPERATOR_ROLES
from ca_core.store.db import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: prev_hash of the first audit event.
GENESIS_HASH = "0" * 64

#: external: a CA whose key is not ours (the PSrE Induk's root above our CA, issue 21).
CA_STATUSES = ("active", "retired", "external")
CERT_STATUSES = ("good", "revoked", "hold")
RESERVATION_STATES = ("reserved", "signed", "stored", "abandoned")
SUBSCRIBER_KINDS = ("person", "agency")
#: Subscriber states as the e-sign API reports them.
SUBSCRIBER_STATUSES = ("NEW", "ISSUE", "SUSPEND", "REVOKE", "EXPIRED", "RENEW")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CertificateAuthority(Base):
    """A CA of the hierarchy; its private key lives in the HSM under ``key_label``."""

    __tablename__ = "certificate_authorities"
    __table_args__ = (
        UniqueConstraint("name"),
        UniqueConstraint("fingerprint_sha256"),
        CheckConstraint(_in("status", CA_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    subject_dn: Mapped[str] = mapped_column(Text)
    key_label: Mapped[str] = mapped_column(Text)
    key_spec: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_authorities.id"))
    #: Null between key generation and the signing of the CA certificate.
    certificate_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    fingerprint_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(Base):
    """A certificate holder: a person (identified by NIK) or a government agency."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("nik"),
        CheckConstraint(_in("kind", SUBSCRIBER_KINDS), name="kind"),
        CheckConstraint(_in("status", SUBSCRIBER_STATUSES), name="status"),
        CheckConstraint("nik IS NULL OR length(nik) = 16", name="nik_length"),
        CheckConstraint("kind <> 'person' OR nik IS NOT NULL", name="person_has_nik"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Nomor Induk Kependudukan; agencies have none.
    nik: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(Text)
    organization_identifier: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="NEW")
    #: A memory-hard hash of the signing passphrase; the passphrase itself is never stored.
    passphrase_hash: Mapped[str | None] = mapped_column(Text)
    #: Failed activations across every channel (the signer-wide lockout; per-channel counts
    #: are in activation_failures).
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Certificate(Base):
    """An issued certificate and its revocation state (the source of OCSP and CRLs)."""

    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("issuer_id", "serial_hex"),
        UniqueConstraint("fingerprint_sha256"),
        CheckConstraint(_in("status", CERT_STATUSES), name="status"),
        # RFC 5280: revoked and on-hold entries both carry a revocation time.
        CheckConstraint(
            "(status = 'good') = (revoked_at IS NULL)",
            name="revoked_at",
        ),
        Index(None, "issuer_id", "serial_hex", "status"),  # OCSP status look-up
        Index(None, "subscriber_id"),
        Index(None, "serial_hex"),  # operators look serials up without naming the CA
        Index(None, "spki_sha256"),
        # Signers with an HSM key (delegated OCSP responders, TSA units) are looked up by
        # profile: without it, a scan of every certificate (12 s at 10^7, issue 18).
        Index(None, "profile"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    #: ``format(serial, "x")``: lowercase, no leading zeros (see ca_core.store.serial_hex).
    serial_hex: Mapped[str] = mapped_column(String(40))
    subject_dn: Mapped[str] = mapped_column(Text)
    #: The subjectAltName entries as a JSON list.
    san: Mapped[str] = mapped_column(Text, default="[]")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    profile: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="good")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: RFC 5280 CRLReason name, e.g. ``keyCompromise``.
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    invalidity_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    #: HSM label of the subscriber key when the key is held server-side.
    key_label: Mapped[str | None] = mapped_column(Text)
    #: SHA-256 of the DER SubjectPublicKeyInfo: finds a key certified twice or blocklisted.
    spki_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SerialReservation(Base):
    """A serial number claimed before signing, so that a crash between signing and storing
    neither reuses the serial nor loses the signed certificate."""

    __tablename__ = "serial_reservations"
    __table_args__ = (
        UniqueConstraint("issuer_id", "serial_hex"),
        UniqueConstraint("issuer_id", "idempotency_key"),
        CheckConstraint(_in("state", RESERVATION_STATES), name="state"),
        Index(None, "serial_hex"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    serial_hex: Mapped[str] = mapped_column(String(40))
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="reserved")
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    tbs_sha256: Mapped[str | None] = mapped_column(String(64))
    #: Unused since issue 18 (the certificate row holds the DER; cleared by 0025).
    certificate_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The linted TBS while the serial is only reserved: a crash after signing is recovered by
    #: signing these very bytes again. Cleared once the certificate row is stored.
    tbs_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    key_label: Mapped[str | None] = mapped_column(Text)


class BlockedKey(Base):
    """A public key that must never be certified again (keyCompromise, operator blocklist)."""

    __tablename__ = "blocked_keys"

    spki_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClientApplication(Base):
    """An application allowed to call the signing API (HTTP basic auth)."""

    __tablename__ = "client_applications"
    __table_args__ = (UniqueConstraint("name"), UniqueConstraint("username"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    username: Mapped[str] = mapped_column(String(128))
    #: scrypt hash of the client secret.
    secret_hash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: PAdES level used when a request names none (None: the ``signing.default_level``).
    default_level: Mapped[str | None] = mapped_column(String(8))
    #: Signing requests allowed per minute (None or 0: no limit of its own).
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)


class AuditEvent(Base):
    """One link of the hash chain; written only by :class:`ca_core.audit.AuditLog`."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("hash"),
        Index(None, "action"),
        Index(None, "actor"),
    )

    #: Assigned by the log from AuditHead, never by the database: a gap must mean a deletion.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    object: Mapped[str] = mapped_column(Text)
    #: Canonical JSON (sorted keys, no whitespace), exactly as hashed.
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A point of the audit chain found intact by a full or incremental walk, authenticated by
    a MAC key inside the HSM (ca_core/audit_checkpoint.py): later walks start from the newest
    one instead of from the genesis (issue 18)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_label: Mapped[str] = mapped_column(Text)
    #: HMAC-SHA256 (hex) by the HSM over the checkpoint's canonical text.
    mac: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row (id 1) naming the chain's last event.

    Appenders lock it to serialise, and verify() compares it with the last event so that cutting
    events off the end of the chain is detected too.
    """

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


# --- web console (operators, their sessions, login attempts) ---------------------------------


class Operator(Base):
    """A person who uses the operator console; the password is kept only as a scrypt hash."""

    __tablename__ = "operators"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint(_in("role", OPERATOR_ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorSession(Base):
    """A console session. The cookie holds a random token; only its SHA-256 is stored, so a
    database reader cannot take over a session."""

    __tablename__ = "operator_sessions"
    __table_args__ = (UniqueConstraint("token_sha256"), Index(None, "operator_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    #: Per-session CSRF token compared with the one in every submitted form.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """One console login attempt, kept for rate limiting (the audit log has them too)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index(None, "username", "time"), Index(None, "remote_addr", "time"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean)


# --- dual control (issue 15) -------------------------------------------------------------------

APPROVAL_STATES = ("pending", "approved", "rejected", "expired", "failed")


class Approval(Base):
    """An operation one admin proposed and a different admin must approve before it expires
    (ca_core.approvals). ``params`` is JSON and never holds a secret (a new admin's password
    is kept only as its scrypt hash, as in ``operators``)."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(_in("state", APPROVAL_STATES), name="state"),
        Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: What to do, e.g. ``certificate.revoke`` (the keys of ca_core.approvals.ACTIONS).
    action: Mapped[str] = mapped_column(String(64))
    #: What it is done to, as audit events name objects (``certificate:<ca>:<serial>``).
    target: Mapped[str] = mapped_column(Text)
    params: Mapped[str] = mapped_column(Text, default="{}")
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the approved operation did, or why it failed.
    outcome: Mapped[str | None] = mapped_column(Text)


# --- crl (CRL numbers and published CRLs) -------------------------------------------------------

CRL_KINDS = ("full", "partition", "delta")


class CrlCounter(Base):
    """One row per CA: the last CRL number used, and the lease of the process publishing.

    Complete, partition and delta CRLs of a CA share one number sequence (RFC 5280 §5.2.4 wants
    a delta and its base numbered from the same sequence). ``lease_until`` lets one process at a
    time regenerate a CA's CRLs when several gunicorn workers run schedulers.
    """

    __tablename__ = "crl_numbers"

    issuer_id: Mapped[int] = mapped_column(
        ForeignKey("certificate_authorities.id"), primary_key=True, autoincrement=False
    )
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_holder: Mapped[str | None] = mapped_column(Text)


class PublishedCrl(Base):
    """A CRL signed and published; the newest per (CA, kind, partition) is the one served."""

    __tablename__ = "published_crls"
    __table_args__ = (
        UniqueConstraint("issuer_id", "number"),
        CheckConstraint(_in("kind", CRL_KINDS), name="kind"),
        Index(None, "issuer_id", "kind", "partition", "number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    kind: Mapped[str] = mapped_column(String(16))
    #: The partition number for kind "partition"; -1 for full and delta CRLs (a NULL would not
    #: take part in the index look-up the HTTP endpoint does).
    partition: Mapped[int] = mapped_column(Integer, default=-1)
    number: Mapped[int] = mapped_column(Integer)
    #: For a delta CRL, the number of the complete CRL it updates (deltaCRLIndicator).
    base_number: Mapped[int | None] = mapped_column(Integer)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)
    entries: Mapped[int] = mapped_column(Integer)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- ocsp ---

OCSP_HASHES = ("sha1", "sha256")
OCSP_STATUSES = ("good", "revoked", "hold")


class OcspResponse(Base):
    """The current pre-signed OCSP response for one certificate and one CertID hash.

    One row per (issuer, serial, CertID hash algorithm), replaced in place when re-signed: the
    responder answers GET and nonce-less POST from these bytes without touching the HSM.
    """

    __tablename__ = "ocsp_responses"
    __table_args__ = (
        UniqueConstraint("issuer_id", "serial_hex", "hash_alg"),
        CheckConstraint(_in("hash_alg", OCSP_HASHES), name="hash_alg"),
        CheckConstraint(_in("cert_status", OCSP_STATUSES), name="cert_status"),
        Index(None, "next_update"),  # the refresher's "what expires soon"
        Index(None, "produced_at"),  # responders reload what changed since their last look
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    serial_hex: Mapped[str] = mapped_column(String(40))
    #: The CertID hash algorithm the response answers (clients match it exactly).
    hash_alg: Mapped[str] = mapped_column(String(8))
    cert_status: Mapped[str] = mapped_column(String(16))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)
    produced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256 of ``der``, hex: the HTTP ETag.
    sha256: Mapped[str] = mapped_column(String(64))
    #: HSM label of the key that signed it (delegated responder or CA key).
    signer_label: Mapped[str] = mapped_column(Text)


# --- signing API (documents to download, activation codes, outbox, seal activations) ---------

ACTIVATION_PURPOSES = ("sign", "seal")


class SignedDocument(Base):
    """A signed PDF kept for one download (``GET /api/sign/download/<id_dokumen>``).

    The bytes are blanked on the first download or when ``expires_at`` passes; the row stays so
    that a second download is told "already downloaded" (4044) and the audit trail has its hash.
    """

    __tablename__ = "signed_documents"
    __table_args__ = (
        UniqueConstraint("document_id"),
        Index(None, "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The ``id_dokumen`` given to the client: random, unguessable.
    document_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[int] = mapped_column(ForeignKey("client_applications.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    filename: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActivationCode(Base):
    """A one-time code (TOTP) that authorises exactly ``documents`` signatures, once.

    Only an HMAC of the code is stored; the code itself goes to the signer through the notifier.
    """

    __tablename__ = "activation_codes"
    __table_args__ = (
        CheckConstraint(_in("purpose", ACTIVATION_PURPOSES), name="purpose"),
        CheckConstraint("documents >= 1", name="documents"),
        Index(None, "subscriber_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client_applications.id"))
    purpose: Mapped[str] = mapped_column(String(8))
    #: For seal codes: the activation they were issued under (revoking it voids them).
    seal_activation_id: Mapped[int | None] = mapped_column(ForeignKey("seal_activations.id"))
    salt: Mapped[str] = mapped_column(String(32))
    code_hmac: Mapped[str] = mapped_column(String(64))
    documents: Mapped[int] = mapped_column(Integer)
    #: When the client named them: the SHA-256 of each document, sorted, comma-separated; the
    #: code then signs exactly those documents (standards checklist: remote signing).
    document_sha256: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message waiting for delivery (e-mail/SMS gateway): the default notifier.

    The one place a code exists outside the signer's hands, by design: it is the delivery queue.
    A row lives only until the gateway takes it (``psre outbox take``: handed out and deleted in
    one transaction) or until ``expires_at`` (the code in it is worthless then; the sweep of
    signing_api.outbox deletes it). Nothing else reads it, and no log line or audit event ever
    copies its body.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index(None, "recipient"), Index(None, "expires_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EnrolmentCode(Base):
    """A one-time code with which a subscriber sets their own signing passphrase (sole control:
    the RA never sees the passphrase). The code is 80 random bits, so a plain SHA-256 is enough;
    the code itself only travels through the notifier."""

    __tablename__ = "enrolment_codes"
    __table_args__ = (UniqueConstraint("code_sha256"), Index(None, "subscriber_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    code_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActivationFailure(Base):
    """Consecutive failed activations of one signer through one channel (a client app, or the
    CLI): a channel that guesses wrong locks only itself out for that signer. The signer-wide
    count across all channels is ``Subscriber.failed_attempts``."""

    __tablename__ = "activation_failures"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "channel"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    #: ``client:<id>`` or ``cli``.
    channel: Mapped[str] = mapped_column(String(32))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SealActivation(Base):
    """A client app's permission to seal with an agency's key, until expiry or revocation.

    The app holds the activation token; only its SHA-256 is stored (the token is 256 random
    bits, so a plain hash is enough).
    """

    __tablename__ = "seal_activations"
    __table_args__ = (
        UniqueConstraint("token_sha256"),
        Index(None, "subscriber_id", "client_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client_applications.id"))
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClientRequestWindow(Base):
    """Signing requests of one client app in one minute: the per-client rate limit, shared by
    every worker because it lives in the database."""

    __tablename__ = "client_request_windows"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("client_applications.id"), primary_key=True, autoincrement=False
    )
    #: Start of the minute, as Unix seconds.
    window: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)


# --- lifecycle (issue 20: restore, expiry notices, CA rollover) ------------------------------


class LostSerial(Base):
    """A serial the published repository shows but the restored database did not know: issued
    (or revoked) after the backup the database came from. It is listed on the CA's CRLs as
    revoked from then on (its holder can no longer be managed), and a matching ``abandoned``
    serial reservation keeps the serial from ever being used again."""

    __tablename__ = "lost_serials"
    __table_args__ = (UniqueConstraint("issuer_id", "serial_hex"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    serial_hex: Mapped[str] = mapped_column(String(40))
    #: When the published CRL/OCSP response said it was revoked, else the time of the restore.
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    #: Where it was found, e.g. ``crl:issuing-ca.crl#12`` or ``ocsp``.
    found_in: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExpiryNotice(Base):
    """The one notice a subscriber gets before a certificate expires
    (``lifecycle.expiry_notice_days``)."""

    __tablename__ = "expiry_notices"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id"), primary_key=True, autoincrement=False
    )
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    days_before: Mapped[int] = mapped_column(Integer)


class IssuanceWindow(Base):
    """When a CA issues end-entity certificates: set by an issuing-CA rollover ceremony. The old
    CA's window ends at the stated switch time (it keeps signing CRLs and OCSP), the new CA's
    starts there. A CA without a row issues whenever it is active."""

    __tablename__ = "issuance_windows"

    ca_id: Mapped[int] = mapped_column(
        ForeignKey("certificate_authorities.id"), primary_key=True, autoincrement=False
    )
    issue_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issue_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CscToken(Base):
    """A bearer token ``/csc/v2/auth/login`` gave a client app (signing_api.csc).

    Only its SHA-256 is stored (256 random bits: a plain hash is enough)."""

    __tablename__ = "csc_tokens"
    __table_args__ = (UniqueConstraint("token_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client_applications.id"))
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CscSad(Base):
    """Signature Activation Data (CSC SCAL 2): one use, by one client app, with one
    certificate's key, for exactly ``hashes`` (sorted hex digests) under ``hash_oid``.

    Only the SAD's SHA-256 is stored."""

    __tablename__ = "csc_sads"
    __table_args__ = (UniqueConstraint("sad_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sad_sha256: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[int] = mapped_column(ForeignKey("client_applications.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    hash_oid: Mapped[str] = mapped_column(String(64))
    hashes: Mapped[str] = mapped_column(Text)
    num_signatures: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


RECOGNIZED_KINDS = ("psre", "foreign-root")
RECOGNIZED_STATUSES = ("granted", "withdrawn")


class RecognizedCa(Base):
    """A CA the PSrE Induk recognizes (issue 21): a licensed PSrE's CA it certified from the
    PSrE's CSR, or a foreign root it cross-certified. The national trusted list is made from
    these rows; the verifier trusts them and names them in its verdicts. The key is never
    ours: only the certificate is kept (``certificate_der`` is the certificate we issued)."""

    __tablename__ = "recognized_cas"
    __table_args__ = (
        UniqueConstraint("name"),
        UniqueConstraint("fingerprint_sha256"),
        CheckConstraint(_in("kind", RECOGNIZED_KINDS), name="kind"),
        CheckConstraint(_in("status", RECOGNIZED_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    #: The operator's name as the trusted list shows it (the subject's organizationName).
    display_name: Mapped[str] = mapped_column(Text)
    #: Our CA that certified it, and the serial of that certificate (a certificates row).
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    serial_hex: Mapped[str] = mapped_column(String(40))
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))
    #: The foreign root's own self-signed certificate (cross-certification), if given.
    self_signed_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The PSrE's public base URL (its OCSP, CRL and repository live under it).
    service_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="granted")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatusChange(Base):
    """One change of a certificate's status, written in the transaction that made it: the feed
    other processes (CRL publication, OCSP pre-signing) follow instead of the audit log. ``id``
    only grows, so it is the feed's cursor."""

    __tablename__ = "status_changes"
    __table_args__ = (
        CheckConstraint(_in("status", CERT_STATUSES), name="status"),
        Index(None, "issuer_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    serial_hex: Mapped[str] = mapped_column(String(40))
    #: The status after the change: ``revoked``, ``hold`` or ``good`` (a hold released).
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(Text)


class LeaseRow(Base):
    """A named database lease (``ca_core.store.leases``): which process does a job that must run
    once per installation (the refresher), until when. Taken and renewed only by conditional
    writes, so two hosts never both believe they hold it."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(Text)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
