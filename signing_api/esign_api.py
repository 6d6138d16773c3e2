"""The e-sign API's blueprints (v1, v2 with seals) and its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from ca_core.app_runtime import runtime
from signing_api.openapi import openapi_document

docs = Blueprint("esign_docs", __name__)


@docs.get("/api/openapi.json")
def openapi() -> Response:
    """Public: a description of the API carries no data (every other /api route needs a client
    app's credentials)."""
    return jsonify(openapi_document(runtime().config.signing.max_files))


def register(app: Flask) -> None:
    from signing_api.v1 import bp as v1
    from signing_api.v2 import bp as v2

    app.register_blueprint(v1)
    app.register_blueprint(v2)
    app.register_blueprint(docs)
