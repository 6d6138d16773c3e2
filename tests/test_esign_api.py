"""The e-sign API (BSrE-compatible v1 + v2) through Flask's test client, on a real SoftHSM token
and a real database (SQLite, and PostgreSQL when PSRE_TEST_DATABASE_URL is set).

Every PDF the API signs here is checked with poppler's pdfsig; levels with the API's own
verification endpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from ca_core.config import SigningConfig
from ca_core.store import Store
from ca_core.store.models import ActivationFailure, EnrolmentCode, Subscriber
from ca_core.subscribers import issue_for
from psre.commands.client import configure_client
from signing_api import documents
from tests.conftest import PG_URL_ENV, _backends, _pg_schema_url
from tests.esign_support import (
    PASSPHRASE,
    b64,
    database_text,
    enrolment_codes,
    make_esign_app,
    new_agency,
    new_client,
    new_person,
    outbox_bodies,
    outbox_codes,
    pdf_upload,
    post_json,
    tiny_png,
)
from tests.pdf_support import minimal_pdf, with_changed_page
from tests.pki_support import Pki
from tests.signing_support import build_signing_pki
from tests.web_support import signed_pdf
from web.clients import set_client_enabled


@pytest.fixture(scope="module", params=_backends())
def env(request, tmp_path_factory, backend) -> Iterator[tuple[Pki, str]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('esign') / 'psre.sqlite3'}"
        urls: Iterator[str] = iter([url])
    else:
        import os

        urls = _pg_schema_url(os.environ[PG_URL_ENV])
    url = next(urls)
    store = Store.open(url)
    # With a TSA unit, published CRLs and pre-signed OCSP responses, kept current on status
    # events: what B-T and B-LT need, as under `psre serve`.
    pki = build_signing_pki(store, backend, url).pki
    yield pki, url
    store.close()
    next(urls, None)  # PostgreSQL: drop the schema


@pytest.fixture(scope="module")
def pki(env) -> Pki:
    return env[0]


@pytest.fixture(scope="module")
def app(env):
    return make_esign_app(env[0], env[1])


@pytest.fixture(scope="module")
def http(app):
    return app.test_client()


@pytest.fixture(scope="module")
def creds(pki):
    return new_client(pki)


@pytest.fixture(scope="module")
def signer(pki):
    return new_person(pki)


def pdfsig_ok(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    res = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in res.stdout, res.stdout + res.stderr


def assert_signed(resp, tmp_path: Path, n: int = 1) -> list[bytes]:
    """A signing request that passed every check: n signed PDFs, each accepted by pdfsig."""
    assert resp.status_code == 200, resp.get_data(as_text=True)
    if resp.mimetype == "application/pdf":
        pdfs = [resp.get_data()]
    else:
        pdfs = [base64.b64decode(f) for f in resp.get_json()["file"]]
    assert len(pdfs) == n
    for pdf in pdfs:
        pdfsig_ok(tmp_path, pdf)
    return pdfs


def sign_v1(http, creds, nik: str, passphrase: str = PASSPHRASE, **fields):
    data = {"file": pdf_upload(), "nik": nik, "passphrase": passphrase, **fields}
    return http.post(
        "/api/sign/pdf", data=data, headers=creds.headers, content_type="multipart/form-data"
    )


def sign_v2(http, creds, nik: str, n: int = 1, **body):
    payload = {"nik": nik, "file": [b64(minimal_pdf(f"dokumen {i}")) for i in range(n)], **body}
    if "totp" not in body and "passphrase" not in body:
        payload["passphrase"] = PASSPHRASE
    return post_json(http, "/api/v2/sign/pdf", creds, payload)


def api_routes(app) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                out.append((method, rule.rule))
    return out


# --- client applications -----------------------------------------------------------------------


def test_every_api_route_but_the_spec_needs_client_credentials(app, http, pki, creds):
    routes = api_routes(app)
    assert len(routes) >= 14
    bad = [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"nobody:secret").decode()},
        {"Authorization": "Basic " + base64.b64encode(f"{creds.username}:wrong".encode()).decode()},
        {"Authorization": "Bearer abc"},
    ]
    for method, rule in routes:
        url = rule.replace("<id_dokumen>", "x").replace("<nik>", "3174000000000001")
        for headers in bad:
            resp = http.open(url, method=method, headers=headers, json={})
            if rule == "/api/openapi.json":
                assert resp.status_code == 200
                continue
            assert resp.status_code == 401, (method, rule, headers)
            assert resp.get_json()["status_code"] == 4010
            assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_a_disabled_client_is_refused_at_once(http, pki):
    c = new_client(pki)
    assert http.get("/api/user/status/3174000000000001", headers=c.headers).status_code == 200
    set_client_enabled(pki.store, pki.store.get_client(c.username).id, False, actor="test")
    resp = http.get("/api/user/status/3174000000000001", headers=c.headers)
    assert resp.status_code == 401 and resp.get_json()["status_code"] == 4010


def test_openapi_describes_every_api_route(app, http):
    spec = http.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for method, rule in api_routes(app):
        path = rule.replace("<", "{").replace(">", "}")
        assert path in spec["paths"], path
        assert method.lower() in spec["paths"][path], (method, path)
    codes = spec["components"]["x-error-codes"]
    for code in ("2011", "2031", "4014", "4015", "4024", "4044"):
        assert code in codes


# --- status and registration ---------------------------------------------------------------------


def test_status_strings_follow_the_subscriber(http, pki, creds):
    issued = new_person(pki)
    fresh = new_person(pki, issue=False)
    unknown = "3174999999999999"

    def v1(nik: str) -> dict:
        return http.get(f"/api/user/status/{nik}", headers=creds.headers).get_json()

    def v2(**body: str) -> dict:
        return post_json(http, "/api/v2/user/check/status", creds, body).get_json()

    assert v1(issued.nik) == {
        "status_code": 1111,
        "status": "ISSUE",
        "message": "User dapat melakukan TTE",
    }
    assert v1(unknown)["status_code"] == 1110 and v1(unknown)["status"] == "NOT_REGISTERED"
    assert v1(fresh.nik)["status"] == "NEW"
    assert v2(nik=issued.nik)["status"] == "ISSUE"
    assert v2(email=issued.email)["status"] == "ISSUE"
    assert v2(nik=unknown)["status"] == "NOT_REGISTERED"
    pki.revoker.suspend(issued.serial_hex, actor="test")
    assert v2(nik=issued.nik)["status"] == "SUSPEND"
    resp = sign_v2(http, creds, issued.nik)
    assert resp.status_code == 403 and resp.get_json()["status_code"] == 2021
    pki.revoker.unsuspend(issued.serial_hex, actor="test")
    assert v1(issued.nik)["status"] == "ISSUE"
    pki.revoker.revoke(issued.serial_hex, "keyCompromise", actor="test")
    assert v1(issued.nik)["status"] == "REVOKE"
    resp = http.get("/api/user/status/31740000000000001", headers=creds.headers)
    assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015


def test_registration_ignores_an_app_chosen_passphrase_the_signer_sets_their_own(
    http, pki, creds, tmp_path
):
    """v2 registration keeps its ``passphrase`` field for compatibility, but the app's choice
    never activates anything: the signer sets their own with the code sent to them."""
    from tests.web_support import new_nik, set_passphrase_on_page

    nik = new_nik()
    email = f"dewi.{nik[-4:]}@bpk.go.id"
    body = {"nik": nik, "nama": "Dewi Lestari", "email": email, "passphrase": "pilihan-aplikasi"}
    resp = post_json(http, "/api/v2/user/registration", creds, body)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["activation"]["enrolment_code_sent_to"] == email
    assert pki.store.get_subscriber(nik).passphrase_hash is None
    issue_for(pki.issuer, pki.backend, key=nik, ca=pki.issuing, actor="test")
    refused = sign_v2(http, creds, nik, passphrase="pilihan-aplikasi")
    assert refused.status_code == 400 and refused.get_json()["status_code"] == 2031
    (code,) = enrolment_codes(pki, email)
    assert code not in resp.get_data(as_text=True)
    # The page, in either language; the code works once.
    http.set_cookie("lang", "en")
    assert "Set your signing passphrase" in http.get("/passphrase").get_data(as_text=True)
    http.set_cookie("lang", "id")
    page = http.get("/passphrase").get_data(as_text=True)
    assert "Tetapkan passphrase tanda tangan" in page
    done = set_passphrase_on_page(http, code, "hanya-dewi-yang-tahu")
    assert done.status_code == 200 and 'id="pass-done"' in done.get_data(as_text=True)
    again = set_passphrase_on_page(http, code, "orang-lain-mencoba")
    assert again.status_code == 400 and 'id="pass-error"' in again.get_data(as_text=True)
    assert_signed(sign_v2(http, creds, nik, passphrase="hanya-dewi-yang-tahu"), tmp_path)
    dump = database_text(pki)
    assert "pilihan-aplikasi" not in dump and "hanya-dewi-yang-tahu" not in dump
    events = pki.store.audit.list(limit=10_000)
    assert any(
        e.action == "subscriber.passphrase_set" and e.actor == f"subscriber:{nik}" for e in events
    )


def test_the_passphrase_page_refuses_bad_input(http, pki):
    from tests.web_support import set_passphrase_on_page

    p = new_person(pki, passphrase=None)
    (code,) = enrolment_codes(pki, p.email)

    def error(resp) -> str:
        assert resp.status_code == 400
        return resp.get_data(as_text=True).split('id="pass-error">')[1].split("<")[0]

    assert "8" in error(set_passphrase_on_page(http, code, "pendek"))
    assert error(set_passphrase_on_page(http, code, "panjang-sekali", "berbeda-sekali"))
    assert error(set_passphrase_on_page(http, code, "x" * 257))
    assert error(set_passphrase_on_page(http, "A" * 10_000, "cukup-panjang-1"))
    no_csrf = http.post("/passphrase", data={"code": code, "passphrase": "cukup-panjang-1"})
    assert no_csrf.status_code == 400
    # An expired code is refused; none of this spent the live one before it expired.
    with pki.store.session() as s:
        s.execute(
            update(EnrolmentCode)
            .where(EnrolmentCode.subscriber_id == pki.store.get_subscriber(p.nik).id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert error(set_passphrase_on_page(http, code, "cukup-panjang-1"))
    assert pki.store.get_subscriber(p.nik).passphrase_hash is None


def test_an_enrolment_code_sets_one_passphrase_even_when_posted_concurrently(pki):
    from concurrent.futures import ThreadPoolExecutor

    from signing_api.enrolment import EnrolmentError, redeem

    p = new_person(pki, passphrase=None)
    (code,) = enrolment_codes(pki, p.email)

    def attempt(i: int) -> str | None:
        try:
            redeem(pki.store, code, f"passphrase-ke-{i}")
            return f"passphrase-ke-{i}"
        except EnrolmentError:
            return None

    with ThreadPoolExecutor(4) as pool:
        won = [w for w in pool.map(attempt, range(4)) if w]
    assert len(won) == 1
    from ca_core.passwords import verify_secret

    assert verify_secret(won[0], pki.store.get_subscriber(p.nik).passphrase_hash or "")


def test_codes_leave_the_outbox_when_taken_or_expired_and_cannot_be_read_after(
    http, pki, env, creds
):
    from ca_core.notifier import sweep, take

    p = new_person(pki)
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    (code,) = outbox_codes(pki, p.email)
    # The gateway takes it: handed out once, and gone from the table.
    taken = [m for m in take(pki.store, limit=10_000) if m.recipient == p.email]
    assert any(code in m.body for m in taken)
    assert outbox_bodies(pki, p.email) == []
    assert take(pki.store) == []
    # One nobody takes is removed by the sweep once expired, not before.
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    (late,) = outbox_codes(pki, p.email)
    sweep(pki.store)
    assert outbox_codes(pki, p.email) == [late]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SigningConfig().totp_seconds + 1)
    assert sweep(pki.store, later) >= 1
    assert outbox_bodies(pki, p.email) == []
    assert code not in database_text(pki) and late not in database_text(pki)
    if env[1].startswith("sqlite"):
        # Nor in the bytes of the database file or its log (secure_delete, checkpoint).
        path = Path(env[1].removeprefix("sqlite:///"))
        for f in (path, Path(f"{path}-wal")):
            if f.exists():
                data = f.read_bytes()
                assert f"Kode TOTP Anda: {code}".encode() not in data
                assert f"Kode TOTP Anda: {late}".encode() not in data


def test_registration_then_duplicate_is_4024(http, pki, creds):
    from tests.web_support import new_nik

    nik = new_nik()
    body = {"nik": nik, "nama": "Dewi Lestari", "email": f"dewi.{nik[-4:]}@bpk.go.id"}
    resp = post_json(http, "/api/v2/user/registration", creds, body)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "NEW"
    again = post_json(http, "/api/v2/user/registration", creds, body)
    assert again.status_code == 409 and again.get_json()["status_code"] == 4024
    missing = post_json(http, "/api/v2/user/registration", creds, {"nik": nik})
    assert missing.status_code == 400 and missing.get_json()["status_code"] == 4014
    bad = post_json(http, "/api/v2/user/registration", creds, {**body, "nik": "12", "email": "x"})
    assert bad.get_json()["status_code"] == 4015
    status = post_json(http, "/api/v2/user/check/status", creds, {"nik": nik}).get_json()
    assert status["status"] == "NEW"


# --- validation: 4xx with a code, never a 500 ----------------------------------------------------


def test_v1_sign_validation_errors(http, creds, signer):
    def code(resp) -> tuple[int, int]:
        return resp.status_code, resp.get_json()["status_code"]

    form = {"nik": signer.nik, "passphrase": PASSPHRASE}
    post = lambda data: http.post(  # noqa: E731
        "/api/sign/pdf", data=data, headers=creds.headers, content_type="multipart/form-data"
    )
    assert code(post(form)) == (400, 4014)  # no file
    assert code(post({"file": pdf_upload(), "passphrase": PASSPHRASE})) == (400, 4014)
    assert code(post({"file": pdf_upload(), "nik": signer.nik})) == (400, 4014)
    assert code(post({**form, "file": pdf_upload(b"not a pdf at all")})) == (400, 4015)
    assert code(post({**form, "file": pdf_upload(), "nik": "1" * 17})) == (400, 4015)
    visible = {**form, "tampilan": "visible", "image": "false", "linkQR": "https://x.id/d/1"}
    assert code(post({**visible, "file": pdf_upload()})) == (400, 4014)  # no coordinates
    assert code(post({**visible, "file": pdf_upload(), "tag_koordinat": "##"})) == (400, 4015)
    no_qr = {**form, "tampilan": "visible", "image": "false", "tag_koordinat": "#"}
    assert code(post({**no_qr, "file": pdf_upload()})) == (400, 4014)
    no_img = {**form, "tampilan": "visible", "image": "true", "tag_koordinat": "#"}
    assert code(post({**no_img, "file": pdf_upload()})) == (400, 4014)
    coords = {**visible, "xAxis": "a", "yAxis": "1", "width": "1", "height": "1"}
    assert code(post({**coords, "file": pdf_upload()})) == (400, 4015)
    assert code(post({**form, "file": pdf_upload(), "tampilan": "sideways"})) == (400, 4015)
    assert code(post({**form, "file": pdf_upload(), "halaman": "TENGAH"})) == (400, 4015)
    assert code(post({**form, "file": pdf_upload(), "level": "B-X"})) == (400, 4015)
    assert code(post({**form, "file": pdf_upload(), "nik": "3174999999999998"})) == (404, 2011)


def test_v2_validation_errors(http, creds, signer):
    def code(body) -> tuple[int, int]:
        resp = post_json(http, "/api/v2/sign/pdf", creds, body)
        return resp.status_code, resp.get_json()["status_code"]

    pdf = b64(minimal_pdf())
    ok = {"nik": signer.nik, "passphrase": PASSPHRASE, "file": [pdf]}
    assert code({**ok, "file": []}) == (400, 4014)
    assert code({"nik": signer.nik, "file": [pdf]}) == (400, 4014)
    assert code({"passphrase": PASSPHRASE, "file": [pdf]}) == (400, 4014)
    assert code({**ok, "file": ["%%%not base64"]}) == (400, 4015)
    assert code({**ok, "file": [b64(b"GIF89a")]}) == (400, 4015)
    assert code({**ok, "file": 7}) == (400, 4015)
    assert code({**ok, "nik": {"x": 1}}) == (400, 4015)
    assert code({**ok, "signatureProperties": "visible"}) == (400, 4015)
    two = {**ok, "file": [pdf, pdf, pdf], "signatureProperties": [{}, {}]}
    assert code(two) == (400, 4015)
    vis = {"tampilan": "VISIBLE", "imageBase64": b64(b"\x89PNG...")}
    assert code({**ok, "signatureProperties": [vis]}) == (400, 4014)  # no originX…
    assert code({**ok, "signatureProperties": [{**vis, "imageBase64": "@@"}]}) == (400, 4015)
    assert code({**ok, "file": [pdf] * 51}) == (400, 4015)  # signing.max_files
    resp = http.post(
        "/api/v2/sign/pdf", data="{not json", headers=creds.headers, content_type="application/json"
    )
    assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015
    resp = http.post("/api/v2/sign/pdf", data="[]", headers=creds.headers)
    assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015


def test_a_body_over_the_limit_is_413_json(pki, env, creds):
    app = make_esign_app(pki, env[1])
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    http = app.test_client()
    big = {"nik": "3174000000000001", "passphrase": "x", "file": ["A" * 100_000]}
    resp = post_json(http, "/api/v2/sign/pdf", creds, big)
    assert resp.status_code == 413 and resp.get_json()["status_code"] == 4130
    form = {"file": pdf_upload(b"%PDF-1.7\n" + b"0" * 100_000), "nik": "1", "passphrase": "x"}
    resp = http.post(
        "/api/sign/pdf", data=form, headers=creds.headers, content_type="multipart/form-data"
    )
    assert resp.status_code == 413 and resp.get_json()["status_code"] == 4130


# --- activation: passphrase, lockout --------------------------------------------------------------


def test_lockout_after_five_failures_survives_a_restart_and_expires(
    http, pki, env, creds, tmp_path
):
    p = new_person(pki)
    for attempt in range(1, 5):
        resp = sign_v2(http, creds, p.nik, passphrase=f"salah-{attempt}")
        assert resp.status_code == 400, resp.get_json()
        body = resp.get_json()
        assert body["status_code"] == 2031 and body["attempts_left"] == 5 - attempt
        assert "salah-" not in resp.get_data(as_text=True)
    fifth = sign_v1(http, creds, p.nik, passphrase="salah-5")
    assert fifth.status_code == 423
    body = fifth.get_json()
    assert body["status_code"] == 2031 and body["locked"] is True and body["retry_after"] > 0
    # The right passphrase does not help while locked; nor does a new app instance (restart).
    assert sign_v2(http, creds, p.nik).status_code == 423
    restarted = make_esign_app(pki, env[1]).test_client()
    resp = sign_v1(restarted, creds, p.nik)
    assert resp.status_code == 423 and resp.get_json()["locked"] is True
    # Every failure is an audit event; no passphrase anywhere in the database.
    events = pki.store.audit.list(limit=10_000, action="sign.activation_failed")
    mine = [e for e in reversed(events) if e.object == f"subscriber:{p.nik}"]
    assert [e.details["attempts"] for e in mine] == [1, 2, 3, 4, 5]
    assert mine[-1].details["locked"] is True and mine[0].details["method"] == "passphrase"
    dump = database_text(pki)
    assert "salah-" not in dump and PASSPHRASE not in dump
    # Once the lock has run out the right passphrase works again and resets the counters.
    sub_id = pki.store.get_subscriber(p.nik).id
    with pki.store.session() as s:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        s.execute(
            update(ActivationFailure)
            .where(ActivationFailure.subscriber_id == sub_id)
            .values(locked_until=past)
        )
    assert_signed(sign_v1(restarted, creds, p.nik), tmp_path)
    row = pki.store.get_subscriber(p.nik)
    assert row.failed_attempts == 0 and row.locked_until is None
    assert channel_counts(pki, p.nik) == {}


def channel_counts(pki: Pki, nik: str) -> dict[str, int]:
    """Failed activations of ``nik`` per channel (client app or CLI)."""
    sub_id = pki.store.get_subscriber(nik).id
    with pki.store.session() as s:
        rows = s.execute(
            select(ActivationFailure).where(ActivationFailure.subscriber_id == sub_id)
        ).scalars()
        return {r.channel: r.failed_attempts for r in rows}


def status_v1(http, creds, nik: str) -> dict:
    return http.get(f"/api/user/status/{nik}", headers=creds.headers).get_json()


def status_v2(http, creds, nik: str) -> dict:
    return post_json(http, "/api/v2/user/check/status", creds, {"nik": nik}).get_json()


def test_one_apps_wrong_guesses_lock_out_only_that_app(http, pki, creds, tmp_path):
    """The NIK is public: app B guessing must not stop the signer signing through app A."""
    p = new_person(pki)
    app_b = new_client(pki)
    for _ in range(4):
        assert sign_v2(http, app_b, p.nik, passphrase="tebakan-b").status_code == 400
    resp = sign_v2(http, app_b, p.nik, passphrase="tebakan-b")
    assert resp.status_code == 423 and resp.get_json()["locked"] is True
    assert sign_v2(http, app_b, p.nik).status_code == 423  # B is out, even with the right one
    # A is not: its status says ISSUE, and the signer signs through it.
    assert status_v1(http, creds, p.nik)["status_code"] == 1111
    assert status_v2(http, creds, p.nik)["status"] == "ISSUE"
    assert_signed(sign_v2(http, creds, p.nik), tmp_path)
    # B is told the signer cannot sign through it, and until when.
    for answer in (status_v1(http, app_b, p.nik), status_v2(http, app_b, p.nik)):
        assert answer["status_code"] == 1112 and answer["status"] == "LOCKED", answer
        assert dt.datetime.fromisoformat(answer["locked_until"]) > dt.datetime.now(dt.UTC)
    assert channel_counts(pki, p.nik) == {f"client:{pki.store.get_client(app_b.username).id}": 5}


def test_many_apps_reach_the_signer_wide_limit_which_locks_all_and_tells_the_signer(
    pki, env, creds
):
    app = make_esign_app(pki, env[1], SigningConfig(max_failures=2, max_failures_signer=5))
    http = app.test_client()
    p = new_person(pki)
    guessers = [new_client(pki) for _ in range(3)]
    answers = [
        sign_v2(http, g, p.nik, passphrase=f"tebak-{i}").status_code
        for g in guessers
        for i in range(2)
    ]
    assert answers == [400, 423, 400, 423, 423, 423]
    # Five failures in all: now every app, the signer's own included, is refused ...
    assert sign_v2(http, creds, p.nik).status_code == 423
    for answer in (status_v1(http, creds, p.nik), status_v2(http, creds, p.nik)):
        assert answer["status"] == "LOCKED" and answer["status_code"] == 1112, answer
        assert "locked_until" in answer
    # ... and the signer has been told, once.
    notices = [b for b in outbox_bodies(pki, p.email) if "dikunci" in b]
    assert len(notices) == 1 and "tebak" not in notices[0]
    events = pki.store.audit.list(limit=10_000, action="sign.activation_failed")
    mine = [e for e in events if e.object == f"subscriber:{p.nik}"]
    assert max(e.details["signer_attempts"] for e in mine) == 5
    assert any(e.details["signer_locked"] for e in mine)


def test_one_patient_app_never_reaches_the_signer_wide_limit(pki, env, creds, tmp_path):
    """An app that waits out its own lockout again and again starts from zero each time."""
    app = make_esign_app(pki, env[1], SigningConfig(max_failures=2, max_failures_signer=3))
    http = app.test_client()
    p = new_person(pki)
    patient = new_client(pki)
    for _round in range(3):
        answers = [sign_v2(http, patient, p.nik, passphrase="sabar").status_code for _ in range(2)]
        assert answers == [400, 423]
        with pki.store.session() as s:  # its lock runs out
            s.execute(
                update(ActivationFailure)
                .where(ActivationFailure.subscriber_id == pki.store.get_subscriber(p.nik).id)
                .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
    assert pki.store.get_subscriber(p.nik).locked_until is None
    assert status_v2(http, creds, p.nik)["status"] == "ISSUE"
    assert_signed(sign_v2(http, creds, p.nik), tmp_path)


def test_lockout_time_and_count_come_from_the_config(pki, env, creds):
    app = make_esign_app(pki, env[1], SigningConfig(max_failures=2, lockout_minutes=1))
    http = app.test_client()
    p = new_person(pki)
    assert sign_v2(http, creds, p.nik, passphrase="salah-a").status_code == 400
    resp = sign_v2(http, creds, p.nik, passphrase="salah-b")
    assert resp.status_code == 423 and 0 < resp.get_json()["retry_after"] <= 60


def test_a_success_resets_the_failure_count(http, pki, creds, tmp_path):
    p = new_person(pki)
    for _ in range(4):
        assert sign_v2(http, creds, p.nik, passphrase="salah-lagi").status_code == 400
    assert_signed(sign_v2(http, creds, p.nik), tmp_path)
    resp = sign_v2(http, creds, p.nik, passphrase="salah-lagi")
    assert resp.get_json()["attempts_left"] == 4


# --- activation: one-time codes -------------------------------------------------------------------


def test_totp_goes_to_the_outbox_is_single_use_and_bound_to_the_request(
    http, pki, creds, tmp_path, caplog
):
    p = new_person(pki)
    resp = post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 2})
    assert resp.status_code == 200 and resp.get_json()["result"] is True
    (code,) = outbox_codes(pki, p.email)
    assert code not in resp.get_data(as_text=True) and len(code) == 6
    # Only an HMAC is stored next to the code's metadata; the audit log has no code.
    with pki.store.engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM activation_codes ORDER BY id DESC")).mappings().first()
        )
    assert code not in str(dict(row)) and row["documents"] == 2
    assert all(code not in str(e.details) for e in pki.store.audit.list(limit=10_000))
    assert all(code not in r.getMessage() for r in caplog.records)
    # Issued for two files: one file does not fit (and uses the code up).
    resp = sign_v2(http, creds, p.nik, n=1, totp=code)
    assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015
    assert sign_v2(http, creds, p.nik, n=2, totp=code).get_json()["status_code"] == 2031
    # A fresh code signs exactly its two files, once.
    post_json(http, "/api/v2/sign/get/totp", creds, {"email": p.email, "data": 2})
    code2 = outbox_codes(pki, p.email)[-1]
    assert_signed(sign_v2(http, creds, p.nik, n=2, totp=code2), tmp_path, n=2)
    again = sign_v2(http, creds, p.nik, n=2, totp=code2)
    assert again.status_code == 400 and again.get_json()["status_code"] == 2031
    # A code belongs to the client app that asked for it.
    other = new_client(pki)
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    code3 = outbox_codes(pki, p.email)[-1]
    assert sign_v2(http, other, p.nik, n=1, totp=code3).get_json()["status_code"] == 2031


def test_a_database_reader_cannot_brute_force_a_live_totp(http, pki, creds, tmp_path):
    """The row of a live code (salt and digest) is all a database reader has: trying every
    6-digit code under the row's salt (the old salt-keyed HMAC) no longer finds it, since the
    MAC key stays in the HSM. The code itself still signs."""
    import hmac

    p = new_person(pki)
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    (code,) = outbox_codes(pki, p.email)
    with pki.store.engine.connect() as conn:
        row = (
            conn.execute(text("SELECT salt, code_hmac FROM activation_codes ORDER BY id DESC"))
            .mappings()
            .first()
        )
    salt, stored = row["salt"].encode(), row["code_hmac"]
    found = [
        c
        for c in (f"{n:06d}" for n in range(10**6))
        if hmac.digest(salt, c.encode(), "sha256").hex() == stored
    ]
    assert found == []
    assert_signed(sign_v2(http, creds, p.nik, n=1, totp=code), tmp_path)


def test_without_the_hsm_totps_fail_closed_uncounted_and_unspent(env, http, pki, creds, tmp_path):
    """The code MAC needs the token: while it is away a code is neither issued nor checked
    (503, status 5030), the signer is not charged a failed attempt and the code survives."""
    from hsm.pin import PinSource
    from hsm.pkcs11_backend import Pkcs11Backend

    p = new_person(pki)
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    (code,) = outbox_codes(pki, p.email)
    outage = make_esign_app(pki, env[1])
    away = Pkcs11Backend(pki.backend.module, "no-such-token", PinSource.literal("0000"))
    outage.extensions["psre"].__dict__["backend"] = away
    down = outage.test_client()
    resp = post_json(down, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    assert resp.status_code == 503 and resp.get_json()["status_code"] == 5030
    assert outbox_codes(pki, p.email) == [code]  # nothing sent, the live code not voided
    resp = sign_v2(down, creds, p.nik, n=1, totp=code)
    assert resp.status_code == 503 and resp.get_json()["status_code"] == 5030
    assert channel_counts(pki, p.nik) == {}
    assert_signed(sign_v2(http, creds, p.nik, n=1, totp=code), tmp_path)


def test_a_totp_of_another_app_is_refused_without_counting_or_spending_it(
    http, pki, creds, tmp_path
):
    p = new_person(pki)
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    (code,) = outbox_codes(pki, p.email)
    thief = new_client(pki)
    for _ in range(8):
        resp = sign_v2(http, thief, p.nik, n=1, totp=code)
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["status_code"] == 2031 and resp.get_json()["counted"] is False
    assert channel_counts(pki, p.nik) == {}
    assert pki.store.get_subscriber(p.nik).failed_attempts == 0
    # Not spent either: the app it was issued to signs with it.
    assert_signed(sign_v2(http, creds, p.nik, n=1, totp=code), tmp_path)


def test_a_newer_totp_voids_the_older_one(http, pki, creds):
    p = new_person(pki)
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 1})
    first, _second = outbox_codes(pki, p.email)
    resp = sign_v2(http, creds, p.nik, n=1, totp=first)
    assert resp.get_json()["status_code"] == 2031


def test_totp_needs_a_signer_who_may_sign(http, pki, creds):
    fresh = new_person(pki, issue=False)
    resp = post_json(http, "/api/v2/sign/get/totp", creds, {"nik": fresh.nik, "data": 1})
    assert resp.status_code == 403 and resp.get_json()["status_code"] == 2021
    resp = post_json(http, "/api/v2/sign/get/totp", creds, {"nik": "3174999999999997"})
    assert resp.status_code == 404 and resp.get_json()["status_code"] == 2011
    assert outbox_codes(pki, fresh.email) == []
    bad = post_json(http, "/api/v2/sign/get/totp", creds, {"nik": fresh.nik, "data": 0})
    assert bad.get_json()["status_code"] == 4015


# --- documents ------------------------------------------------------------------------------------


def test_download_once_then_4044(http, pki, creds, signer):
    client_id = pki.store.get_client(creds.username).id
    sub = pki.store.get_subscriber(signer.nik)
    doc_id = documents.keep(pki.store, client_id, sub.id, "surat.pdf", b"%PDF-1.7 signed", 60)
    other = new_client(pki)
    resp = http.get(f"/api/sign/download/{doc_id}", headers=other.headers)
    assert resp.status_code == 404 and resp.get_json()["status_code"] == 4040
    resp = http.get(f"/api/sign/download/{doc_id}", headers=creds.headers)
    assert resp.status_code == 200 and resp.get_data() == b"%PDF-1.7 signed"
    assert resp.mimetype == "application/pdf" and resp.headers["id_dokumen"] == doc_id
    resp = http.get(f"/api/sign/download/{doc_id}", headers=creds.headers)
    assert resp.status_code == 404 and resp.get_json()["status_code"] == 4044
    # The bytes are gone from the database, the hash stays.
    with pki.store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT data, sha256 FROM signed_documents WHERE document_id = :d"), {"d": doc_id}
        ).one()
    assert row.data is None and len(row.sha256) == 64
    unknown = http.get("/api/sign/download/feedface", headers=creds.headers)
    assert unknown.status_code == 404 and unknown.get_json()["status_code"] == 4040


def test_an_expired_document_is_4044(http, pki, creds, signer):
    client_id = pki.store.get_client(creds.username).id
    sub = pki.store.get_subscriber(signer.nik)
    doc_id = documents.keep(pki.store, client_id, sub.id, "a.pdf", b"%PDF-1.7 x", 60)
    with pki.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE signed_documents SET expires_at = :t WHERE document_id = :d"),
            {"t": dt.datetime(2020, 1, 1), "d": doc_id},
        )
    resp = http.get(f"/api/sign/download/{doc_id}", headers=creds.headers)
    assert resp.status_code == 404 and resp.get_json()["status_code"] == 4044


def test_v1_sign_returns_the_pdf_and_an_id_for_one_download(http, creds, signer, tmp_path):
    resp = sign_v1(http, creds, signer.nik, reason="Menyetujui", location="Jakarta")
    pdfs = assert_signed(resp, tmp_path)
    if pdfs:
        doc_id = resp.headers["id_dokumen"]
        again = http.get(f"/api/sign/download/{doc_id}", headers=creds.headers)
        assert again.status_code == 200 and again.get_data() == pdfs[0]
        gone = http.get(f"/api/sign/download/{doc_id}", headers=creds.headers)
        assert gone.get_json()["status_code"] == 4044


def test_v2_bulk_with_one_or_per_file_properties(http, creds, signer, tmp_path):
    one = {"tampilan": "INVISIBLE", "reason": "Bulk", "location": "Jakarta"}
    resp = sign_v2(http, creds, signer.nik, n=3, signatureProperties=[one])
    assert_signed(resp, tmp_path, n=3)
    per_file = [one, {**one, "level": "B-B"}]
    resp = sign_v2(http, creds, signer.nik, n=2, signatureProperties=per_file)
    assert_signed(resp, tmp_path, n=2)


# --- verification ---------------------------------------------------------------------------------


def test_verify_v1_and_v2_shapes(http, pki, creds):
    s = signed_pdf(pki, name="Siti Rahayu", text="Nota Dinas")
    resp = http.post(
        "/api/sign/verify",
        data={"signed_file": pdf_upload(s.pdf, "nota.pdf")},
        headers=creds.headers,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    v1 = resp.get_json()
    assert v1["nama_dokumen"] == "nota.pdf" and v1["jumlah_signature"] == 1
    assert v1["summary"] == "DOCUMENT VALID !!!" and v1["verdict"] == "VALID"
    d = v1["details"][0]
    assert d["signature_field"] == "Signature1"
    assert d["info_signer"]["signer_name"] == "Siti Rahayu"
    assert "PSrE Uji Issuing CA" in d["info_signer"]["issuer_dn"]
    assert d["info_signer"]["cert_user_certified"] is True
    assert d["signature_document"]["document_integrity"] is True
    assert set(d) >= {"signature_field", "info_signer", "info_tsa", "signature_document"}

    v2 = post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(s.pdf)}).get_json()
    assert v2["conclusion"] == "VALID" and v2["signatureCount"] == 1
    info = v2["signatureInformations"][0]
    assert info["signerName"] == "Siti Rahayu" and info["integrityValid"] is True
    assert info["certificateTrusted"] is True and info["lastSignature"] is True
    assert info["signatureFormat"] == "PAdES-BASELINE-B"
    assert "timestampInfomation" in info
    assert info["certificateDetails"] and "signatureAlgoritm" in info["certificateDetails"][0]

    tampered = s.pdf.replace(b"Nota Dinas", b"Nota Palsu")
    v2 = post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(tampered)}).get_json()
    assert v2["conclusion"] == "INVALID"
    v2 = post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(minimal_pdf())}).get_json()
    assert v2["conclusion"] == "NO_SIGNATURE" and v2["signatureCount"] == 0
    bad = post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(b"%PDF-1.7 garbage")})
    assert bad.status_code == 400 and bad.get_json()["status_code"] == 4015
    assert post_json(http, "/api/v2/verify/pdf", creds, {}).get_json()["status_code"] == 4014


def _verify_v1(http, creds, pdf: bytes, name: str = "surat.pdf") -> dict:
    resp = http.post(
        "/api/sign/verify",
        data={"signed_file": pdf_upload(pdf, name)},
        headers=creds.headers,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _conforms(answer: object, schema: dict, spec: dict, where: str = "$") -> None:
    """``answer`` has every field ``schema`` requires, only fields it declares, and the declared
    JSON types (nullable where it says so); enums hold."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    types = schema.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    names = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object"}
    if types:
        assert names.get(type(answer), "null") in types, (where, answer, types)
    if "enum" in schema:
        assert answer in schema["enum"], (where, answer)
    if isinstance(answer, dict) and "properties" in schema:
        assert set(schema.get("required", [])) <= set(answer), (where, sorted(answer))
        extra = set(answer) - set(schema["properties"])
        assert not extra, (where, extra)
        for key, value in answer.items():
            _conforms(value, schema["properties"][key], spec, f"{where}.{key}")
    if isinstance(answer, list) and "items" in schema:
        for i, item in enumerate(answer):
            _conforms(item, schema["items"], spec, f"{where}[{i}]")


def test_verify_v1_answers_as_bsre(http, pki, creds, signer, tmp_path):
    """BSrE's strings, nulls and formats, as the samples of its client libraries show them;
    psre's verdict in extra fields; every answer as the OpenAPI document declares it."""
    from signing_api import verify_shapes as shapes

    spec = http.get("/api/openapi.json").get_json()
    schema = spec["paths"]["/api/sign/verify"]["post"]["responses"]["200"]["content"]
    schema = schema["application/json"]["schema"]
    bsre_time = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d\d"

    (lt,) = assert_signed(sign_v1(http, creds, signer.nik, level="B-LT"), tmp_path)
    answer = _verify_v1(http, creds, lt, "surat.pdf")
    _conforms(answer, schema, spec)
    assert answer["summary"] == "DOCUMENT VALID !!!" and answer["jumlah_signature"] == 1
    assert answer["notes"] == (
        "Tanda tangan elektronik valid dan dokumen merupakan dokumen asli sejak ditandatangani"
    )
    (d,) = answer["details"]
    assert re.fullmatch(f"{bsre_time} to {bsre_time}", d["info_signer"]["signer_cert_validity"])
    assert re.fullmatch(f"{bsre_time} to {bsre_time}", d["info_tsa"]["tsa_cert_validity"])
    assert re.fullmatch(bsre_time, d["signature_document"]["signed_in"])
    assert d["signature_document"]["signed_using_tsa"] is True and d["level"] == "B-LT"

    bb = post_json(
        http, "/api/v2/sign/pdf", creds,
        {"nik": signer.nik, "passphrase": PASSPHRASE, "file": [b64(minimal_pdf("Memo"))],
         "signatureProperties": [{"tampilan": "INVISIBLE", "level": "B-B"}]},
    )  # fmt: skip
    (bb_pdf,) = [base64.b64decode(f) for f in bb.get_json()["file"]]
    answer = _verify_v1(http, creds, bb_pdf)
    _conforms(answer, schema, spec)
    assert answer["summary"] == "DOCUMENT VALID !!!" and answer["notes"] == shapes.NOTE_VALID_NO_TSA
    (d,) = answer["details"]
    assert d["info_tsa"] == {"name": None, "tsa_cert_validity": "null to null"}
    assert d["signature_document"]["signed_using_tsa"] is False

    tampered = with_changed_page(lt, b"BT /F1 18 Tf 72 700 Td (Palsu) Tj ET")
    answer = _verify_v1(http, creds, tampered)
    _conforms(answer, schema, spec)
    assert answer["summary"] == "DOCUMENT NOT VALID !!!" and answer["verdict"] == "INVALID"
    assert answer["notes"] == "Konten Dokumen mengalami perubahan oleh pihak yang tidak berhak"

    answer = _verify_v1(http, creds, minimal_pdf(), "remote.pdf")
    _conforms(answer, schema, spec)
    assert answer == {
        "nama_dokumen": "remote.pdf",
        "jumlah_signature": 0,
        "notes": None,
        "summary": None,
        "details": [],
        "verdict": "NO_SIGNATURE",
    }


# --- agency seals ---------------------------------------------------------------------------------


def test_seal_activation_totp_seal_and_revocation(http, pki, creds, tmp_path):
    agency = new_agency(pki)
    url = "/api/v2/seal/get/activation"
    wrong = post_json(http, url, creds, {"idSubscriber": agency.org_id, "passphrase": "salah"})
    assert wrong.status_code == 400 and wrong.get_json()["status_code"] == 2031
    act = post_json(http, url, creds, {"idSubscriber": agency.org_id, "passphrase": PASSPHRASE})
    assert act.status_code == 200, act.get_json()
    token = act.get_json()["totp"]
    assert token and act.get_json()["result"] is True and act.get_json()["expires"]

    def seal_code(tok: str, n: int = 1, c=creds):
        body = {"idSubscriber": agency.org_id, "activation": tok, "data": n}
        return post_json(http, "/api/v2/seal/get/totp", c, body)

    def seal(code: str, n: int = 1, c=creds):
        files = [b64(minimal_pdf(f"segel {i}")) for i in range(n)]
        body = {"idSubscriber": agency.org_id, "totp": code, "file": files}
        return post_json(http, "/api/v2/seal/pdf", c, body)

    code = seal_code(token, 2).get_json()["totp"]
    assert_signed(seal(code, 2), tmp_path, n=2)
    assert seal(code, 2).get_json()["status_code"] == 2031  # single use
    # Another client app cannot use this app's activation.
    other = new_client(pki)
    assert seal_code(token, c=other).get_json()["status_code"] == 2031
    # Refresh: the old token stops working, the new one works.
    refreshed = post_json(http, url, creds, {"idSubscriber": agency.org_id, "totp": token})
    new_token = refreshed.get_json()["totp"]
    assert new_token != token
    assert seal_code(token).get_json()["status_code"] == 2031
    pending = seal_code(new_token).get_json()["totp"]
    # Revoking voids the activation and its unused codes.
    rv = post_json(http, "/api/v2/seal/revoke/activation", creds, {"idSubscriber": agency.org_id})
    assert rv.status_code == 200 and rv.get_json()["result"] is True
    assert rv.get_json()["totp"] is None
    assert seal(pending).get_json()["status_code"] == 2031
    assert seal_code(new_token).get_json()["status_code"] == 2031
    # Tokens are stored only as hashes; seal events are audited.
    dump = database_text(pki)
    assert token not in dump and new_token not in dump
    events = pki.store.audit.list(limit=10_000)
    actions = {e.action for e in events if e.object == f"subscriber:{agency.org_id}"}
    assert {"seal.activate", "seal.revoke", "seal.code_issued"} <= actions


def test_seal_endpoints_refuse_people_and_unknown_agencies(http, pki, creds, signer):
    url = "/api/v2/seal/get/activation"
    resp = post_json(http, url, creds, {"idSubscriber": "NTRID-NOPE", "passphrase": PASSPHRASE})
    assert resp.status_code == 404 and resp.get_json()["status_code"] == 2011
    assert post_json(http, url, creds, {}).get_json()["status_code"] == 4014
    assert sign_v2(http, creds, signer.nik).status_code == 200  # a person signs
    agency = new_agency(pki)
    resp = post_json(
        http,
        "/api/v2/sign/pdf",
        creds,
        {"email": agency.email, "passphrase": PASSPHRASE, "file": [b64(minimal_pdf())]},
    )
    assert resp.status_code == 403 and resp.get_json()["status_code"] == 2021


# --- rate limit -----------------------------------------------------------------------------------


def test_per_client_rate_limit_is_shared_through_the_database(http, pki, env):
    c = new_client(pki)
    configure_client(pki.store, c.username, level=None, rate_limit=2, actor="test")
    p = new_person(pki)
    assert sign_v2(http, c, p.nik, passphrase="salah-1").status_code == 400
    other_worker = make_esign_app(pki, env[1]).test_client()
    assert sign_v2(other_worker, c, p.nik, passphrase="salah-2").status_code == 400
    resp = sign_v2(http, c, p.nik, passphrase="salah-3")
    assert resp.status_code == 429 and resp.get_json()["status_code"] == 4290
    assert pki.store.get_subscriber(p.nik).failed_attempts == 2  # refused before activation


def test_a_changed_passphrase_takes_effect_at_once(http, pki, creds, tmp_path):
    from ca_core.passwords import hash_secret

    p = new_person(pki)
    assert_signed(sign_v2(http, creds, p.nik), tmp_path)  # now remembered
    with pki.store.session() as s:
        s.execute(
            update(Subscriber)
            .where(Subscriber.nik == p.nik)
            .values(passphrase_hash=hash_secret("passphrase-baru-2026"))
        )
    assert sign_v2(http, creds, p.nik).get_json()["status_code"] == 2031
    resp = sign_v2(http, creds, p.nik, passphrase="passphrase-baru-2026")
    assert_signed(resp, tmp_path)


# --- with the engine: stamps, levels, audit ---------------------------------------------------


def verify_level(http, creds, pdf: bytes) -> list[str]:
    answer = post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(pdf)}).get_json()
    return [s["signatureFormat"] for s in answer["signatureInformations"]]


def test_visible_stamps_qr_image_and_tag(http, creds, signer, tmp_path):
    qr = sign_v1(
        http,
        creds,
        signer.nik,
        tampilan="visible",
        image="false",
        linkQR="https://psre.example.id/verify/1",
        halaman="TERAKHIR",
        xAxis="72",
        yAxis="72",
        width="100",
        height="100",
    )
    assert_signed(qr, tmp_path)
    form = {
        "file": pdf_upload(minimal_pdf("Tanda tangan: #")),
        "nik": signer.nik,
        "passphrase": PASSPHRASE,
        "tampilan": "visible",
        "image": "true",
        "imageTTD": (io.BytesIO(tiny_png()), "ttd.png"),
        "tag_koordinat": "#",
        "width": "80",
        "height": "40",
    }
    resp = http.post(
        "/api/sign/pdf", data=form, headers=creds.headers, content_type="multipart/form-data"
    )
    assert_signed(resp, tmp_path)
    props = {
        "tampilan": "VISIBLE",
        "imageBase64": b64(tiny_png()),
        "page": "1",
        "originX": 300,
        "originY": 100,
        "width": 120,
        "height": 60,
        "reason": "Setuju",
    }
    resp = sign_v2(http, creds, signer.nik, signatureProperties=[props])
    assert_signed(resp, tmp_path)
    # A tag that is not in the text, or a page that does not exist: a clear 4xx.
    missing_tag = {**props, "tag_koordinat": "@"}
    resp = sign_v2(http, creds, signer.nik, signatureProperties=[missing_tag])
    assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015
    far_page = {**props, "page": "9"}
    resp = sign_v2(http, creds, signer.nik, signatureProperties=[far_page])
    assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015


def test_level_from_request_then_client_app_then_config(http, pki, creds, signer, tmp_path):
    app_b = new_client(pki)
    configure_client(pki.store, app_b.username, level="B-B", rate_limit=None, actor="test")

    (by_client,) = assert_signed(sign_v2(http, app_b, signer.nik), tmp_path)
    props = [{"level": "B-T"}]
    (by_request,) = assert_signed(
        sign_v2(http, app_b, signer.nik, signatureProperties=props), tmp_path
    )
    (by_default,) = assert_signed(sign_v2(http, creds, signer.nik), tmp_path)
    assert verify_level(http, creds, by_client) == ["PAdES-BASELINE-B"]
    assert verify_level(http, creds, by_request) == ["PAdES-BASELINE-T"]
    assert verify_level(http, creds, by_default) == ["PAdES-BASELINE-LT"]


def test_every_signature_is_audited_with_the_document_hashes(http, pki, creds, signer, tmp_path):
    import hashlib

    pdfs = assert_signed(sign_v2(http, creds, signer.nik, n=2), tmp_path, n=2)
    events = pki.store.audit.list(limit=2, action="sign.pdf")
    assert {e.details["sha256_out"] for e in events} == {
        hashlib.sha256(p).hexdigest() for p in pdfs
    }
    assert {e.details["sha256_in"] for e in events} == {
        hashlib.sha256(minimal_pdf(f"dokumen {i}")).hexdigest() for i in range(2)
    }
    assert all(e.actor == f"client:{creds.username}" for e in events)
    assert all(e.details["certificate"] == signer.serial_hex for e in events)


def test_concurrent_guesses_are_all_counted_and_a_code_is_used_once(app, pki, creds):
    from concurrent.futures import ThreadPoolExecutor

    p = new_person(pki)
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda i: sign_v2(app.test_client(), creds, p.nik, passphrase=f"tebak-{i}"),
                range(8),
            )
        )
    assert sorted(a.status_code for a in answers) == [400] * 4 + [423] * 4
    # Every guess is audited; the app's count stops at its limit (signing.max_failures).
    events = pki.store.audit.list(limit=10_000, action="sign.activation_failed")
    assert len([e for e in events if e.object == f"subscriber:{p.nik}"]) == 8
    assert list(channel_counts(pki, p.nik).values()) == [5]
    assert pki.store.get_subscriber(p.nik).failed_attempts == 5
    assert sign_v2(app.test_client(), creds, p.nik).status_code == 423

    q = new_person(pki)
    post_json(app.test_client(), "/api/v2/sign/get/totp", creds, {"nik": q.nik, "data": 1})
    (code,) = outbox_codes(pki, q.email)
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: sign_v2(app.test_client(), creds, q.nik, totp=code), range(4))
        )
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]


JUNK = [
    None,
    [],
    "x",
    7,
    {},
    {"file": 1},
    {"file": [None]},
    {"file": [""], "nik": []},
    {"nik": True, "passphrase": 1, "file": ["JVBERi0="]},
    {"nik": "3174000000000001", "totp": ["1"], "file": ["JVBERi0="]},
    {"signatureProperties": [1], "file": ["JVBERi0="], "passphrase": "x", "nik": "1"},
    {"signatureProperties": [{"page": {"a": 1}}], "file": ["JVBERi0="], "passphrase": "x"},
    {"data": "abc", "nik": "3174000000000001"},
    {"data": True, "email": "a@b.id"},
    {"data": 10**30, "nik": "1"},
    {"idSubscriber": 5, "passphrase": None},
    {"idSubscriber": ["NTRID-1"], "activation": {}, "data": -1},
    {"nik": "1" * 16, "nama": 5, "email": []},
    {"password": "x", "file": "not base64 at all!"},
]


def test_junk_never_makes_a_500(app, http, creds):
    posts = [rule for method, rule in api_routes(app) if method == "POST"]
    for rule in posts:
        for body in JUNK:
            resp = http.post(rule, json=body, headers=creds.headers)
            assert resp.status_code < 500, (rule, body, resp.get_data(as_text=True))
            assert isinstance(resp.get_json(), dict)
        resp = http.post(rule, data=b"\xff\xfe", headers=creds.headers)
        assert 400 <= resp.status_code < 500, (rule, resp.get_data(as_text=True))


def test_a_custom_notifier_replaces_the_outbox(pki, env, creds):
    sent: list[tuple[str, str, str]] = []

    class Collect:
        def send(self, recipient: str, subject: str, body: str, expires_at=None) -> None:
            sent.append((recipient, subject, body))

    app = make_esign_app(pki, env[1])
    app.extensions["psre_notifier"] = Collect()
    p = new_person(pki)
    resp = post_json(app.test_client(), "/api/v2/sign/get/totp", creds, {"nik": p.nik, "data": 3})
    assert resp.status_code == 200
    ((recipient, _subject, body),) = sent
    assert recipient == p.email and "3 dokumen" in body
    assert outbox_codes(pki, p.email) == []


def test_b_lt_from_the_api_verifies_with_timestamp_and_ltv(http, creds, signer, tmp_path):
    (pdf,) = assert_signed(sign_v1(http, creds, signer.nik, reason="Setuju"), tmp_path)
    v2 = post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(pdf)}).get_json()
    assert v2["conclusion"] == "VALID"
    (info,) = v2["signatureInformations"]
    assert info["signatureFormat"] == "PAdES-BASELINE-LT" and info["ltv"] is True
    assert info["reason"] == "Setuju" and info["certLevelCode"] == "GOOD"
    assert info["timestampInfomation"]["signerName"] == "PSrE Uji Time-Stamping Authority"
    resp = http.post(
        "/api/sign/verify",
        data={"signed_file": pdf_upload(pdf)},
        headers=creds.headers,
        content_type="multipart/form-data",
    )
    d = resp.get_json()["details"][0]
    assert d["info_tsa"]["name"] == "PSrE Uji Time-Stamping Authority"
    assert d["info_tsa"]["tsa_cert_validity"] and d["signature_document"]["signed_using_tsa"]


def test_password_protected_pdf(http, creds, signer, tmp_path):
    from tests.test_pdf_sign import encrypted_pdf

    doc = b64(encrypted_pdf("buka", "pemilik"))
    body = {"nik": signer.nik, "passphrase": PASSPHRASE, "file": [doc]}
    for props in ([], [{"pdfPassword": "salah"}]):
        resp = post_json(http, "/api/v2/sign/pdf", creds, {**body, "signatureProperties": props})
        assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015
    props = [{"pdfPassword": "buka", "tampilan": "VISIBLE", "tag_koordinat": "#", "linkQR": "x"}]
    resp = post_json(http, "/api/v2/sign/pdf", creds, {**body, "signatureProperties": props})
    assert resp.status_code == 200, resp.get_json()
    signed = base64.b64decode(resp.get_json()["file"][0])
    path = tmp_path / "enc.pdf"
    path.write_bytes(signed)
    out = subprocess.run(["pdfsig", "-upw", "buka", str(path)], capture_output=True, text=True)
    assert "Signature is Valid." in out.stdout, out.stdout + out.stderr
    answer = post_json(
        http, "/api/v2/verify/pdf", creds, {"file": b64(signed), "password": "buka"}
    ).get_json()
    assert answer["conclusion"] == "VALID", answer
    nopw = post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(signed)})
    assert nopw.status_code == 400 and nopw.get_json()["status_code"] == 4015


def test_a_code_issued_for_named_documents_signs_exactly_those(http, pki, creds, tmp_path):
    import hashlib

    p = new_person(pki)
    docs = [minimal_pdf("Surat A"), minimal_pdf("Surat B")]
    hashes = [hashlib.sha256(d).hexdigest() for d in docs]

    def get_code(h: list[str]) -> str:
        resp = post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "hashes": h})
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["data"] == len(h)
        return outbox_codes(pki, p.email)[-1]

    def sign(code: str, files: list[bytes]):
        body = {"nik": p.nik, "totp": code, "file": [b64(f) for f in files]}
        return post_json(http, "/api/v2/sign/pdf", creds, body)

    other = [docs[0], minimal_pdf("Surat C")]
    resp = sign(get_code(hashes), other)
    assert resp.status_code == 400 and resp.get_json()["status_code"] == 4015
    assert_signed(sign(get_code(hashes), list(reversed(docs))), tmp_path, n=2)
    bad = post_json(http, "/api/v2/sign/get/totp", creds, {"nik": p.nik, "hashes": ["ab"]})
    assert bad.status_code == 400 and bad.get_json()["status_code"] == 4015
    body = {"nik": p.nik, "hashes": hashes, "data": 3}
    assert post_json(http, "/api/v2/sign/get/totp", creds, body).get_json()["status_code"] == 4015


def test_a_server_without_a_tsa_unit_answers_500_not_a_client_error(backend, tmp_path, creds):
    from tests.pki_support import build_pki

    url = f"sqlite:///{tmp_path / 'no-tsa.sqlite3'}"
    store = Store.open(url)
    try:
        bare = build_pki(store, backend)  # root and issuing CA, no time-stamping unit
        app = make_esign_app(bare, url)
        c = new_client(bare)
        p = new_person(bare)
        resp = sign_v2(app.test_client(), c, p.nik, signatureProperties=[{"level": "B-T"}])
        assert resp.status_code == 500 and resp.get_json()["status_code"] == 5000
        assert "Traceback" not in resp.get_data(as_text=True)
        resp = sign_v2(app.test_client(), c, p.nik, signatureProperties=[{"level": "B-B"}])
        assert resp.status_code == 200
    finally:
        store.close()


def test_a_fifty_megabyte_pdf_signs_through_v1(http, creds, signer, tmp_path):
    """Large letters with attachments: the multipart upload is spooled, the PDF signed whole."""
    from tests.signing_support import big_pdf

    doc = big_pdf(50 * 1024 * 1024)
    resp = sign_v1(http, creds, signer.nik, file=pdf_upload(doc, "lampiran-besar.pdf"))
    assert resp.status_code == 200, resp.get_data()[:300]
    signed = resp.get_data()
    assert resp.mimetype == "application/pdf" and len(signed) > len(doc)
    pdfsig_ok(tmp_path, signed)
