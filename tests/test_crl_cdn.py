"""CRLs behind a CDN: a real nginx ``proxy_cache`` in front of a real ``psre serve``.

The cache keeps a CRL for exactly the freshness psre states (``crl.http_max_age_seconds``, a
few seconds here): the second fetch is a cache HIT; a CRL re-signed after a revocation is not
seen while the cached one is fresh, and replaces it once that one's max-age has passed; a cached
CRL that is still current is revalidated with a conditional GET that psre answers 304 (nginx's
REVALIDATED). Over the real server, Expires agrees with Date + max-age.
"""

from __future__ import annotations

import email.utils
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.cli_support import PsreEnv, free_port, nginx_serving, serving

MAX_AGE = 6  # seconds; psre's default is an hour
NIK = "3174051203900009"


@dataclass
class Cdn:
    env: PsreEnv
    origin: str
    edge: str


def cdn_site(port: int, origin: str, cache: Path) -> str:
    """What a CDN edge does, in nginx terms: cache by the origin's own freshness headers
    (no proxy_cache_valid), revalidate expired copies with If-None-Match/If-Modified-Since."""
    return f"""
    proxy_cache_path {cache} levels=1 keys_zone=crl:1m max_size=10m inactive=1h
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {origin};
            proxy_cache crl;
            proxy_cache_revalidate on;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
    """


@pytest.fixture(scope="module")
def cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cdn]:
    env = PsreEnv(
        tmp_path_factory.mktemp("crl-cdn"),
        {
            "PSRE_PUBLIC_BASE_URL": "http://pki.psre-uji.id",
            "PSRE_CRL_HTTP_MAX_AGE_SECONDS": str(MAX_AGE),
        },
    )
    env.run("init")
    env.run("subscriber", "add", "--nik", NIK, "--name", "Budi Santoso",
            "--email", "budi@kemenkeu.go.id", "--agency", "Kementerian Keuangan")  # fmt: skip
    env.run("issue", "--profile", "natural-person", "--subscriber", NIK, "--out", "budi.pem")
    with serving(env) as origin:
        port = free_port()
        edge = f"http://127.0.0.1:{port}"
        prefix = env.root / "nginx"
        site = cdn_site(port, origin, prefix / "cache")
        with nginx_serving(prefix, site, f"{edge}/healthz"):
            yield Cdn(env, origin, edge)


@dataclass
class Fetched:
    cache: str
    headers: dict[str, str]
    crl: x509.CertificateRevocationList

    @property
    def number(self) -> int:
        return self.crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def fetch(url: str) -> Fetched:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/pkix-crl"
        crl = x509.load_der_x509_crl(r.read())
        return Fetched(r.headers.get("X-Cache-Status", ""), dict(r.headers), crl)


def http_date(value: str) -> float:
    return email.utils.parsedate_to_datetime(value).timestamp()


def test_origin_headers_are_cacheable(cdn: Cdn) -> None:
    got = fetch(f"{cdn.origin}/crl/issuing-ca.crl")
    h = got.headers
    assert h["Cache-Control"] == f"public, max-age={MAX_AGE}", h
    date, expires = http_date(h["Date"]), http_date(h["Expires"])
    assert abs(expires - (date + MAX_AGE)) <= 1, h  # was Expires == Date
    assert expires <= got.crl.next_update_utc.timestamp()
    assert http_date(h["Last-Modified"]) == got.crl.last_update_utc.timestamp()
    assert re.fullmatch(r'"[0-9a-f]{64}"', h["ETag"]), h


def test_cache_hit_then_replaced_after_max_age_then_revalidated(cdn: Cdn) -> None:
    url = f"{cdn.edge}/crl/issuing-ca.crl"
    first = fetch(url)
    cached_at = time.monotonic()
    assert first.cache in ("MISS", "EXPIRED"), first.headers  # EXPIRED: an earlier test's copy
    second = fetch(url)
    assert second.cache == "HIT", second.headers
    assert second.crl.public_bytes(Encoding.DER) == first.crl.public_bytes(Encoding.DER)

    serial = re.search(  # the revoking command re-signs the CRL at once
        r"serial ([0-9a-f]+)",
        cdn.env.run("revoke", _serial(cdn), "--reason", "keyCompromise").stdout,
    ).group(1)  # type: ignore[union-attr]
    newest = fetch(f"{cdn.origin}/crl/issuing-ca.crl")
    assert newest.number > first.number
    assert int(serial, 16) in {r.serial_number for r in newest.crl}
    if time.monotonic() - cached_at < MAX_AGE - 1:
        # Still fresh at the edge: the CDN serves the old CRL (bounded by max-age).
        stale = fetch(url)
        assert stale.cache == "HIT" and stale.number == first.number, stale.headers

    time.sleep(max(0.0, cached_at + MAX_AGE + 1 - time.monotonic()))
    replaced = fetch(url)
    assert replaced.cache == "EXPIRED", replaced.headers  # refetched: a new body from psre
    assert replaced.number == newest.number
    assert fetch(url).cache == "HIT"

    time.sleep(MAX_AGE + 1)
    # Expired but unchanged: nginx asks with If-None-Match / If-Modified-Since, psre says 304.
    again = fetch(url)
    assert again.cache == "REVALIDATED", again.headers
    assert again.number == newest.number


def _serial(cdn: Cdn) -> str:
    pem = (cdn.env.root / "budi.pem").read_bytes()
    return format(x509.load_pem_x509_certificate(pem).serial_number, "x")
