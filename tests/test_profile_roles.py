"""Policy as data: code finds certificate profiles by role, and no code outside ``policies/``
names a profile (issue 17 item 4).
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from ca_core.ca_level import CA_LEVEL_PROFILES
from ca_core.subscribers import SubscriberError, subject_for
from policies.errors import RoleError
from policies.roles import names_with_role, one_with_role, signing_profile_for
from policies.schema import load_profiles

REPO = Path(__file__).resolve().parents[1]
PROFILES = load_profiles()
CODE = ("psre", "hsm", "ca_core", "crl", "ocsp", "signing_api", "ceremony_scripts", "web")

# The same words with another meaning: CA names of the demo hierarchy, ceremony step types,
# the profile role "tsa", the TSA's error field and blueprint, and chain roles in reports.
NOT_PROFILES = {
    ("ceremony_scripts/demo.py", "tsa"),
    ("ceremony_scripts/demo.py", "root-ca"),
    ("ceremony_scripts/demo.py", "issuing-ca"),
    ("ceremony_scripts/steps.py", "ocsp-signer"),
    ("ceremony_scripts/steps.py", "tsa"),
    ("ceremony_scripts/steps.py", "tl-signer"),
    ("signing_api/tsa.py", "tsa"),
    ("signing_api/verify.py", "tsa"),
    ("signing_api/verify_status.py", "tsa"),
}


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_no_code_outside_policies_names_a_profile() -> None:
    found = []
    for package in CODE:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if "/migrations/" in rel:
                continue
            for line, text in _string_literals(ast.parse(path.read_text(encoding="utf-8"))):
                if text in PROFILES and (rel, text) not in NOT_PROFILES:
                    found.append(f"{rel}:{line}: {text!r}")
    assert not found, "profile names in code (ask policies.roles by role):\n" + "\n".join(found)


def test_every_shipped_profile_has_a_role_and_the_roles_find_them() -> None:
    assert {p.role for p in PROFILES.values()} == {
        "ca",
        "subordinate-ca",
        "cross-ca",
        "ocsp-responder",
        "tsa",
        "trusted-list-signer",
        "subscriber-signing",
        "seal",
        "smime",
    }
    assert one_with_role("ca", kind="root").kind == "root"
    assert one_with_role("ca", kind="intermediate").kind == "intermediate"
    assert {PROFILES[n].role for n in CA_LEVEL_PROFILES} == {
        "ca",
        "subordinate-ca",
        "cross-ca",
        "ocsp-responder",
        "tsa",
        "trusted-list-signer",
    }
    assert signing_profile_for("person").role == "subscriber-signing"
    assert signing_profile_for("agency").role == "seal"
    with pytest.raises(RoleError, match="several"):
        one_with_role("ca")  # a root and an issuing CA: the kind must say which


def test_a_new_profile_with_a_role_is_found_without_code_changes(tmp_path: Path) -> None:
    """A second OCSP responder profile is a TOML file: the responder lookup sees it."""
    src = (REPO / "policies/profiles/ocsp-signer.toml").read_text(encoding="utf-8")
    for p in (REPO / "policies/profiles").glob("*.toml"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "ocsp-responder-b.toml").write_text(
        src.replace('name = "ocsp-signer"', 'name = "ocsp-responder-b"'), encoding="utf-8"
    )
    profiles = load_profiles(tmp_path)
    assert names_with_role("ocsp-responder", profiles=profiles) == {
        "ocsp-signer",
        "ocsp-responder-b",
    }
    with pytest.raises(RoleError, match="several"):
        one_with_role("ocsp-responder", profiles=profiles)


def _record(**kw: str | None) -> SimpleNamespace:
    base = {
        "kind": "person",
        "name": "Budi Santoso",
        "email": "budi@example.go.id",
        "nik": "3171012345678901",
        "agency": "Kementerian Contoh",
        "organization_identifier": None,
    }
    return SimpleNamespace(**(base | kw))


def test_subject_comes_from_the_profiles_subscriber_table() -> None:
    person = PROFILES[signing_profile_for("person").name]
    subject, emails = subject_for(person, _record())  # type: ignore[arg-type]
    assert subject == {
        "C": "ID",
        "O": "Kementerian Contoh",
        "givenName": "Budi",
        "surname": "Santoso",
        "serialNumber": "PNOID-3171012345678901",
        "CN": "Budi Santoso",
    }
    assert emails == ["budi@example.go.id"]
    # ETSI EN 319 412-2 §4.2.4: a one-word name is a given name; surname (optional) is left out.
    subject, _ = subject_for(person, _record(name="Sukarno"))  # type: ignore[arg-type]
    assert subject["givenName"] == "Sukarno" and "surname" not in subject
    seal = signing_profile_for("agency")
    agency = _record(kind="agency", name="Dinas X", nik=None, organization_identifier="NTRID-1A")
    subject, _ = subject_for(seal, agency)  # type: ignore[arg-type]
    assert subject == {
        "C": "ID",
        "O": "Dinas X",
        "organizationIdentifier": "NTRID-1A",
        "CN": "Dinas X",
    }
    with pytest.raises(SubscriberError, match="not issued to agency subscribers"):
        subject_for(person, agency)  # type: ignore[arg-type]
    with pytest.raises(SubscriberError, match="not issued to subscribers"):
        subject_for(one_with_role("tsa"), _record())  # type: ignore[arg-type]
