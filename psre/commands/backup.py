"""``psre backup --out DIR`` and ``psre restore DIR`` (see ca_core.backup for what is in one)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ca_core.config import Config, load_config
from ca_core.runtime import Runtime
from psre.services import Services

if TYPE_CHECKING:
    from ca_core.backup import Manifest
    from ca_core.published_evidence import CaEvidence


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


@click.command("backup")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="A new (or empty) directory for the backup.")  # fmt: skip
@click.option("--operator", default=_default_operator, show_default="the login name",
              help="Who takes the backup (audit log).")  # fmt: skip
@click.pass_context
def backup_cmd(ctx: click.Context, out: str, operator: str) -> None:
    """Back up the database (consistent snapshot), configuration, published files, ceremony
    records and, for a SoftHSM token under data_dir, the token directory (never the PINs)."""
    from ca_core import backup

    rt: Runtime = ctx.obj
    config_file = Path(ctx.meta["config_file"])
    m = backup.create(
        rt.config,
        config_file,
        Path(out),
        audit_append=lambda action, details: rt.audit.append(operator, action, "psre", details),
        clock=rt.clock,
    )
    click.echo(
        f"backup written to {out}: {m.dialect} database (audit #{m.audit_last_seq}),"
        f" {len(m.files)} files, manifest.json"
    )
    if m.token_included:
        click.echo(
            f"SoftHSM token '{m.token_label}' included (its objects are encrypted under the"
            " token PINs, which are NOT in the backup: keep the custodians' PIN shares)"
        )
    else:
        click.echo("HSM token NOT included: back it up with the HSM's own procedure")


@click.command("restore")
@click.argument("backup_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--published", type=click.Path(exists=True, file_okay=False), default=None,
              help="A copy of the public repository as it is served now (the web server's or"
                   " CDN's data_dir/public): CRL numbers, revocations and serials published"
                   " after the backup are read from it.")  # fmt: skip
@click.option(
    "--without-published",
    is_flag=True,
    help="No copy of the public repository survives: rely on the backup alone.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing installation.")
@click.option("--crl-number-margin", type=click.IntRange(min=0), default=None,
              help="Added to the highest CRL number known (default 1000).")  # fmt: skip
@click.option("--operator", default=_default_operator, show_default="the login name",
              help="Who restores (audit log).")  # fmt: skip
@click.option("--witness", default=None,
              help="A second person, needed when a CA, OCSP responder or TSA certificate was"
                   " revoked or suspended after the backup.")  # fmt: skip
@click.pass_context
def restore_cmd(
    ctx: click.Context,
    backup_dir: str,
    published: str | None,
    without_published: bool,
    force: bool,
    crl_number_margin: int | None,
    operator: str,
    witness: str | None,
) -> None:
    """Restore the backup in BACKUP_DIR onto this machine, then catch up with what was
    published since."""
    from ca_core import backup
    from ca_core.restore_reconcile import DEFAULT_CRL_NUMBER_MARGIN, reconcile

    if (published is None) == (not without_published):
        raise click.UsageError("give --published DIR, or --without-published if no copy survives")
    src = Path(backup_dir)
    manifest = backup.verify(src)
    click.echo(f"backup verified: {len(manifest.files)} files match manifest.json")
    rt, evidence = _put_back(ctx, src, manifest, published=published, force=force)
    report = reconcile(
        rt.store,
        manifest,
        evidence,
        actor=operator,
        published=str(Path(published).resolve()) if published else None,
        margin=DEFAULT_CRL_NUMBER_MARGIN if crl_number_margin is None else crl_number_margin,
        clock=rt.clock,
        witness=witness,
    )
    click.echo(
        f"restored: audit chain continues after #{manifest.audit_last_seq} with system.restore;"
        f" {len(report.revocations_reapplied)} revocation(s) and {len(report.holds_reapplied)}"
        f" hold(s) re-applied, {len(report.lost_serials)} serial(s) issued after the backup"
        " recorded as lost (listed as revoked from now on)"
    )
    for ca, floor in sorted(report.crl_number_floor.items()):
        click.echo(f"  {ca}: CRL numbers continue above {floor}")
    _republish(rt)


def _put_back(
    ctx: click.Context, src: Path, manifest: Manifest, *, published: str | None, force: bool
) -> tuple[Services, dict[str, CaEvidence]]:
    """Put the backup's files and database in place and open the restored installation;
    with what was published since the backup (the --published copy, and what this
    installation published itself before --force replaces it)."""
    from ca_core import backup
    from ca_core.published_evidence import merge, read_repository
    from ca_core.store import snapshot as db_snapshot

    config_file = Path(ctx.meta["config_file"]).resolve()
    # The backup's configuration, rooted where this installation's psre.toml goes (environment
    # overrides apply: the new machine's PSRE_DATABASE_URL wins).
    cfg = dataclasses.replace(load_config(src / "psre.toml"), base_dir=str(config_file.parent))
    existing = backup.existing_installation(cfg, config_file)
    if existing and not force:
        raise backup.BackupError(
            f"refusing to restore over an existing installation ({existing}); --force overwrites"
        )
    # What this installation published itself, before --force replaces it: its CRL numbers
    # and revocations may be newer than the backup's and the --published copy's.
    scratch = _copy_existing_public(cfg) if existing else None
    try:
        backup.put_files(src, manifest, cfg, config_file)
        db_snapshot.put_back(
            src / manifest.database_file, cfg.effective_database_url, replace=force
        )
        rt = Services(load_config(config_file))
        ctx.call_on_close(rt.close)
        cas = rt.store.list_cas()
        repo = Path(published) if published else rt.config.data_path / "public"
        # Responses signed well before the backup show nothing it does not hold (an hour of
        # slack for clocks and the responses' backdating).
        since = _parse_z(manifest.created_at) - dt.timedelta(hours=1)
        sources = [read_repository(repo, cas, since=since)]
        if scratch is not None:
            sources.append(read_repository(scratch, cas, since=since))
        return rt, merge(*sources)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch.parent, ignore_errors=True)


def _republish(rt: Services) -> None:
    """Sign fresh CRLs and OCSP responses from the reconciled database (the HSM must be
    usable: its PIN is not in a backup)."""
    from ca_core import backup

    health = rt.backend.health()
    if not health.get("ok"):
        raise backup.BackupError(
            f"HSM token not usable ({health.get('error')}): the PIN is not in a backup; put it"
            f" where hsm.pin_source says ({rt.config.hsm.pin_source}) and run"
            " `psre crl generate` and `psre ocsp presign` before serving"
        )
    from crl.publish import publish_all
    from ocsp.responses import presign_all

    for info in publish_all(rt.crl_publisher, force=True):
        click.echo(f"published CRL {info.name} #{info.number}")
    click.echo(f"OCSP: {presign_all(rt.presigner).signed} responses pre-signed")


def _parse_z(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _copy_existing_public(cfg: Config) -> Path | None:
    """A scratch copy of the existing installation's published files (put_files replaces
    them), or None if it has none."""
    public = cfg.data_path / "public"
    if not public.is_dir():
        return None
    scratch = Path(tempfile.mkdtemp(prefix="psre-restore-"))
    shutil.copytree(public, scratch / "public")
    return scratch / "public"


ALL = (backup_cmd, restore_cmd)
