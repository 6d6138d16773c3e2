"""Client applications of the signing API: create (the secret is returned once), disable.

Kept free of Flask so that the signing API's own admin commands can call the same functions.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from ca_core import audit_objects
from ca_core.errors import CaError, NotFoundError
from ca_core.passwords import hash_secret
from ca_core.store import Store
from ca_core.store.models import ClientApplication

USERNAME_RE = re.compile(r"[a-z][a-z0-9._-]{2,63}")


class ClientError(CaError):
    code = "client_invalid"


@dataclass(frozen=True)
class NewClient:
    client: ClientApplication
    #: The only copy of the secret: shown to the admin once, stored nowhere (only its hash).
    secret: str


def create_client(store: Store, name: str, username: str, *, actor: str) -> NewClient:
    name = name.strip()
    if not name or len(name) > 128:
        raise ClientError("name: 1-128 characters")
    if not USERNAME_RE.fullmatch(username):
        raise ClientError("username: 3-64 characters, lowercase letters, digits, . _ -")
    secret = secrets.token_urlsafe(32)
    client = store.add_client(name, username, hash_secret(secret))
    store.audit.append(actor, "client.create", audit_objects.client(username), {"name": name})
    return NewClient(client, secret)


def set_client_enabled(store: Store, client_id: int, enabled: bool, *, actor: str) -> None:
    with store.session() as s:
        client = s.get(ClientApplication, client_id)
        if client is None:
            raise NotFoundError(f"no client application {client_id}")
        client.enabled = enabled
        action = "client.enable" if enabled else "client.disable"
        store.audit.append(actor, action, audit_objects.client(client.username), {}, session=s)


def list_clients(store: Store) -> list[ClientApplication]:
    with store.session() as s:
        return list(s.scalars(select(ClientApplication).order_by(ClientApplication.name)))
