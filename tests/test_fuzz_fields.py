"""Property-based fuzzing over real HTTP (``psre serve``, SQLite and PostgreSQL): every JSON and
multipart field of the e-sign API, the OCSP, TSA and CRL paths, and the query parameters of the
console and public pages. Whatever is sent: no 5xx, ever, and the server keeps serving.

The counts are modest (derandomized, a few hundred requests per database); the in-process OCSP
and TSA fuzz tests (tests/test_ocsp_http.py, tests/test_tsa.py) go deeper into the parsers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from asn1crypto import algos, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st

from signing_api.openapi import openapi_document
from tests.fuzz_support import (
    ANY_JSON,
    NIK,
    ROLES,
    Answer,
    Served,
    fuzz_settings,
    valid_instances,
)

FUZZ = fuzz_settings(25)
DOC = openapi_document()
JSON_OPS = [
    (path, op["requestBody"]["content"]["application/json"]["schema"])
    for path, item in DOC["paths"].items()
    for op in item.values()
    if "application/json" in op.get("requestBody", {}).get("content", {})
]
FORM_OPS = [
    (path, op["requestBody"]["content"]["multipart/form-data"]["schema"])
    for path, item in DOC["paths"].items()
    for op in item.values()
    if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
]


@pytest.fixture(scope="module")
def server(api_server: Served) -> Served:
    return api_server


def no_5xx(answer: Answer, what: object) -> None:
    assert answer.status < 500, (what, answer.status, answer.body[:300])


def mutated(data: st.DataObject, base: bytes) -> bytes:
    """``base`` truncated, with bytes overwritten, and junk appended (each maybe)."""
    out = bytearray(base)
    if data.draw(st.booleans()):
        out = out[: data.draw(st.integers(0, len(out)))]
    for _ in range(data.draw(st.integers(0, 4))):
        if out:
            out[data.draw(st.integers(0, len(out) - 1))] = data.draw(st.integers(0, 255))
    return bytes(out) + data.draw(st.binary(max_size=8))


# --- the e-sign API: every field ---------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_any_value_in_any_json_field(server: Served, data: st.DataObject) -> None:
    """Each example: every JSON operation, its valid body with one to three fields replaced."""
    for path, schema in JSON_OPS:
        body: Any = dict(data.draw(valid_instances(schema)))
        names = sorted({*schema.get("properties", {}), "x"})
        for name in data.draw(
            st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)
        ):
            body[name] = data.draw(ANY_JSON)
        if data.draw(st.integers(0, 9)) == 0:
            body = data.draw(ANY_JSON)  # not even an object
        no_5xx(server.api_json(path, body), (path, body))


@FUZZ
@given(data=st.data())
def test_any_text_or_file_in_any_multipart_field(server: Served, data: st.DataObject) -> None:
    path, schema = data.draw(st.sampled_from(FORM_OPS))
    fields: dict[str, Any] = dict(data.draw(valid_instances(schema, binary=True)))
    names = sorted({*schema.get("properties", {}), "x"})
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        fields[name] = data.draw(
            st.text(max_size=30)
            | st.sampled_from(["", "1e308", "-0", "NaN", "9" * 40, "\x00", "PERTAMA"])
            | st.tuples(st.text(max_size=10), st.binary(max_size=200), st.just("application/pdf"))
        )
    no_5xx(server.api_form(path, fields), (path, fields))


@FUZZ
@given(nik=st.text(max_size=30))
def test_any_path_parameter(server: Served, nik: str) -> None:
    for template in ("/api/user/status/{}", "/api/sign/download/{}"):
        url = template.format(quote(nik, safe=""))
        no_5xx(server.call("GET", url, headers=server.auth), url)


# --- OCSP, TSA, CRL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ocsp_request(server: Served) -> bytes:
    server.env.run("ca", "export", "issuing-ca", "--out", "issuing.pem")
    leaf = x509.load_pem_x509_certificate((server.env.root / "signer.pem").read_bytes())
    issuer = x509.load_pem_x509_certificate((server.env.root / "issuing.pem").read_bytes())
    req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()  # noqa: S303 - RFC 6960 CertID
    return req.public_bytes(serialization.Encoding.DER)


@FUZZ
@given(data=st.data())
def test_ocsp_over_http(server: Served, ocsp_request: bytes, data: st.DataObject) -> None:
    body = data.draw(
        st.binary(max_size=300) | st.just(ocsp_request).map(lambda b: mutated(data, b))
    )
    post = server.call("POST", "/ocsp", body, {"Content-Type": "application/ocsp-request"})
    no_5xx(post, body)
    path = data.draw(st.text(max_size=120) | st.sampled_from(["", "%", "..", "a/b/c"]))
    get = server.call("GET", "/ocsp/" + quote(path, safe="/%+="))
    no_5xx(get, path)


@FUZZ
@given(data=st.data())
def test_tsa_over_http(server: Served, data: st.DataObject) -> None:
    good = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": hashlib.sha256(b"x").digest(),
            },
            "cert_req": True,
        }
    ).dump()
    body = data.draw(st.binary(max_size=300) | st.just(good).map(lambda b: mutated(data, b)))
    ctype = data.draw(st.sampled_from(["application/timestamp-query", "text/plain", ""]))
    no_5xx(server.call("POST", "/tsa", body, {"Content-Type": ctype}), body)


@FUZZ
@given(
    name=st.text(max_size=60)
    | st.integers(-(2**70), 2**70).map(lambda n: f"issuing-ca-{n}")
    | st.sampled_from(["issuing-ca", "root-ca-delta", "issuing-ca-0", "-", ".crl", "..%2f"])
)
def test_crl_names_over_http(server: Served, name: str) -> None:
    answer = server.call("GET", f"/crl/{quote(name, safe='%')}.crl")
    no_5xx(answer, name)


# --- console and public pages: query parameters --------------------------------------------------

PAGES = [
    "/console/",
    "/console/certificates",
    "/console/subscribers",
    "/console/clients",
    "/console/audit",
    "/console/operators",
    "/console/approvals",
    "/console/login",
    "/verify",
    "/status",
    "/repository",
    "/lang/en",
    "/lang/xx",
]
PARAMS = ["page", "q", "action", "actor", "expired", "next", "lang", "status", "kind", "x"]
HOSTILE = st.sampled_from(
    ["", "0", "-1", "99999999999999999999999", "1e308", "NaN", "\x00", "/\t/evil.com", "/\r\n"]
) | st.text(max_size=40)


#: Numbers as text: what a page number or an id in a query becomes in a hostile hand.
NUMBERS = st.integers(-(10**30), 10**30).map(str) | st.sampled_from(["1e308", "0x10", "٣", "1.5"])


@settings(FUZZ, max_examples=15)
@given(
    known=st.fixed_dictionaries({p: NUMBERS | HOSTILE for p in PARAMS}),
    extra=st.lists(st.tuples(st.text(max_size=8), HOSTILE), max_size=2),
)
def test_any_query_on_console_and_public_pages(
    server: Served, known: dict[str, str], extra: list[tuple[str, str]]
) -> None:
    """Each example: every page, as each role, with the same query (every parameter a page
    reads, and more)."""
    query = urlencode([*known.items(), *extra])
    for role in ROLES:
        for page in PAGES:
            no_5xx(server.console(role, f"{page}?{query}"), (role, page, query))


def test_still_serving_after_the_fuzzing(server: Served) -> None:
    answer = server.call("GET", f"/api/user/status/{NIK}", headers=server.auth)
    assert answer.status == 200 and json.loads(answer.body)["status"] == "ISSUE"
    health = server.call("GET", "/healthz")
    assert health.status == 200, health.body


def test_no_traceback_in_the_server_log(server: Served) -> None:
    assert server.tracebacks() == []
