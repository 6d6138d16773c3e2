"""Bad input found by an adversarial run (issue 16, "500s for bad input" and "open redirect"),
each against a real ``psre serve`` on SQLite and on PostgreSQL: every one is a 4xx with the
usual JSON (or the console's error page), and the server goes on serving.

Before: each of these was a 500 with a traceback in the log (the NUL on PostgreSQL a 503
"the database is unavailable"), and the language switch redirected to another site.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.fuzz_support import (
    NIK,
    PASSPHRASE,
    Answer,
    Served,
    pdf_with_bad_object_stream,
)
from tests.pdf_support import minimal_pdf

UNKNOWN_NIK = "3174999999999990"


@pytest.fixture(scope="module")
def server(api_server: Served) -> Served:
    return api_server


def api_code(answer: Answer) -> tuple[int, int]:
    return answer.status, answer.json()["status_code"]


def still_serving(server: Served) -> None:
    answer = server.call("GET", f"/api/user/status/{NIK}", headers=server.auth)
    assert answer.status == 200 and answer.json()["status"] == "ISSUE"


def test_json_nested_100k_deep_is_4015(server: Served) -> None:
    deep = b'{"nik":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert api_code(server.api_json("/api/v2/user/check/status", None, raw=deep)) == (400, 4015)
    # Deeper than the parser's recursion, fewer values than the count limit.
    deep = b'{"nik":' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    answer = server.api_json("/api/v2/user/check/status", None, raw=deep)
    assert api_code(answer) == (400, 4015) and "nested deeper" in answer.json()["error"]
    just_over = {"nik": NIK, "x": json.loads("[" * 17 + "]" * 17)}
    assert api_code(server.api_json("/api/v2/user/check/status", just_over)) == (400, 4015)
    within = {"nik": NIK, "x": json.loads("[" * 10 + "]" * 10)}
    assert server.api_json("/api/v2/user/check/status", within).status == 200
    still_serving(server)


def test_json_with_millions_of_values_is_refused_before_parsing(server: Served) -> None:
    """20 MB of "[{},{},…]" is 6.7 million dicts once parsed (about half a gigabyte)."""
    raw = b"[" + b"{}," * 6_700_000 + b"{}]"
    started = time.monotonic()
    answer = server.api_json("/api/v2/user/check/status", None, raw=raw)
    assert api_code(answer) == (400, 4015) and "JSON values" in answer.json()["error"]
    assert time.monotonic() - started < 10
    still_serving(server)


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/v2/user/check/status", b'{"nik": "\\ud800"}'),
        ("/api/v2/user/check/status", b'{"email": "a\\udfff@b.id"}'),
        ("/api/v2/user/check/status", b'{"nik": "3174051203900001", "x\\u0000": 1}'),
        ("/api/v2/sign/pdf", b'{"nik": "3174051203900001", "passphrase": "a\\u0000", "file": []}'),
    ],
)
def test_lone_surrogates_and_nul_in_json_are_4015(server: Served, path: str, raw: bytes) -> None:
    answer = server.api_json(path, None, raw=raw)
    assert api_code(answer) == (400, 4015), answer.body
    error = answer.json()["error"]
    assert error.endswith(("must not contain NUL", "must not contain lone surrogates")), error


def test_nul_in_a_registration_is_4015_and_nothing_is_stored(server: Served) -> None:
    """On PostgreSQL this was "5031 the database is unavailable" (text cannot hold NUL)."""
    nik = "3174051203900777"
    for field in ("nama", "email", "instansi", "passphrase"):
        body = {
            "nik": nik,
            "nama": "Dewi Lestari",
            "email": "dewi.lestari@kemenkeu.go.id",
            "passphrase": "rahasia-tte-2026",
        }
        body[field] = body.get(field, "Kemenkeu")[:4] + "\x00" + "x" * 8
        answer = server.api_json("/api/v2/user/registration", body)
        assert api_code(answer) == (400, 4015), (field, answer.body)
        assert field in answer.json()["error"]
    status = server.api_json("/api/v2/user/check/status", {"nik": nik})
    assert status.json()["status"] == "NOT_REGISTERED"


def test_nul_in_forms_query_and_path_is_refused(server: Served) -> None:
    form = {"file": ("surat.pdf", minimal_pdf(), "application/pdf"), "nik": NIK}
    answer = server.api_form("/api/sign/pdf", {**form, "passphrase": "rahasia\x00"})
    assert api_code(answer) == (400, 4015)
    answer = server.api_form(
        "/api/sign/pdf",
        {**form, "file": ("a\x00.pdf", minimal_pdf(), "application/pdf"), "passphrase": PASSPHRASE},
    )
    assert api_code(answer) == (400, 4015)
    answer = server.call("GET", f"/api/user/status/{NIK}?x=%00", headers=server.auth)
    assert api_code(answer) == (400, 4015)
    answer = server.call("GET", "/api/user/status/31740512%0003900001", headers=server.auth)
    assert api_code(answer) == (400, 4015)
    # The pages answer with their own error page.
    for path in ("/verify?q=%00", "/console/certificates?q=a%00b"):
        page = server.console("ra", path)
        assert page.status == 400 and b'id="error-message"' in page.body, path


@pytest.mark.parametrize(
    "name",
    [
        "issuing-ca-99999999999999999999999",
        "issuing-ca-2147483648",  # one more than PostgreSQL's INTEGER
        "issuing-ca--2147483648",
        "issuing-ca-" + "9" * 4000,  # a number no column holds
    ],
)
def test_crl_partition_numbers_out_of_range_are_404(server: Served, name: str) -> None:
    answer = server.call("GET", f"/crl/{name}.crl")
    assert answer.status == 404, answer.body[:200]
    assert answer.json()["error"]["code"] == "not_found"


def test_console_numbers_out_of_range_get_the_error_page(server: Served) -> None:
    for page in ("99999999999999999999999", "-1", "0", "abc", "1e3", "%D9%A3"):
        answer = server.console("auditor", f"/console/audit?page={page}")
        assert answer.status == 400 and b'id="error-message"' in answer.body, page
    assert server.console("auditor", "/console/audit?page=1").status == 200
    for path in (
        "/console/certificates/99999999999999999999999",
        "/console/subscribers/2147483648",
    ):
        assert server.console("ra", path).status == 404, path


@pytest.mark.parametrize(
    "props",
    [
        {"width": 1e308, "height": 50},
        {"width": "1e308", "height": "50"},
        {"width": 50, "height": 100000},
        {"width": 0, "height": 50},
        {"width": -5, "height": 50},
    ],
)
def test_stamp_sizes_are_range_checked(server: Served, props: dict) -> None:
    stamp = {"tampilan": "VISIBLE", "linkQR": "https://x.id/d/1", "originX": 0, "originY": 0}
    body = {
        "nik": UNKNOWN_NIK,
        "passphrase": PASSPHRASE,
        "file": [base64.b64encode(minimal_pdf()).decode()],
        "signatureProperties": [{**stamp, **props}],
    }
    answer = server.api_json("/api/v2/sign/pdf", body)
    assert api_code(answer) == (400, 4015), answer.body
    assert "width" in answer.json()["error"] or "height" in answer.json()["error"]


def test_stamp_coordinates_and_pages_are_range_checked_in_v1(server: Served) -> None:
    form = {
        "file": ("surat.pdf", minimal_pdf(), "application/pdf"),
        "nik": UNKNOWN_NIK,
        "passphrase": PASSPHRASE,
        "tampilan": "visible",
        "linkQR": "https://x.id/d/1",
        "xAxis": "1e308",
        "yAxis": "0",
        "width": "10",
        "height": "10",
    }
    assert api_code(server.api_form("/api/sign/pdf", form)) == (400, 4015)
    assert api_code(server.api_form("/api/sign/pdf", {**form, "xAxis": "0", "page": "9" * 30})) == (
        400,
        4015,
    )
    ok = server.api_form("/api/sign/pdf", {**form, "xAxis": "99999.5", "page": "2"})
    assert api_code(ok) == (404, 2011)  # every field accepted; the signer is unknown


def test_a_pdf_with_a_bad_object_stream_is_4015(server: Served) -> None:
    bad = pdf_with_bad_object_stream()
    b64 = base64.b64encode(bad).decode()
    assert api_code(server.api_json("/api/v2/verify/pdf", {"file": b64})) == (400, 4015)
    form = {"signed_file": ("rusak.pdf", bad, "application/pdf")}
    assert api_code(server.api_form("/api/sign/verify", form)) == (400, 4015)
    body = {"nik": NIK, "passphrase": PASSPHRASE, "file": [b64]}
    answer = server.api_json("/api/v2/sign/pdf", body)
    assert api_code(answer) == (400, 4015), answer.body
    still_serving(server)


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.com",
        "/%0d%0aSet-Cookie:%20x=1",
        "/%0d",
        "//evil.com",
        "/\\evil.com",
        "https://evil.com/",
        "%2F%2Fevil.com",
        "/%E2%80%A8/evil.com",
    ],
)
def test_the_language_switch_never_leaves_the_site(server: Served, target: str) -> None:
    answer = server.call("GET", f"/lang/en?next={target}")
    assert answer.status == 302, answer.body[:200]
    assert answer.header("Location") == "/"


def test_the_language_switch_keeps_a_path_of_this_site(server: Served) -> None:
    answer = server.call("GET", "/lang/en?next=/console/audit%3Fpage%3D2")
    assert answer.status == 302 and answer.header("Location") == "/console/audit?page=2"


def test_405_everywhere_says_what_is_allowed(server: Served) -> None:
    for method, path in (
        ("POST", "/crl/issuing-ca.crl"),
        ("DELETE", "/verify"),
        ("PUT", "/api/v2/sign/pdf"),
    ):
        answer = server.call(method, path, headers=server.auth)
        assert answer.status == 405 and answer.header("Allow"), (method, path)
    assert server.call("PUT", "/api/v2/sign/pdf").json()["status_code"] == 4050


def test_no_traceback_in_the_server_log(server: Served) -> None:
    assert server.tracebacks() == []
