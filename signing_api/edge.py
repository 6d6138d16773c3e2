"""Checks at the edge, before any handler sees a request: text that no field may hold, JSON that
costs more to parse than it is worth, numbers outside the range a handler can use.

Why here and not in each handler: a NUL reaches PostgreSQL as an error the API reported as "the
database is unavailable", a lone surrogate (``"\\ud800"`` in JSON) fails when it is encoded for
SQLite or a log line, and a JSON document nested 100,000 deep exhausts the parser's recursion.
None of these is ever a meaningful value, so every field of every request is refused with the
same answer wherever it would otherwise have gone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

#: Deepest JSON nesting any request of the API needs is 3 (signatureProperties[i].field).
MAX_JSON_DEPTH = 16
#: Most structural characters (, : [ {) a JSON body may hold. The largest real request (50 files,
#: 50 stamp entries of 14 fields) has about 1,500; a body of "[{},{},…]" within the upload limit
#: would hold 20 million dicts (gigabytes) once parsed, so it is refused before parsing.
MAX_JSON_TOKENS = 20_000

#: NUL, and UTF-16 surrogates, which only JSON's \\u escapes can produce in a Python str.
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


class EdgeError(ValueError):
    """A request refused at the edge; ``field`` names where (never the value itself)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def text_problem(value: str) -> str | None:
    """Why ``value`` can be no field's value, or None."""
    m = _FORBIDDEN.search(value)
    if m is None:
        return None
    return "must not contain NUL" if m.group() == "\x00" else "must not contain lone surrogates"


def check_texts(pairs: Iterable[tuple[str, str]]) -> None:
    """Raise EdgeError for the first (name, text) pair whose name or text is forbidden."""
    for name, value in pairs:
        for text in (name, value):
            problem = text_problem(text)
            if problem:
                raise EdgeError(_printable(name), problem)


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``, or EdgeError: not UTF-8 JSON, NaN/Infinity, numbers too
    long to convert, nesting deeper than MAX_JSON_DEPTH, more than MAX_JSON_TOKENS values, or
    forbidden text anywhere."""
    # Counting bytes is C-speed and needs no parse; separators inside strings count too, which
    # only makes the bound stricter than it needs to be for text full of commas.
    tokens = sum(raw.count(c) for c in (b",", b":", b"[", b"{"))
    if tokens > MAX_JSON_TOKENS:
        raise EdgeError("body", f"more than {MAX_JSON_TOKENS} JSON values")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise EdgeError("body", f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise EdgeError("body", "is not valid JSON") from None
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Depth and text checks of a parsed document, iteratively (no recursion to exhaust)."""
    stack: list[tuple[Any, str, int]] = [(value, "body", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise EdgeError("body", f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise EdgeError(where, problem)
        elif isinstance(item, dict):
            for k, v in item.items():
                name = f"{where}.{_printable(k)}" if where != "body" else _printable(k)
                if text_problem(k):
                    raise EdgeError(name, text_problem(k) or "")
                stack.append((v, name, depth + 1))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _printable(name: str) -> str:
    """A field name fit for an error message: forbidden characters escaped, length bounded."""
    return _FORBIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", name)[:64]


#: Where a redirect after a language switch may go: a path on this site, printable ASCII only.
#: Browsers drop tabs and newlines from URLs, so "/\t/evil.com" would become "//evil.com".
_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")


def local_redirect(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default`` (never an open redirect)."""
    if target and _LOCAL_PATH.fullmatch(target):
        return target
    return default


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def check_request_texts() -> None:
    """Every query parameter, path part, form field and upload name of the current request
    (an app-wide before_request hook; JSON bodies are checked where they are parsed)."""
    from flask import request

    pairs: list[tuple[str, str]] = list(request.args.items(multi=True))
    pairs += [(k, str(v)) for k, v in (request.view_args or {}).items()]
    if request.mimetype in _FORM_TYPES:
        pairs += list(request.form.items(multi=True))
        pairs += [(k, f.filename or "") for k, f in request.files.items(multi=True)]
    check_texts(pairs)


#: Database ids are 32-bit on PostgreSQL (INTEGER): a larger one in a URL can name nothing.
MAX_ID = 2**31 - 1


def bounded_int_converter() -> type:
    """werkzeug's ``int`` converter, refusing (404) what no database row id can be."""
    from werkzeug.routing import IntegerConverter

    class BoundedInt(IntegerConverter):
        def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("max", MAX_ID)
            super().__init__(map, *args, **kwargs)

    return BoundedInt
