"""What each e-sign API request may carry, as JSON Schema (2020-12): one definition that both
gates every request (:func:`check`) and is published in the OpenAPI document, so the document
says exactly what the server accepts.

The schema is the first check of a request's fields: a value it refuses is 4014 (a required
field missing or empty) or 4015 (anything else), before a handler runs. What JSON Schema cannot
say — a PDF is a PDF, a subscriber exists, one stamp entry per file or one for all — the handlers
still check, and the document states it in words and, where the counts of two fields must agree,
in ``x-psre-counts``.

Multipart (v1) fields are text, so their numbers are patterns; JSON (v2) fields accept a number
or its text, as BSrE clients send both. Coordinates are bounded (0..99999 PDF points, more than
any page ISO 32000 allows: 14400) so arithmetic on them never overflows.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from signing_api.esign_errors import EsignError, invalid, missing

#: Longest free text (reason, location, passphrase, QR link …): more than any real value.
MAX_TEXT = 1024
#: Coordinates and sizes: 0 ≤ v < COORD_LIMIT PDF points (five digits before the point).
COORD_LIMIT = 100_000
MAX_PAGE = 999999
LEVELS = ["B-B", "B-T", "B-LT", "B-LTA"]

NIK_PATTERN = "^[0-9]{16}$"
ORG_ID_PATTERN = "^NTRID-[0-9A-Z]{1,58}$"
#: What base64.b64decode(validate=True) accepts (padding included), and the empty string.
B64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
#: Non-negative decimal below 100000 / the same but not zero, as text.
COORD_TEXT = r"^[0-9]{1,5}(?:\.[0-9]+)?$"
SIZE_TEXT = r"^(?:0*[1-9][0-9]{0,4}(?:\.[0-9]+)?|0*\.[0-9]*[1-9][0-9]*|0+\.[0-9]*[1-9][0-9]*)$"
PAGE_TEXT = f"^(?:[1-9][0-9]{{0,{len(str(MAX_PAGE)) - 1}}}|PERTAMA|TERAKHIR)$"

_NULL = {"type": "null"}
_EMPTY = {"const": ""}


def text(max_length: int = MAX_TEXT, **kw: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, **kw}


def filled(max_length: int = MAX_TEXT, **kw: Any) -> dict[str, Any]:
    return text(max_length, minLength=1, **kw)


def optional(*schemas: dict[str, Any]) -> dict[str, Any]:
    """A JSON field that may also be null or "" (both mean "not given", as BSrE clients send)."""
    return {"anyOf": [*schemas, _EMPTY, _NULL]}


def pdf_base64(**kw: Any) -> dict[str, Any]:
    return filled(
        2**31,
        pattern=B64_PATTERN,
        contentEncoding="base64",
        contentMediaType="application/pdf",
        **kw,
    )


NIK = filled(16, pattern=NIK_PATTERN, description="NIK: 16 digits")
#: JSON NIKs may be numbers (PHP and JavaScript clients send them so); a NIK never starts with 0.
NIK_JSON = {"anyOf": [NIK, {"type": "integer", "minimum": 10**15, "maximum": 10**16 - 1}]}
EMAIL = filled(254, format="email")
ORG_ID = filled(64, pattern=ORG_ID_PATTERN, description="the agency's organizationIdentifier")
BINARY_PDF = {"type": "string", "format": "binary", "contentMediaType": "application/pdf"}
BINARY_IMAGE = {"type": "string", "format": "binary", "contentMediaType": "image/png"}
HEX_SHA256 = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}


def _one_of_filled(*names: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """At least one of ``names`` given and non-empty."""
    return {"anyOf": [{"required": [n], "properties": {n: schemas[n]}} for n in names]}


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


# --- stamps (visible signatures) --------------------------------------------------------------

VISIBLE = ["visible", "VISIBLE"]
INVISIBLE = ["invisible", "INVISIBLE"]
HALAMAN = ["PERTAMA", "TERAKHIR", "FIRST", "LAST"]


def _stamp_rules(fields: dict[str, Any], names: dict[str, Any]) -> dict[str, Any]:
    """tampilan invisible (or absent), or visible with an image or a QR link, placed either at
    ``tag_koordinat`` or at x, y, width, height. ``names`` maps roles to this version's names
    (and "look" to the schema of the stamp's appearance)."""
    position = [names["x"], names["y"], "width", "height"]
    return {
        "anyOf": [
            {"properties": {"tampilan": {"enum": [*INVISIBLE, "", None]}}},
            {
                "required": ["tampilan"],
                "properties": {"tampilan": {"enum": VISIBLE}},
                "allOf": [
                    names["look"],
                    {
                        "anyOf": [
                            {
                                "required": ["tag_koordinat"],
                                "properties": {"tag_koordinat": filled(1)},
                            },
                            {
                                "required": position,
                                "properties": {n: fields[f"{n}!"] for n in position},
                            },
                        ]
                    },
                ],
            },
        ]
    }


def _v1_stamp() -> tuple[dict[str, Any], dict[str, Any]]:
    coord = {"type": "string", "pattern": COORD_TEXT}
    size = {"type": "string", "pattern": SIZE_TEXT}
    fields: dict[str, Any] = {
        "tampilan": _enum(*VISIBLE, *INVISIBLE),
        "image": {
            **_enum("true", "false", "TRUE", "FALSE", "True", "False"),
            "description": "true: stamp the imageTTD specimen; false (default): a QR code of "
            "linkQR",
        },
        "imageTTD": BINARY_IMAGE,
        "linkQR": text(),
        "page": {"type": "string", "pattern": PAGE_TEXT, "description": "1-based page number"},
        "halaman": _enum(*HALAMAN),
        "xAxis": {**coord, "description": "PDF points (1/72 in) from the page's lower-left corner"},
        "yAxis": coord,
        "width": size,
        "height": size,
        "tag_koordinat": {
            **text(1),
            "description": "one character; the stamp goes where it appears",
        },
        "reason": text(),
        "location": text(),
        "pdfPassword": {**text(), "description": "opens an encrypted PDF; never stored or logged"},
        "level": {
            **_enum(*LEVELS),
            "description": "psre extension: PAdES baseline level (default: client app's, then "
            "signing.default_level = B-LT)",
        },
    }
    fields.update({f"{n}!": fields[n] for n in ("xAxis", "yAxis", "width", "height")})
    look = {
        "anyOf": [
            {
                "required": ["image", "imageTTD"],
                "properties": {"image": {"enum": ["true", "TRUE", "True"]}},
            },
            {
                "required": ["linkQR"],
                "properties": {
                    "image": {"enum": ["false", "FALSE", "False"]},
                    "linkQR": filled(),
                },
            },
        ]
    }
    rules = _stamp_rules(fields, {"x": "xAxis", "y": "yAxis", "look": look})
    return {k: v for k, v in fields.items() if not k.endswith("!")}, rules


def _v2_properties() -> dict[str, Any]:
    coord = {"type": "number", "minimum": 0, "exclusiveMaximum": COORD_LIMIT}
    size = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": COORD_LIMIT}
    coord_any = {"anyOf": [coord, {"type": "string", "pattern": COORD_TEXT}]}
    size_any = {"anyOf": [size, {"type": "string", "pattern": SIZE_TEXT}]}
    fields: dict[str, Any] = {
        "tampilan": optional(_enum(*VISIBLE, *INVISIBLE)),
        "imageBase64": optional(
            {
                "type": "string",
                "pattern": B64_PATTERN,
                "contentEncoding": "base64",
                "contentMediaType": "image/png",
            }
        ),
        "linkQR": optional(text()),
        "tag_koordinat": optional(text(1)),
        "page": optional(
            {"type": "string", "pattern": PAGE_TEXT},
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        ),
        "halaman": optional(_enum(*HALAMAN)),
        "originX": optional(coord_any),
        "originY": optional(coord_any),
        "width": optional(size_any),
        "height": optional(size_any),
        "location": optional(text()),
        "reason": optional(text()),
        "pdfPassword": optional(text()),
        "level": optional(_enum(*LEVELS)),
        "originX!": coord_any,
        "originY!": coord_any,
        "width!": size_any,
        "height!": size_any,
    }
    look = {
        "anyOf": [
            {
                "required": ["imageBase64"],
                "properties": {
                    "imageBase64": {**fields["imageBase64"]["anyOf"][0], "minLength": 1}
                },
            },
            {"required": ["linkQR"], "properties": {"linkQR": filled()}},
        ]
    }
    rules = _stamp_rules(fields, {"x": "originX", "y": "originY", "look": look})
    return {
        "type": "object",
        "properties": {k: v for k, v in fields.items() if not k.endswith("!")},
        **rules,
    }


# --- the requests -----------------------------------------------------------------------------


def _count(max_files: int) -> dict[str, Any]:
    as_text = "|".join(str(i) for i in range(1, max_files + 1))
    return {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": max_files},
            {"type": "string", "pattern": f"^(?:{as_text})$"},
        ],
        "description": f"number of documents, 1 to signing.max_files ({max_files})",
    }


def _hashes(max_files: int) -> dict[str, Any]:
    return {
        "type": "array",
        "items": HEX_SHA256,
        "minItems": 1,
        "maxItems": max_files,
        "description": "psre extension: the SHA-256 of each document; the code then signs "
        "exactly those documents (and data defaults to their number)",
    }


def _path(**params: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": params, "required": list(params)}


_COUNTS_HASHES = {"items": "hashes", "count": "data"}
_COUNTS_PROPS = {"items": "signatureProperties", "per": "file", "or_one": True}


@functools.lru_cache(maxsize=8)
def request_schemas(max_files: int) -> dict[str, dict[str, Any]]:
    """(``"METHOD /path"``) → {"json" | "multipart": schema}. ``max_files`` is
    signing.max_files (a bound the document states)."""
    files = _files(max_files)
    sig_props = _signature_properties(max_files)
    return {
        **_v1_requests(),
        **_v2_requests(max_files, files, sig_props),
        **_seal_requests(max_files, files, sig_props),
    }


def _files(max_files: int) -> dict[str, Any]:
    return {
        "anyOf": [
            pdf_base64(),
            {"type": "array", "items": pdf_base64(), "minItems": 1, "maxItems": max_files},
        ],
        "description": "base64 PDFs (or one as a string)",
    }


def _signature_properties(max_files: int) -> dict[str, Any]:
    props = _v2_properties()
    return {
        "anyOf": [
            props,
            {"type": "array", "items": props, "maxItems": max_files},
            _NULL,
        ],
        "description": "one entry for all files, or one per file; none (null, []): invisible",
    }


def _person() -> dict[str, Any]:
    return {"nik": optional(NIK_JSON), "email": optional(EMAIL)}


def _who() -> dict[str, Any]:
    return _one_of_filled("nik", "email", schemas={"nik": NIK_JSON, "email": EMAIL})


def _secret() -> dict[str, Any]:
    return {"passphrase": optional(filled()), "totp": optional(filled(256))}


def _passphrase_or_totp() -> dict[str, Any]:
    return _one_of_filled(
        "passphrase", "totp", schemas={"passphrase": filled(), "totp": filled(256)}
    )


def _v1_requests() -> dict[str, dict[str, Any]]:
    v1_stamp, v1_rules = _v1_stamp()
    return {
        "POST /api/sign/pdf": {
            "multipart": {
                "type": "object",
                "properties": {
                    "file": BINARY_PDF,
                    "nik": NIK,
                    "passphrase": filled(),
                    **v1_stamp,
                },
                "required": ["file", "nik", "passphrase"],
                **v1_rules,
            }
        },
        "POST /api/sign/verify": {
            "multipart": {
                "type": "object",
                "properties": {"signed_file": BINARY_PDF},
                "required": ["signed_file"],
            }
        },
        "GET /api/user/status/{nik}": {"path": _path(nik=NIK)},
        "GET /api/sign/download/{id_dokumen}": {"path": _path(id_dokumen=filled(128))},
    }


def _v2_requests(
    max_files: int, files: dict[str, Any], sig_props: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    sign_v2 = {
        "type": "object",
        "properties": {
            **_person(),
            **_secret(),
            "signatureProperties": sig_props,
            "file": files,
        },
        "required": ["file"],
        "allOf": [_who(), _passphrase_or_totp()],
        "x-psre-counts": [_COUNTS_PROPS],
    }
    return {
        "POST /api/v2/sign/pdf": {"json": sign_v2},
        "POST /api/v2/sign/get/totp": {
            "json": {
                "type": "object",
                "properties": {
                    **_person(),
                    "data": _count(max_files),
                    "hashes": _hashes(max_files),
                },
                **_who(),
                "x-psre-counts": [_COUNTS_HASHES],
            }
        },
        "POST /api/v2/user/check/status": {
            "json": {"type": "object", "properties": _person(), **_who()}
        },
        "POST /api/v2/user/registration": {
            "json": {
                "type": "object",
                "properties": {
                    "nik": NIK_JSON,
                    "nama": filled(200, pattern=r"\S"),
                    "email": EMAIL,
                    "instansi": optional(text(200)),
                    "passphrase": optional(text(minLength=8)),
                },
                "required": ["nik", "nama", "email"],
            }
        },
        "POST /api/v2/verify/pdf": {
            "json": {
                "type": "object",
                "properties": {"file": pdf_base64(), "password": optional(text())},
                "required": ["file"],
            }
        },
    }


def _seal_requests(
    max_files: int, files: dict[str, Any], sig_props: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    agency = {"idSubscriber": ORG_ID}
    return {
        "POST /api/v2/seal/get/activation": {
            "json": {
                "type": "object",
                "properties": {**agency, **_secret()},
                "required": ["idSubscriber"],
                **_passphrase_or_totp(),
            }
        },
        "POST /api/v2/seal/get/totp": {
            "json": {
                "type": "object",
                "properties": {
                    **agency,
                    "activation": filled(256),
                    "data": _count(max_files),
                    "hashes": _hashes(max_files),
                },
                "required": ["idSubscriber", "activation"],
                "x-psre-counts": [_COUNTS_HASHES],
            }
        },
        "POST /api/v2/seal/revoke/activation": {
            "json": {
                "type": "object",
                "properties": {**agency, "activation": optional(filled(256))},
                "required": ["idSubscriber"],
            }
        },
        "POST /api/v2/seal/pdf": {
            "json": {
                "type": "object",
                "properties": {
                    **agency,
                    "totp": filled(256),
                    "signatureProperties": sig_props,
                    "file": files,
                },
                "required": ["idSubscriber", "totp", "file"],
                "x-psre-counts": [_COUNTS_PROPS],
            }
        },
    }


@functools.lru_cache(maxsize=64)
def _validator(key: str, kind: str, max_files: int) -> Draft202012Validator:
    return Draft202012Validator(request_schemas(max_files)[key][kind])


def check(key: str, kind: str, instance: Any, max_files: int) -> None:
    """Raise the e-sign error (4014/4015) for the first way ``instance`` breaks the schema of
    request ``key``'s ``kind`` part. Messages name the field, never its value."""
    errors = sorted(
        _validator(key, kind, max_files).iter_errors(instance),
        key=lambda e: (len(e.absolute_path), str(list(e.absolute_path))),
    )
    if not errors:
        return
    # A field given but wrong says more than one left out: 4015 first, then 4014.
    causes = [(e, _missing(e)) for e in errors]
    for e, name in causes:
        if name is None:
            raise _as_invalid(e)
    raise missing(str(causes[0][1]))


def _missing(e: ValidationError) -> str | None:
    """The field whose absence (or emptiness) explains ``e``, if that is all that is wrong."""
    where = _where(e)
    if e.validator == "required" and isinstance(e.validator_value, list):
        present = e.instance if isinstance(e.instance, dict) else {}
        for name in e.validator_value:
            if name not in present:
                return f"{where}.{name}" if where else name
    if e.validator in ("minLength", "minItems") and e.instance in ("", []):
        return where or "body"
    if e.validator in ("anyOf", "oneOf") and e.context:
        branches: dict[int, list[ValidationError]] = {}
        for sub in e.context:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        for subs in branches.values():
            names = [_missing(s) for s in subs]
            if names and all(names):
                return names[0]
    return None


def _where(e: ValidationError) -> str:
    out = ""
    for part in e.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_REASONS = {
    "type": "has the wrong type",
    "pattern": "has an invalid format",
    "enum": "is not one of the allowed values",
    "const": "is not the allowed value",
    "maxLength": "is too long",
    "minLength": "is too short",
    "maxItems": "has too many entries",
    "minItems": "has too few entries",
    "minimum": "is too small",
    "maximum": "is too large",
    "exclusiveMinimum": "is too small",
    "exclusiveMaximum": "is too large",
    "anyOf": "is not valid here",
    "required": "is missing a field",
}


def _as_invalid(e: ValidationError) -> EsignError:
    # The most telling cause inside anyOf branches: the deepest, and a broken bound or pattern
    # rather than "not a string" from a branch meant for another type.
    leaves = []
    stack = [e]
    while stack:
        cur = stack.pop()
        if cur.validator in ("anyOf", "oneOf") and cur.context:
            stack.extend(cur.context)
        else:
            leaves.append(cur)
    if leaves:
        e = max(
            leaves,
            key=lambda s: (len(s.absolute_path), s.validator not in ("type", "const")),
        )
    reason = _REASONS.get(str(e.validator), "is not valid")
    if e.validator in ("maxLength", "maxItems", "maximum") and isinstance(e.validator_value, int):
        reason += f" (at most {e.validator_value})"
    if e.validator == "exclusiveMaximum":
        reason += f" (below {e.validator_value})"
    if e.validator == "enum" and isinstance(e.validator_value, list):
        reason = "must be one of " + ", ".join(str(v) for v in e.validator_value if v)
    return invalid(_where(e) or "body", reason)
