"""PKCS#11 implementation of ``KeyBackend`` (SoftHSM2 by default, any module by configuration).

Sessions come from a small pool so several threads sign at once (the module is initialised with
OS locking, see ``hsm.p11lib``). PKCS#11 login state belongs to the application, not the session
(PKCS#11 §6.7.1), so the first session logs in and the others inherit it.

When the token drops our sessions (closed under us, token restarted or re-initialised, taken
away and brought back), the operation that noticed discards the whole pool, re-initialises the
module, logs the event, reopens and logs in again, and is retried once. Object handles are cached
per session and so die with it. While the token stays away every operation fails fast with
``HsmError`` and the first one after it is back succeeds: no restart is needed.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pkcs11
from asn1crypto import algos, core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11e
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)

from hsm.backend import HASHES, KeyInfo, KeySpec, SecretKeyInfo, SignScheme, new_key_id
from hsm.errors import (
    HsmError,
    HsmLoginError,
    KeyExistsError,
    KeyNotFoundError,
    TokenNotFoundError,
)
from hsm.p11lib import guard, load_module, reload_module
from hsm.pin import PinSource

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors after which our sessions (or the token behind them) are gone and must be reopened.
# GeneralError and DeviceError are what SoftHSM answers, to every call and for good, once its
# token directory went away (a removed token, an unmounted volume): only re-initialising the
# module clears them, so they count as a lost token, not as a failed operation.
_SESSION_LOST = (
    p11e.GeneralError,
    p11e.DeviceError,
    p11e.DeviceMemory,
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.TokenNotPresent,
    p11e.TokenNotRecognised,
    p11e.DeviceRemoved,
    p11e.UserNotLoggedIn,
    p11e.ObjectHandleInvalid,
    p11e.KeyHandleInvalid,
)

_LOGIN_FAILURES = {
    p11e.PinIncorrect: "the PIN is incorrect",
    p11e.PinInvalid: "the PIN is incorrect",
    p11e.PinLenRange: "the PIN is incorrect",
    p11e.PinLocked: "the PIN is locked",
}

_HASH_MECH = {"sha256": Mechanism.SHA256, "sha384": Mechanism.SHA384, "sha512": Mechanism.SHA512}
_MGF = {"sha256": pkcs11.MGF.SHA256, "sha384": pkcs11.MGF.SHA384, "sha512": pkcs11.MGF.SHA512}
_COMBINED = {
    (SignScheme.ECDSA, "sha256"): Mechanism.ECDSA_SHA256,
    (SignScheme.ECDSA, "sha384"): Mechanism.ECDSA_SHA384,
    (SignScheme.ECDSA, "sha512"): Mechanism.ECDSA_SHA512,
    (SignScheme.PKCS1V15, "sha256"): Mechanism.SHA256_RSA_PKCS,
    (SignScheme.PKCS1V15, "sha384"): Mechanism.SHA384_RSA_PKCS,
    (SignScheme.PKCS1V15, "sha512"): Mechanism.SHA512_RSA_PKCS,
    (SignScheme.PSS, "sha256"): Mechanism.SHA256_RSA_PKCS_PSS,
    (SignScheme.PSS, "sha384"): Mechanism.SHA384_RSA_PKCS_PSS,
    (SignScheme.PSS, "sha512"): Mechanism.SHA512_RSA_PKCS_PSS,
}
_RAW = {
    SignScheme.ECDSA: Mechanism.ECDSA,
    SignScheme.PKCS1V15: Mechanism.RSA_PKCS,
    SignScheme.PSS: Mechanism.RSA_PKCS_PSS,
}
_CURVE_BY_PARAMS = {
    encode_named_curve_parameters("secp256r1"): KeySpec.EC_P256,
    encode_named_curve_parameters("secp384r1"): KeySpec.EC_P384,
}


class _Session:
    """One open PKCS#11 session and the key handles found through it."""

    def __init__(self, raw: Any, generation: int) -> None:
        self.raw = raw
        self.generation = generation
        self.key_epoch = 0
        self.keys: dict[tuple[str, ObjectClass], Any] = {}

    def key(self, label: str, cls: ObjectClass) -> Any:
        k = self.keys.get((label, cls))
        if k is None:
            found = list(self.raw.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))
            if not found:
                raise KeyNotFoundError(f"no key labelled '{label}' on the token")
            if len(found) > 1:
                raise HsmError(f"{len(found)} keys labelled '{label}' on the token")
            k = self.keys[(label, cls)] = found[0]
        return k


class Pkcs11Backend:
    """``KeyBackend`` over one token of one PKCS#11 module."""

    def __init__(
        self,
        module: str,
        token_label: str,
        pin: PinSource,
        *,
        pool_size: int = 4,
        prefer_combined: bool = True,
        acquire_timeout: float = 30.0,
        on_login_failure: Callable[[str, str], None] | None = None,
        on_sign: Callable[[float, BaseException | None], None] | None = None,
    ) -> None:
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self._pool_size = pool_size
        #: Use combined hash-and-sign mechanisms when the token has them; False forces the raw
        #: mechanism over a digest computed here (what happens anyway for pre-hashed input).
        self.prefer_combined = prefer_combined
        self._acquire_timeout = acquire_timeout
        #: Called with (token label, reason) after a failed login, e.g. to write an audit event.
        self.on_login_failure = on_login_failure
        #: Called with (seconds, error or None) after each signature, e.g. for metrics.
        self.on_sign = on_sign
        self._lock = threading.Lock()
        self._idle: queue.LifoQueue[_Session] = queue.LifoQueue()
        self._open = 0
        self._generation = 0
        self._logged_in = False
        self._token: Any = None
        self._mechanisms: frozenset[Mechanism] = frozenset()
        self._key_epoch = 0
        # Serialises the find-or-create of secret keys among this process's threads.
        self._secret_lock = threading.Lock()
        self.reconnects = 0

    # -- sessions ---------------------------------------------------------------------------------
    def _connect_locked(self) -> None:
        lib = load_module(self.module)
        try:
            # Re-read the slot list: a re-initialised SoftHSM token comes back on a new slot.
            self._token = lib.get_token(token_label=self.token_label)
        except p11e.NoSuchToken:
            raise TokenNotFoundError(f"no token labelled '{self.token_label}'") from None
        except p11e.MultipleTokensReturned:
            raise TokenNotFoundError(
                f"several tokens labelled '{self.token_label}'; labels must be unique"
            ) from None
        self._mechanisms = frozenset(self._token.slot.get_mechanisms())

    def _open_session_locked(self) -> _Session:
        if self._token is None:
            self._connect_locked()
        if not self._logged_in:
            pin = self._pin.read(self.token_label)
            try:
                raw = self._token.open(rw=True, user_pin=pin)
            except p11e.UserAlreadyLoggedIn:
                raw = self._token.open(rw=True)
            except p11e.PKCS11Error as ex:
                reason = _LOGIN_FAILURES.get(type(ex), type(ex).__name__)
                if self.on_login_failure is not None:
                    self.on_login_failure(self.token_label, reason)
                raise HsmLoginError(
                    f"login to token '{self.token_label}' failed: {reason}"
                ) from None
            finally:
                del pin
            self._logged_in = True
        else:
            raw = self._token.open(rw=True)
        self._open += 1
        return _Session(raw, self._generation)

    @contextmanager
    def _session(self) -> Iterator[_Session]:
        s: _Session | None = None
        try:
            s = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                if self._open < self._pool_size:
                    s = self._open_session_locked()
            if s is None:
                try:
                    s = self._idle.get(timeout=self._acquire_timeout)
                except queue.Empty:
                    raise HsmError(
                        f"no free session on token '{self.token_label}' "
                        f"after {self._acquire_timeout:.0f} s"
                    ) from None
        if s.key_epoch != self._key_epoch:
            s.keys.clear()  # a key was destroyed since this session cached its handles
            s.key_epoch = self._key_epoch
        try:
            yield s
        finally:
            # Sessions of an older generation were dropped by _reset(); never hand them out.
            if s.generation == self._generation:
                self._idle.put(s)

    def _reset(self, reason: Exception, seen_generation: int | None = None) -> None:
        """Drop every pooled session and re-initialise the module, once per loss.

        ``seen_generation`` is the pool generation the failed operation ran under: when another
        thread has reset since, its fresh sessions are left alone and the caller just retries.
        """
        with self._lock:
            if seen_generation is not None and seen_generation != self._generation:
                return
            self._generation += 1
            drained = []
            while True:
                try:
                    drained.append(self._idle.get_nowait())
                except queue.Empty:
                    break
            for s in drained:
                try:
                    s.raw.close()
                except p11e.PKCS11Error:
                    pass  # already gone: that is why we are here
            self._open = 0
            self._logged_in = False
            self._token = None
            self.reconnects += 1
        log.warning(
            "HSM session lost on token '%s' (%s); reopening",
            self.token_label,
            type(reason).__name__,
        )
        # Sessions still lent out die with the module; their operations fail and retry.
        try:
            reload_module(self.module)
        except HsmError as ex:
            # The token is still away (SoftHSM: C_Initialize fails). The module stays finalised
            # and the next operation's "not initialized" error brings us back here.
            log.warning("PKCS#11 module not re-initialised yet: %s", ex)

    def _run(self, op: Callable[[_Session], T]) -> T:
        for attempt in (1, 2):
            generation = self._generation
            try:
                with guard(self.module), self._session() as s:
                    generation = s.generation
                    return op(s)
            except _SESSION_LOST as ex:
                if attempt == 2:
                    raise HsmError(
                        f"token '{self.token_label}' unavailable: {type(ex).__name__}"
                    ) from None
                self._reset(ex, generation)
            except p11e.PKCS11Error as ex:
                if _not_initialized(ex):
                    # The module was finalised under us (library restart, or a re-initialisation
                    # that failed while the token was away): initialise it afresh.
                    if attempt == 2:
                        raise HsmError(f"token '{self.token_label}' unavailable") from None
                    self._reset(ex, generation)
                    continue
                raise HsmError(
                    f"PKCS#11 error on token '{self.token_label}': {type(ex).__name__}"
                ) from None
        raise AssertionError("unreachable")

    # -- key management ---------------------------------------------------------------------------
    def generate(self, label: str, spec: KeySpec) -> KeyInfo:
        """Generate a key pair inside the token: private key sensitive, never extractable."""
        if not label or len(label) > 64:
            raise HsmError("a key label must be 1 to 64 characters")
        key_id = new_key_id()  # carries the creation time (see hsm.backend)
        priv_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        pub_template: dict[Attribute, object] = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.VERIFY: True,
            Attribute.ENCRYPT: False,
            Attribute.WRAP: False,
        }

        def op(s: _Session) -> KeyInfo:
            existing = list(s.raw.get_objects({Attribute.LABEL: label}))
            if existing:
                raise KeyExistsError(f"a key labelled '{label}' already exists on the token")
            if spec.is_rsa:
                pub_template[Attribute.PUBLIC_EXPONENT] = b"\x01\x00\x01"
                s.raw.generate_keypair(
                    KeyType.RSA,
                    spec.rsa_bits,
                    id=key_id,
                    label=label,
                    store=True,
                    public_template=pub_template,
                    private_template=priv_template,
                )
            else:
                params = s.raw.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(spec.curve_name)},
                    local=True,
                )
                params.generate_keypair(
                    id=key_id,
                    label=label,
                    store=True,
                    public_template=pub_template,
                    private_template=priv_template,
                )
            return self._info(s, label)

        info = self._run(op)
        log.info("generated %s key '%s' on token '%s'", spec.value, label, self.token_label)
        return info

    def _info(self, s: _Session, label: str) -> KeyInfo:
        priv = s.key(label, ObjectClass.PRIVATE_KEY)
        if priv.key_type == KeyType.RSA:
            pub = s.key(label, ObjectClass.PUBLIC_KEY)
            bits = int.from_bytes(pub[Attribute.MODULUS], "big").bit_length()
            spec = KeySpec(f"rsa-{bits}") if bits in (2048, 3072, 4096) else None
        elif priv.key_type == KeyType.EC:
            spec = _CURVE_BY_PARAMS.get(bytes(priv[Attribute.EC_PARAMS]))
        else:
            spec = None
        if spec is None:
            raise HsmError(f"key '{label}' is of a type psre does not use")
        return KeyInfo(
            label=label,
            key_id=bytes(priv[Attribute.ID]),
            spec=spec,
            sensitive=bool(priv[Attribute.SENSITIVE]),
            extractable=bool(priv[Attribute.EXTRACTABLE]),
        )

    def info(self, label: str) -> KeyInfo:
        return self._run(lambda s: self._info(s, label))

    def list_keys(self) -> list[KeyInfo]:
        def op(s: _Session) -> list[KeyInfo]:
            labels = sorted(
                {o.label for o in s.raw.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})}
            )
            out = []
            for lab in labels:
                try:
                    out.append(self._info(s, lab))
                except HsmError:
                    continue  # keys of other types or duplicate labels: not ours to list
            return out

        return self._run(op)

    def public_key(self, label: str) -> PublicKeyTypes:
        def op(s: _Session) -> PublicKeyTypes:
            pub = s.key(label, ObjectClass.PUBLIC_KEY)
            if pub.key_type == KeyType.RSA:
                n = int.from_bytes(pub[Attribute.MODULUS], "big")
                e = int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big")
                return rsa.RSAPublicNumbers(e, n).public_key()
            return serialization.load_der_public_key(encode_ec_public_key(pub))

        return self._run(op)

    def delete(self, label: str) -> None:
        """Destroy both halves of a key pair (ceremony clean-up of a failed run)."""

        def op(s: _Session) -> None:
            objs = list(s.raw.get_objects({Attribute.LABEL: label}))
            if not objs:
                raise KeyNotFoundError(f"no key labelled '{label}' on the token")
            for o in objs:
                o.destroy()
            s.keys = {k: v for k, v in s.keys.items() if k[0] != label}

        self._run(op)
        self._key_epoch += 1  # other pooled sessions may still cache the destroyed handles
        log.info("destroyed key '%s' on token '%s'", label, self.token_label)

    # -- signing ----------------------------------------------------------------------------------
    def sign(
        self,
        label: str,
        data: bytes,
        hash_name: str,
        scheme: SignScheme,
        *,
        prehashed: bool = False,
        pss_salt_length: int | None = None,
    ) -> bytes:
        """Sign ``data`` (or its digest, when ``prehashed``). ECDSA signatures come back DER."""
        if hash_name not in HASHES:
            raise HsmError(f"unsupported hash {hash_name!r} (use one of {', '.join(HASHES)})")
        digest_size = hashlib.new(hash_name).digest_size
        if prehashed and len(data) != digest_size:
            raise HsmError(f"a pre-hashed {hash_name} input must be {digest_size} bytes")
        combined = _COMBINED[(scheme, hash_name)]
        use_combined = self.prefer_combined and not prehashed and combined in self._mechanisms
        param: Any = None
        if scheme is SignScheme.PSS:
            salt = digest_size if pss_salt_length is None else pss_salt_length
            param = (_HASH_MECH[hash_name], _MGF[hash_name], salt)
        if use_combined:
            mech, payload = combined, data
        else:
            digest = data if prehashed else hashlib.new(hash_name, data).digest()
            mech = _RAW[scheme]
            payload = _digest_info(hash_name, digest) if scheme is SignScheme.PKCS1V15 else digest

        def op(s: _Session) -> bytes:
            if not self._mechanisms:
                raise HsmError("token mechanisms unknown")
            key = s.key(label, ObjectClass.PRIVATE_KEY)
            sig: bytes = key.sign(payload, mechanism=mech, mechanism_param=param)
            return sig

        t0 = time.perf_counter()
        try:
            sig = self._run(op)
        except BaseException as ex:
            if self.on_sign is not None:
                self.on_sign(time.perf_counter() - t0, ex)
            raise
        if self.on_sign is not None:
            self.on_sign(time.perf_counter() - t0, None)
        return encode_ecdsa_signature(sig) if scheme is SignScheme.ECDSA else sig

    # -- secret keys (MACs) -----------------------------------------------------------------------
    def ensure_mac_key(self, label: str) -> SecretKeyInfo:
        """The HMAC key ``label``, generated inside the token if missing (idempotent)."""

        def op(s: _Session) -> SecretKeyInfo:
            key = self._secret_key(s, label)
            return SecretKeyInfo(
                label=label,
                key_id=bytes(key[Attribute.ID]),
                sensitive=bool(key[Attribute.SENSITIVE]),
                extractable=bool(key[Attribute.EXTRACTABLE]),
            )

        return self._run(op)

    def mac(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under the token's secret key ``label`` (made when missing)."""
        return self._run(
            lambda s: bytes(self._secret_key(s, label).sign(data, mechanism=Mechanism.SHA256_HMAC))
        )

    def _secret_key(self, s: _Session, label: str) -> Any:
        """The handle of secret key ``label``, found once per session, created when missing.

        Two processes (workers, hosts sharing the token) may both find no key and both create
        one. Whoever next finds several keeps the one with the lowest CKA_ID and destroys the
        others, so every process converges on the same key: a handle cached to a destroyed key
        fails with an invalid-handle error, which reopens the pool and finds the survivor.
        """
        cached = s.keys.get((label, ObjectClass.SECRET_KEY))
        if cached is not None:
            return cached
        with self._secret_lock:
            query = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}
            found = list(s.raw.get_objects(query))
            if not found:
                self._generate_secret(s, label)
                found = list(s.raw.get_objects(query))
            found.sort(key=lambda o: bytes(o[Attribute.ID]))
            for extra in found[1:]:
                try:
                    extra.destroy()
                except p11e.PKCS11Error:
                    pass  # another process removed it first
            if not found:
                raise HsmError(f"secret key '{label}' vanished right after it was made")
            s.keys[(label, ObjectClass.SECRET_KEY)] = found[0]
            return found[0]

    def _generate_secret(self, s: _Session, label: str) -> None:
        if Mechanism.SHA256_HMAC not in self._mechanisms:
            raise HsmError(f"token '{self.token_label}' cannot compute HMAC-SHA256")
        s.raw.generate_key(
            KeyType.GENERIC_SECRET,
            256,
            id=new_key_id(),
            label=label,
            store=True,
            template={
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
                Attribute.VERIFY: False,
                Attribute.ENCRYPT: False,
                Attribute.DECRYPT: False,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.DERIVE: False,
            },
        )
        log.info("generated secret key '%s' on token '%s'", label, self.token_label)

    def mechanisms(self) -> frozenset[Mechanism]:
        self._run(lambda s: None)
        return self._mechanisms

    # -- lifecycle --------------------------------------------------------------------------------
    def health(self) -> dict[str, object]:
        """Ask the token itself: C_GetTokenInfo and a key search, through the pool.

        The token information is read afresh on every call: a session opened before the token
        went away still answers searches (SoftHSM: with no objects), so a search alone would
        report a vanished token as healthy.
        """
        t0 = time.perf_counter()

        def probe(s: _Session) -> int:
            info = s.raw.token.slot.get_token()  # C_GetTokenInfo on the slot, not a cache
            if info.label != self.token_label:
                raise p11e.TokenNotRecognised()
            return len(list(s.raw.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})))

        try:
            n = self._run(probe)
        except Exception as ex:  # health must report, not raise
            return {"ok": False, "token": self.token_label, "error": str(ex)}
        return {
            "ok": True,
            "token": self.token_label,
            "private_keys": n,
            "sessions_open": self._open,
            "reconnects": self.reconnects,
            "latency_ms": round((time.perf_counter() - t0) * 1000, 2),
        }

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            while True:
                try:
                    s = self._idle.get_nowait()
                except queue.Empty:
                    break
                try:
                    s.raw.close()
                except p11e.PKCS11Error:
                    pass
            self._open = 0
            self._logged_in = False
            self._token = None

    @property
    def slot_id(self) -> int:
        self._run(lambda s: None)
        return int(self._token.slot.slot_id)


def _not_initialized(ex: Exception) -> bool:
    # python-pkcs11 maps CKR_CRYPTOKI_NOT_INITIALIZED to a bare PKCS11Error with this text.
    return type(ex) is p11e.PKCS11Error and "not initialized" in str(ex)


def _digest_info(hash_name: str, digest: bytes) -> bytes:
    """DigestInfo for raw PKCS#1 v1.5 signing (RFC 8017 §9.2), encoded by asn1crypto."""
    # The NULL parameters are required: RFC 8017 §9.2 note 1 lists the exact DER prefixes.
    alg = {"algorithm": hash_name, "parameters": core.Null()}
    der: bytes = algos.DigestInfo({"digest_algorithm": alg, "digest": digest}).dump()
    return der
