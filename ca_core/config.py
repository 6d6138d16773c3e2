"""Configuration: one TOML file (``psre.toml``) with ``PSRE_<KEY>`` environment overrides.

The file's path comes from ``PSRE_CONFIG`` (default ``./psre.toml``). Every key can be overridden
from the environment: top-level keys as ``PSRE_<KEY>`` (``PSRE_DATABASE_URL``), keys of a section as
``PSRE_<SECTION>_<KEY>`` (``PSRE_HSM_TOKEN_LABEL``). Unknown keys are rejected with their path, so a
typo never silently falls back to a default.

Secrets are never stored here: the HSM PIN is named by a *source* (``env:VAR``, ``file:PATH`` or
``prompt``), and ``redacted()`` hides anything that looks like a credential in a database URL.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ca_core.errors import ConfigError
from policies import strict_toml

DEFAULT_CONFIG_NAME = "psre.toml"
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class HsmConfig:
    #: PKCS#11 module. SoftHSM2 is the embedded default; any PKCS#11 HSM works.
    module: str = SOFTHSM_MODULE
    token_label: str = "psre-dev"  # noqa: S105 - a label, not a secret
    #: Where the user PIN comes from: ``env:VAR``, ``file:PATH`` (relative to data_dir) or
    #: ``prompt``.
    pin_source: str = "file:secrets/hsm-user.pin"
    #: SoftHSM2 only: its config file (relative to data_dir); exported as SOFTHSM2_CONF.
    softhsm_conf: str = "softhsm2.conf"
    #: Sessions kept open for concurrent signing.
    pool_size: int = 4
    #: A subscriber key on the token that no database row names is an orphan (a crashed
    #: issuance) once it is this old; younger ones may belong to an issuance in flight.
    orphan_grace_minutes: float = 60.0
    #: How often the refresher removes orphaned keys; 0: never (the command
    #: ``psre hsm sweep-orphans`` still does).
    orphan_sweep_minutes: float = 60.0


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 4
    #: Reverse proxies (nginx, a load balancer) in front of psre that set X-Forwarded-For and
    #: X-Forwarded-Proto. 0: trust no such header (psre faces clients). Behind one nginx: 1, so
    #: login throttling and audit records see the client's address, not the proxy's.
    trusted_proxies: int = 0
    #: What ``psre serve`` serves (``--role`` overrides): ``public`` (CA certificates, CRLs,
    #: pre-signed OCSP, repository, CP/CPS, status, verify; no PKCS#11 module, read-only
    #: database), ``signing`` (the APIs, console, TSA, live OCSP, and the public pages) or
    #: ``all`` (everything, plus a supervised ``psre refresher``).
    role: str = "all"


SERVER_ROLES = ("public", "signing", "all")


@dataclass(frozen=True)
class RefresherConfig:
    """The refresher (ca_core.refresher): background work under a database lease."""

    #: How long the lease lasts unless renewed (every third of it): a refresher that dies is
    #: replaced by a standing-by one within about this long.
    lease_seconds: float = 15.0


@dataclass(frozen=True)
class WebConfig:
    """The operator console's session and login rules."""

    #: A console session ends after this long without a request ...
    session_idle_minutes: int = 15
    #: ... and in any case this long after login.
    session_max_hours: int = 8
    #: Failed logins for one operator name (or from one address, x4) within the window
    #: before further attempts are refused.
    login_max_failures: int = 5
    login_window_minutes: int = 15
    #: A dual-control proposal (CA-level certificate status, adding or disabling an admin,
    #: re-enabling a client app) must be approved by a second admin within this many minutes.
    approval_minutes: int = 60


@dataclass(frozen=True)
class TsaConfig:
    """The RFC 3161 time-stamping authority behind ``/tsa`` and PAdES B-T and above."""

    #: TSA policy put in every TSTInfo (RFC 3161 §2.4.2); requests naming another are rejected.
    #: Default: the RFC 7229 test OID the tsa profile certifies, until the CP assigns one.
    policy_oid: str = "1.3.6.1.5.5.7.13.5"
    #: Accuracy claimed in every token, in milliseconds (ETSI EN 319 421 §7.7.4: at most 1 s).
    accuracy_ms: int = 1000
    #: Message-imprint hashes accepted (RFC 5816 §3; SHA-1 is refused).
    hash_algorithms: list[str] = field(default_factory=lambda: ["sha256", "sha384", "sha512"])


@dataclass(frozen=True)
class CrlConfig:
    """CRL publication (crl/): validity, refresh and partitioning of each CA's CRLs."""

    #: nextUpdate - thisUpdate of an issuing CA's CRLs. BR 4.9.7 / S/MIME BR: ≤ 10 days.
    validity_hours: int = 24
    #: An issuing CA's CRLs are re-signed this long after the last ones (and at once after a
    #: revocation, hold or release). Keep it well under validity_hours: a late job must never
    #: leave a CRL past its nextUpdate (checklist "CRL job late").
    refresh_hours: int = 6
    #: A root's CRL (the ARL) when re-signed online; the key ceremony's root-crl step sets its
    #: own nextUpdate. BR 4.9.7: CA-level CRLs at least every 12 months.
    root_validity_days: int = 90
    root_refresh_days: int = 30
    #: Partition CRLs per CA: each end-entity certificate's CRL DP names partition
    #: serial % partitions, so a relying party fetches 1/partitions of the list. 1 = off.
    partitions: int = 1
    #: Publish delta CRLs (deltaCRLIndicator; freshestCRL in the complete CRL).
    delta: bool = True
    #: The refresher (``psre refresher``) re-publishes CRLs when due and after other processes'
    #: status changes; false: only ``psre crl generate`` / ``psre crl daemon`` (cron) do.
    scheduler: bool = True
    #: How often the scheduler looks for due CRLs and status changes made by other processes.
    poll_seconds: int = 30
    #: pkilint reads CRL entries at 0.3-2 ms each: a CRL with more entries than this is linted
    #: as a copy holding one entry of each shape (see crl.build), so that re-signing 64
    #: partitions stays in seconds.
    lint_max_entries: int = 100
    #: After a status change, a CA whose complete CRL has at most this many entries gets all
    #: its CRLs re-signed at once; a larger one only the affected partition and the delta
    #: (its complete CRL follows on the refresh_hours schedule).
    immediate_full_max_entries: int = 50000
    #: HTTP freshness of a served CRL (Cache-Control max-age, Expires): how long a cache or CDN
    #: may serve it without asking again. Capped so that it always ends before nextUpdate; a
    #: short one lets a CRL re-signed after a revocation reach caches soon.
    http_max_age_seconds: int = 3600
    #: ``/healthz`` answers 503 once a CA's newest CRL has used more than this share of its
    #: validity (the scheduler is stuck or gone).
    health_stale_fraction: float = 0.75


@dataclass(frozen=True)
class OcspConfig:
    """The OCSP responder (RFC 6960, RFC 5019 profile) and its pre-signed responses."""

    #: thisUpdate..nextUpdate of every response. Checklist (CA/B BR 4.9.10): 8 h to 10 days.
    validity_hours: int = 96
    #: Pre-signed responses are re-signed once this fraction of their validity has passed
    #: (BR 4.9.10: at validity >= 16 h, refresh >= 8 h before nextUpdate and <= 4 days after
    #: thisUpdate; 96 h x 0.5 = 48 h).
    refresh_fraction: float = 0.5
    #: Who signs: ``auto`` (the CA's delegated responder, "ocsp-signer" profile, when one is
    #: valid, else the CA key), ``delegated`` (refuse without one) or ``ca`` (always the CA key).
    signer: str = "auto"
    #: A serial the CA never issued: ``revoked`` (RFC 6960 §2.2 extended revoked definition) or
    #: ``unauthorized`` (unsigned, as Boulder answers).
    never_issued: str = "revoked"
    #: Live signatures (nonce requests, never-issued serials) per second per process, and burst.
    live_rate: float = 200.0
    live_burst: int = 50
    #: Largest request body accepted (RFC 5019 requests are ~100 bytes).
    max_request_bytes: int = 4096
    #: How long a responder process trusts a pre-signed response it read (and how often it
    #: reloads the CA list): a re-signed response is served at most this late.
    index_refresh_seconds: float = 5.0
    #: Pre-signed responses each responder process keeps in memory (least recently used out;
    #: ~1.5 KB each). Others are read from the database per request.
    cache_entries: int = 10_000
    #: How often the refresher (``psre refresher``) looks for responses to refresh.
    presign_interval_seconds: float = 60.0
    #: ``psre serve --role all`` starts ``psre refresher`` next to gunicorn (and restarts it if
    #: it dies); false: run ``psre refresher`` yourself (on one or more hosts).
    daemon_in_serve: bool = True
    #: ``/healthz`` answers 503 once the oldest pre-signed response of a valid certificate has
    #: used more than this share of its validity (the refresher is stuck or gone).
    health_stale_fraction: float = 0.75
    #: Write each pre-signed response under data_dir/public/ocsp/ at its GET URL (for nginx).
    static_files: bool = True


@dataclass(frozen=True)
class SigningConfig:
    """The signing API: signer activation, lockout, documents kept for download."""

    #: PAdES level when neither the request nor the client app names one (B-B/B-T/B-LT/B-LTA).
    default_level: str = "B-LT"
    #: Consecutive wrong passphrases/TOTPs from one client app (or the CLI) before that app is
    #: locked out for that signer (other apps are not) ...
    max_failures: int = 5
    #: ... and across all apps before the signer is locked for everyone and told so (higher:
    #: one app alone cannot reach it) ...
    max_failures_signer: int = 20
    #: ... for this long (counters live in the database: shared by workers, kept on restart).
    lockout_minutes: int = 30
    #: Lifetime of the one-time code with which a subscriber sets their own passphrase.
    enrolment_hours: int = 72
    #: A passphrase that passed its scrypt check is remembered this long in the worker (as an
    #: HMAC under a per-process key; wrong ones never are). 0: check scrypt on every request.
    passphrase_cache_seconds: int = 300
    #: Lifetime of a TOTP sent by /api/v2/sign/get/totp (RFC 6238 step) and its digits.
    totp_seconds: int = 300
    totp_digits: int = 6
    #: Lifetime of an agency seal activation held by a client app.
    seal_activation_days: int = 30
    #: A signed document waits this long for its one download (v1 id_dokumen).
    document_minutes: int = 60
    #: Most files in one v2 bulk request.
    max_files: int = 50
    #: Signing requests per client app and minute when the app has no limit of its own (0: none).
    rate_limit_per_minute: int = 0
    #: Where TOTPs are delivered: "outbox" (the outbox_messages table, for a mail/SMS gateway).
    notifier: str = "outbox"


@dataclass(frozen=True)
class CscConfig:
    """The Cloud Signature Consortium API (signing_api.csc): token and SAD lifetimes."""

    #: Lifetime of the bearer token ``auth/login`` gives a client app.
    token_seconds: int = 3600
    #: Lifetime of a SAD from ``credentials/authorize`` (single use; at most 300 s).
    sad_seconds: int = 120
    #: Most hashes one SAD may authorise (``multisign`` in credentials/info).
    multisign: int = 50


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus metrics (ca_core/metrics.py), on a listener of their own."""

    #: host:port of ``/metrics``, started by ``psre serve``; never the public port. Empty: off.
    listen: str = "127.0.0.1:9108"


@dataclass(frozen=True)
class PdfConfig:
    """Budgets for untrusted PDFs (signing_api.pdf_pool): every document is parsed, stamped,
    signed and verified in a child process that is killed when it goes over them."""

    #: Child processes per server worker (the CLI uses one); more requests wait for one.
    workers: int = 2
    #: Wall-clock budget of one document (queueing for a child not included) ...
    max_seconds: float = 30.0
    #: ... and of a whole request (v2 bulk: all its documents together).
    max_request_seconds: float = 120.0
    #: Memory a child may allocate for one document, on top of its own ~120 MB (enforced as
    #: RLIMIT_AS); a document needing more is refused (4131).
    max_memory_mb: int = 1024
    #: Pages a document may have (its page tree's /Count) to be signed.
    max_pages: int = 5000
    #: Filled signature fields a document may have to be verified.
    max_signature_fields: int = 50
    #: Verifications in progress per client address and server worker (/verify and the API's
    #: verify endpoints); more are answered 429.
    verify_per_client: int = 2


@dataclass(frozen=True)
class LifecycleConfig:
    """Certificate lifecycles (ca_core.lifecycle): expiry and the notice before it."""

    #: Subscribers are told this many days before a certificate expires (once per certificate).
    expiry_notice_days: int = 30
    #: How often the refresher (``psre refresher``) marks expired subscribers and sends due
    #: notices.
    check_minutes: int = 10


@dataclass(frozen=True)
class VerifyConfig:
    """Verification of signatures made under other PSrEs (issue 21)."""

    #: Fetch the OCSP answer of a certificate psre did not issue from the OCSP URL in it (a
    #: recognized PSrE's responder) when verifying. Off: only the document's own revocation
    #: data (LTV) and our store count, nothing leaves the machine.
    fetch_revocation: bool = False
    #: Seconds one fetch may take (connect + answer), and the largest answer read.
    fetch_timeout_seconds: float = 3.0
    fetch_max_bytes: int = 65536
    #: Most fetches for one document (each certificate of its paths needs at most one).
    fetch_max_requests: int = 8


@dataclass(frozen=True)
class Config:
    #: Where tokens (SoftHSM), the SQLite file and published files live; relative to the config
    #: file.
    data_dir: str = "var"
    #: Any SQLAlchemy URL; empty means SQLite at ``<data_dir>/psre.sqlite3``.
    database_url: str = ""
    #: PostgreSQL URL of a SELECT-only login for the read-only face (status services). Empty:
    #: the main URL, switched to the ``<database>_reader`` role that ``psre init`` creates.
    database_reader_url: str = ""
    #: Base of every URL put into certificates (CRL DP, AIA) and served pages. Empty: derived
    #: from server.host and server.port, so a changed port keeps the URLs in certificates right.
    public_base_url: str = ""
    log_level: str = "INFO"
    hsm: HsmConfig = field(default_factory=HsmConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    web: WebConfig = field(default_factory=WebConfig)
    tsa: TsaConfig = field(default_factory=TsaConfig)
    crl: CrlConfig = field(default_factory=CrlConfig)
    ocsp: OcspConfig = field(default_factory=OcspConfig)
    signing: SigningConfig = field(default_factory=SigningConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    pdf: PdfConfig = field(default_factory=PdfConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    csc: CscConfig = field(default_factory=CscConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    refresher: RefresherConfig = field(default_factory=RefresherConfig)
    #: Directory of the config file; relative paths are resolved against it. Not a TOML key.
    base_dir: str = field(default=".", metadata={"internal": True})

    # -- derived values -------------------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return (Path(self.base_dir) / self.data_dir).resolve()

    def resolve(self, relative: str) -> Path:
        """A path from the config, resolved against ``data_dir`` when relative."""
        p = Path(relative)
        return p if p.is_absolute() else self.data_path / p

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'psre.sqlite3'}"

    def to_toml(self) -> str:
        """The configuration as TOML (what ``psre init`` writes and ``config show`` prints)."""
        return _to_toml(self)

    def redacted(self) -> Config:
        """A copy safe to print: passwords in the database URL are replaced."""
        return dataclasses.replace(
            self,
            database_url=redact_url(self.database_url),
            database_reader_url=redact_url(self.database_reader_url),
        )


def redact_url(url: str) -> str:
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def config_path(
    explicit: str | os.PathLike[str] | None = None, env: typing.Mapping[str, str] | None = None
) -> Path:
    """Where the configuration is: ``explicit``, else ``$PSRE_CONFIG``, else the first
    ``psre.toml`` in the working directory or one of its parents (so a command run from a
    sub-directory finds its installation), else ``./psre.toml`` (where ``psre init`` writes)."""
    env = os.environ if env is None else env
    chosen = explicit or env.get("PSRE_CONFIG")
    if chosen:
        return Path(chosen)
    return next((p for p in config_candidates() if p.is_file()), Path(DEFAULT_CONFIG_NAME))


def config_candidates(start: Path | None = None) -> list[Path]:
    """The places searched for ``psre.toml`` when neither --config nor $PSRE_CONFIG names one."""
    here = (start or Path.cwd()).resolve()
    return [d / DEFAULT_CONFIG_NAME for d in (here, *here.parents)]


def default_public_base_url(server: ServerConfig) -> str:
    """``http://host:port`` of ``psre serve`` itself, for an installation without a proxy."""
    host = server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding to it
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.port}"


def load_config(
    path: str | os.PathLike[str] | None = None, env: typing.Mapping[str, str] | None = None
) -> Config:
    """Load ``psre.toml`` (missing file = all defaults) and apply ``PSRE_*`` overrides."""
    env = os.environ if env is None else env
    p = config_path(path, env)
    data: dict[str, Any] = {}
    if p.exists():
        try:
            data = strict_toml.read(p)
        except strict_toml.StrictTomlError as ex:
            raise ConfigError(str(p), f"not valid TOML: {ex.reason}") from ex
    data = _apply_env(Config, data, env, prefix="PSRE_")
    cfg: Config = _build(Config, data, path="")
    base = str(p.resolve().parent)
    cfg = dataclasses.replace(cfg, base_dir=base)
    if not cfg.public_base_url:
        cfg = dataclasses.replace(cfg, public_base_url=default_public_base_url(cfg.server))
    _validate(cfg)
    return cfg


# ---------------------------------------------------------------------------------------------
# Generic dataclass <-> TOML plumbing. Small on purpose: flat sections of str/int/float/bool.


def _public_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _field_type(cls: type, f: dataclasses.Field[Any]) -> Any:
    return typing.get_type_hints(cls)[f.name]


def _apply_env(
    cls: type, data: dict[str, Any], env: typing.Mapping[str, str], prefix: str
) -> dict[str, Any]:
    out = dict(data)
    for f in _public_fields(cls):
        ftype = _field_type(cls, f)
        name = f"{prefix}{f.name.upper()}"
        if isinstance(ftype, type) and dataclasses.is_dataclass(ftype):
            section = out.get(f.name, {})
            if not isinstance(section, dict):
                continue  # _build reports the wrong type with its key
            out[f.name] = _apply_env(ftype, section, env, prefix=f"{name}_")
        elif name in env:
            out[f.name] = _coerce_env(name, env[name], ftype)
    return out


def _coerce_env(name: str, raw: str, ftype: Any) -> Any:
    if ftype is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"expected a boolean, got {raw!r}")
    if ftype is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(name, f"expected an integer, got {raw!r}") from None
    if ftype is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(name, f"expected a number, got {raw!r}") from None
    return raw


def _build(cls: type, data: dict[str, Any], path: str) -> Any:
    known = {f.name: f for f in _public_fields(cls)}
    for key in strict_toml.unknown_keys(data, known):
        raise ConfigError(f"{path}{key}", f"unknown key (known: {', '.join(sorted(known))})")
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            continue
        ftype = _field_type(cls, f)
        value = data[name]
        key = f"{path}{name}"
        if isinstance(ftype, type) and dataclasses.is_dataclass(ftype):
            if not isinstance(value, dict):
                raise ConfigError(key, "expected a table (section)")
            kwargs[name] = _build(ftype, value, path=f"{key}.")
        else:
            kwargs[name] = _check_type(key, value, ftype)
    return cls(**kwargs)


def _check_type(key: str, value: Any, ftype: Any) -> Any:
    origin = typing.get_origin(ftype)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(ftype):
            if arg is type(None) and value is None:
                return None
            try:
                return _check_type(key, value, arg)
            except ConfigError:
                continue
        raise ConfigError(key, f"expected {ftype}, got {type(value).__name__}")
    if origin is list:
        (item,) = typing.get_args(ftype)
        if not isinstance(value, list):
            raise ConfigError(key, "expected a list")
        return [_check_type(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if ftype is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if ftype is int and isinstance(value, bool):
        raise ConfigError(key, "expected an integer, got a boolean")
    if not isinstance(value, ftype):
        raise ConfigError(key, f"expected {ftype.__name__}, got {type(value).__name__}")
    return value


def _validate(cfg: Config) -> None:
    if not cfg.public_base_url.startswith(("http://", "https://")):
        raise ConfigError("public_base_url", "must start with http:// or https://")
    if cfg.public_base_url.endswith("/"):
        raise ConfigError("public_base_url", "must not end with '/'")
    if not (0 < cfg.server.port < 65536):
        raise ConfigError("server.port", "must be between 1 and 65535")
    if not 0 <= cfg.server.trusted_proxies <= 10:
        raise ConfigError("server.trusted_proxies", "must be between 0 and 10")
    if cfg.server.role not in SERVER_ROLES:
        raise ConfigError("server.role", "must be public, signing or all")
    if not 3 <= cfg.refresher.lease_seconds <= 3600:
        raise ConfigError("refresher.lease_seconds", "must be between 3 and 3600")
    if cfg.hsm.pool_size < 1:
        raise ConfigError("hsm.pool_size", "must be at least 1")
    src = cfg.hsm.pin_source
    if not (src == "prompt" or src.startswith(("env:", "file:"))):
        raise ConfigError("hsm.pin_source", "must be env:VAR, file:PATH or prompt")
    if not 1 <= cfg.tsa.accuracy_ms <= 1000:
        raise ConfigError("tsa.accuracy_ms", "must be between 1 and 1000 (EN 319 421 §7.7.4)")
    if cfg.web.session_idle_minutes < 1 or cfg.web.session_max_hours < 1:
        raise ConfigError("web", "session lifetimes must be at least 1")
    if cfg.web.login_max_failures < 1 or cfg.web.login_window_minutes < 1:
        raise ConfigError("web", "login_max_failures and login_window_minutes must be at least 1")
    if not 1 <= cfg.web.approval_minutes <= 7 * 24 * 60:
        raise ConfigError("web.approval_minutes", "must be between 1 and 10080 (one week)")
    if cfg.crl.validity_hours < 1 or cfg.crl.refresh_hours < 1:
        raise ConfigError("crl", "validity_hours and refresh_hours must be at least 1")
    if cfg.crl.refresh_hours >= cfg.crl.validity_hours:
        raise ConfigError("crl.refresh_hours", "must be less than crl.validity_hours")
    if cfg.crl.validity_hours > 240:
        raise ConfigError("crl.validity_hours", "at most 240 (10 days, BR 4.9.7)")
    if not (1 <= cfg.crl.http_max_age_seconds <= 86400):
        raise ConfigError("crl.http_max_age_seconds", "must be between 1 and 86400 (a day)")
    if not (1 <= cfg.crl.partitions <= 4096):
        raise ConfigError("crl.partitions", "must be between 1 and 4096")
    if cfg.crl.root_refresh_days >= cfg.crl.root_validity_days:
        raise ConfigError("crl.root_refresh_days", "must be less than crl.root_validity_days")
    _validate_ocsp(cfg.ocsp)
    if cfg.metrics.listen:
        host, _, port = cfg.metrics.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("metrics.listen", "must be host:port (or empty for no listener)")
    if cfg.hsm.orphan_grace_minutes <= 0:
        raise ConfigError("hsm.orphan_grace_minutes", "must be above 0")
    if cfg.hsm.orphan_sweep_minutes < 0:
        raise ConfigError("hsm.orphan_sweep_minutes", "must be 0 (off) or more")
    for section in ("ocsp", "crl"):
        if not 0 < getattr(cfg, section).health_stale_fraction <= 1:
            raise ConfigError(f"{section}.health_stale_fraction", "must be above 0 and at most 1")
    if cfg.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log_level", "must be DEBUG, INFO, WARNING or ERROR")
    _validate_signing(cfg.signing)
    if not 1 <= cfg.csc.sad_seconds <= 300:
        raise ConfigError("csc.sad_seconds", "must be between 1 and 300 (a SAD is short-lived)")
    if not 1 <= cfg.csc.token_seconds <= 86400:
        raise ConfigError("csc.token_seconds", "must be between 1 and 86400")
    if not 1 <= cfg.csc.multisign <= 1000:
        raise ConfigError("csc.multisign", "must be between 1 and 1000")
    if not 1 <= cfg.lifecycle.expiry_notice_days <= 365:
        raise ConfigError("lifecycle.expiry_notice_days", "must be between 1 and 365")
    if cfg.lifecycle.check_minutes < 1:
        raise ConfigError("lifecycle.check_minutes", "must be at least 1")
    v = cfg.verify
    if not 0.1 <= v.fetch_timeout_seconds <= 30:
        raise ConfigError("verify.fetch_timeout_seconds", "must be between 0.1 and 30")
    if not 1024 <= v.fetch_max_bytes <= 1048576:
        raise ConfigError("verify.fetch_max_bytes", "must be between 1024 and 1048576")
    if not 1 <= v.fetch_max_requests <= 32:
        raise ConfigError("verify.fetch_max_requests", "must be between 1 and 32")
    _validate_pdf(cfg.pdf)


def _validate_pdf(pc: PdfConfig) -> None:
    if not 1 <= pc.workers <= 64:
        raise ConfigError("pdf.workers", "must be between 1 and 64")
    if pc.max_seconds <= 0 or pc.max_request_seconds < pc.max_seconds:
        raise ConfigError("pdf", "max_seconds must be positive and at most max_request_seconds")
    if pc.max_memory_mb < 128:
        raise ConfigError("pdf.max_memory_mb", "must be at least 128")
    for key in ("max_pages", "max_signature_fields", "verify_per_client"):
        if getattr(pc, key) < 1:
            raise ConfigError(f"pdf.{key}", "must be at least 1")


def _validate_signing(sc: SigningConfig) -> None:
    if sc.default_level not in ("B-B", "B-T", "B-LT", "B-LTA"):
        raise ConfigError("signing.default_level", "must be B-B, B-T, B-LT or B-LTA")
    at_least_one = (
        "max_failures",
        "lockout_minutes",
        "totp_seconds",
        "seal_activation_days",
        "document_minutes",
        "max_files",
    )
    for key in (*at_least_one, "max_failures_signer", "enrolment_hours"):
        if getattr(sc, key) < 1:
            raise ConfigError(f"signing.{key}", "must be at least 1")
    if sc.max_failures_signer <= sc.max_failures:
        # Otherwise one app's wrong guesses lock the signer out of every app again.
        raise ConfigError("signing.max_failures_signer", "must be more than signing.max_failures")
    if not 6 <= sc.totp_digits <= 10:
        raise ConfigError("signing.totp_digits", "must be between 6 and 10 (RFC 4226)")
    for key in ("rate_limit_per_minute", "passphrase_cache_seconds"):
        if getattr(sc, key) < 0:
            raise ConfigError(f"signing.{key}", "must be 0 (none) or more")
    if sc.notifier != "outbox":
        raise ConfigError("signing.notifier", "only 'outbox' is built in")


def _validate_ocsp(o: OcspConfig) -> None:
    # CA/B BR 4.9.10 (checklist): OCSP validity between 8 hours and 10 days.
    if not (8 <= o.validity_hours <= 240):
        raise ConfigError("ocsp.validity_hours", "must be between 8 and 240 (BR 4.9.10)")
    if not (0.1 <= o.refresh_fraction <= 0.9):
        raise ConfigError("ocsp.refresh_fraction", "must be between 0.1 and 0.9")
    if o.validity_hours >= 16:
        refresh_h = o.validity_hours * o.refresh_fraction
        if refresh_h > 96 or o.validity_hours - refresh_h < 8:
            raise ConfigError(
                "ocsp.refresh_fraction",
                "refresh must come at most 4 days after thisUpdate and at least 8 h before "
                "nextUpdate (BR 4.9.10)",
            )
    if o.signer not in ("auto", "delegated", "ca"):
        raise ConfigError("ocsp.signer", "must be auto, delegated or ca")
    if o.never_issued not in ("revoked", "unauthorized"):
        raise ConfigError("ocsp.never_issued", "must be revoked or unauthorized")
    if o.live_rate <= 0 or o.live_burst < 1:
        raise ConfigError("ocsp", "live_rate must be positive and live_burst at least 1")
    if o.max_request_bytes < 128:
        raise ConfigError("ocsp.max_request_bytes", "must be at least 128")
    if o.cache_entries < 1:
        raise ConfigError("ocsp.cache_entries", "must be at least 1")
    if o.index_refresh_seconds <= 0 or o.presign_interval_seconds <= 0:
        raise ConfigError("ocsp", "intervals must be positive")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _to_toml(obj: Any) -> str:
    top: list[str] = []
    sections: list[str] = []
    for f in _public_fields(type(obj)):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            body = "\n".join(
                f"{sf.name} = {_toml_value(getattr(v, sf.name))}" for sf in _public_fields(type(v))
            )
            sections.append(f"[{f.name}]\n{body}\n")
        else:
            top.append(f"{f.name} = {_toml_value(v)}")
    return "\n".join(top) + "\n\n" + "\n".join(sections)
