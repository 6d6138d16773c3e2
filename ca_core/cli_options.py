"""Options that many ``psre`` commands share, declared once so their names and help agree."""

from __future__ import annotations

import click

#: ``--json``: machine-readable output (the value arrives as ``as_json``).
json_output = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")

#: ``--ca`` on a command naming a certificate by serial (the value arrives as ``ca_name``).
serial_ca = click.option(
    "--ca",
    "ca_name",
    default=None,
    help="Issuing CA (needed when several CAs used the serial).",
)
