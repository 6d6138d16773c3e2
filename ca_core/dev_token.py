"""The SoftHSM development token: where its configuration is, and making it on first use."""

from __future__ import annotations

import logging
from pathlib import Path

from ca_core.config import SOFTHSM_MODULE, Config
from hsm.pin import PinSource

log = logging.getLogger(__name__)


def is_softhsm(cfg: Config) -> bool:
    return Path(cfg.hsm.module).name == Path(SOFTHSM_MODULE).name


def export_softhsm_conf(cfg: Config) -> None:
    """Point SoftHSM at the project's token directory (only if the module is SoftHSM)."""
    if is_softhsm(cfg):
        from hsm.softhsm import use_softhsm_conf

        use_softhsm_conf(cfg.resolve(cfg.hsm.softhsm_conf))


def ensure_dev_token(cfg: Config) -> bool:
    """Create the SoftHSM token named in the config, with fresh random PINs, if it is missing.

    Returns True when a token was created. PINs go to files under ``data_dir/secrets`` (0600);
    the user PIN file is what the default ``pin_source`` reads.
    """
    if not is_softhsm(cfg):
        return False
    from hsm.softhsm import init_token, new_pin, token_exists, write_secret, write_softhsm_conf

    conf = cfg.resolve(cfg.hsm.softhsm_conf)
    write_softhsm_conf(conf, cfg.data_path / "tokens")
    if token_exists(cfg.hsm.module, cfg.hsm.token_label):
        return False
    src = PinSource.parse(cfg.hsm.pin_source, base_dir=cfg.data_path)
    secrets_dir = cfg.data_path / "secrets"
    so_pin = new_pin()
    user_pin = new_pin()
    if src.kind == "file":
        pin_path = Path(src.where)
        if pin_path.exists():
            user_pin = src.read(cfg.hsm.token_label)  # keep an operator-provided PIN file
        else:
            write_secret(pin_path, user_pin)
    else:  # env or prompt: the operator chose the PIN
        user_pin = src.read(cfg.hsm.token_label)
    so_path = secrets_dir / f"{cfg.hsm.token_label}.so.pin"
    if not so_path.exists():
        write_secret(so_path, so_pin)
    else:
        so_pin = so_path.read_text(encoding="utf-8").strip()
    init_token(cfg.hsm.module, cfg.hsm.token_label, so_pin, user_pin)
    log.info("created SoftHSM token '%s' in %s", cfg.hsm.token_label, cfg.data_path / "tokens")
    return True
