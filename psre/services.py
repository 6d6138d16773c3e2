"""The services of one psre process, built lazily from the configuration: the only place they
are built.

CLI commands and the web app both work through ``Services`` (code below this package sees it as
``ca_core.runtime.Runtime``): it opens the key backend (and for SoftHSM exports its config
first) and the store only when something needs them, so that ``psre config show`` works without
a token and ``/healthz`` can report a missing database.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar, cast

from ca_core import audit_objects
from ca_core.clock import Clock, utcnow
from ca_core.config import Config
from ca_core.dev_token import export_softhsm_conf
from hsm.pin import PinSource

# The PKCS#11 modules (python-pkcs11, asn1crypto) load only when a token is used: a psre command
# that never touches the HSM should not pay for them at start-up.
if TYPE_CHECKING:
    from ca_core.audit import AuditLog
    from ca_core.issuer import Issuer
    from ca_core.revocation import Revoker
    from ca_core.store import Store
    from crl.publish import CrlPublisher
    from hsm.pkcs11_backend import Pkcs11Backend
    from ocsp.responder import OcspResponder
    from ocsp.responses import Presigner
    from signing_api.client_slots import ClientSlots
    from signing_api.pdf_pool import PdfPool
    from signing_api.runtime import SigningRuntime
    from signing_api.signers import SignerCache
    from signing_api.tsa import TimeStampAuthority

log = logging.getLogger(__name__)

T = TypeVar("T")


class Services:
    def __init__(self, config: Config, *, public: bool = False, clock: Clock = utcnow) -> None:
        self.config = config
        #: Issue 17: the one clock of every time-dependent service built here, and of the
        #: handlers and commands that need "now" (tests move it). PDF verification hands it to
        #: its worker process, so there it has to pickle (a module-level function does).
        self.clock = clock
        #: ``psre serve --role public``: no PKCS#11 module is ever loaded and the store is the
        #: read-only face (the public pages, CRLs and pre-signed OCSP only read).
        self.public = public
        self._publishers_attached = False

    @cached_property
    def backend(self) -> Pkcs11Backend:
        if self.public:
            # Typed as the real backend for the callers; anything but health() raises.
            return cast("Pkcs11Backend", NoKeyBackend())
        from hsm.pkcs11_backend import Pkcs11Backend

        export_softhsm_conf(self.config)
        pin = PinSource.parse(self.config.hsm.pin_source, base_dir=self.config.data_path)
        return Pkcs11Backend(
            self.config.hsm.module,
            self.config.hsm.token_label,
            pin,
            pool_size=self.config.hsm.pool_size,
            on_login_failure=self.audit_login_failure,
            on_sign=_observe_sign,
        )

    def audit_login_failure(self, token: str, reason: str) -> None:
        # BR 5.4.1: failed logins are audit events. Best effort: a dead database must not hide
        # the login error itself.
        try:
            self.audit.append(
                "hsm", "hsm.login_failed", audit_objects.token(token), {"reason": reason}
            )
        except Exception:
            log.exception("could not write the audit event for a failed HSM login")

    @cached_property
    def store(self) -> Store:
        from ca_core.store import ReadOnlyStore, Store

        if self.public:
            # The read-only face: no migrations, no write transaction; a write attempt fails.
            return cast(
                "Store",
                ReadOnlyStore.open(
                    self.config.effective_database_url,
                    reader_url=self.config.database_reader_url,
                ),
            )
        return Store.open(
            self.config.effective_database_url, reader_url=self.config.database_reader_url
        )

    @property
    def audit(self) -> AuditLog:
        return self.store.audit

    @cached_property
    def issuer(self) -> Issuer:
        from ca_core.issuer import Issuer
        from policies.schema import load_profiles

        self.attach_publishers()
        return Issuer(
            self.store,
            self.backend,
            load_profiles(),
            base_url=self.config.public_base_url,
            crl_partitions=self.config.crl.partitions,
            clock=self.clock,
        )

    @cached_property
    def revoker(self) -> Revoker:
        from ca_core.revocation import Revoker

        self.attach_publishers()
        return Revoker(self.store, self.issuer.recover, clock=self.clock)

    @cached_property
    def crl_publisher(self) -> CrlPublisher:
        """This process's one CRL publisher (psre crl, the refresher, the status-event
        listener): it holds the per-CA locks that keep two threads from signing at once."""
        from crl.publish import CrlPublisher, public_dir

        return CrlPublisher(
            self.store,
            self.backend,
            self.config.crl,
            base_url=self.config.public_base_url,
            public_dir=public_dir(self.config.data_path),
            clock=self.clock,
        )

    def ocsp_responder(self, *, start_refresh: bool = True) -> OcspResponder:
        """This process's OCSP responder: the index of pre-signed responses over the store and,
        except on a public server, the live signer with the key backend. With ``start_refresh``
        the index reloads in the background every ``ocsp.index_refresh_seconds``."""
        import datetime as dt

        from ca_core.errors import CaError
        from ocsp import static
        from ocsp.index import ResponseIndex
        from ocsp.live import LiveSigner, TokenBucket
        from ocsp.responder import OcspResponder, ResponderSettings

        cfg = self.config.ocsp
        index = ResponseIndex(
            self.store,
            capacity=cfg.cache_entries,
            ttl=cfg.index_refresh_seconds,
            static_root=static.static_root(self.config.data_path) if cfg.static_files else None,
            # The index judges nextUpdate in epoch seconds: the same clock, as a timestamp.
            clock=lambda: self.clock().timestamp(),
        )
        live = None
        if not self.public:
            live = LiveSigner(
                self.store,
                self.backend,
                mode=cfg.signer,
                validity=dt.timedelta(hours=cfg.validity_hours),
                bucket=TokenBucket(cfg.live_rate, cfg.live_burst),
                clock=self.clock,
            )
        try:
            index.refresh()
        except CaError as ex:  # database down at start: serve what comes later
            log.warning("OCSP index not loaded yet: %s", ex)
        if start_refresh:
            index.start(cfg.index_refresh_seconds)
        settings = ResponderSettings(cfg.max_request_bytes, cfg.never_issued)
        return OcspResponder(index, live, self.clock, settings)

    def attach_publishers(self) -> None:
        """Subscribe the CRL and OCSP publishers to this store's status events (once).

        Called by whatever in this process can change a certificate's status (issuer, revoker,
        the web app), so that a revocation re-signs the CRL and the OCSP responses at once.
        Each area adds its ``install(...)`` line below, handing over the pieces it uses.
        """
        if self._publishers_attached:
            return
        self._publishers_attached = True
        from crl import publish as crl_publish

        crl_publish.install(self.crl_publisher)
        from ocsp.publisher import install as install_ocsp

        # Lazily: the presigner opens the key backend, wanted only once a status changes.
        install_ocsp(self.store.events, lambda: self.presigner)

    # --- objects handed to domain code instead of the runtime --------------------------------

    @cached_property
    def presigner(self) -> Presigner:
        """This process's OCSP presigner: the status-event publisher's, and the one whose copy
        each pre-signing run works on (``psre ocsp presign``, ``psre init``, the refresher)."""
        from ocsp.responses import Presigner, PresignSettings

        return Presigner(
            self.store, self.backend, PresignSettings.from_config(self.config), clock=self.clock
        )

    # signing_api's per-process services (signing_api.runtime.SigningRuntime).
    # Each is built once, under a lock: a worker's request threads reach them together on the
    # first requests, and a second pool or authority would split the per-process bounds and
    # counters they keep (PDF workers, client slots). functools.cached_property does not lock
    # from Python 3.12 on.

    _signing_lock = threading.RLock()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        found = self.__dict__.get(name)
        if found is None:
            with self._signing_lock:
                found = self.__dict__.get(name)
                if found is None:
                    found = self.__dict__[name] = build()
        return cast("T", found)

    @property
    def signers(self) -> SignerCache:
        """This process's pyHanko signers over HSM keys, one per certificate."""
        from signing_api.signers import SignerCache

        return self._once("_signers", lambda: SignerCache(self.store, self.backend))

    @property
    def tsa(self) -> TimeStampAuthority:
        """This process's time-stamping authority: one unit cache, one set of counters."""
        from signing_api.tsa import TimeStampAuthority

        return self._once(
            "_tsa",
            lambda: TimeStampAuthority(self.store, self.signers, self.config.tsa, self.clock),
        )

    @property
    def pdf_pool(self) -> PdfPool:
        """This process's bounded PDF children (started on first use), closed with it."""
        return self._once("_pdf_pool", self._new_pdf_pool)

    def _new_pdf_pool(self) -> PdfPool:
        from signing_api.pdf_pool import PdfPool, budget_of

        pool = PdfPool(budget_of(self.config.pdf))
        # Also when these services are dropped without close() (tests, short commands): the
        # children are told to leave rather than left to the interpreter's exit.
        weakref.finalize(self, pool.close)
        return pool

    @property
    def client_slots(self) -> ClientSlots:
        """Verifications in progress per client address, in this process."""
        from signing_api.client_slots import ClientSlots

        return self._once("_client_slots", lambda: ClientSlots(self.config.pdf.verify_per_client))

    def _close_signing(self) -> None:
        if "_pdf_pool" in self.__dict__:
            self.pdf_pool.close()

    def close(self) -> None:
        self._close_signing()
        if "backend" in self.__dict__:
            self.backend.close()
        if "store" in self.__dict__:
            self.store.close()


if TYPE_CHECKING:

    def _is_signing_runtime(services: Services) -> SigningRuntime:
        """mypy checks here that Services is what signing_api's handlers take it for."""
        return services


class NoKeyBackend:
    """The key backend of the public role: it loads no PKCS#11 module and signs nothing."""

    def health(self) -> dict[str, object]:
        return {"ok": True, "loaded": False, "role": "public"}

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        from hsm.errors import HsmError

        raise HsmError(f"no HSM in the public role ({name})")


def _observe_sign(seconds: float, error: BaseException | None) -> None:
    from ca_core.metrics import HSM_ERRORS, HSM_SIGN_SECONDS

    if error is None:
        HSM_SIGN_SECONDS.observe(seconds)
    else:
        HSM_ERRORS.labels("sign").inc()
