"""Client applications of the e-sign API: their settings and their per-minute request counts
(signing_api.client_auth, ``psre client``)."""

from __future__ import annotations

from sqlalchemy import delete, select

from ca_core import audit_objects
from ca_core.errors import NotFoundError
from ca_core.store import Store
from ca_core.store.models import ClientApplication, ClientRequestWindow


class ClientApps:
    def __init__(self, store: Store) -> None:
        self._store = store

    def configure(
        self, username: str, *, level: str | None, rate_limit: int | None, actor: str
    ) -> None:
        """Set the app's default PAdES level and its own rate limit (None leaves one as is);
        audited ``client.configure``. NotFoundError for an unknown app, then ValueError for a
        negative rate limit (nothing written)."""
        with self._store.session() as s:
            row = s.execute(
                select(ClientApplication).where(ClientApplication.username == username)
            ).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"no client application {username}")
            changes: dict[str, object] = {}
            if level is not None:
                row.default_level = changes["default_level"] = level
            if rate_limit is not None:
                if rate_limit < 0:
                    raise ValueError("rate limit: 0 (none) or more requests per minute")
                row.rate_limit_per_minute = changes["rate_limit_per_minute"] = rate_limit
            self._store.audit.append(
                actor, "client.configure", audit_objects.client(username), changes, session=s
            )

    def count_request(self, client_id: int, window: int, limit: int) -> bool:
        """Count one request in the minute starting at ``window`` (Unix seconds) unless the
        app already made ``limit`` there: True if counted, False if over the limit.

        The first request of a minute deletes the app's older minutes and inserts its row;
        when another worker inserts it first this raises AlreadyExistsError (count again).
        """
        with self._store.session() as s:
            row = s.execute(
                select(ClientRequestWindow)
                .where(
                    ClientRequestWindow.client_id == client_id,
                    ClientRequestWindow.window == window,
                )
                .with_for_update()
            ).scalar_one_or_none()
            if row is None:
                s.execute(
                    delete(ClientRequestWindow).where(
                        ClientRequestWindow.client_id == client_id,
                        ClientRequestWindow.window < window,
                    )
                )
                s.add(ClientRequestWindow(client_id=client_id, window=window, count=1))
                return True
            if row.count >= limit:
                return False
            row.count += 1
            return True
