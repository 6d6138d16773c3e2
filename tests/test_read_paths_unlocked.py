"""Public GETs and console page reads use the read-only face: on SQLite they read a snapshot
beside the writer, so they answer at once while another connection holds the write lock
(issue 17: ``GET /crl`` used to take the writer lock with BEGIN IMMEDIATE, and console reads
opened write transactions, so both queued behind any writer for up to the busy timeout)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.crl_support import crl_pki
from tests.web_support import make_app, operator, sign_in

#: Far below the busy timeout (30 s) a request queued behind the lock would wait.
ANSWER_WITHIN_S = 10.0


@contextmanager
def write_lock_held(db_url: str) -> Iterator[None]:
    """Another connection (as another process would) holds SQLite's write lock."""
    path = make_url(db_url).database
    assert path
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE certificate_authorities SET status = status")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def answered(call: Callable[[], int]) -> int | None:
    """The status ``call`` returns, or None if it did not return within ANSWER_WITHIN_S."""
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(call()), daemon=True)
    t.start()
    t.join(ANSWER_WITHIN_S)
    return out[0] if out else None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_crl_and_console_pages_answer_while_another_connection_writes(pki, db_url, tmp_path: Path):
    cp = crl_pki(pki, tmp_path / "public")
    revoked = cp.issue()
    pki.revoker.revoke(revoked.serial_hex, "keyCompromise", actor="t")
    cp.publisher.publish(pki.issuing)
    client = make_app(pki, db_url).test_client()
    assert sign_in(client, operator(pki, "ra")).status_code == 302
    pages = [
        f"/crl/{pki.issuing}.crl",
        "/console/certificates",
        f"/console/certificates?q={revoked.serial_hex}",
        "/console/subscribers",
        "/console/",
        "/status",
    ]
    for url in pages:  # once unlocked: the session is fresh, the CRL DER cached or not
        assert client.get(url).status_code == 200, url

    with write_lock_held(db_url):
        for url in pages:
            assert answered(lambda u=url: client.get(u).status_code) == 200, url
