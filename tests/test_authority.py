"""Authority boundaries (issue 15): CA-level certificates change status only through a witnessed
ceremony step or two admins; nothing issues, signs or stamps under a CA whose certificate is not
good; the operator safeguards (last admin, login throttling under concurrency, client-auth
timing). Real SoftHSM token, real database (SQLite and PostgreSQL), the real Flask app."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import statistics
import threading
import time

import pytest
from cryptography import x509
from sqlalchemy import select, update

from ca_core.approvals import ApprovalError, approve, propose
from ca_core.ca_level import CaLevelProtected
from ca_core.ca_standing import IssuerNotGood
from ca_core.config import SigningConfig
from ca_core.store.models import AuditEvent, Certificate, ClientApplication, OcspResponse, Operator
from signing_api.tsa import QUERY_TYPE, TimeStampResp
from tests.authority_support import TTL, ca_certificate, change_ca_status, two_admins
from tests.crl_support import crl_pki, serials
from tests.esign_support import make_esign_app, new_client, new_person, post_json
from tests.pdf_support import minimal_pdf
from tests.pki_support import add_tsa_unit
from tests.web_support import PASSWORD, make_app, operator, post_form, sign_in
from web.approval_actions import executors
from web.clients import set_client_enabled
from web.operators import OperatorError, set_enabled


@pytest.fixture
def app(pki, db_url):
    return make_app(pki, db_url)


def _events(pki, action: str) -> list[AuditEvent]:
    with pki.store.session() as s:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list(s.scalars(stmt))


def _status(pki, row: Certificate) -> str:
    with pki.store.session() as s:
        return s.get(Certificate, row.id).status


def _root_crl_serials(pki, tmp_path) -> set[int]:
    cp = crl_pki(pki, tmp_path / "public")
    cp.publisher.publish(pki.root)
    crl, _ = cp.crl(ca=pki.root)
    return set(serials(crl))


# --- 1. the RA cannot touch CA-level certificates ------------------------------------------------


def test_ra_cannot_revoke_or_suspend_the_issuing_ca_from_the_console(app, pki, tmp_path):
    row = ca_certificate(pki, pki.issuing)
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))
    detail = f"/console/certificates/{row.id}"
    page = client.get(detail)
    assert page.status_code == 200 and "change-form" not in page.get_data(as_text=True)
    revoke = {"action": "revoke", "reason": "keyCompromise", "confirm": "yes"}
    for url, form in (
        (f"{detail}/confirm", {"action": "revoke", "reason": "keyCompromise"}),
        (f"{detail}/status", revoke),
        (f"{detail}/status", {"action": "suspend", "confirm": "yes"}),
    ):
        resp = post_form(client, detail, url, form)
        assert resp.status_code == 403, (url, resp.status_code)
    assert _status(pki, row) == "good"
    assert int(row.serial_hex, 16) not in _root_crl_serials(pki, tmp_path)
    assert _events(pki, "certificate.revoke") == []


def test_no_code_path_changes_a_ca_level_certificate_without_authorisation(pki):
    # The console, the CLI and every API reach certificates through the Revoker: it refuses.
    tsa = add_tsa_unit(pki)
    for serial, ca in (
        (ca_certificate(pki, pki.issuing).serial_hex, pki.root),
        (ca_certificate(pki, pki.root).serial_hex, pki.root),
        (format(tsa.serial_number, "x"), pki.issuing),
    ):
        with pytest.raises(CaLevelProtected) as ex:
            pki.revoker.revoke(serial, "keyCompromise", actor="someone", ca=ca)
        assert ex.value.code == "ca_certificate_protected"
        with pytest.raises(CaLevelProtected):
            pki.revoker.suspend(serial, actor="someone", ca=ca)
        assert pki.store.find_certificate(serial).status == "good"


# --- 1. dual control --------------------------------------------------------------------------


def test_two_admins_revoke_the_issuing_ca_through_the_console(app, pki, tmp_path):
    row = ca_certificate(pki, pki.issuing)
    first, second = two_admins(pki)
    a, b = app.test_client(), app.test_client()
    sign_in(a, first)
    sign_in(b, second)
    form = {"certificate": str(row.id), "action": "revoke", "reason": "keyCompromise"}
    resp = post_form(a, "/console/approvals", "/console/approvals", form)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    [proposed] = _events(pki, "approval.propose")
    pid = json.loads(proposed.details)["id"]
    assert proposed.actor == first and _status(pki, row) == "good"
    # The proposer cannot approve their own proposal.
    own = post_form(a, "/console/approvals", f"/console/approvals/{pid}/approve", {})
    assert own.status_code == 409 and _status(pki, row) == "good"
    done = post_form(b, "/console/approvals", f"/console/approvals/{pid}/approve", {})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert _status(pki, row) == "revoked"
    [approved] = _events(pki, "approval.approve")
    assert approved.actor == second
    [revoked] = _events(pki, "certificate.revoke")
    details = json.loads(revoked.details)
    assert details["authorisation"]["kind"] == "dual-control"
    assert details["authorisation"]["people"] == [first, second]
    assert int(row.serial_hex, 16) in _root_crl_serials(pki, tmp_path)
    # Approved once: a second approval changes nothing.
    again = post_form(b, "/console/approvals", f"/console/approvals/{pid}/approve", {})
    assert again.status_code == 409


def test_ra_and_auditor_have_no_approvals_page(app, pki):
    for role in ("ra", "auditor"):
        client = app.test_client()
        sign_in(client, operator(pki, role))
        assert client.get("/console/approvals").status_code == 403


def test_expired_and_self_approved_proposals_are_refused(pki):
    row = ca_certificate(pki, pki.issuing)
    first, second = two_admins(pki)
    run = executors(pki.store, pki.revoker)
    target = f"certificate:{pki.root}:{row.serial_hex}"
    p = propose(pki.store, "certificate.suspend", target, {}, actor=first, ttl=TTL)
    with pytest.raises(ApprovalError) as ex:
        approve(pki.store, p.id, actor=first, executors=run)
    assert ex.value.code == "approval_same_operator"
    later = dt.datetime.now(dt.UTC) + TTL + dt.timedelta(seconds=1)
    with pytest.raises(ApprovalError) as ex:
        approve(pki.store, p.id, actor=second, executors=run, now=later)
    assert ex.value.code == "approval_expired"
    assert _status(pki, row) == "good"
    # Only enabled admins propose and approve.
    ra = operator(pki, "ra")
    with pytest.raises(ApprovalError):
        propose(pki.store, "certificate.suspend", target, {}, actor=ra, ttl=TTL)
    p = propose(pki.store, "certificate.suspend", target, {}, actor=first, ttl=TTL)
    with pytest.raises(ApprovalError):
        approve(pki.store, p.id, actor=ra, executors=run)
    assert _status(pki, row) == "good"


def test_adding_or_disabling_an_admin_and_enabling_a_client_need_a_second_admin(app, pki):
    first, second = two_admins(pki)
    a, b = app.test_client(), app.test_client()
    sign_in(a, first)
    sign_in(b, second)

    def pending_id() -> int:
        return json.loads(_events(pki, "approval.propose")[-1].details)["id"]

    def approve_last() -> None:
        resp = post_form(b, "/console/approvals", f"/console/approvals/{pending_id()}/approve", {})
        assert resp.status_code == 200, resp.get_data(as_text=True)

    # An RA is added at once; an admin only once a second admin approves.
    form = {"name": "rina-ra", "role": "ra", "password": PASSWORD}
    assert post_form(a, "/console/operators", "/console/operators", form).status_code == 200
    form = {"name": "joko-admin", "role": "admin", "password": PASSWORD}
    assert post_form(a, "/console/operators", "/console/operators", form).status_code == 200
    with pki.store.session() as s:
        names = set(s.scalars(select(Operator.name)))
    assert "rina-ra" in names and "joko-admin" not in names
    approve_last()
    assert sign_in(app.test_client(), "joko-admin").status_code == 302
    # Disabling an admin: proposed, then approved.
    resp = post_form(a, "/console/operators", "/console/operators/joko-admin/disable", {})
    assert resp.status_code in (200, 302)
    with pki.store.session() as s:
        assert s.scalar(select(Operator.enabled).where(Operator.name == "joko-admin")) is True
    approve_last()
    with pki.store.session() as s:
        assert s.scalar(select(Operator.enabled).where(Operator.name == "joko-admin")) is False
    # Re-enabling a disabled client app.
    creds = new_client(pki)
    with pki.store.session() as s:
        cid = s.scalar(
            select(ClientApplication.id).where(ClientApplication.username == creds.username)
        )
    set_client_enabled(pki.store, cid, False, actor=first)
    resp = post_form(a, "/console/clients", f"/console/clients/{cid}/enable", {})
    assert resp.status_code in (200, 302)
    with pki.store.session() as s:
        assert s.get(ClientApplication, cid).enabled is False
    approve_last()
    with pki.store.session() as s:
        assert s.get(ClientApplication, cid).enabled is True


# --- 2. nothing under a CA whose certificate is not good -----------------------------------------


@pytest.mark.parametrize(
    ("ca", "action", "code"),
    [
        ("issuing-ca", "revoke", "issuer_revoked"),
        ("issuing-ca", "suspend", "issuer_suspended"),
        ("root-ca", "suspend", "issuer_suspended"),
    ],
)
def test_nothing_is_issued_under_a_revoked_or_suspended_ca(pki, tmp_path, ca, action, code):
    cp = crl_pki(pki, tmp_path / "public")
    cp.issue()  # fine while the chain is good
    change_ca_status(pki, ca, action)
    with pytest.raises(IssuerNotGood) as ex:
        cp.issue()
    assert ex.value.code == code and ex.value.ca == ca


def test_nothing_is_issued_under_an_expired_ca(pki, tmp_path):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1830)  # the issuing CA lives 1825 days
    pki.issuer.clock = lambda: later
    with pytest.raises(IssuerNotGood) as ex:
        crl_pki(pki, tmp_path / "public").issue()
    assert ex.value.code == "issuer_expired"


def test_api_refuses_to_sign_under_a_revoked_ca_and_the_status_says_why(pki, db_url):
    app = make_esign_app(pki, db_url, SigningConfig(default_level="B-B"))
    http = app.test_client()
    creds = new_client(pki)
    person = new_person(pki)

    def sign():
        body = {"nik": person.nik, "passphrase": "rahasia-tte-2026", "file": [_b64pdf()]}
        return post_json(http, "/api/v2/sign/pdf", creds, body)

    def status() -> tuple[dict, dict]:
        v2 = post_json(http, "/api/v2/user/check/status", creds, {"nik": person.nik}).get_json()
        v1 = http.get(f"/api/user/status/{person.nik}", headers=creds.headers).get_json()
        return v2, v1

    assert sign().status_code == 200
    v2, v1 = status()
    assert v2["status"] == "ISSUE" and v1["status_code"] == 1111
    change_ca_status(pki, pki.issuing, "revoke", "keyCompromise")
    v2, v1 = status()
    assert v2["status"] == "CA_REVOKED" and v2["status_code"] == 1112
    assert v1["status"] == "CA_REVOKED" and v1["status_code"] == 1112
    resp = sign()
    assert resp.status_code == 403
    body = resp.get_json()
    assert body["status_code"] == 2022 and body["ca"] == pki.issuing
    assert body["ca_status"] == "revoked"
    # The refusal comes before the activation check: the signer is not charged a failure.
    assert pki.store.get_subscriber(person.nik).failed_attempts == 0


def test_console_says_the_subscriber_cannot_sign_under_a_revoked_ca(app, pki):
    person = new_person(pki)
    sub = pki.store.get_subscriber(person.nik)
    change_ca_status(pki, pki.issuing, "revoke", "cACompromise")
    client = app.test_client()
    sign_in(client, operator(pki, "ra"))
    html = client.get(f"/console/subscribers/{sub.id}").get_data(as_text=True)
    assert 'data-can-sign="CA_REVOKED"' in html


def test_tsa_stamps_nothing_under_a_revoked_ca(pki, db_url):
    from tests.test_tsa import request_der

    add_tsa_unit(pki)
    app = make_esign_app(pki, db_url)
    http = app.test_client()
    body = request_der(hashlib.sha256(b"surat").digest())

    def answer() -> TimeStampResp:
        resp = http.post("/tsa", data=body, content_type=QUERY_TYPE)
        return TimeStampResp.load(resp.data)

    assert answer()["status"]["status"].native == "granted"
    change_ca_status(pki, pki.issuing, "suspend")
    refused = answer()
    assert refused["status"]["status"].native == "rejection"
    assert refused["status"]["fail_info"].native == {"system_failure"}
    assert "suspended" in refused["status"]["status_string"].native[0]


def _b64pdf() -> str:
    import base64

    return base64.b64encode(minimal_pdf("dokumen")).decode()


# --- 1. the ceremony steps revoke-ca / suspend-ca ---------------------------------------------


def test_revoke_ca_ceremony_step_revokes_with_crl_and_ocsp_effects(tmp_path, store, backend, token):
    from ceremony_scripts import spec
    from ceremony_scripts.runner import dry_run, preflight
    from ceremony_scripts.transcript import read
    from ceremony_scripts.verify import verify
    from tests.ceremony_support import DELEGATED, ISSUING, ROOT, ceremony_file
    from tests.pki_support import BASE_URL
    from tests.test_ceremony import PROFILES, QuietUi, _run

    path, tag = ceremony_file(tmp_path / "setup", token.label, ROOT, ISSUING, DELEGATED)
    _run(path, store, backend)
    issuing = x509.load_pem_x509_certificate((tmp_path / "setup/out/issuing.pem").read_bytes())
    ocsp = x509.load_pem_x509_certificate((tmp_path / "setup/out/ocsp.pem").read_bytes())
    issuing_hex, ocsp_hex = format(issuing.serial_number, "x"), format(ocsp.serial_number, "x")
    steps = f"""
[[step]]
type = "suspend-ca"
title = "Suspend the OCSP responder"
issuer = "issuing-ca"
serial = "{ocsp_hex}"
outputs = {{{{ crl = "out/issuing.crl" }}}}

[[step]]
type = "revoke-ca"
title = "Revoke the issuing CA"
issuer = "root-ca"
serial = "{issuing_hex}"
reason = "keyCompromise"
outputs = {{{{ crl = "out/root.crl" }}}}
"""
    path, _ = ceremony_file(
        tmp_path / "revoke", token.label, steps, name="revoke", sign_with=f"{tag}-root"
    )
    # A dry run changes copies in a scratch database and token: nothing real.
    dry, problems = dry_run(
        spec.load(path),
        real_store=store,
        real_backend=backend,
        module=token.module,
        profiles=PROFILES,
        base_url=BASE_URL,
        ui=QuietUi(),
    )
    assert problems == [] and dry.outcome == "complete"
    assert store.find_certificate(issuing_hex).status == "good"
    assert not (tmp_path / "revoke/out").exists()
    result = _run(path, store, backend)
    assert result.outcome == "complete"
    assert store.find_certificate(issuing_hex).status == "revoked"
    assert store.find_certificate(ocsp_hex).status == "hold"
    root_crl = x509.load_der_x509_crl((tmp_path / "revoke/out/root.crl").read_bytes())
    entry = serials(root_crl)[issuing.serial_number]
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    issuing_crl = x509.load_der_x509_crl((tmp_path / "revoke/out/issuing.crl").read_bytes())
    assert ocsp.serial_number in serials(issuing_crl)
    with store.session() as s:
        answers = {
            (r.serial_hex, r.cert_status)
            for r in s.scalars(select(OcspResponse).where(OcspResponse.serial_hex == issuing_hex))
        }
    assert answers == {(issuing_hex, "revoked")}
    entries = [e for e in read(result.transcript) if e["action"] == "certificate.revoke"]
    assert [e["details"]["serial"] for e in entries] == [issuing_hex]
    report = verify(result.transcript, backend=backend, profiles=PROFILES)
    assert [c.name for c in report.checks if not c.ok] == []
    revoked = json.loads(_store_events(store, "certificate.revoke")[0].details)
    assert revoked["authorisation"]["kind"] == "ceremony"
    # The preflight refuses what the step could not do, before anything runs.
    again = f"""
[[step]]
type = "release-ca"
issuer = "root-ca"
serial = "{issuing_hex}"
outputs = {{{{ crl = "out/root2.crl" }}}}

[[step]]
type = "suspend-ca"
issuer = "issuing-ca"
serial = "abcdef0123"
outputs = {{{{ crl = "out/issuing2.crl" }}}}
"""
    path, _ = ceremony_file(
        tmp_path / "again", token.label, again, name="again", sign_with=f"{tag}-root"
    )
    problems = preflight(spec.load(path), store=store, backend=None, profiles=PROFILES)
    assert any(f"certificate {issuing_hex} is already revoked" in p for p in problems)
    assert any("abcdef0123" in p for p in problems)


def _store_events(store, action: str) -> list[AuditEvent]:
    with store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- 6. operator safeguards -------------------------------------------------------------------


def test_the_last_enabled_admin_cannot_be_disabled(pki):
    first = operator(pki, "admin")
    with pytest.raises(OperatorError, match="last enabled admin"):
        set_enabled(pki.store, first, False, actor="test")
    second = operator(pki, "admin")
    set_enabled(pki.store, second, False, actor="test")
    with pytest.raises(OperatorError, match="last enabled admin"):
        set_enabled(pki.store, first, False, actor="test")
    set_enabled(pki.store, second, True, actor="test")
    set_enabled(pki.store, first, False, actor="test")


def test_concurrent_wrong_logins_check_no_more_passwords_than_the_limit(app, pki):
    name = operator(pki, "ra")
    clients = [app.test_client() for _ in range(40)]
    pages = [c.get("/console/login").get_data(as_text=True) for c in clients]
    from tests.web_support import csrf

    codes: list[int] = []
    start = threading.Barrier(len(clients))

    def attempt(client, page) -> None:
        start.wait()
        form = {"name": name, "password": "wrong password!", "csrf_token": csrf(page)}
        codes.append(client.post("/console/login", data=form).status_code)

    threads = [threading.Thread(target=attempt, args=cp) for cp in zip(clients, pages, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = len(_events(pki, "operator.login_failed"))
    assert sorted(set(codes)) == [401, 429]
    assert codes.count(401) == checked <= 5


def test_every_failed_client_authentication_costs_the_same(pki, db_url):
    app = make_esign_app(pki, db_url)
    http = app.test_client()
    creds = new_client(pki)
    body = {"nik": "3174000000000009"}
    assert post_json(http, "/api/v2/user/check/status", creds, body).status_code == 200
    with pki.store.session() as s:
        s.execute(
            update(ClientApplication)
            .where(ClientApplication.username == creds.username)
            .values(enabled=False)
        )

    def timed(c) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            assert post_json(http, "/api/v2/user/check/status", c, body).status_code == 401
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    from tests.esign_support import Creds

    disabled = timed(creds)
    wrong = timed(Creds(creds.username, "not-the-secret"))
    unknown = timed(Creds("no-such-app", creds.password))
    assert disabled > 0.4 * wrong and unknown > 0.4 * wrong, (disabled, wrong, unknown)
