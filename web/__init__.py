"""Server-rendered web pages: the public verify/repository/status pages and the operator
console. ``register(app)`` mounts both blueprints and the static files (served locally)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from web.console import bp as console
    from web.public import bp as public
    from web.security import after_request

    app.register_blueprint(public)
    app.register_blueprint(console)
    app.after_request(after_request)
