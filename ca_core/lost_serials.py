"""Serials a restore found published but no longer in the database (ca_core.restore_reconcile
records them): the CRL builder lists them as revoked for as long as the CA publishes. The query
is :func:`ca_core.store.lost_serials.lost_serial_rows`."""

from __future__ import annotations

from ca_core.store.lost_serials import lost_serial_rows

__all__ = ["lost_serial_rows"]
