"""What both API versions do once a request is authenticated and activated: sign each document
with the signer's HSM key through the engine, and audit every signature with its hashes."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from signing_api.activation import Signer, subject_key
from signing_api.client_auth import ClientApp
from signing_api.pdf_sign import PdfEngine, SignOptions, sign_pdf

if TYPE_CHECKING:
    from ca_core.audit import AuditLog


@dataclass(frozen=True)
class Document:
    name: str
    data: bytes
    options: SignOptions


def sign_documents(
    engine: PdfEngine, audit: AuditLog, client: ClientApp, signer: Signer, docs: list[Document]
) -> list[bytes]:
    """Signed PDFs in request order, each signature appended to ``audit``. All or nothing
    towards the client: the first refusal (bad PDF, stamp placement) fails the whole request;
    signatures already made are audited."""
    out: list[bytes] = []
    # The request's deadline: each document has its own budget, all of them together this.
    deadline = time.monotonic() + engine.config.max_request_seconds
    for doc in docs:
        signed = sign_pdf(engine, doc.data, signer.certificate, doc.options, deadline)
        audit.append(
            f"client:{client.username}",
            "sign.pdf",
            subject_key(signer.subscriber),
            {
                "document": doc.name,
                "sha256_in": hashlib.sha256(doc.data).hexdigest(),
                "sha256_out": hashlib.sha256(signed).hexdigest(),
                "level": doc.options.level,
                "certificate": signer.certificate.serial_hex,
                "visible": doc.options.stamp is not None,
            },
        )
        out.append(signed)
    return out


def level_for(requested: str | None, client: ClientApp, default: str) -> str:
    return requested or client.default_level or default
