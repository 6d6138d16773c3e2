"""``psre policy …``: validate the certificate profiles and render the CP/CPS from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from policies.errors import PolicyError
from policies.schema import load_profiles

if TYPE_CHECKING:  # the renderer needs Jinja: imported by `psre policy render` only
    from policies.render import Format

_MD: tuple[Format, str] = ("markdown", "cps.md")
_HTML: tuple[Format, str] = ("html", "cps.html")
_FORMATS = {"md": (_MD,), "html": (_HTML,), "both": (_MD, _HTML)}


class _PolicyGroup(click.Group):
    """Turns policy errors into ``psre: error: <file>: <key>: <reason>`` and exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PolicyError as ex:
            click.echo(f"psre: error: {ex}", err=True)
            ctx.exit(2)


_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Profile directory (default: the shipped policies/profiles).",
)


@click.group(cls=_PolicyGroup)
def policy() -> None:
    """Certificate profiles and the CP/CPS rendered from them."""


@policy.command()
@_dir_option
def check(directory: Path | None) -> None:
    """Load and validate every profile file; print one line per profile."""
    for p in load_profiles(directory).values():
        click.echo(
            f"{p.name:20} {p.kind:12} {p.max_validity_days:5}d  "
            f"{','.join(p.key_types)}  lint={','.join(p.lint) or '-'}"
        )


@policy.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write cps.md / cps.html into (created if missing).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(_FORMATS)),
    default="both",
    show_default=True,
    help="Write Markdown, HTML or both.",
)
@_dir_option
@click.pass_context
def render(ctx: click.Context, out_dir: Path, fmt: str, directory: Path | None) -> None:
    """Render the CP/CPS from the profiles, with URLs under the configured public base URL."""
    from policies.render import render_cps

    base_url: str = ctx.obj.config.public_base_url
    profiles = load_profiles(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, filename in _FORMATS[fmt]:
        path = out_dir / filename
        path.write_text(render_cps(profiles, base_url=base_url, fmt=kind), encoding="utf-8")
        click.echo(f"wrote {path}")
