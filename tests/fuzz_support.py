"""Hostile and generated requests against a real ``psre serve``: a served installation with a
client app, a signer, an agency and console operators; raw HTTP; and hypothesis strategies made
from the JSON Schemas of the OpenAPI document.

The strategies cover the part of JSON Schema the document uses (type, enum, const, pattern,
min/maxLength, minimum/maximum, items, min/maxItems, required, properties, anyOf, allOf, format
email/binary, contentMediaType). Each generated instance is checked with ``jsonschema`` before it
is used, so what the generator approximates can never make it send a request the document
forbids.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.cli_support import PsreEnv, Serving, choose_passphrase_in_app, install_esign, served
from tests.conftest import PG_URL_ENV, _backends, _pg_schema_url
from tests.esign_support import tiny_png
from tests.pdf_support import minimal_pdf

BASE_URL = "http://pki.psre-uji.id"
NIK = "3174051203900001"
ORG_ID = "NTRID-3100012345"
PASSPHRASE = "rahasia-tte-2026"
OPERATOR_PASSWORD = "operator sandi uji 2026"
ROLES = ("ra", "auditor", "admin")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Served:
    """A served installation: its base URL, its client app's credentials, a signer (NIK) and
    an agency (ORG_ID) with certificates, and one console operator per role."""

    env: PsreEnv
    url: str
    username: str
    password: str
    process: Serving
    cookies: dict[str, str] = field(default_factory=dict)

    def tracebacks(self) -> list[str]:
        """The tracebacks in the server's log so far (each bad input used to leave one)."""
        text = self.process.log_text()
        return [part[:600] for part in text.split("Traceback (most recent call last)")[1:]]

    @property
    def auth(self) -> dict[str, str]:
        raw = f"{self.username}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One raw HTTP request (no redirects followed, nothing re-encoded)."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Answer(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def api_json(self, path: str, body: Any, *, raw: bytes | None = None) -> Answer:
        data = raw if raw is not None else json.dumps(body).encode()
        return self.call("POST", path, data, {**self.auth, "Content-Type": "application/json"})

    def api_form(self, path: str, fields: dict[str, Any]) -> Answer:
        content_type, data = multipart(fields)
        return self.call("POST", path, data, {**self.auth, "Content-Type": content_type})

    def console(self, role: str, path: str) -> Answer:
        """GET ``path`` signed in as the operator of ``role`` (signing in on first use)."""
        if role not in self.cookies:
            self.cookies[role] = self._sign_in(f"op-{role}")
        return self.call("GET", path, headers={"Cookie": self.cookies[role]})

    def _sign_in(self, name: str) -> str:
        page = self.call("GET", "/console/login")
        jar = _cookies(page)
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
        assert token, "no CSRF token on the login page"
        form = urlencode(
            {"name": name, "password": OPERATOR_PASSWORD, "csrf_token": token.group(1).decode()}
        )
        resp = self.call(
            "POST",
            "/console/login",
            form.encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": jar},
        )
        assert resp.status in (302, 303), resp.body[:300]
        return "; ".join(filter(None, (_cookies(resp), jar)))


def _cookies(answer: Answer) -> str:
    # http.client joins repeated headers with ", "; cookie values here never hold a comma.
    raw = answer.header("Set-Cookie") or ""
    return "; ".join(c.split(";")[0].strip() for c in raw.split(", ") if "=" in c.split(";")[0])


def multipart(fields: dict[str, Any]) -> tuple[str, bytes]:
    """A multipart/form-data body: str values as fields, (filename, bytes, type) as files."""
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data, ctype = value
            values[name] = FileStorage(io.BytesIO(data), filename=filename, content_type=ctype)
        else:
            values[name] = value
    boundary, data = encode_multipart(values)
    return f"multipart/form-data; boundary={boundary}", data


@contextmanager
def fuzz_installation(tmp_path_factory: Any, backend: str) -> Iterator[Served]:
    """``install_esign`` (init, client app, signer), an agency with a seal certificate and one
    console operator per role, then ``psre serve`` with its log kept; on SQLite or on a fresh
    PostgreSQL schema."""
    root = tmp_path_factory.mktemp(f"fuzz-{backend}")
    extra = {"PSRE_PUBLIC_BASE_URL": BASE_URL}
    urls: Iterator[str] | None = None
    if backend == "postgresql":
        urls = _pg_schema_url(os.environ[PG_URL_ENV])
        extra["PSRE_DATABASE_URL"] = next(urls)
    try:
        env = PsreEnv(root, extra)
        esign = install_esign(env, nik=NIK, passphrase=PASSPHRASE)
        env.run(
            "subscriber", "add", "--org-id", ORG_ID, "--name", "Badan Uji Segel",
            "--email", "segel@badanuji.go.id",
        )  # fmt: skip
        env.run("issue", "--profile", "legal-person-seal", "--subscriber", ORG_ID, "--out", "s.pem")
        choose_passphrase_in_app(env, "segel@badanuji.go.id", PASSPHRASE)
        (root / "op.txt").write_text(OPERATOR_PASSWORD + "\n")
        for role in ROLES:
            env.run("operator", "add", f"op-{role}", "--role", role, "--password-file", "op.txt")
        with served(env, log=root / "serve.log") as running:
            yield Served(env, running.url, esign.username, esign.password, running)
    finally:
        if urls is not None:
            next(urls, None)  # drop the schema


@pytest.fixture(scope="session", params=_backends())
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One served installation per database for every module that fuzzes it (setting one up
    costs half a minute)."""
    with fuzz_installation(tmp_path_factory, request.param) as s:
        yield s


def fuzz_settings(examples: int) -> settings:
    """Few examples, reproducible (derandomized, no example database), no deadline: each
    example is a real HTTP request to a server shared with other tests."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# --- strategies from JSON Schema ----------------------------------------------------------------

#: Text of any kind a client might send, but what the edge refuses by design (NUL, surrogates).
TEXT_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
EMAILS = st.from_regex(
    r"[a-z]{1,12}(\.[a-z]{1,8})?@[a-z]{2,10}\.(go\.id|co\.id|com)", fullmatch=True
)
SAMPLES = {"application/pdf": minimal_pdf("dokumen uji"), "image/png": tiny_png()}


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``a`` narrowed by ``b`` (b's property schemas replace a's; required lists join)."""
    out = {**a, **{k: v for k, v in b.items() if k not in ("properties", "required")}}
    if "properties" in b:
        out["properties"] = {**a.get("properties", {}), **b["properties"]}
    if "required" in a or "required" in b:
        out["required"] = sorted({*a.get("required", []), *b.get("required", [])})
    return out


def from_schema(schema: dict[str, Any], binary: bool = False) -> st.SearchStrategy[Any]:
    """Instances of ``schema``; ``binary``: a multipart part, so files are (name, bytes, type)."""
    if "allOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in schema["allOf"]:
            rest = merge(rest, sub)
        return from_schema(rest, binary)
    if "anyOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return st.one_of([from_schema(merge(rest, b), binary) for b in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, binary) for k in kind])
    if kind == "object" or "properties" in schema:
        return _object(schema, binary)
    if kind == "array":
        return st.lists(
            from_schema(schema.get("items", {}), binary),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 3), max(3, schema.get("minItems", 0))),
        )
    if kind == "string":
        return _string(schema, binary)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1e6))
        high = schema.get("maximum", schema.get("exclusiveMaximum", 1e6))
        return st.floats(
            low,
            high,
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
        ) | st.integers(int(low) + 1, int(high) - 1)
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    return st.none() | st.booleans() | st.integers() | st.text(TEXT_CHARS, max_size=8)


def _string(schema: dict[str, Any], binary: bool) -> st.SearchStrategy[Any]:
    media = schema.get("contentMediaType")
    if schema.get("format") == "binary":
        data = SAMPLES.get(media or "", b"data")
        ext = (media or "x/bin").split("/")[1]
        return st.just((f"dokumen.{ext}", data, media or "application/octet-stream"))
    if schema.get("contentEncoding") == "base64" and media in SAMPLES:
        return st.just(base64.b64encode(SAMPLES[media]).decode())
    if schema.get("format") == "email":
        return EMAILS
    low, high = schema.get("minLength", 0), schema.get("maxLength", 40)
    if "pattern" in schema:
        strat = st.from_regex(schema["pattern"], fullmatch=True, alphabet=TEXT_CHARS)
        return strat.filter(lambda s: low <= len(s) <= high)
    return st.text(TEXT_CHARS, min_size=low, max_size=min(high, max(low, 40)))


def _object(schema: dict[str, Any], binary: bool) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, prop in props.items():
            if name in required or draw(st.booleans()):
                out[name] = draw(from_schema(prop, binary))
        return out

    return build()


def apply_counts(schema: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """Make the counts of ``x-psre-counts`` agree (what JSON Schema cannot state)."""
    out = dict(value)
    for rule in schema.get("x-psre-counts", []):
        items = out.get(rule["items"])
        if not isinstance(items, list):
            continue
        if "count" in rule and rule["count"] in out:
            n = len(items)
            out[rule["count"]] = str(n) if isinstance(out[rule["count"]], str) else n
        if "per" in rule:
            per = out.get(rule["per"])
            n = len(per) if isinstance(per, list) else 1
            if len(items) not in (0, 1, n):
                out[rule["items"]] = items[:1]
    return out


def valid_instances(schema: dict[str, Any], binary: bool = False) -> st.SearchStrategy[Any]:
    """Instances ``schema`` (and its x-psre-counts) allows, checked with jsonschema."""
    validator = Draft202012Validator(schema)
    strat = from_schema(schema, binary).map(lambda v: apply_counts(schema, v))
    return strat.filter(lambda v: validator.is_valid(_as_checked(v)))


def _as_checked(value: Any) -> Any:
    """A multipart instance as the schema sees it: a file part is its name."""
    if isinstance(value, dict):
        return {k: (v[0] if isinstance(v, tuple) else v) for k, v in value.items()}
    return value


#: Any JSON value at all, hostile text included: what a field of a fuzzed request can hold.
HOSTILE_TEXT = ["", "\x00", "a\ud800", "\udfff", "1e308", "-1", "9" * 40, "PERTAMA", "%00", "\r\n"]
ANY_JSON = st.recursive(
    st.sampled_from(HOSTILE_TEXT)
    | st.sampled_from([1e308, -1e308, 10**30, -(2**31), 2**31, 0.5, True, None])
    | st.text(max_size=20)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def pdf_with_bad_object_stream() -> bytes:
    """A PDF whose catalog lives in an "object stream" that is no /ObjStm (an XObject): reading
    the catalog makes pyHanko's reader fail an ``assert``."""
    objstm = b"1 0 << /Type /Catalog /Pages 2 0 R >>"
    bodies = {
        2: b"<< /Type /Pages /Kids [] /Count 0 >>",
        3: b"<< /Type /XObject /N 1 /First 4 /Length %d >>\nstream\n" % len(objstm)
        + objstm
        + b"\nendstream",
    }
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for n, body in bodies.items():
        offsets[n] = len(out)
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    offsets[4] = len(out)
    # Cross-reference stream, /W [1 4 2]: type, offset or object stream number, index.
    rows = [b"\x00" + bytes(4) + b"\xff\xff", b"\x02" + (3).to_bytes(4, "big") + bytes(2)]
    rows += [b"\x01" + offsets[n].to_bytes(4, "big") + bytes(2) for n in (2, 3, 4)]
    table = b"".join(rows)
    out += b"4 0 obj\n<< /Type /XRef /Size 5 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(
        table
    )
    out += table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[4]
    return bytes(out)
