"""Prometheus metrics: what each process counts, and the listener that exposes them.

Every process ``psre serve`` starts (gunicorn workers, the refresher, the metrics listener)
writes its counters and histograms into ``PROMETHEUS_MULTIPROC_DIR`` (data_dir/metrics, emptied
by ``psre serve`` at start: files of dead processes from an earlier run would otherwise be
summed in). The listener (``psre metrics serve``, started by ``psre serve`` on
``metrics.listen``, never on the public port) sums them with prometheus_client's multiprocess
collector and adds what only the database knows, read at scrape time: the age of each CA's
newest CRL, the age of the oldest pre-signed OCSP response, and the pre-signing backlog.

Outside ``psre serve`` (CLI commands, tests in one process) the same metrics live in the
process's memory and cost next to nothing; prometheus_client picks the mode when first
imported, which is why ``psre serve`` sets the directory before anything imports this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from ca_core.clock import Clock, utcnow
from ca_core.metrics_dir import MULTIPROC_ENV

if TYPE_CHECKING:
    from ca_core.config import Config
    from ca_core.store import ReadOnlyStore

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "psre_http_requests_total", "HTTP requests answered", ["endpoint", "method", "code"]
)
HTTP_SECONDS = Histogram(
    "psre_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HSM_SIGN_SECONDS = Histogram(
    "psre_hsm_sign_duration_seconds",
    "Time of one signature in the HSM (pool wait included)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
HSM_ERRORS = Counter("psre_hsm_errors_total", "HSM operations that failed", ["operation"])
CERTIFICATES_ISSUED = Counter("psre_certificates_issued_total", "Certificates issued", ["profile"])
LOCKOUTS = Counter(
    "psre_lockouts_total",
    "Lock-outs after too many failed attempts (signer activation, operator login)",
    ["kind"],
)
OCSP_PRESIGNED = Counter(
    "psre_ocsp_presigned_total", "OCSP responses pre-signed (refresher and status changes)"
)


# --- HTTP ---------------------------------------------------------------------------------------

StartResponse = Callable[..., Any]


class HttpMetrics:
    """WSGI middleware: one count and one latency observation per request, labelled by route
    template (``/api/sign/download/<id>``, not the id) so the label set stays small."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], endpoint_of: Callable[[dict[str, Any]], str]
    ):
        self.app = app
        self.endpoint_of = endpoint_of

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        t0 = time.perf_counter()
        code = ["500"]

        def recording_start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            code[0] = status.split(" ", 1)[0]
            return start_response(status, headers, *exc)

        def done() -> None:
            endpoint = self.endpoint_of(environ)
            HTTP_REQUESTS.labels(endpoint, environ.get("REQUEST_METHOD", "?"), code[0]).inc()
            HTTP_SECONDS.labels(endpoint).observe(time.perf_counter() - t0)

        try:
            body = self.app(environ, recording_start)
        except BaseException:
            done()
            raise
        return _Recorded(body, done)


class _Recorded:
    """The body, passed through; the request is counted when the server closes it (WSGI
    calls close() after the last byte, also when the client went away)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self.body = body
        self.done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done()


# --- what only the database knows (listener, at scrape time) -------------------------------------


class DatabaseCollector:
    """Freshness gauges read from the database when scraped."""

    def __init__(self, store: ReadOnlyStore, config: Config, *, clock: Clock = utcnow) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    def describe(self) -> list[Any]:
        return []  # collected lazily: no database query at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from ca_core.store.publication import PublicationReads

        up = GaugeMetricFamily("psre_metrics_database_up", "The listener could read the database")
        crl_age = GaugeMetricFamily(
            "psre_crl_newest_age_seconds", "Age of the newest CRL of a CA", labels=["ca"]
        )
        oldest = GaugeMetricFamily(
            "psre_ocsp_oldest_presigned_age_seconds",
            "Age (since thisUpdate) of the oldest pre-signed OCSP response still valid",
        )
        backlog = GaugeMetricFamily(
            "psre_ocsp_presign_backlog",
            "Pre-signed OCSP responses past refresh_fraction of their validity (due, not yet"
            " re-signed)",
        )
        now = self.clock()
        o = self.config.ocsp
        due_cut = now + dt.timedelta(hours=o.validity_hours * (1 - o.refresh_fraction))
        try:
            reads = PublicationReads(self.store)
            for name, newest in reads.newest_crl_time_per_ca().items():
                crl_age.add_metric([name], (now - _aware(newest)).total_seconds())
            first = reads.oldest_live_ocsp_this_update(now)
            oldest.add_metric([], (now - _aware(first)).total_seconds() if first else 0.0)
            # nextUpdate is indexed: "due" as nextUpdate within the unused share.
            backlog.add_metric([], float(reads.count_ocsp_expiring(now, due_cut)))
            up.add_metric([], 1.0)
        except Exception as ex:
            log.warning("metrics: database not readable: %s", ex)
            up.add_metric([], 0.0)
            yield up
            return
        yield from (up, crl_age, oldest, backlog)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve_metrics(
    store: ReadOnlyStore,
    config: Config,
    *,
    parent_pid: int | None = None,
    clock: Clock = utcnow,
) -> None:
    """The listener: blocks, serving ``GET /metrics`` on ``metrics.listen``."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    registry.register(DatabaseCollector(store, config, clock=clock))
    host, port = parse_listen(config.metrics.listen)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:  # scrapes every 15 s: no access log
            pass

    server = make_server(host, port, make_wsgi_app(registry), handler_class=Quiet)
    server.timeout = 1.0
    log.info("metrics on http://%s:%d/metrics", host, port)
    while True:
        server.handle_request()
        if parent_pid is not None and os.getppid() != parent_pid:
            log.info("psre serve is gone; metrics listener exits")
            return


def spawn(config_file: str) -> Any:
    """Start ``psre metrics serve`` for ``psre serve`` (same config, same environment)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [
            sys.executable, "-m", "psre.cli", "--config", config_file,
            "metrics", "serve", "--parent-pid", str(os.getpid()),
        ]
    )  # fmt: skip
