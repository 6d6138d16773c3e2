"""Server-rendered web pages: the public verify/repository/status pages and the operator
console. ``register(app)`` mounts both blueprints and the static files (served locally)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing web.operators from the CLI must not load Flask
    from flask import Flask


def register(app: Flask, *, console: bool = True) -> None:
    """The public pages, and the operator console unless ``console`` is false (public role)."""
    from web.public import bp as public
    from web.security import after_request

    app.register_blueprint(public)
    if console:
        from web.console import bp as console_bp
        from web.operators import dummy_hash

        dummy_hash()  # made now, so that even the first login for an unknown name is not faster
        app.register_blueprint(console_bp)
    app.after_request(after_request)
