"""``Content-Disposition`` for files named by clients (RFC 6266, RFC 8187).

A client's file name may hold anything: CJK, Arabic, quotes, CR/LF. HTTP/1.1 header values are
Latin-1 at best, and gunicorn refuses to send anything else, so after a signature was made the
answer would fail on the name alone. The header therefore carries two names: ``filename`` with
an ASCII fallback for old clients, and ``filename*`` with the full name percent-encoded as
UTF-8, which every current browser and HTTP library reads. The value is pure ASCII by
construction, whatever the input.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

DEFAULT_NAME = "document.pdf"
_MAX_CHARS = 128  # longer names are cut: a header line is not the place for a novel
_ASCII_KEEP = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- ")


def file_name(name: str | None) -> str:
    """A client's file name as psre keeps it: no path, no control characters, no lone
    surrogates (neither PostgreSQL nor UTF-8 takes them), at most 128 characters."""
    full = _clean(name or "")
    if not full.strip(" ._-"):
        return DEFAULT_NAME
    if full.startswith("."):
        return "document" + full  # ".pdf" is an extension, not a name
    return full


def attachment(name: str | None) -> str:
    """The header value for downloading a file called ``name``; ASCII only, never fails."""
    full = file_name(name)
    fallback = _ascii_fallback(full)
    value = f'attachment; filename="{fallback}"'
    if fallback != full:
        value += f"; filename*=UTF-8''{quote(full, safe='')}"
    return value


def _clean(name: str) -> str:
    # Path parts and control characters (CR/LF would split the header) are never part of a name;
    # lone surrogates cannot be encoded as UTF-8 and are dropped as well.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(
        c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
    )  # Cc includes NUL
    return kept.strip()[:_MAX_CHARS]


def _ascii_fallback(name: str) -> str:
    # Accents become their base letters (é -> e); what has no ASCII form goes.
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in decomposed if c in _ASCII_KEEP).strip()
    stem, dot, ext = ascii_only.rpartition(".")
    if not ascii_only or (dot and not stem.strip(" ._-")):
        # Nothing left of the name but (perhaps) its extension, e.g. "名前.pdf" -> ".pdf".
        return f"document.{ext}" if dot and ext else DEFAULT_NAME
    return ascii_only
