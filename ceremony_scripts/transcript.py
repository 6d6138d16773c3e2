"""The ceremony transcript: a JSON Lines file chained exactly like the audit log.

Each line is one entry ``{seq, time, actor, action, object, details, prev_hash, hash}`` whose
``hash`` is :func:`ca_core.audit.event_hash` of the other fields (the audit log's own encoding,
imported, not copied), and whose ``prev_hash`` is the line before's hash (the genesis hash for
the first). Lines are flushed and fsynced as they are written, so a ceremony that dies half-way
leaves a transcript that ends where it stopped.

The last entry of a finished (or cleanly failed) ceremony is ``transcript.signature``: the
ceremony's key signs ``SIGNED_PREFIX + <hash of the entry before>``, so the signature covers the
whole chain.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ca_core import audit_objects
from ca_core.audit import AuditRecord as Entry  # one record shape for both hash chains
from ca_core.audit import canonical_json, event_hash
from ca_core.clock import Clock, utcnow
from ca_core.keycheck import spki_sha256
from ca_core.store.models import GENESIS_HASH
from ceremony_scripts.errors import CeremonyError
from hsm.keys import default_hash, private_key

SIGNED_PREFIX = b"psre-ceremony-transcript-v1\n"
SIGNATURE_ACTION = "transcript.signature"


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


class TranscriptWriter:
    """Appends chained entries to a new file (never overwrites one)."""

    def __init__(self, path: Path, *, clock: Clock = utcnow) -> None:
        self.path = path
        self.clock = clock
        self.entries: list[Entry] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise CeremonyError(f"transcript {path} already exists: never overwritten") from None
        self._f = os.fdopen(fd, "w", encoding="utf-8")

    @property
    def head(self) -> str:
        return self.entries[-1].hash if self.entries else GENESIS_HASH

    def append(
        self, actor: str, action: str, obj: str, details: Mapping[str, Any] | None = None
    ) -> Entry:
        # Round-trip through JSON so the hash covers exactly what a reader will see.
        det = json.loads(canonical_json(details or {}))
        now = self.clock()
        seq = len(self.entries) + 1
        h = event_hash(seq, now, actor, action, obj, det, self.head)
        e = Entry(seq, now, actor, action, obj, det, self.head, h)
        self._f.write(canonical_json(e.as_dict()) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        self.entries.append(e)
        return e

    def sign(self, backend: Any, key_label: str, actor: str) -> Entry:
        """Sign the chain so far with ``key_label`` and append the signature entry."""
        key = private_key(backend, key_label)
        data = SIGNED_PREFIX + self.head.encode("ascii")
        algo = default_hash(key)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            sig = key.sign(data, ec.ECDSA(algo))
            alg = f"ecdsa-with-{algo.name}"
        else:
            sig = key.sign(data, padding.PKCS1v15(), algo)
            alg = f"rsa-pkcs1v15-{algo.name}"
        pub = key.public_key()
        return self.append(
            actor,
            SIGNATURE_ACTION,
            audit_objects.key(key_label),
            {
                "key_label": key_label,
                "algorithm": alg,
                "signed_hash": self.head,
                "public_key_pem": pub.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode(),
                "spki_sha256": spki_sha256(pub),
                "signature": base64.b64encode(sig).decode(),
            },
        )

    def close(self) -> None:
        self._f.close()


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    count: int
    reason: str | None


def read(path: Path) -> list[dict[str, Any]]:
    """The raw entries of a transcript file (not yet checked)."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as ex:
        raise CeremonyError(f"cannot read transcript {path} ({ex.strerror})") from None
    for i, line in enumerate(lines, 1):
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"_unparsable": i})
    return out


def check_chain(entries: list[dict[str, Any]]) -> ChainCheck:
    """Recompute every entry's hash and link, as ``AuditLog.verify`` does for the audit log."""
    prev = GENESIS_HASH
    for i, e in enumerate(entries, 1):
        try:
            if e.get("seq") != i:
                return ChainCheck(False, i - 1, f"entry {i} is missing or out of order")
            recomputed = event_hash(
                e["seq"],
                parse_time(e["time"]),
                e["actor"],
                e["action"],
                e["object"],
                e["details"],
                e["prev_hash"],
            )
        except (KeyError, TypeError, ValueError):
            return ChainCheck(False, i - 1, f"entry {i} is malformed")
        if recomputed != e["hash"]:
            return ChainCheck(False, i - 1, f"entry {i} does not match its hash (edited)")
        if e["prev_hash"] != prev:
            return ChainCheck(False, i - 1, f"entry {i}'s prev_hash does not match entry {i - 1}")
        prev = e["hash"]
    return ChainCheck(True, len(entries), None)


def check_signature(entries: list[dict[str, Any]]) -> tuple[bool, str]:
    """Whether the last entry is a valid signature over the chain before it."""
    if not entries or entries[-1].get("action") != SIGNATURE_ACTION:
        return False, "the transcript is not signed (the ceremony did not finish)"
    sig_entry = entries[-1]
    d = sig_entry["details"]
    if len(entries) < 2 or d.get("signed_hash") != entries[-2]["hash"]:
        return False, "the signature does not cover the entry before it"
    try:
        pub = serialization.load_pem_public_key(d["public_key_pem"].encode())
        sig = base64.b64decode(d["signature"])
    except (KeyError, ValueError) as ex:
        return False, f"signature entry malformed: {ex}"
    data = SIGNED_PREFIX + d["signed_hash"].encode("ascii")
    algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}.get(
        d.get("algorithm", "").rpartition("-")[2]
    )
    if algo is None:
        return False, f"unknown signature algorithm {d.get('algorithm')!r}"
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, data, ec.ECDSA(algo))
        elif isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, data, padding.PKCS1v15(), algo)
        else:
            return False, "unsupported signer key type"
    except InvalidSignature:
        return False, "the signature does not verify"
    if spki_sha256(pub) != d.get("spki_sha256"):
        return False, "the signer's recorded key fingerprint does not match its key"
    return True, f"signed by key '{d['key_label']}' ({d['algorithm']})"
