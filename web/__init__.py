"""Server-rendered web pages: the public verify/repository/status pages and the operator
console. ``register(app)`` mounts both blueprints and the static files (served locally)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing web.operators from the CLI must not load Flask
    from flask import Flask


def register(app: Flask) -> None:
    from web.console import bp as console
    from web.operators import dummy_hash
    from web.public import bp as public
    from web.security import after_request

    dummy_hash()  # made now, so that even the first login for an unknown name is not faster

    app.register_blueprint(public)
    app.register_blueprint(console)
    app.after_request(after_request)
