"""Client applications of the signing API: create (the secret is returned once), disable.

Kept free of Flask so that the signing API's own admin commands can call the same functions.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from ca_core import audit_objects
from ca_core.errors import CaError
from ca_core.passwords import hash_secret
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.client_admin import ClientAdmin, ClientReads
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
    ClientAdmin(store).set_enabled(client_id, enabled, actor=actor)


def list_clients(store: ReadOnlyStore) -> list[ClientApplication]:
    return ClientReads(store).all()
