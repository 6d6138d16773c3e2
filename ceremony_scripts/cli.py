"""``psre ceremony …``: run, dry-run, split the PIN, verify a transcript, print a report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ca_core import audit_objects
from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output
from ca_core.dev_token import export_softhsm_conf
from ceremony_scripts import spec as spec_mod
from ceremony_scripts.errors import CeremonyError, ShareError, StepFailed
from ceremony_scripts.modes import UNATTENDED
from ceremony_scripts.shamir import combine, split_secret
from hsm.errors import HsmError
from hsm.pin import PinSource

# The runner, the verifier and the PKCS#11 backend (SQLAlchemy, pkilint, python-pkcs11) are
# imported by the commands that use them, so that the rest of psre starts without them.
if TYPE_CHECKING:
    from ca_core.runtime import Runtime
    from ceremony_scripts.runner import Custody
    from ceremony_scripts.spec import StepSpec
    from hsm.pkcs11_backend import Pkcs11Backend


class ClickUi:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def echo(self, text: str) -> None:
        if not self.quiet:
            click.echo(text)

    def acknowledge(self, witness: str, step: StepSpec, summary: str) -> bool:
        typed = click.prompt(
            f"Witness {witness}: step {step.number} ({step.title}: {summary}) is done. "
            "Type your name to confirm",
            default="",
            show_default=False,
        )
        return typed.strip() == witness


@click.group("ceremony")
def ceremony() -> None:
    """Key ceremonies: scripted, witnessed, K-of-N PIN, verifiable transcript."""


def _config_backend(rt: Runtime, token_label: str) -> Pkcs11Backend:
    if token_label == rt.config.hsm.token_label:
        return rt.backend
    from hsm.pkcs11_backend import Pkcs11Backend

    export_softhsm_conf(rt.config)
    pin = PinSource.parse(rt.config.hsm.pin_source, base_dir=rt.config.data_path)
    return Pkcs11Backend(rt.config.hsm.module, token_label, pin)


def _read_shares(files: tuple[str, ...]) -> list[str]:
    out = []
    for f in files:
        try:
            out.append(Path(f).read_text(encoding="utf-8").strip())
        except OSError as ex:
            raise ShareError(f"cannot read share file {f} ({ex.strerror})") from None
    return out


def _prompt_shares(c: spec_mod.Ceremony) -> tuple[list[str], list[str]]:
    shares: list[str] = []
    names: list[str] = []
    click.echo(f"{c.threshold} of the custodians {', '.join(c.custodians)} enter their shares.")
    while len(shares) < c.threshold:
        name = click.prompt("Custodian name").strip()
        if name not in c.custodians:
            raise ShareError(f"{name!r} is not a custodian of this ceremony")
        if name in names:
            raise ShareError(f"custodian {name} already entered a share")
        shares.append(click.prompt(f"Share of {name}", hide_input=True))
        names.append(name)
    return shares, names


def _open_token(
    rt: Runtime,
    c: spec_mod.Ceremony,
    *,
    dry_run: bool,
    yes: bool,
    share_files: tuple[str, ...],
) -> tuple[Pkcs11Backend | None, Custody]:
    """The ceremony's token, opened with the custodians' shares (from files or prompted), or
    with the configured PIN for an unattended run; none for a dry run without either."""
    from ceremony_scripts.custody import open_with_shares
    from ceremony_scripts.runner import Custody

    if dry_run and not share_files and not yes:
        click.echo("dry run without shares or --yes: key labels on the real token not checked")
        return None, Custody(UNATTENDED)
    if share_files or not yes:
        if share_files:
            shares = _read_shares(share_files)
            names = [f"share file {Path(f).name}" for f in share_files]
        else:
            shares, names = _prompt_shares(c)
        return open_with_shares(
            rt.config.hsm.module,
            c.token_label,
            shares,
            names,
            threshold=c.threshold,
            on_login_failure=rt.audit_login_failure,
        )
    return _config_backend(rt, c.token_label), Custody(UNATTENDED)


def _report_dry_run(
    c: spec_mod.Ceremony, produced: list[dict[str, str]], problems: list[str]
) -> None:
    click.echo("DRY RUN on a scratch token: nothing was written. A real run would produce:")
    for o in produced:
        click.echo(f"  {o['real_path']}: {o['summary']}")
    click.echo(f"  {c.transcript} (+ .report.md, .report.html)")
    if problems:
        click.echo("A real run would be REFUSED:")
        for p in problems:
            click.echo(f"  - {p}")
        raise click.exceptions.Exit(2)


@ceremony.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--dry-run", is_flag=True, help="Do everything on a scratch SoftHSM token; write nothing."
)
@click.option("--yes", is_flag=True, help=f"No prompts: {UNATTENDED}; marked so in the transcript.")
@click.option("--share", "share_files", multiple=True, help="A custodian's share file (repeat).")
@click.pass_obj
def run_cmd(rt: Runtime, file: str, dry_run: bool, yes: bool, share_files: tuple[str, ...]) -> None:
    """Run the ceremony FILE (refuses existing outputs, key labels and CAs)."""
    from ceremony_scripts.runner import dry_run as dry_run_ceremony
    from ceremony_scripts.runner import run
    from policies.schema import load_profiles

    c = spec_mod.load(Path(file))
    click.echo(f"ceremony {c.name}: file sha256 {c.sha256}")
    export_softhsm_conf(rt.config)
    profiles = load_profiles()
    module = rt.config.hsm.module
    ui = ClickUi()
    backend, custody = _open_token(rt, c, dry_run=dry_run, yes=yes, share_files=share_files)
    if dry_run:
        result, problems = dry_run_ceremony(
            c,
            real_store=rt.store,
            real_backend=backend,
            module=module,
            profiles=profiles,
            base_url=rt.config.public_base_url,
            ui=ui,
            clock=rt.clock,
        )
        _report_dry_run(c, result.produced, problems)
        return
    assert backend is not None
    # The ceremony's own events name its operator and witnesses from the file; this one names
    # the OS account (and --actor) that started it, so the shell session is traceable too.
    rt.audit.append(
        cli_actor(),
        "ceremony.invoked",
        audit_objects.ceremony(c.name),
        {"file_sha256": c.sha256, "operator": c.operator, "unattended": yes},
    )
    try:
        result = run(
            c,
            store=rt.store,
            backend=backend,
            profiles=profiles,
            base_url=rt.config.public_base_url,
            ui=ui,
            custody=custody,
            unattended=yes,
            clock=rt.clock,
        )
    except StepFailed:
        click.echo(f"ceremony FAILED; transcript {c.transcript} says where it stopped", err=True)
        raise
    click.echo(f"ceremony {c.name} complete")
    click.echo(f"transcript {result.transcript}")
    click.echo(f"report {result.report_md} / {result.report_html}")


@ceremony.command("split-pin")
@click.option("-k", "--threshold", type=int, required=True, help="Shares needed to rebuild (K).")
@click.option("-n", "--shares", "count", type=int, required=True, help="Shares made (N).")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for the share files (one per custodian).",
)
@click.option("--token", "token_label", default=None, help="Token whose user PIN this is.")
@click.option(
    "--from",
    "source",
    default="prompt",
    help="Where the PIN is: prompt (default), env:VAR or file:PATH.",
)
@click.option("--custodian", "custodians", multiple=True, help="Custodian names (N of them).")
@click.option("--no-check", is_flag=True, help="Do not log in to check the PIN first.")
@click.pass_obj
def split_pin(
    rt: Runtime,
    threshold: int,
    count: int,
    out_dir: str,
    token_label: str | None,
    source: str,
    custodians: tuple[str, ...],
    no_check: bool,
) -> None:
    """Split the token's user PIN into N shares, K of which rebuild it (one file each)."""
    token_label = token_label or rt.config.hsm.token_label
    if custodians and len(custodians) != count:
        raise ShareError(f"{len(custodians)} custodian names for {count} shares")
    if source == "prompt":
        pin = click.prompt(f"User PIN of token '{token_label}'", hide_input=True)
    else:
        pin = PinSource.parse(source, base_dir=Path.cwd()).read(token_label)
    if not no_check:
        from hsm.pkcs11_backend import Pkcs11Backend

        export_softhsm_conf(rt.config)
        b = Pkcs11Backend(
            rt.config.hsm.module,
            token_label,
            PinSource.literal(pin),
            on_login_failure=rt.audit_login_failure,
        )
        try:
            b.list_keys()
        finally:
            b.close()
    sp = split_secret(pin, threshold, count)
    del pin
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = list(custodians) or [f"custodian-{i}" for i in range(1, count + 1)]
    paths = []
    for i, (name, share) in enumerate(zip(names, sp.shares, strict=True), 1):
        p = out / f"share-{i}-{_slug(name)}.txt"
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CeremonyError(f"{p} exists: never overwritten") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(share + "\n")
        paths.append(p)
    rt.audit.append(
        cli_actor(),
        "ceremony.split",
        audit_objects.token(token_label),
        {"split": sp.split_id, "threshold": threshold, "shares": count, "custodians": names},
    )
    click.echo(f"split {sp.split_id}: {threshold} of {count} shares rebuild the PIN")
    for name, p in zip(names, paths, strict=True):
        click.echo(f"  {name}: {p}")


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "x"


@ceremony.command("check-shares")
@click.argument("files", nargs=-1, required=True)
def check_shares(files: tuple[str, ...]) -> None:
    """Check that share FILES rebuild a secret (prints the split, never the secret)."""
    r = combine(_read_shares(files))
    click.echo(f"OK: split {r.split_id}, {len(r.xs)} shares of {r.k}-of-{r.n} rebuild its secret")


@ceremony.command("verify")
@click.argument("transcript", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-hsm", is_flag=True, help="Do not compare public keys with the token.")
@click.option("--share", "share_files", multiple=True, help="Share files to open the token.")
@json_output
@click.pass_obj
def verify_cmd(
    rt: Runtime, transcript: str, no_hsm: bool, share_files: tuple[str, ...], as_json: bool
) -> None:
    """Re-check the ceremony transcript TRANSCRIPT: chain, signature, certificates,
    outputs, keys on the token."""
    from ceremony_scripts.custody import open_with_shares
    from ceremony_scripts.transcript import read
    from ceremony_scripts.verify import verify
    from policies.schema import load_profiles

    entries = read(Path(transcript))
    token = entries[0].get("details", {}).get("token_label") if entries else None
    backend = None
    if not no_hsm and token:
        try:
            if share_files:
                backend, _ = open_with_shares(
                    rt.config.hsm.module, token, _read_shares(share_files), []
                )
            else:
                backend = _config_backend(rt, token)
        except HsmError as ex:
            raise CeremonyError(f"cannot open token '{token}' to check keys: {ex}") from None
    rep = verify(Path(transcript), backend=backend, profiles=load_profiles())
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in rep.checks], indent=2))
    else:
        for c in rep.checks:
            click.echo(f"{'OK  ' if c.ok else 'FAIL'} {c.name}: {c.detail}")
    if not rep.ok:
        raise click.exceptions.Exit(1)


@ceremony.command("report")
@click.argument("transcript", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out", "out", type=click.Path(dir_okay=False), required=True, help="X.md (and X.html)"
)
def report_cmd(transcript: str, out: str) -> None:
    """Write the printable report (Markdown + HTML) of the ceremony transcript
    TRANSCRIPT."""
    from ceremony_scripts import report as report_mod

    md = Path(out)
    report_mod.write(Path(transcript), md, md.with_suffix(".html"))
    click.echo(f"wrote {md} and {md.with_suffix('.html')}")
