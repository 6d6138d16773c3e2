"""psre.toml loading: defaults, env overrides, strict keys, redaction."""

from __future__ import annotations

import pytest

from ca_core.config import Config, load_config
from ca_core.errors import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "psre.toml"
    p.write_text(text)
    return p


def test_missing_file_means_defaults(tmp_path):
    cfg = load_config(tmp_path / "nope.toml", env={})
    assert cfg.public_base_url == "http://127.0.0.1:8080"
    assert cfg.data_path == (tmp_path / "var").resolve()
    assert cfg.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'var' / 'psre.sqlite3'}"


def test_env_overrides_top_level_and_sections(tmp_path):
    p = write(tmp_path, 'public_base_url = "https://pki.example.go.id"\n[hsm]\npool_size = 2\n')
    cfg = load_config(
        p,
        env={
            "PSRE_DATABASE_URL": "postgresql+psycopg://u:s3cret@db/psre",
            "PSRE_HSM_TOKEN_LABEL": "prod",
            "PSRE_HSM_POOL_SIZE": "8",
            "PSRE_SERVER_PORT": "9000",
        },
    )
    assert cfg.public_base_url == "https://pki.example.go.id"
    assert cfg.hsm.token_label == "prod" and cfg.hsm.pool_size == 8 and cfg.server.port == 9000
    shown = cfg.redacted().to_toml()
    assert "s3cret" not in shown and "u:***@db" in shown


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("databse_url = 'x'\n", {}, "databse_url"),
        ("[hsm]\npin = '1234'\n", {}, "hsm.pin"),
        ("[hsm]\npool_size = 'four'\n", {}, "hsm.pool_size"),
        ("[server]\nport = 70000\n", {}, "server.port"),
        ("[server]\ntrusted_proxies = -1\n", {}, "server.trusted_proxies"),
        ("[crl]\nhttp_max_age_seconds = 0\n", {}, "crl.http_max_age_seconds"),
        ("public_base_url = 'ftp://x'\n", {}, "public_base_url"),
        ("hsm = 3\n", {}, "hsm"),
        ("", {"PSRE_SERVER_PORT": "eighty"}, "PSRE_SERVER_PORT"),
        ("[hsm]\npin_source = 'literal:1234'\n", {}, "hsm.pin_source"),
        ("not toml [", {}, "psre.toml"),
        # One app's failures must not reach the signer-wide lockout (issue 15).
        ("[signing]\nmax_failures = 5\nmax_failures_signer = 5\n", {}, "max_failures_signer"),
        ("[signing]\nenrolment_hours = 0\n", {}, "signing.enrolment_hours"),
        # A CSC SAD is short-lived: at most five minutes (issue 19).
        ("[csc]\nsad_seconds = 301\n", {}, "csc.sad_seconds"),
        ("", {"PSRE_CSC_SAD_SECONDS": "0"}, "csc.sad_seconds"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, env, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env=env)
    assert key in str(err.value)
    assert "1234" not in str(err.value)


def test_toml_round_trip(tmp_path):
    cfg = load_config(tmp_path / "none.toml", env={})
    again = load_config(write(tmp_path, cfg.to_toml()), env={})
    assert again == cfg
    assert isinstance(again, Config)


def test_the_three_strict_toml_readers_refuse_bad_utf8_alike(tmp_path):
    """psre.toml, profiles and ceremony files share one reader (policies.strict_toml): bytes
    that are not UTF-8 are a clear error naming the file in each, not a traceback."""
    from ceremony_scripts.errors import CeremonyFileError
    from ceremony_scripts.spec import load
    from policies.errors import ProfileError
    from policies.schema import load_profile

    bad = b"name = '\xff\xfe'\n"
    for name in ("psre.toml", "tsa.toml", "ceremony.toml"):
        (tmp_path / name).write_bytes(bad)
    with pytest.raises(ConfigError, match="psre.toml.*not valid TOML"):
        load_config(tmp_path / "psre.toml", env={})
    with pytest.raises(ProfileError, match=r"tsa.toml: \(syntax\)"):
        load_profile(tmp_path / "tsa.toml")
    with pytest.raises(CeremonyFileError, match="ceremony.toml.*not valid TOML"):
        load(tmp_path / "ceremony.toml")
