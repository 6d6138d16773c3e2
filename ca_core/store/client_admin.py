"""Client applications of the signing API as the console and ``psre client`` manage them."""

from __future__ import annotations

from sqlalchemy import select

from ca_core import audit_objects
from ca_core.errors import NotFoundError
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import ClientApplication
from ca_core.store.sessions import read_session


class ClientReads:
    """Look-ups on the read-only face."""

    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def all(self) -> list[ClientApplication]:
        """Every client application, by name."""
        with read_session(self.store) as s:
            return list(s.scalars(select(ClientApplication).order_by(ClientApplication.name)))

    def by_id(self, client_id: int) -> ClientApplication | None:
        with read_session(self.store) as s:
            return s.get(ClientApplication, client_id)


class ClientAdmin:
    """Changes to client applications, each in one transaction with its audit event."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def set_enabled(self, client_id: int, enabled: bool, *, actor: str) -> None:
        """Enable or disable a client; NotFoundError when there is no such client."""
        with self.store.session() as s:
            client = s.get(ClientApplication, client_id)
            if client is None:
                raise NotFoundError(f"no client application {client_id}")
            client.enabled = enabled
            action = "client.enable" if enabled else "client.disable"
            self.store.audit.append(
                actor, action, audit_objects.client(client.username), {}, session=s
            )
