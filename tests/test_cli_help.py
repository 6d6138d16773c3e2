"""Every ``psre`` command, group, option and argument explains itself in ``--help``.

The click tree is walked in-process (the same objects ``psre --help`` prints), so a command added
without help fails here rather than in front of an operator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest

from psre.cli import COMMANDS as REGISTRY
from psre.cli import cli

# Upper-case words in help that are not argument placeholders: abbreviations and status names.
_WORDS = {
    "API", "CPS", "CRL", "CSR", "DER", "ETSI", "EXPIRED", "HSM", "HTML", "JSON", "NEW", "NIK",
    "NTRID", "OCSP", "PDF", "PEM", "PIN", "PKCS", "URL", "XML",
}  # fmt: skip


def _commands() -> Iterator[tuple[str, click.Command]]:
    def walk(cmd: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, cmd
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, f"{path} {name} is listed but does not load"
                yield from walk(sub, f"{path} {name}")

    yield from walk(cli, "psre")


COMMANDS = dict(_commands())


def test_the_walk_sees_the_whole_tree() -> None:
    # A walk that silently stopped at the root would pass every check below.
    assert len(COMMANDS) >= 60
    assert {"psre pdf sign", "psre ca create-root", "psre ceremony verify"} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_command_has_help(path: str) -> None:
    cmd = COMMANDS[path]
    assert (cmd.help or "").strip(), f"{path} has no help text"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_has_help(path: str) -> None:
    cmd = COMMANDS[path]
    bare = [
        "/".join(p.opts)
        for p in cmd.params
        if isinstance(p, click.Option) and p.name != "help" and not (p.help or "").strip()
    ]
    assert not bare, f"{path}: options without help: {', '.join(bare)}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_names_only_real_arguments_and_options(path: str) -> None:
    """Arguments are documented in the command's text (click has no per-argument help), and the
    text names no argument or option the command does not have."""
    cmd = COMMANDS[path]
    text = cmd.help or ""
    args = {p.human_readable_name for p in cmd.params if isinstance(p, click.Argument)}
    opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    undocumented = sorted(a for a in args if not re.search(rf"\b{re.escape(a)}\b", text))
    assert not undocumented, f"{path}: help does not say what {', '.join(undocumented)} is"
    placeholders = set(re.findall(r"\b[A-Z][A-Z_]{2,}\b", text)) - args - _WORDS
    assert not placeholders, f"{path}: help names {placeholders}, which are not its arguments"
    dashed = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text)) - opts
    assert not dashed, f"{path}: help names {dashed}, which are not its options"


def test_pdf_sign_help_names_the_subscriber_option() -> None:
    text = COMMANDS["psre pdf sign"].help or ""
    assert "--subscriber" in text
    assert "KEY" not in text


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_listing_says_what_the_command_says(name: str) -> None:
    # `psre --help` lists the registry's summaries so as to import no command: each must read as
    # the command's own help would, at any terminal width.
    cmd = COMMANDS[f"psre {name}"]
    stand_in = click.Command(name, help=REGISTRY[name].summary)
    for limit in (20, 45, 60, 100, 400):
        assert stand_in.get_short_help_str(limit) == cmd.get_short_help_str(limit)
