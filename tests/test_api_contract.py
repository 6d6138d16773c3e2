"""The OpenAPI document is the contract: requests generated from ``/api/openapi.json`` itself,
sent to a real ``psre serve`` (gunicorn, SQLite and PostgreSQL) with real client credentials.

- every request the document allows is not refused as malformed (no 4014/4015, no 5xx);
- every request it forbids (a required field dropped, a value of the wrong type, too long, off
  its pattern or enum) gets 400 with 4014/4015;
- every answer has a status the operation declares, and validates against that response's
  schema (JSON body, required headers: WWW-Authenticate on 401);
- a method a path does not offer is 405 with Allow (RFC 9110 §15.5.6).

Example counts are small and derandomized: a few hundred requests in all.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from signing_api.openapi import openapi_document
from tests.fuzz_support import (
    NIK,
    PASSPHRASE,
    SAMPLES,
    Answer,
    Served,
    fuzz_settings,
    valid_instances,
)

FUZZ = fuzz_settings(12)
MALFORMED = (4014, 4015)
OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
    # The CSC paths have their own error shape and bearer tokens (tests/test_csc.py).
    if path.startswith("/api/") and path != "/api/openapi.json"
]


@pytest.fixture(scope="module")
def server(api_server: Served) -> Served:
    return api_server


@pytest.fixture(scope="module")
def spec(server: Served) -> dict[str, Any]:
    answer = server.call("GET", "/api/openapi.json")
    assert answer.status == 200
    return answer.json()


def _request_parts(op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """("json" | "multipart" | "path", schema) of an operation's request."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return "json", content["application/json"]["schema"]
    if "multipart/form-data" in content:
        return "multipart", content["multipart/form-data"]["schema"]
    params = {p["name"]: p["schema"] for p in op.get("parameters", [])}
    return "path", {"type": "object", "properties": params, "required": list(params)}


def send(server: Served, method: str, path: str, kind: str, instance: Any) -> Answer:
    if kind == "json":
        return server.api_json(path, instance)
    if kind == "multipart":
        return server.api_form(path, {k: v for k, v in instance.items()})
    url = path
    for name, value in instance.items():
        url = url.replace("{" + name + "}", quote(str(value), safe=""))
    return server.call(method, url, headers=server.auth)


def check_answer(op: dict[str, Any], answer: Answer) -> None:
    """The answer's status is declared and its body and headers fit that response."""
    declared = op["responses"].get(str(answer.status))
    assert declared is not None, (answer.status, answer.body[:300])
    for name, header in declared.get("headers", {}).items():
        value = answer.header(name)
        if header.get("required"):
            assert value is not None, (name, answer.status)
        if value is not None and "pattern" in header.get("schema", {}):
            assert re.search(header["schema"]["pattern"], value), (name, value)
    content = declared.get("content", {})
    ctype = (answer.header("Content-Type") or "").split(";")[0]
    assert ctype in content, (answer.status, ctype, list(content))
    if ctype == "application/json":
        Draft202012Validator(content[ctype]["schema"]).validate(answer.json())
    elif ctype == "application/pdf":
        assert answer.body.startswith(b"%PDF-")


def _op(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return spec["paths"][path][method.lower()]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_request_the_spec_allows_is_served(server, spec, method, path) -> None:
    op = _op(spec, method, path)
    kind, schema = _request_parts(op)

    @FUZZ
    @given(valid_instances(schema, binary=kind == "multipart"))
    def run(instance: Any) -> None:
        answer = send(server, method, path, kind, instance)
        assert answer.status < 500, (instance, answer.body[:300])
        if answer.status == 400:
            code = answer.json()["status_code"]
            assert code not in MALFORMED, (path, instance, answer.json())
        check_answer(op, answer)

    run()


# --- what the document forbids -------------------------------------------------------------------

#: Values of every JSON type, to put where the schema wants another.
WRONG = [None, True, 12345, 1.5, "x", [], {}, ["x"], {"a": 1}]


@st.composite
def forbidden(draw: st.DrawFn, schema: dict[str, Any], kind: str) -> Any:
    """A valid instance, then one field broken in a way the schema refuses."""
    value = dict(draw(valid_instances(schema, binary=kind == "multipart")))
    props = schema.get("properties", {})
    how = draw(st.sampled_from(["drop", "type", "long", "pattern"]))
    if how == "drop":
        assume(kind != "path" and schema.get("required"))  # a path without it is another URL
        value.pop(draw(st.sampled_from(schema["required"])), None)
    else:
        name = draw(st.sampled_from(sorted(props)))
        if how == "type":
            assume(kind == "json")
            value[name] = draw(st.sampled_from(WRONG))
        elif how == "long":
            value[name] = "7" * 300_000 if name in ("file", "signed_file") else "7" * 1100
        else:
            value[name] = draw(st.sampled_from(["-1", "tidak-sah", "0x10", "1 2", "é"]))
        if kind == "multipart" and isinstance(value[name], str):
            assume(props[name].get("format") != "binary")
    checked = {k: (v[0] if isinstance(v, tuple) else v) for k, v in value.items()}
    assume(not Draft202012Validator(schema).is_valid(checked))
    return value


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_request_the_spec_forbids_is_4xx(server, spec, method, path) -> None:
    op = _op(spec, method, path)
    kind, schema = _request_parts(op)

    @FUZZ
    @given(forbidden(schema, kind))
    def run(instance: Any) -> None:
        answer = send(server, method, path, kind, instance)
        assert answer.status == 400, (instance, answer.status, answer.body[:300])
        assert answer.json()["status_code"] in MALFORMED
        check_answer(op, answer)

    run()


# --- fixed checks: methods, credentials, real signatures -----------------------------------------


def test_a_method_a_path_does_not_offer_is_405_with_allow(server, spec) -> None:
    schema = spec["components"]["responses"]["MethodNotAllowed"]["content"]["application/json"]
    checked = 0
    for path, item in spec["paths"].items():
        if not path.startswith("/api/"):
            continue  # CSC: tests/test_csc.py
        url = path.replace("{nik}", NIK).replace("{id_dokumen}", "x")
        offered = {m.upper() for m in item}
        for method in {"GET", "POST", "PUT", "DELETE", "PATCH"} - offered:
            answer = server.call(method, url, headers=server.auth)
            assert answer.status == 405, (method, path, answer.status)
            allow = {m.strip() for m in (answer.header("Allow") or "").split(",")}
            assert offered <= allow, (method, path, allow)
            Draft202012Validator(schema["schema"]).validate(answer.json())
            checked += 1
    assert checked >= 40


def test_without_credentials_every_operation_is_401_with_www_authenticate(server, spec) -> None:
    for method, path in OPERATIONS:
        url = path.replace("{nik}", NIK).replace("{id_dokumen}", "x")
        answer = server.call(method, url, b"{}", {"Content-Type": "application/json"})
        assert answer.status == 401, (method, path)
        check_answer(_op(spec, method, path), answer)


def test_real_signatures_fit_their_declared_answers(server, spec) -> None:
    pdf = SAMPLES["application/pdf"]
    answer = server.api_form(
        "/api/sign/pdf",
        {"file": ("surat.pdf", pdf, "application/pdf"), "nik": NIK, "passphrase": PASSPHRASE},
    )
    assert answer.status == 200, answer.body[:300]
    check_answer(_op(spec, "POST", "/api/sign/pdf"), answer)
    body = {"nik": NIK, "passphrase": PASSPHRASE, "file": [base64.b64encode(pdf).decode()]}
    answer = server.api_json("/api/v2/sign/pdf", body)
    assert answer.status == 200, answer.body[:300]
    check_answer(_op(spec, "POST", "/api/v2/sign/pdf"), answer)
    signed = base64.b64decode(answer.json()["file"][0])
    answer = server.api_json("/api/v2/verify/pdf", {"file": base64.b64encode(signed).decode()})
    assert answer.status == 200
    check_answer(_op(spec, "POST", "/api/v2/verify/pdf"), answer)
    assert json.loads(answer.body)["signatureCount"] == 1


def test_the_document_states_what_relying_clients_need(spec) -> None:
    """The rules the generated requests rely on are in the document, not only in the code:
    NIK patterns, multipart vs JSON bodies, every error status with its codes, 401 with
    WWW-Authenticate, 405 with Allow."""
    nik = {"^[0-9]{16}$"}
    status = _op(spec, "GET", "/api/user/status/{nik}")["parameters"][0]["schema"]
    assert status["pattern"] in nik
    registration = _request_parts(_op(spec, "POST", "/api/v2/user/registration"))[1]
    assert {s.get("pattern") for s in registration["properties"]["nik"]["anyOf"]} & nik
    assert _request_parts(_op(spec, "POST", "/api/sign/pdf"))[0] == "multipart"
    assert _request_parts(_op(spec, "POST", "/api/v2/sign/pdf"))[0] == "json"
    codes = spec["components"]["x-error-codes"]
    for method, path in OPERATIONS:
        responses = _op(spec, method, path)["responses"]
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
        for status_text, response in responses.items():
            if int(status_text) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert set(schema["required"]) >= {"status_code", "error"}
            for code in schema["properties"]["status_code"]["enum"]:
                assert codes[str(code)]["http"] == int(status_text) or code == 2031
    allow = spec["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"]
    assert allow["required"] is True


def test_no_traceback_in_the_server_log(server: Served) -> None:
    assert server.tracebacks() == []
