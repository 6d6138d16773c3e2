"""``psre operator``: the real CLI in a scratch installation."""

from __future__ import annotations

import json

import pytest

from tests.cli_support import PsreEnv


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    e = PsreEnv(tmp_path_factory.mktemp("operator-cli"))
    e.run("init", "--no-demo")
    return e


def test_operator_add_from_prompt_and_file(env):
    res = env.run("operator", "add", "ani", "--role", "admin", input="a long password 1\n" * 2)
    assert res.returncode == 0 and "operator ani added with role admin" in res.stdout
    assert "a long password 1" not in res.stdout + res.stderr  # the prompt does not echo
    pw = env.root / "pw"
    pw.write_text("another password 2\n")
    env.run("operator", "add", "budi", "--role", "auditor", "--password-file", str(pw))
    listed = json.loads(env.run("operator", "list", "--json").stdout)
    assert {(o["name"], o["role"], o["enabled"]) for o in listed} >= {
        ("ani", "admin", True),
        ("budi", "auditor", True),
    }
    audit = env.run("audit", "verify")
    assert audit.returncode == 0


def test_operator_add_refusals(env):
    pw = env.root / "pw-short"
    pw.write_text("short\n")
    res = env.run(
        "operator", "add", "cici", "--role", "ra", "--password-file", str(pw), check=False
    )
    assert res.returncode == 2 and "at least 12 characters" in res.stderr
    res = env.run("operator", "add", "cici", "--role", "root", input="x\n", check=False)
    assert res.returncode == 2 and "Invalid value for '--role'" in res.stderr
    pw.write_text("long enough password\n")
    env.run("operator", "add", "dedi", "--role", "ra", "--password-file", str(pw))
    res = env.run(
        "operator", "add", "dedi", "--role", "ra", "--password-file", str(pw), check=False
    )
    assert res.returncode == 2 and "already exists" in res.stderr
    env.run("operator", "disable", "dedi")
    listed = {
        o["name"]: o["enabled"] for o in json.loads(env.run("operator", "list", "--json").stdout)
    }
    assert listed["dedi"] is False


def test_operator_enable_and_the_last_admin(env):
    pw = env.root / "pw-enable"
    pw.write_text("long enough password\n")
    env.run("operator", "add", "eko", "--role", "ra", "--password-file", str(pw))
    env.run("operator", "disable", "eko")
    res = env.run("operator", "enable", "eko")
    assert res.returncode == 0 and "operator eko enabled" in res.stdout
    listed = {
        o["name"]: o["enabled"] for o in json.loads(env.run("operator", "list", "--json").stdout)
    }
    assert listed["eko"] is True
    res = env.run("operator", "enable", "nobody", check=False)
    assert res.returncode != 0 and "no operator nobody" in res.stderr
    # Disabling every admin would leave nobody to run the console.
    env.run("operator", "add", "fitri", "--role", "admin", "--password-file", str(pw))
    admins = [
        o["name"]
        for o in json.loads(env.run("operator", "list", "--json").stdout)
        if o["role"] == "admin" and o["enabled"]
    ]
    for name in admins[:-1]:
        env.run("operator", "disable", name)
    res = env.run("operator", "disable", admins[-1], check=False)
    assert res.returncode != 0 and "last enabled admin" in res.stderr
