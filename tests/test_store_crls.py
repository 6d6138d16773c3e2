"""ca_core.store.crls: CRL numbers allocated by several processes at once (each with its own
connection pool, as gunicorn workers and ``psre crl generate`` have) never repeat and only grow,
on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from ca_core.store import Store
from ca_core.store.crls import Crls

PROCESSES = 3
ROUNDS = 15
PER_ROUND = 3  # a complete, a partition and a delta CRL


def _allocate_many(url: str, issuer_id: int) -> list[list[int]]:
    store = Store.open(url)
    try:
        return [Crls(store).allocate(issuer_id, PER_ROUND) for _ in range(ROUNDS)]
    finally:
        store.close()


def test_crl_numbers_from_concurrent_processes_are_unique_and_increasing(pki, db_url):
    issuer_id = pki.store.get_ca(pki.issuing).id
    first = Crls(pki.store).allocate(issuer_id, 1)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=ctx) as pool:
        runs = list(pool.map(_allocate_many, [db_url] * PROCESSES, [issuer_id] * PROCESSES))
    numbers = [n for run in runs for batch in run for n in batch]
    assert len(numbers) == len(set(numbers)) == PROCESSES * ROUNDS * PER_ROUND
    assert min(numbers) > first[-1]
    for run in runs:
        for batch in run:  # a batch is consecutive: one increment of the counter row
            assert batch == list(range(batch[0], batch[0] + PER_ROUND))
        starts = [batch[0] for batch in run]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # Nothing skipped: the counter moved by exactly what was handed out.
    assert Crls(pki.store).allocate(issuer_id, 1) == [max(numbers) + 1]
