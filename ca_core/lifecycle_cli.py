"""``psre lifecycle run``: expiry and expiry notices now (what ``psre serve`` does periodically)."""

from __future__ import annotations

import click

from ca_core.cli_options import json_output
from ca_core.runtime import Runtime


@click.group("lifecycle")
def lifecycle_group() -> None:
    """Certificate lifecycles: expiry, notices before expiry."""


@lifecycle_group.command("run")
@click.pass_obj
def lifecycle_run(rt: Runtime) -> None:
    """Mark subscribers whose certificates all ran out EXPIRED; send due expiry notices."""
    from ca_core import lifecycle
    from ca_core.notifier import notifier_for

    report = lifecycle.run(
        rt.store,
        notifier_for(rt.store, rt.config.signing.notifier, clock=rt.clock),
        expiry_notice_days=rt.config.lifecycle.expiry_notice_days,
        now=rt.clock(),
    )
    click.echo(
        f"{report.expired} subscriber(s) marked EXPIRED; {len(report.notices)} expiry notice(s)"
        f" sent ({rt.config.lifecycle.expiry_notice_days} days ahead)"
    )
    for n in report.notices:
        click.echo(f"  notice: {n}")
    for ca in report.retired:
        click.echo(f"retired issuing CA {ca}: its last certificate expired and a CRL followed")


@click.command("report")
@click.option("--from", "period_from", required=True,
              help="Start: YYYY-MM-DD (00:00 UTC) or an ISO 8601 time.")  # fmt: skip
@click.option(
    "--to",
    "period_to",
    required=True,
    help="End: YYYY-MM-DD (that whole day included) or an ISO 8601 time (excluded).",
)
@json_output
@click.option(
    "--csv",
    "as_csv",
    is_flag=True,
    help="Print CSV instead of text.",
)
@click.pass_obj
def report_cmd(rt: Runtime, period_from: str, period_to: str, as_json: bool, as_csv: bool) -> None:
    """Figures for the ministry: certificates issued, revoked (by reason), suspended;
    signatures by client app, agency and level; lockouts."""
    from ca_core import report

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    r = report.build(
        rt.store, report.parse_bound(period_from), report.parse_bound(period_to, end=True)
    )
    click.echo(r.to_json() if as_json else r.to_csv() if as_csv else r.to_text(), nl=as_json)


ALL = (lifecycle_group, report_cmd)
