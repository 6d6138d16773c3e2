"""Who may sign, and the proof of sole control that authorises one request.

A signer is a subscriber in status ISSUE with a good, unexpired certificate whose key is in the
HSM. A request is authorised only by the signer's own activation: their passphrase (checked
against its scrypt hash; the signer set it through an enrolment code, signing_api.enrolment,
so nobody else ever knew it) or a one-time code (TOTP) sent to the signer, issued for exactly
that many documents, to that client app, and used once. Failures are counted per signer and
channel, and per signer across channels (signing_api.lockout).

Secrets are handled only here and only in memory: audit events say *which* method failed,
never the value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from ca_core.ca_standing import WORDS, chain_problem
from ca_core.clock import Clock, utcnow
from ca_core.config import SigningConfig
from ca_core.notifier import Notifier
from ca_core.passwords import verify_secret
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.activation import ActivationReads, Activations, NewCode
from ca_core.store.models import Certificate, SealActivation, Subscriber
from ca_core.store.signing_certs import newest_for_subscriber
from policies.roles import signing_profile_for
from signing_api import totp as otp
from signing_api.client_auth import ClientApp
from signing_api.esign_errors import (
    CANNOT_SIGN,
    INVALID_FORMAT,
    ISSUER_NOT_GOOD,
    NOT_REGISTERED,
    WRONG_ACTIVATION,
    EsignError,
)
from signing_api.lockout import Channel, Lockout, client_channel, locked_until, subject_key
from signing_api.verified_cache import VerifiedCache

#: Passphrases that passed scrypt lately (see signing_api.verified_cache), per process.
_passphrases = VerifiedCache()


@dataclass(frozen=True)
class Signer:
    subscriber: Subscriber
    certificate: Certificate


# --- finding the signer ----------------------------------------------------------------------


def find_subscriber(
    store: ReadOnlyStore,
    *,
    nik: str | None = None,
    email: str | None = None,
    org_id: str | None = None,
) -> Subscriber | None:
    found = ActivationReads(store).subscribers_matching(nik=nik, email=email, org_id=org_id)
    # An e-mail address shared by two subscribers names nobody.
    return found[0] if len(found) == 1 else None


def require_subscriber(store: ReadOnlyStore, **key: str | None) -> Subscriber:
    sub = find_subscriber(store, **key)
    if sub is None:
        raise EsignError(NOT_REGISTERED, "pengguna tidak terdaftar (signer not registered)")
    return sub


def usable_certificate(
    store: ReadOnlyStore, sub: Subscriber, now: dt.datetime
) -> Certificate | None:
    """The newest good, currently valid certificate of ``sub`` with its key in the HSM."""
    # The profile that signs for this kind of subscriber (role subscriber-signing or seal).
    profile = signing_profile_for(sub.kind).name
    return newest_for_subscriber(store, sub.id, now, profile=profile)


@dataclass(frozen=True)
class ApiStatus:
    """What user/status answers: the status string, and until when a locked signer is locked."""

    status: str
    locked_until: dt.datetime | None = None

    @property
    def can_sign(self) -> bool:
        return self.status == "ISSUE"


def api_status(
    store: ReadOnlyStore,
    sub: Subscriber | None,
    channel_key: str | None = None,
    *,
    clock: Clock = utcnow,
) -> ApiStatus:
    """The status of the e-sign API (bsre-esign-api.md, user/check/status). A signer whose CA
    (or a CA above it) is not good gets CA_REVOKED / CA_SUSPENDED / CA_EXPIRED; ``LOCKED``
    (psre's, like ``NO_CERTIFICATE``) while failed activations keep the signer from signing —
    signer-wide, or for the asking client app (``channel_key``)."""
    if sub is None:
        return ApiStatus("NOT_REGISTERED")
    if sub.status != "ISSUE":
        return ApiStatus(sub.status)
    now = clock()
    cert = usable_certificate(store, sub, now)
    if cert is None:
        return ApiStatus("NO_CERTIFICATE")
    problem = chain_problem(store, cert.issuer_id, now)
    if problem is not None:
        return ApiStatus(problem.api_status)
    until = locked_until(store, sub.id, channel_key, now)
    if until is not None:
        return ApiStatus("LOCKED", until)
    return ApiStatus(sub.status)


def require_signer(store: ReadOnlyStore, sub: Subscriber, *, clock: Clock = utcnow) -> Signer:
    """``sub`` if it may sign now; 2021 (signer) or 2022 (their CA) otherwise — checked before
    any activation attempt, so a refusal never counts as a failed passphrase."""
    if sub.status != "ISSUE":
        message = f"status pengguna {sub.status}: only ISSUE may sign"
        raise EsignError(CANNOT_SIGN, message, user_status=sub.status)
    now = clock()
    cert = usable_certificate(store, sub, now)
    if cert is None:
        raise EsignError(
            CANNOT_SIGN, "no valid certificate to sign with", user_status="NO_CERTIFICATE"
        )
    problem = chain_problem(store, cert.issuer_id, now)
    if problem is not None:
        raise EsignError(
            ISSUER_NOT_GOOD,
            problem.message,
            user_status=problem.api_status,
            ca=problem.ca,
            ca_status=WORDS[problem.state],
        )
    return Signer(sub, cert)


# --- activation: passphrase or one-time code, with lockout -----------------------------------


class Activation:
    """Checks a request's activation data for one subscriber, counting failures in the DB.

    ``client`` is the authenticated app (codes and seal activations belong to it); the CLI has
    none and activates with the passphrase only, through its own ``channel``.
    """

    def __init__(
        self,
        store: Store,
        cfg: SigningConfig,
        client: ClientApp | None,
        *,
        channel: Channel | None = None,
        notifier: Notifier | None = None,
        codes: otp.CodeMac | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.clock = clock
        #: Digests of one-time codes (in the HSM); None where codes are not used (the CLI).
        self._codes = codes
        self.cfg = cfg
        self.client = client
        if channel is None:
            assert client is not None
            channel = client_channel(client.id, client.username)
        self.channel = channel
        self.lockout = Lockout(store, cfg, channel, notifier)

    @property
    def _mac(self) -> otp.CodeMac:
        if self._codes is None:
            raise EsignError(WRONG_ACTIVATION, "one-time codes are for client apps")
        return self._codes

    @property
    def _client(self) -> ClientApp:
        if self.client is None:
            raise EsignError(WRONG_ACTIVATION, "one-time codes are for client apps")
        return self.client

    def check(
        self,
        sub: Subscriber,
        *,
        passphrase: str | None,
        code: str | None,
        documents: int,
        purpose: str = "sign",
        hashes: list[str] | None = None,
    ) -> None:
        """Raise 2031 unless the passphrase or code authorises ``documents`` signatures now
        (and, for a code issued for named documents, exactly the documents with ``hashes``).

        A code is consumed by this call whether or not signing then succeeds: one code, one
        request. A code another client app holds is refused without counting a failure (nor is
        it spent): presenting it proves nothing about the signer.
        """
        now = self.clock()
        current, counted = self.lockout.refuse_if_locked(sub, now)
        if passphrase:
            ok = self._passphrase_ok(current, passphrase)
            method = "passphrase"
        else:
            ok = code is not None and self._use_code(sub, code, documents, purpose, now, hashes)
            method = "totp"
            if not ok and code is not None and self._held_by_another_app(sub, code, purpose, now):
                raise EsignError(
                    WRONG_ACTIVATION, "the TOTP was issued to another client app", counted=False
                )
        if not ok:
            self.lockout.failed(sub, method, now)
        self._after_success(sub, counted, now)

    def _after_success(self, sub: Subscriber, counted: bool, now: dt.datetime) -> None:
        """Reset the counters; but if concurrent wrong guesses locked the signer while this
        request was being checked, the lock wins (read again after the slow check)."""
        _, counted_now = self.lockout.refuse_if_locked(sub, now)
        if counted or counted_now:
            self.lockout.succeeded(sub)

    def _passphrase_ok(self, sub: Subscriber, passphrase: str) -> bool:
        if sub.passphrase_hash is None:
            return False
        key = VerifiedCache.key(f"subscriber:{sub.id}", sub.passphrase_hash, passphrase)
        if _passphrases.fresh(key, self.cfg.passphrase_cache_seconds):
            return True
        if not verify_secret(passphrase, sub.passphrase_hash):
            return False
        _passphrases.add(key)
        return True

    def _held_by_another_app(
        self, sub: Subscriber, code: str, purpose: str, now: dt.datetime
    ) -> bool:
        others = ActivationReads(self.store).live_codes_of_other_apps(
            sub.id, self._client.id, purpose, now
        )
        return any(self._mac.matches(code, c.salt, c.code_hmac) for c in others)

    def _use_code(
        self,
        sub: Subscriber,
        code: str,
        documents: int,
        purpose: str,
        now: dt.datetime,
        hashes: list[str] | None,
    ) -> bool:
        match = Activations(self.store).take_code(
            sub.id,
            self._client.id,
            purpose,
            now,
            lambda c: self._mac.matches(code, c.salt, c.code_hmac),
        )
        if match is None:
            return False
        if match.document_sha256 is not None and match.document_sha256 != _joined(hashes or []):
            raise EsignError(INVALID_FORMAT, "the TOTP was issued for other documents")
        if match.documents != documents:
            # Consumed all the same: the code authorised another request than this one.
            raise EsignError(
                INVALID_FORMAT,
                f"the TOTP was issued for {match.documents} document(s), "
                f"this request has {documents}",
            )
        return True

    # -- issuing one-time codes ---------------------------------------------------------------

    def issue_code(
        self,
        sub: Subscriber,
        documents: int,
        *,
        purpose: str = "sign",
        seal_activation_id: int | None = None,
        hashes: list[str] | None = None,
    ) -> tuple[str, dt.datetime]:
        """A new one-time code for ``documents`` signatures; returns (code, expiry). Earlier
        unused codes of this signer, client and purpose are voided: only the newest works."""
        now = self.clock()
        code = otp.new_code(self.cfg.totp_seconds, self.cfg.totp_digits)
        salt = secrets.token_hex(16)
        # Computed before the transaction: an HSM outage refuses the request (503), writes nothing.
        digest = self._mac.digest(code, salt)
        expires = now + dt.timedelta(seconds=self.cfg.totp_seconds)
        new = NewCode(
            subscriber_id=sub.id,
            client_id=self._client.id,
            purpose=purpose,
            salt=salt,
            code_hmac=digest,
            documents=documents,
            expires_at=expires,
            document_sha256=_joined(hashes) if hashes else None,
            seal_activation_id=seal_activation_id,
        )
        Activations(self.store).issue_code(
            new, now, actor=self.channel.actor, subject=subject_key(sub)
        )
        return code, expires

    def send_code(
        self,
        sub: Subscriber,
        documents: int,
        notifier: Notifier,
        hashes: list[str] | None = None,
    ) -> dt.datetime:
        code, expires = self.issue_code(sub, documents, hashes=hashes)
        minutes = max(1, self.cfg.totp_seconds // 60)
        notifier.send(
            sub.email,
            "Kode TOTP tanda tangan elektronik",
            f"Kode TOTP Anda: {code}\nBerlaku {minutes} menit untuk {documents} dokumen.\n"
            "Jangan berikan kode ini kepada siapa pun.",
            expires_at=expires,
        )
        return expires

    # -- agency seal activations --------------------------------------------------------------

    def new_seal_activation(self, sub: Subscriber) -> tuple[str, dt.datetime]:
        token = secrets.token_urlsafe(32)
        expires = self.clock() + dt.timedelta(days=self.cfg.seal_activation_days)
        Activations(self.store).add_seal_activation(
            sub.id,
            self._client.id,
            _sha256(token),
            expires,
            actor=self.channel.actor,
            subject=subject_key(sub),
        )
        return token, expires

    def seal_activation(self, sub: Subscriber, token: str) -> SealActivation | None:
        """The live activation of this client for ``sub`` that ``token`` names, if any."""
        return ActivationReads(self.store).live_seal_activation(
            _sha256(token), sub.id, self._client.id, self.clock()
        )

    def check_seal_activation(self, sub: Subscriber, token: str | None) -> SealActivation:
        """The activation ``token`` names; a wrong token counts as a failed attempt."""
        now = self.clock()
        _, counted = self.lockout.refuse_if_locked(sub, now)
        found = self.seal_activation(sub, token) if token else None
        if found is None:
            self.lockout.failed(sub, "seal activation", now)
        assert found is not None
        self._after_success(sub, counted, now)
        return found

    def revoke_seal_activations(self, sub: Subscriber, token: str | None = None) -> int:
        """Revoke this client's activations for ``sub`` (only ``token``'s when given)."""
        return Activations(self.store).revoke_seal_activations(
            sub.id,
            self._client.id,
            self.clock(),
            token_sha256=None if token is None else _sha256(token),
            actor=self.channel.actor,
            subject=subject_key(sub),
        )


def _joined(hashes: list[str]) -> str:
    return ",".join(sorted(h.lower() for h in hashes))


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
