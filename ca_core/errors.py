"""Exception hierarchy of ca_core. Messages are safe to show: they never carry secrets."""

from __future__ import annotations


class CaError(Exception):
    """Base of every error raised by ca_core."""

    #: A short machine-readable code (used by the CLI and the HTTP layer).
    code: str = "ca_error"


class ConfigError(CaError):
    """The configuration is invalid; the message names the key and why."""

    code = "config_error"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"config {key}: {reason}")
        self.key = key
        self.reason = reason


class StoreError(CaError):
    code = "store_error"


class StoreUnavailableError(StoreError):
    """The database cannot be reached or answer now (connection refused or lost, no pooled
    connection in time, a failover under way): the request may succeed if retried, so HTTP
    callers answer 503, never 4xx."""

    code = "store_unavailable"


class NotFoundError(StoreError):
    code = "not_found"


class AlreadyExistsError(StoreError):
    code = "already_exists"


class LeaseLostError(StoreError):
    """A write made under a lease found, in its own transaction, that the lease is no longer
    the writer's (it ran out while the process was stopped or slow): nothing was written."""

    code = "lease_lost"


class AuditError(CaError):
    code = "audit_error"
