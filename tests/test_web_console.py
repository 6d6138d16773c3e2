"""The operator console through Flask's test client over the real PKI (SoftHSM, SQLite/PG):
sign-in rules, cookies, CSRF, rate limit, session expiry, roles, and every console action."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
from sqlalchemy import select, update

from ca_core.passwords import verify_secret
from ca_core.store.models import (
    AuditEvent,
    Certificate,
    ClientApplication,
    OperatorSession,
    Subscriber,
)
from tests.esign_support import enrolment_codes, new_person
from tests.web_support import (
    PASSWORD,
    csrf,
    make_app,
    new_nik,
    operator,
    post_form,
    set_passphrase_on_page,
    sign_in,
    signed_pdf,
)


@pytest.fixture
def app(pki, db_url):
    return make_app(pki, db_url)


def _actions(pki, action: str) -> list[AuditEvent]:
    with pki.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _set_cookie_header(resp, name: str) -> str:
    headers = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert headers, f"no {name} cookie set"
    return headers[0]


# --- sign-in, cookies, sessions --------------------------------------------------------------


def test_sign_in_sets_a_strict_http_only_session_cookie_and_is_audited(app, pki):
    name = operator(pki, "ra")
    client = app.test_client()
    assert client.get("/console/").headers["Location"] == "/console/login"
    resp = sign_in(client, name)
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/"
    cookie = _set_cookie_header(resp, "psre_session")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # http base URL: a Secure cookie would never come back
    page = client.get("/console/")
    assert page.status_code == 200 and name in page.get_data(as_text=True)
    [event] = _actions(pki, "operator.login")
    assert event.actor == name and "password" not in event.details.lower()
    # Only the token's hash is stored.
    token = cookie.split(";")[0].split("=", 1)[1]
    with pki.store.session() as s:
        stored = s.scalars(select(OperatorSession.token_sha256)).all()
    assert token not in stored and len(stored) == 1


def test_cookies_are_secure_when_the_site_is_https(pki, db_url):
    app = make_app(pki, db_url, base_url="https://pki.psre-uji.id")
    name = operator(pki, "ra")
    client = app.test_client()
    resp = client.get("/console/login")
    assert "Secure" in _set_cookie_header(resp, "psre_csrf")
    resp = sign_in(client, name)
    assert "Secure" in _set_cookie_header(resp, "psre_session")


def test_wrong_password_and_unknown_name_fail_alike_and_are_audited(app, pki):
    name = operator(pki, "ra")
    client = app.test_client()
    bad = sign_in(client, name, "not the password")
    unknown = sign_in(client, "nobody-here", PASSWORD)
    assert bad.status_code == unknown.status_code == 401
    assert "psre_session" not in str(bad.headers)
    failed = _actions(pki, "operator.login_failed")
    assert [json.loads(e.details)["reason"] for e in failed] == ["bad_credentials"] * 2
    assert client.get("/console/").status_code == 302


def test_login_is_rate_limited_per_name(app, pki):
    name = operator(pki, "ra")
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, name, "wrong password").status_code == 401
    # The right password no longer helps once the limit is reached.
    resp = sign_in(client, name)
    assert resp.status_code == 429
    assert "psre_session" not in str(resp.headers)
    assert len(_actions(pki, "operator.login_throttled")) == 1
    # Another operator is not locked out by it.
    other = operator(pki, "ra")
    assert sign_in(client, other).status_code == 302


@pytest.mark.parametrize(("proxies", "seen"), [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_client_address_comes_from_the_proxy_only_when_configured(pki, db_url, proxies, seen):
    # Behind nginx (server.trusted_proxies = 1) the throttle and the audit log see the client,
    # not the proxy; facing clients directly (0), a client's own X-Forwarded-For is ignored.
    app = make_app(pki, db_url, trusted_proxies=proxies)
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    assert sign_in(client, operator(pki, "ra"), "wrong password").status_code == 401
    failed = _actions(pki, "operator.login_failed")
    assert [json.loads(e.details)["remote_addr"] for e in failed] == [seen]


def test_login_is_rate_limited_per_address(app, pki):
    """Guessing across many names from one address is stopped too (4x the per-name limit)."""
    name = operator(pki, "ra")
    client = app.test_client()
    for i in range(20):
        assert sign_in(client, f"guess-{i}", "wrong password").status_code == 401
    assert sign_in(client, name).status_code == 429
    # The same operator from another address is not blocked.
    other = app.test_client()
    page = other.get("/console/login", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    resp = other.post(
        "/console/login",
        data={"name": name, "password": PASSWORD, "csrf_token": csrf(page.get_data(as_text=True))},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert resp.status_code == 302


def test_disabled_operator_cannot_sign_in_and_loses_open_sessions(app, pki):
    from web.operators import set_enabled

    name = operator(pki, "ra")
    client = app.test_client()
    sign_in(client, name)
    assert client.get("/console/").status_code == 200
    set_enabled(pki.store, name, False, actor="test")
    assert client.get("/console/").status_code == 302
    assert sign_in(client, name).status_code == 401


def test_idle_session_expires(app, pki):
    name = operator(pki, "ra")
    client = app.test_client()
    sign_in(client, name)
    assert client.get("/console/").status_code == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    with pki.store.session() as s:
        s.execute(update(OperatorSession).values(last_seen_at=past))
    resp = client.get("/console/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/login?expired=1"
    with pki.store.session() as s:
        assert s.scalars(select(OperatorSession)).all() == []  # the stale row is gone


def test_activity_is_recorded_at_most_once_per_touch_interval(app, pki):
    """A console page read does not write the session row on every request (that made every
    page a write transaction); activity older than the touch interval is recorded, so an
    operator at work is never taken for idle."""
    from web.operators import touch_interval

    name = operator(pki, "ra")
    client = app.test_client()
    sign_in(client, name)

    def last_seen() -> dt.datetime:
        with pki.store.session() as s:
            return s.scalars(select(OperatorSession.last_seen_at)).one()

    interval = touch_interval(app.extensions["psre"].config.web)
    assert dt.timedelta(0) < interval <= dt.timedelta(minutes=1)
    recent = dt.datetime.now(dt.UTC).replace(microsecond=0) - interval / 2
    with pki.store.session() as s:
        s.execute(update(OperatorSession).values(last_seen_at=recent))
    assert client.get("/console/certificates").status_code == 200
    assert last_seen() == recent  # within the interval: not written
    older = dt.datetime.now(dt.UTC) - interval - dt.timedelta(seconds=5)
    with pki.store.session() as s:
        s.execute(update(OperatorSession).values(last_seen_at=older))
    before = dt.datetime.now(dt.UTC)
    assert client.get("/console/certificates").status_code == 200
    assert last_seen() >= before  # written: idle time counts from this request


def test_session_ends_at_its_absolute_limit_however_active(app, pki):
    name = operator(pki, "ra")
    client = app.test_client()
    sign_in(client, name)
    with pki.store.session() as s:
        s.execute(update(OperatorSession).values(expires_at=dt.datetime.now(dt.UTC)))
    assert client.get("/console/").status_code == 302


def test_logout_ends_the_session(app, pki):
    name = operator(pki, "admin")
    client = app.test_client()
    sign_in(client, name)
    resp = post_form(client, "/console/", "/console/logout", {})
    assert resp.status_code == 302
    assert client.get("/console/").status_code == 302
    assert len(_actions(pki, "operator.logout")) == 1


# --- CSRF ------------------------------------------------------------------------------------


def test_forms_without_the_csrf_token_are_refused(app, pki):
    s = signed_pdf(pki)
    cert = pki.store.find_certificate(s.serial_hex)
    name = operator(pki, "ra")
    client = app.test_client()
    # Login form: no token, and a token that is not the cookie's.
    assert (
        client.post("/console/login", data={"name": name, "password": PASSWORD}).status_code == 400
    )
    client.get("/console/login")
    bad = client.post(
        "/console/login", data={"name": name, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert bad.status_code == 400
    sign_in(client, name)
    # A signed-in revocation without the session's token changes nothing.
    url = f"/console/certificates/{cert.id}/status"
    form = {"action": "revoke", "reason": "keyCompromise", "confirm": "yes"}
    assert client.post(url, data=form).status_code == 400
    # The anonymous cookie's token is not the session's token either.
    anon = client.get_cookie("psre_csrf")
    assert anon is not None
    assert client.post(url, data={**form, "csrf_token": anon.value}).status_code == 400
    assert pki.store.find_certificate(s.serial_hex).status == "good"
    # The public upload form is protected too.
    other = app.test_client()
    assert other.post("/verify", data={}).status_code == 400


# --- roles -----------------------------------------------------------------------------------

PAGES = {
    "/console/": {"ra", "auditor", "admin"},
    "/console/certificates": {"ra", "auditor"},
    "/console/subscribers": {"ra", "auditor"},
    "/console/clients": {"admin"},
    "/console/audit": {"auditor", "admin"},
    "/console/operators": {"admin"},
}


@pytest.mark.parametrize("role", ["ra", "auditor", "admin"])
def test_each_role_sees_only_its_pages(app, pki, role):
    client = app.test_client()
    sign_in(client, operator(pki, role))
    for url, roles in PAGES.items():
        status = client.get(url).status_code
        assert status == (200 if role in roles else 403), (role, url, status)
    nav = client.get("/console/").get_data(as_text=True)
    for url, roles in PAGES.items():
        assert (f'href="{url}"' in nav) == (role in roles), (role, url)


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_only_ra_changes_certificates_and_subscribers(app, pki, role):
    s = signed_pdf(pki)
    cert = pki.store.find_certificate(s.serial_hex)
    client = app.test_client()
    sign_in(client, operator(pki, role))
    form = {"action": "revoke", "reason": "keyCompromise", "confirm": "yes"}
    resp = post_form(client, "/console/", f"/console/certificates/{cert.id}/status", form)
    assert resp.status_code == 403
    assert pki.store.find_certificate(s.serial_hex).status == "good"
    sub = pki.store.get_subscriber(s.nik)
    resp = post_form(client, "/console/", f"/console/subscribers/{sub.id}/reset", {})
    assert resp.status_code == 403
    new = {
        "kind": "person",
        "name": "Budi",
        "email": "budi@x.go.id",
        "nik": new_nik(),
        "agency": "X",
    }
    assert post_form(client, "/console/", "/console/subscribers", new).status_code == 403
    assert pki.store.get_subscriber(s.nik).passphrase_hash == sub.passphrase_hash


def test_ra_cannot_manage_clients_or_operators(app, pki):
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))
    form = {"name": "siMAYA", "username": "simaya"}
    assert post_form(client, "/console/", "/console/clients", form).status_code == 403
    form = {"name": "mallory", "role": "admin", "password": "x" * 20}
    assert post_form(client, "/console/", "/console/operators", form).status_code == 403
    with pki.store.session() as s:
        assert s.scalars(select(ClientApplication)).all() == []


# --- certificates ----------------------------------------------------------------------------


def test_search_by_serial_nik_name_and_email(app, pki):
    a = signed_pdf(pki, name="Siti Rahayu")
    b = signed_pdf(pki, name="Agus Salim")
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))

    def hits(q: str) -> set[str]:
        html = client.get("/console/certificates", query_string={"q": q}).get_data(as_text=True)
        return {x for x in (a.serial_hex, b.serial_hex) if f"<code>{x}</code>" in html}

    colons = ":".join(a.serial_hex[i : i + 2] for i in range(0, len(a.serial_hex), 2))
    assert hits(a.serial_hex.upper()) == {a.serial_hex}
    assert hits(colons) == {a.serial_hex} or len(a.serial_hex) % 2  # odd length: no colon form
    assert hits(b.nik) == {b.serial_hex}
    assert hits("agus") == {b.serial_hex}
    assert hits(f"siti.{a.nik[-4:]}@kemenkeu") == {a.serial_hex}
    assert hits("nobody-matches-this") == set()


def test_detail_shows_the_decoded_certificate_and_downloads_it(app, pki, tmp_path):
    s = signed_pdf(pki, name="Dewi Lestari")
    cert = pki.store.find_certificate(s.serial_hex)
    client = app.test_client()
    sign_in(client, operator(pki, "auditor"))
    html = client.get(f"/console/certificates/{cert.id}").get_data(as_text=True)
    assert "CN=Dewi Lestari" in html and f"PNOID-{s.nik}" in html
    assert cert.fingerprint_sha256 in html and "EC secp256r1" in html
    assert "change-form" not in html  # an auditor gets no revoke form
    pem = client.get(f"/console/certificates/{cert.id}.pem")
    assert pem.headers["Content-Disposition"].endswith(f'{cert.serial_hex}.pem"')
    path = tmp_path / "c.pem"
    path.write_bytes(pem.data)
    out = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-serial", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        f"serial={cert.serial_hex.upper().zfill(len(cert.serial_hex) + len(cert.serial_hex) % 2)}"
        in out
    )
    assert cert.fingerprint_sha256.upper() in out.replace(":", "")
    assert client.get(f"/console/certificates/{cert.id}.der").data == cert.der


def test_revoke_needs_the_confirmation_step(app, pki):
    s = signed_pdf(pki)
    cert = pki.store.find_certificate(s.serial_hex)
    name = operator(pki, "ra")
    client = app.test_client()
    sign_in(client, name)
    detail = f"/console/certificates/{cert.id}"
    form = {"action": "revoke", "reason": "keyCompromise"}
    confirm = post_form(client, detail, f"{detail}/confirm", form)
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in html
    assert pki.store.find_certificate(s.serial_hex).status == "good"  # nothing changed yet
    # Submitting without the confirmation field changes nothing either.
    assert post_form(client, detail, f"{detail}/status", form).status_code == 400
    assert pki.store.find_certificate(s.serial_hex).status == "good"
    done = client.post(
        f"{detail}/status", data={**form, "confirm": "yes", "csrf_token": csrf(html)}
    )
    assert done.status_code == 200
    assert 'data-status="revoked"' in done.get_data(as_text=True)
    after = pki.store.find_certificate(s.serial_hex)
    assert after.status == "revoked" and after.revocation_reason == "keyCompromise"
    [event] = _actions(pki, "certificate.revoke")
    assert event.actor == name and event.object.endswith(s.serial_hex)
    # Revoked is final: the page offers no further change.
    assert "change-form" not in client.get(detail).get_data(as_text=True)


def test_suspend_then_release(app, pki):
    s = signed_pdf(pki)
    cert = pki.store.find_certificate(s.serial_hex)
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))
    detail = f"/console/certificates/{cert.id}"
    for action, want in (("suspend", "hold"), ("release", "good")):
        resp = post_form(client, detail, f"{detail}/status", {"action": action, "confirm": "yes"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert pki.store.find_certificate(s.serial_hex).status == want
    assert pki.store.get_subscriber(s.nik).status == "ISSUE"
    # Releasing a certificate that is not on hold is refused and says so.
    resp = post_form(client, detail, f"{detail}/status", {"action": "release", "confirm": "yes"})
    assert resp.status_code == 409 and "not suspended" in resp.get_data(as_text=True)


def test_bad_reason_is_refused(app, pki):
    s = signed_pdf(pki)
    cert = pki.store.find_certificate(s.serial_hex)
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))
    detail = f"/console/certificates/{cert.id}"
    form = {"action": "revoke", "reason": "because", "confirm": "yes"}
    assert post_form(client, detail, f"{detail}/status", form).status_code == 400
    assert pki.store.find_certificate(s.serial_hex).status == "good"


# --- subscribers -----------------------------------------------------------------------------


def test_registering_sends_the_subscriber_a_code_and_the_ra_never_sees_a_passphrase(app, pki):
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))
    nik = new_nik()
    form = {
        "kind": "person",
        "name": "Rina Wulandari",
        "email": f"rina.{nik[-4:]}@bappenas.go.id",
        "nik": nik,
        "agency": "Bappenas",
    }
    resp = post_form(client, "/console/subscribers", "/console/subscribers", form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="registered"' in html and 'id="code-sent"' in html
    assert 'id="passphrase"' not in html
    sub = pki.store.get_subscriber(nik)
    assert sub.status == "NEW" and sub.passphrase_hash is None
    (code,) = enrolment_codes(pki, form["email"])
    assert code not in html
    # The subscriber, not the RA, chooses the passphrase, on the public page.
    signer = app.test_client()
    done = set_passphrase_on_page(signer, code, "pilihan-saya-sendiri")
    assert done.status_code == 200 and 'id="pass-done"' in done.get_data(as_text=True)
    assert verify_secret("pilihan-saya-sendiri", pki.store.get_subscriber(nik).passphrase_hash)
    page = client.get(f"/console/subscribers/{sub.id}").get_data(as_text=True)
    assert "pilihan-saya-sendiri" not in page and code not in page
    with pki.store.session() as s:
        events = list(s.scalars(select(AuditEvent)))
    assert not any(code in e.details or "pilihan-saya" in e.details for e in events)
    assert [e.actor for e in events if e.action == "subscriber.passphrase_set"] == [
        f"subscriber:{nik}"
    ]
    # Invalid input is refused with the field named, nothing stored.
    bad = post_form(client, "/console/subscribers", "/console/subscribers", {**form, "nik": "123"})
    assert bad.status_code == 400 and "NIK must be exactly 16 digits" in bad.get_data(as_text=True)


def test_subscriber_status_change_and_passphrase_reset(app, pki):
    s = new_person(pki)  # has set their own passphrase
    sub = pki.store.get_subscriber(s.nik)
    assert sub.passphrase_hash is not None
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))
    page = f"/console/subscribers/{sub.id}"
    resp = post_form(client, page, f"{page}/status", {"status": "SUSPEND"})
    assert resp.status_code == 200 and pki.store.get_subscriber(s.nik).status == "SUSPEND"
    assert post_form(client, page, f"{page}/status", {"status": "BOGUS"}).status_code == 400
    with pki.store.session() as sess:
        sess.execute(update(Subscriber).values(failed_attempts=3))
    html = post_form(client, page, f"{page}/reset", {}).get_data(as_text=True)
    assert 'id="sub-message"' in html and 'id="passphrase"' not in html
    after = pki.store.get_subscriber(s.nik)
    # The old passphrase stops working at once; a new code went to the subscriber.
    assert after.passphrase_hash is None and after.failed_attempts == 0
    codes = enrolment_codes(pki, sub.email)
    assert len(codes) == 2 and codes[-1] not in html
    assert len(_actions(pki, "subscriber.reset_activation")) == 1
    # The superseded code no longer works; the new one does.
    stale = set_passphrase_on_page(app.test_client(), codes[0], "baru-sekali-2")
    assert stale.status_code == 400
    assert set_passphrase_on_page(app.test_client(), codes[1], "baru-sekali-2").status_code == 200


# --- client applications ---------------------------------------------------------------------


def test_client_app_secret_shown_once_then_disable(app, pki):
    client = app.test_client()
    sign_in(client, operator(pki, "admin"))
    resp = post_form(
        client, "/console/clients", "/console/clients", {"name": "siMAYA", "username": "simaya"}
    )
    html = resp.get_data(as_text=True)
    secret = html.split('id="client-secret">')[1].split("<")[0]
    stored = pki.store.get_client("simaya")
    assert stored.enabled and verify_secret(secret, stored.secret_hash)
    assert secret not in client.get("/console/clients").get_data(as_text=True)
    dup = post_form(
        client, "/console/clients", "/console/clients", {"name": "x", "username": "simaya"}
    )
    assert dup.status_code == 400 and "already exists" in dup.get_data(as_text=True)
    resp = post_form(client, "/console/clients", f"/console/clients/{stored.id}/disable", {})
    assert resp.status_code == 302 and not pki.store.get_client("simaya").enabled
    assert [e.object for e in _actions(pki, "client.disable")] == ["client:simaya"]


# --- audit log -------------------------------------------------------------------------------


def test_audit_log_pages_filters_and_verifies_the_chain(app, pki):
    for i in range(60):
        pki.store.audit.append("test", "test.noise", f"n:{i}", {})
    client = app.test_client()
    sign_in(client, operator(pki, "auditor"))
    first = client.get("/console/audit").get_data(as_text=True)
    # Newest 50 first: the login and the operator.add, then 48 of the 60 noise events.
    assert first.count("<code>test.noise</code>") == 48
    assert 'id="older"' in first
    second = client.get("/console/audit?page=2").get_data(as_text=True)
    assert 'id="newer"' in second and "n:10<" in second
    filtered = client.get("/console/audit?action=operator.login").get_data(as_text=True)
    assert "test.noise" not in filtered and "<code>operator.login</code>" in filtered
    ok = post_form(client, "/console/audit", "/console/audit", {}).get_data(as_text=True)
    assert 'data-ok="true"' in ok
    with pki.store.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 5).values(actor="mallory"))
    bad = post_form(client, "/console/audit", "/console/audit", {}).get_data(as_text=True)
    assert 'data-ok="false"' in bad and "first bad event 5" in bad.replace(
        "kejadian rusak pertama", "first bad event"
    )


# --- operators -------------------------------------------------------------------------------


def test_admin_adds_and_disables_operators(app, pki):
    client = app.test_client()
    sign_in(client, operator(pki, "admin"))
    form = {"name": "wati", "role": "auditor", "password": "short"}
    bad = post_form(client, "/console/operators", "/console/operators", form)
    assert bad.status_code == 400
    form["password"] = "long enough password"
    assert post_form(client, "/console/operators", "/console/operators", form).status_code == 200
    other = app.test_client()
    assert sign_in(other, "wati", "long enough password").status_code == 302
    resp = post_form(client, "/console/operators", "/console/operators/wati/disable", {})
    assert resp.status_code == 302
    assert other.get("/console/").status_code == 302


def test_dashboard_counts_and_chart(app, pki):
    for _ in range(2):
        signed_pdf(pki)
    s = signed_pdf(pki)
    pki.revoker.revoke(s.serial_hex, "superseded", actor="test")
    client = app.test_client()
    sign_in(client, operator(pki, "auditor"))
    html = client.get("/console/").get_data(as_text=True)
    with pki.store.session() as sess:
        statuses = sess.scalars(select(Certificate.status)).all()
    # The CA certificates are in the table too; the counts are the table's, per status.
    assert statuses.count("good") >= 2
    assert f'data-status="good">{statuses.count("good")}<' in html
    assert 'data-status="revoked">1<' in html and 'data-status="hold">0<' in html
    assert html.count('<rect class="issued"') >= 30 and "<svg" in html
    today = dt.datetime.now(dt.UTC).date().isoformat()
    # Today's bar: 3 subscriber certificates + the two CA certificates of the test PKI.
    with pki.store.session() as sess:
        n = len(sess.scalars(select(Certificate.id)).all())
    assert f"{today}: {n} " in html
    assert "not published yet" in html or "belum diterbitkan" in html
