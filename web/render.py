"""Rendering pages with the catalogue, the language, the operator and the CSRF token."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import current_app, g, render_template, request

from web.i18n import current_lang, translate
from web.operators import allowed
from web.security import csrf_token


def render(template: str, status: int = 200, **ctx: Any) -> tuple[str, int]:
    active = getattr(g, "session", None)
    lang = current_lang()
    return (
        render_template(
            template,
            _=lambda key: translate(key, lang),
            lang=lang,
            other_lang="en" if lang == "id" else "id",
            here=quote(request.full_path.rstrip("?"), safe="/?=&"),
            operator=active.operator if active else None,
            can=lambda perm: active is not None and allowed(active.operator.role, perm),
            csrf_token=csrf_token(),
            # A public server has no console (psre serve --role public): no link to a 404.
            console_served="console" in current_app.blueprints,
            **ctx,
        ),
        status,
    )


def render_error(message_key: str, status: int) -> tuple[str, int]:
    return render("error.html", status, message_key=message_key)
