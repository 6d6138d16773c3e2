"""``psre backup`` and ``psre restore``: an installation copied to a directory, and put back.

A backup directory holds

* ``manifest.json`` — format, time, psre version, the database's dialect, the audit chain's last
  sequence number and hash *inside the database copy*, its CRL counters, whether the HSM token
  is included, and the SHA-256 of every other file;
* ``psre.toml`` — the configuration as written (it holds no secrets: the PIN is only named);
* ``db/psre.sqlite3`` or ``db/psre.pgdump`` — the consistent database snapshot
  (ca_core.store.snapshot);
* ``public/`` — the published files (CRLs, OCSP responses), ``ceremonies/`` — ceremony records;
* ``tokens/`` — only for a SoftHSM token kept under data_dir: its token directory, copied after
  the database snapshot so that every key the snapshot names is in it. SoftHSM stores objects
  encrypted under the token's PINs, and the PINs are never copied (``data_dir/secrets`` is left
  out): the custodians bring the PIN back. A hardware HSM is backed up by its own procedure.

Restoring verifies every hash first, refuses to overwrite an existing installation unless told,
then puts the files and the database back and reconciles the database with what was published
after the backup (see :mod:`ca_core.restore_reconcile`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ca_core import __version__
from ca_core.clock import Clock, utcnow
from ca_core.config import Config
from ca_core.dev_token import is_softhsm
from ca_core.errors import CaError
from ca_core.store import snapshot as db_snapshot

FORMAT = "psre-backup/1"
MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class BackupError(CaError):
    code = "backup_error"


@dataclass(frozen=True)
class Manifest:
    created_at: str
    psre_version: str
    dialect: str
    database_file: str
    audit_last_seq: int
    audit_last_hash: str
    crl_numbers: dict[str, int]
    token_included: bool
    token_label: str
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {"format": FORMAT, **self.__dict__}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            doc = json.loads(text)
        except ValueError as ex:
            raise BackupError(f"{MANIFEST} is not JSON: {ex}") from None
        if not isinstance(doc, dict) or doc.pop("format", None) != FORMAT:
            raise BackupError(f"{MANIFEST}: not a {FORMAT} backup")
        try:
            return cls(**doc)
        except TypeError as ex:
            raise BackupError(f"{MANIFEST}: unexpected content ({ex})") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def softhsm_token_dir(cfg: Config) -> Path | None:
    """The SoftHSM token directory when it lies under data_dir (then a backup includes it)."""
    if not is_softhsm(cfg):
        return None
    conf = cfg.resolve(cfg.hsm.softhsm_conf)
    if not conf.is_file():
        return None
    for line in conf.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "directories.tokendir":
            tokens = Path(value.strip()).resolve()
            return tokens if tokens.is_relative_to(cfg.data_path) else None
    return None


def create(
    cfg: Config, config_file: Path, out: Path, *, audit_append: Any, clock: Clock = utcnow
) -> Manifest:
    """Write a backup of the installation described by ``cfg`` into the new directory ``out``.

    ``audit_append(action, details)`` records the backup in the audit log before the snapshot,
    so the backup's own last event says when and where it was taken.
    """
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"--out {out} exists and is not empty: choose a new directory")
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)  # the token copy and the subscriber data are not for other users
    token_dir = softhsm_token_dir(cfg)
    audit_append(
        "system.backup",
        {"out": str(out.resolve()), "token_included": token_dir is not None},
    )
    snap = db_snapshot.take(cfg.effective_database_url, out / "db")
    shutil.copy2(config_file, out / "psre.toml")
    for name in ("public", "ceremonies"):
        src = cfg.data_path / name
        if src.is_dir():
            shutil.copytree(src, out / name, ignore=shutil.ignore_patterns(".tmp-*"))
    if token_dir is not None and token_dir.is_dir():
        shutil.copytree(token_dir, out / "tokens")
    manifest = Manifest(
        created_at=clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        psre_version=__version__,
        dialect=snap.dialect,
        database_file=str(snap.path.relative_to(out)),
        audit_last_seq=snap.audit_head[0],
        audit_last_hash=snap.audit_head[1],
        crl_numbers=snap.crl_numbers,
        token_included=token_dir is not None,
        token_label=cfg.hsm.token_label,
        files={rel: sha256_file(out / rel) for rel in _files(out)},
    )
    (out / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def _files(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            yield path.relative_to(root).as_posix()


def verify(backup: Path) -> Manifest:
    """Read the manifest and check every file against it (none missing, changed or added)."""
    mpath = backup / MANIFEST
    if not mpath.is_file():
        raise BackupError(f"{backup} is not a psre backup: no {MANIFEST}")
    manifest = Manifest.from_json(mpath.read_text(encoding="utf-8"))
    present = set(_files(backup))
    missing = sorted(set(manifest.files) - present)
    extra = sorted(present - set(manifest.files))
    if missing:
        raise BackupError(f"backup incomplete: {missing[0]} is missing ({len(missing)} in all)")
    if extra:
        raise BackupError(f"backup altered: {extra[0]} is not in the manifest")
    for rel, want in manifest.files.items():
        if sha256_file(backup / rel) != want:
            raise BackupError(f"backup damaged: {rel} does not match its SHA-256 in the manifest")
    if manifest.database_file not in manifest.files:
        raise BackupError(f"{MANIFEST}: the database file is not listed")
    return manifest


def existing_installation(cfg: Config, config_file: Path) -> str | None:
    """What of an installation already exists where a restore would write, or None."""
    if config_file.exists():
        return f"{config_file} exists"
    if not db_snapshot.is_empty(cfg.effective_database_url):
        return f"the database {cfg.redacted().effective_database_url} is not empty"
    for name in ("tokens", "ceremonies", "public"):
        p = cfg.data_path / name
        if p.is_dir() and any(p.iterdir()):
            return f"{p} is not empty"
    return None


def put_files(backup: Path, manifest: Manifest, cfg: Config, config_file: Path) -> None:
    """Copy the configuration, published files, ceremonies and (SoftHSM) token back."""
    config_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(backup / "psre.toml", config_file)
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    for name in ("public", "ceremonies"):
        src, dst = backup / name, cfg.data_path / name
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
    if manifest.token_included and (backup / "tokens").is_dir():
        from hsm.softhsm import write_softhsm_conf

        tokens = cfg.data_path / "tokens"
        shutil.rmtree(tokens, ignore_errors=True)
        shutil.copytree(backup / "tokens", tokens)
        conf = cfg.resolve(cfg.hsm.softhsm_conf)
        conf.unlink(missing_ok=True)  # it names the old machine's absolute token path
        write_softhsm_conf(conf, tokens)
