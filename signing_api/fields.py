"""Request fields → the engine's :class:`SignOptions`, shared by the v1 (form) and v2 (JSON)
endpoints after each has mapped its own spelling onto :class:`StampFields`.

Coordinates are PDF user-space units (1/72 inch) from the page's lower-left corner, whatever the
upstream manual says about pixels (bsre-esign-api.md); the OpenAPI document says so too.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from signing_api.api_schema import COORD_LIMIT, MAX_PAGE
from signing_api.esign_errors import EsignError, invalid, missing
from signing_api.pdf_sign import LEVELS, SignOptions, Stamp

MAX_NIK = 16


@dataclass(frozen=True)
class StampFields:
    """The appearance fields of one request, as strings/bytes, before validation."""

    tampilan: str | None = None
    use_image: bool = True
    image: bytes | None = None
    image_field: str = "imageTTD"
    link_qr: str | None = None
    page: str | None = None
    halaman: str | None = None
    x: str | None = None
    y: str | None = None
    x_field: str = "xAxis"
    y_field: str = "yAxis"
    width: str | None = None
    height: str | None = None
    tag: str | None = None
    reason: str | None = None
    location: str | None = None
    pdf_password: str | None = None
    level: str | None = None


def sign_options(f: StampFields, default_level: str) -> SignOptions:
    level = (f.level or default_level).upper()
    if level not in LEVELS:
        raise invalid("level", f"must be one of {', '.join(LEVELS)}")
    tampilan = (f.tampilan or "invisible").strip().lower()
    if tampilan not in ("visible", "invisible"):
        raise invalid("tampilan", "must be visible or invisible")
    _page(f)  # checked for invisible signatures too: a wrong field is never silently ignored
    stamp = _stamp(f) if tampilan == "visible" else None
    return SignOptions(
        level=level,
        reason=f.reason or None,
        location=f.location or None,
        stamp=stamp,
        pdf_password=f.pdf_password or None,
    )


def _stamp(f: StampFields) -> Stamp:
    image = qr = None
    if f.use_image:
        if not f.image:
            raise missing(f.image_field)
        image = f.image
    else:
        if not f.link_qr:
            raise missing("linkQR")
        qr = f.link_qr
    page = _page(f)
    if f.tag:
        if len(f.tag) != 1:
            raise invalid("tag_koordinat", "must be exactly one character")
        width = _number("width", f.width) if f.width else 120.0
        height = _number("height", f.height) if f.height else 60.0
        if width <= 0 or height <= 0:
            raise invalid("width/height", "must be positive")
        return Stamp(page=page, tag=f.tag, width=width, height=height, image=image, qr_url=qr)
    names = (f.x_field, f.y_field, "width", "height")
    values = (f.x, f.y, f.width, f.height)
    given: list[str] = []
    for name, value in zip(names, values, strict=True):
        if value is None or value == "":
            raise missing(name)
        given.append(value)
    x, y, w, h = (_number(n, v) for n, v in zip(names, given, strict=True))
    if w <= 0 or h <= 0:
        raise invalid("width/height", "must be positive")
    if x < 0 or y < 0:
        raise invalid(f"{f.x_field}/{f.y_field}", "must not be negative")
    return Stamp(page=page, box=(x, y, x + w, y + h), width=w, height=h, image=image, qr_url=qr)


def _page(f: StampFields) -> int:
    if f.halaman:
        h = f.halaman.strip().upper()
        if h in ("PERTAMA", "FIRST"):
            return 1
        if h in ("TERAKHIR", "LAST"):
            return -1
        raise invalid("halaman", "must be PERTAMA or TERAKHIR")
    if f.page is None or f.page == "":
        return 1
    if str(f.page).strip().upper() in ("PERTAMA", "TERAKHIR"):
        return 1 if str(f.page).strip().upper() == "PERTAMA" else -1
    try:
        page = int(str(f.page))
    except ValueError:
        raise invalid("page", "must be a page number") from None
    if not 1 <= page <= MAX_PAGE:
        raise invalid("page", f"must be between 1 and {MAX_PAGE}")
    return page


def _number(name: str, value: str | float | int) -> float:
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise invalid(name, "must be a number") from None
    # Range-checked, not only finite: 1e308 + 1e308 overflows where the stamp box is made.
    if not 0 <= n < COORD_LIMIT:
        raise invalid(name, f"must be at least 0 and below {COORD_LIMIT} (PDF points)")
    return n


def check_nik(nik: str | None) -> str:
    if not nik:
        raise missing("nik")
    nik = nik.strip()
    if len(nik) != MAX_NIK or not (nik.isascii() and nik.isdigit()):
        raise invalid("nik", f"must be {MAX_NIK} digits")
    return nik


def b64decode(field: str, value: object) -> bytes:
    if not isinstance(value, str) or not value:
        raise invalid(field, "must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(field, "is not valid base64") from None


def require_pdf(field: str, data: bytes) -> bytes:
    """A cheap first check (the engine parses properly): a PDF has its header near the start."""
    if b"%PDF-" not in data[:1024]:
        raise EsignError(4015, f"{field}: not a PDF document")
    return data
