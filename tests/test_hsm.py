"""The key backend against a real SoftHSM2 token."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from hsm import HsmError, HsmLoginError, KeyExistsError, KeyNotFoundError, KeySpec, SignScheme
from hsm.errors import UnsupportedError
from hsm.keys import HsmECPrivateKey, HsmRSAPrivateKey, private_key
from hsm.p11lib import ModuleControl
from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend
from tests.hsm_support import make_token

HASH = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


@pytest.fixture(scope="module")
def keys(backend):
    """One key pair of each type, made once for the module."""
    out = {}
    for spec in KeySpec:
        label = f"k-{spec.value}"
        out[spec] = backend.generate(label, spec)
    return out


def verify(pub, sig: bytes, data: bytes, hash_name: str, scheme: SignScheme) -> None:
    h = HASH[hash_name]
    if scheme is SignScheme.ECDSA:
        pub.verify(sig, data, ec.ECDSA(h))
    elif scheme is SignScheme.PKCS1V15:
        pub.verify(sig, data, padding.PKCS1v15(), h)
    else:
        pub.verify(sig, data, padding.PSS(padding.MGF1(h), h.digest_size), h)


def test_generated_keys_are_sensitive_and_not_extractable(backend, keys):
    for spec, info in keys.items():
        assert info.spec is spec
        assert info.sensitive is True
        assert info.extractable is False
        assert backend.info(info.label) == info
    listed = {k.label for k in backend.list_keys()}
    assert {i.label for i in keys.values()} <= listed


def test_public_keys_have_the_requested_type(backend, keys):
    for spec, info in keys.items():
        pub = backend.public_key(info.label)
        if spec.is_rsa:
            assert isinstance(pub, rsa.RSAPublicKey)
            assert pub.key_size == spec.rsa_bits
            assert pub.public_numbers().e == 65537
        else:
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            assert pub.curve.name == spec.curve_name


@pytest.mark.parametrize("combined", [True, False], ids=["combined-mech", "raw-mech"])
@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_every_algorithm_signs_and_verifies(token, keys, hash_name, combined):
    backend = token.backend(prefer_combined=combined)
    data = b"psre signs this " * 40
    for spec, info in keys.items():
        schemes = [SignScheme.PKCS1V15, SignScheme.PSS] if spec.is_rsa else [SignScheme.ECDSA]
        pub = backend.public_key(info.label)
        for scheme in schemes:
            sig = backend.sign(info.label, data, hash_name, scheme)
            verify(pub, sig, data, hash_name, scheme)
            with pytest.raises(InvalidSignature):
                verify(pub, sig, data + b"x", hash_name, scheme)
    backend.close()


def test_softhsm_lacks_combined_ecdsa_and_we_still_sign_p384_sha384(backend, keys):
    from pkcs11 import Mechanism

    # The case the raw fallback exists for: SoftHSM 2.6 has CKM_ECDSA only.
    assert Mechanism.ECDSA_SHA384 not in backend.mechanisms()
    label = keys[KeySpec.EC_P384].label
    sig = backend.sign(label, b"abc", "sha384", SignScheme.ECDSA)
    backend.public_key(label).verify(sig, b"abc", ec.ECDSA(hashes.SHA384()))


def test_cryptography_builders_sign_in_the_hsm(backend, keys):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HSM test")])
    for spec, info in keys.items():
        key = private_key(backend, info.label)
        assert isinstance(key, HsmRSAPrivateKey if spec.is_rsa else HsmECPrivateKey)
        h = hashes.SHA384() if spec is KeySpec.EC_P384 else hashes.SHA256()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, h)
        )
        cert.verify_directly_issued_by(cert)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(name)
            .last_update(now)
            .next_update(now + dt.timedelta(days=1))
            .sign(key, h)
        )
        assert crl.is_signature_valid(key.public_key())
    pss_key = private_key(backend, keys[KeySpec.RSA_3072].label)
    sig = pss_key.sign(
        b"m", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH), hashes.SHA256()
    )
    pss_key.public_key().verify(
        sig,
        b"m",
        padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH),
        hashes.SHA256(),
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"pre")
    ec_key = private_key(backend, keys[KeySpec.EC_P256].label)
    sig = ec_key.sign(digest.finalize(), ec.ECDSA(Prehashed(hashes.SHA256())))
    ec_key.public_key().verify(sig, b"pre", ec.ECDSA(hashes.SHA256()))


def test_private_key_material_cannot_leave(backend, keys):
    for info in keys.values():
        key = private_key(backend, info.label)
        with pytest.raises(UnsupportedError):
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        with pytest.raises(UnsupportedError):
            key.private_numbers()


def test_duplicate_label_and_missing_key(backend, keys):
    with pytest.raises(KeyExistsError, match="k-ec-p256"):
        backend.generate("k-ec-p256", KeySpec.EC_P256)
    with pytest.raises(KeyNotFoundError, match="no-such-key"):
        backend.sign("no-such-key", b"x", "sha256", SignScheme.ECDSA)


def test_delete_removes_both_halves(backend):
    backend.generate("to-delete", KeySpec.EC_P256)
    backend.sign("to-delete", b"x", "sha256", SignScheme.ECDSA)
    backend.delete("to-delete")
    with pytest.raises(KeyNotFoundError):
        backend.public_key("to-delete")
    with pytest.raises(KeyNotFoundError):
        backend.sign("to-delete", b"x", "sha256", SignScheme.ECDSA)


def _raw_secret_keys(token, label: str) -> list:
    """The token's secret keys labelled ``label``, read with python-pkcs11 directly (the
    backend's login is the application's, so this session sees private objects)."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    session = pkcs11.lib(token.module).get_token(token_label=token.label).open(rw=True)
    query = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}
    return [session, list(session.get_objects(query))]


def test_the_code_mac_key_is_made_once_in_the_token_sensitive_and_not_extractable(token, backend):
    from pkcs11 import Attribute, KeyType
    from pkcs11 import exceptions as p11e

    label = f"mac-{secrets.token_hex(4)}"
    first = backend.ensure_mac_key(label)
    assert backend.ensure_mac_key(label) == first  # idempotent: the same key, not a second one
    assert first.sensitive and not first.extractable
    session, found = _raw_secret_keys(token, label)
    try:
        (key,) = found
        assert key.key_type == KeyType.GENERIC_SECRET
        assert key[Attribute.SENSITIVE] and key[Attribute.ALWAYS_SENSITIVE]
        assert not key[Attribute.EXTRACTABLE] and key[Attribute.NEVER_EXTRACTABLE]
        assert key[Attribute.SIGN] and not key[Attribute.ENCRYPT] and not key[Attribute.WRAP]
        with pytest.raises(p11e.AttributeSensitive):
            key[Attribute.VALUE]
    finally:
        session.close()
    tag = backend.mac(label, b"salt|123456")
    assert len(tag) == 32 and tag == backend.mac(label, b"salt|123456")
    assert tag != backend.mac(label, b"salt|123457")
    # A fresh backend (another worker) computes the same MAC with the same key.
    other = token.backend()
    try:
        assert other.mac(label, b"salt|123456") == tag
    finally:
        other.close()


def test_mac_creates_its_key_on_first_use_and_duplicates_converge(token, backend):
    from pkcs11 import Attribute, KeyType

    label = f"mac-{secrets.token_hex(4)}"
    tag = backend.mac(label, b"x")  # no key yet: made now
    # Two processes that raced to create it would leave two keys; whoever looks next keeps the
    # lowest CKA_ID and removes the other, so everyone ends up on one key.
    session, _ = _raw_secret_keys(token, label)
    try:
        session.generate_key(
            KeyType.GENERIC_SECRET,
            256,
            id=b"\xff" * 16,
            label=label,
            store=True,
            template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
                Attribute.PRIVATE: True,
            },
        )
    finally:
        session.close()
    other = token.backend()
    try:
        assert other.mac(label, b"x") == tag
    finally:
        other.close()
    session, found = _raw_secret_keys(token, label)
    session.close()
    assert len(found) == 1


def test_wrong_pin_names_the_token_never_the_pin(softhsm_conf):
    tok = make_token(softhsm_conf)
    wrong = "wrong-" + tok.user_pin
    b = Pkcs11Backend(tok.module, tok.label, PinSource.literal(wrong))
    with pytest.raises(HsmLoginError) as err:
        b.list_keys()
    text = f"{err.value!r} {err.value} {err.value.__cause__!r} {err.value.__context__!r}"
    assert tok.label in str(err.value)
    assert "incorrect" in str(err.value)
    assert wrong not in text and tok.user_pin not in text
    assert "wrong-" not in repr(PinSource.literal(wrong))


def test_pin_from_env_and_file(softhsm_conf, tmp_path, monkeypatch):
    tok = make_token(softhsm_conf)
    monkeypatch.setenv("PSRE_TEST_PIN", tok.user_pin)
    assert (
        Pkcs11Backend(tok.module, tok.label, PinSource.parse("env:PSRE_TEST_PIN")).list_keys() == []
    )
    pin_file = tmp_path / "pin"
    pin_file.write_text(tok.user_pin + "\n")
    src = PinSource.parse("file:pin", base_dir=tmp_path)
    assert src.where == str(pin_file)
    monkeypatch.delenv("PSRE_TEST_PIN")
    assert Pkcs11Backend(tok.module, tok.label, src).list_keys() == []
    with pytest.raises(HsmLoginError, match="PSRE_TEST_PIN is unset"):
        PinSource.parse("env:PSRE_TEST_PIN").read(tok.label)


def test_unknown_token_is_a_clear_error(softhsm_conf):
    b = Pkcs11Backend("/usr/lib/softhsm/libsofthsm2.so", "no-such-token", PinSource.literal("1"))
    with pytest.raises(HsmError, match="no token labelled 'no-such-token'"):
        b.list_keys()


def test_sessions_closed_under_us_are_reopened(token, caplog):
    b = token.backend(pool_size=2)
    b.generate("recover-me", KeySpec.EC_P256)
    b.sign("recover-me", b"before", "sha256", SignScheme.ECDSA)
    ModuleControl(token.module).close_all_sessions(b.slot_id)
    with caplog.at_level(logging.WARNING, logger="hsm.pkcs11_backend"):
        sig = b.sign("recover-me", b"after", "sha256", SignScheme.ECDSA)
    b.public_key("recover-me").verify(sig, b"after", ec.ECDSA(hashes.SHA256()))
    assert b.reconnects == 1
    assert "HSM session lost on token" in caplog.text
    assert token.user_pin not in caplog.text


# python-pkcs11's search iterator tries to finalise on the dead session during GC and reports it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_module_restarted_under_us_is_reloaded(token, backend, caplog):
    b = token.backend()
    b.generate("survive-restart", KeySpec.EC_P256)
    ModuleControl(token.module).finalize()
    with caplog.at_level(logging.WARNING, logger="hsm.pkcs11_backend"):
        sig = b.sign("survive-restart", b"after restart", "sha256", SignScheme.ECDSA)
    b.public_key("survive-restart").verify(sig, b"after restart", ec.ECDSA(hashes.SHA256()))
    assert b.reconnects == 1
    # The shared module-wide backend recovers too.
    backend.sign("k-ec-p256", b"x", "sha256", SignScheme.ECDSA)


def test_threads_sign_concurrently(token, keys):
    b = token.backend(pool_size=4)
    ec_label = keys[KeySpec.EC_P256].label
    rsa_label = keys[KeySpec.RSA_2048].label
    ec_pub, rsa_pub = b.public_key(ec_label), b.public_key(rsa_label)
    errors: list[BaseException] = []
    count = [0]
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            for j in range(150):
                msg = f"{i}-{j}".encode()
                if j % 10 == 0:
                    s = b.sign(rsa_label, msg, "sha256", SignScheme.PKCS1V15)
                    rsa_pub.verify(s, msg, padding.PKCS1v15(), hashes.SHA256())
                else:
                    s = b.sign(ec_label, msg, "sha256", SignScheme.ECDSA)
                    ec_pub.verify(s, msg, ec.ECDSA(hashes.SHA256()))
                with lock:
                    count[0] += 1
        except BaseException as ex:  # collected and asserted below
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count[0] == 8 * 150
    assert b.health()["sessions_open"] <= 4
