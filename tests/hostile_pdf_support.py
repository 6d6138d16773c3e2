"""Hostile PDFs, made by the tests themselves: each is small on the wire and built to make a
naive reader spend unbounded memory or time (issue 16). Sizes are parameters, so the tests can
use ones that hurt the code as it was without taking the test machine down with it.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.pdf_support import minimal_pdf, pdf_from_objects, stream

_PAGE = (
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
    b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
)
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_TEXT = b"BT /F1 18 Tf 72 760 Td (psre hostile document) Tj ET"


def count_lie(count: int = 2**31 - 1) -> bytes:
    """One real page; the page tree claims ``count`` (~600 bytes for 2^31 - 1)."""
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
            _PAGE,
            stream(_TEXT),
            _FONT,
        ]
    )


def many_pages(n: int, text: str = "halaman") -> bytes:
    """A real ``n``-page PDF, every page with a line of text (none of it a tag)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", _FONT]
    kids = []
    for i in range(n):
        content = f"BT /F1 12 Tf 72 760 Td ({text} {i + 1}) Tj ET".encode()
        objects.append(stream(content))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), n)
    return pdf_from_objects(objects)


def flate_bomb(inflated_mib: int) -> bytes:
    """One page whose content stream inflates ~1000:1 to ``inflated_mib`` MiB of text
    operators (2 MiB on the wire for 2 GiB)."""
    chunk = b"0 0 m " * (1 << 20)  # 6 MiB of "moveto": cheap to make, costly to interpret
    z = zlib.compressobj(9)
    parts = [z.compress(b"BT /F1 18 Tf 72 760 Td (psre) Tj ET ")]
    total = 0
    while total < inflated_mib << 20:
        parts.append(z.compress(chunk))
        total += len(chunk)
    parts.append(z.flush())
    data = b"".join(parts)
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _PAGE,
            stream(data, b"/Filter /FlateDecode "),
            _FONT,
        ]
    )


def deep_nesting(depth: int = 100_000) -> bytes:
    """An array nested ``depth`` deep in the page dictionary (recursive-descent parsers)."""
    nested = b"[" * depth + b"]" * depth
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _PAGE[:-2] + b" /Nest " + nested + b" >>",
            stream(_TEXT),
            _FONT,
        ]
    )


def deep_page_tree(depth: int = 5000) -> bytes:
    """A page tree ``depth`` levels deep with one page at the bottom (recursive walkers)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        me, kid = level + 2, level + 3
        parent = b" /Parent %d 0 R" % (me - 1) if level else b""
        objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1%s >>" % (kid, parent))
    page_no = depth + 2
    objects.append(
        _PAGE.replace(b"/Parent 2 0 R", b"/Parent %d 0 R" % (page_no - 1))
        .replace(b"4 0 R", b"%d 0 R" % (page_no + 1))
        .replace(b"/F1 5 0 R", b"/F1 %d 0 R" % (page_no + 2))
    )
    objects.append(stream(_TEXT))
    objects.append(_FONT)
    return pdf_from_objects(objects)


def kids_loop() -> bytes:
    """The page tree's /Kids contain the page tree itself, next to a real page."""
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            _PAGE,
            stream(_TEXT),
            _FONT,
        ]
    )


def xref_loop() -> bytes:
    """A valid PDF plus an update whose cross-reference section names itself as /Prev."""
    base = minimal_pdf()
    at = len(base)
    update = b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 6 /Root 1 0 R /Prev %d >>\n" % at
    return base + update + b"startxref\n%d\n%%%%EOF\n" % at


def _objstm_body() -> tuple[bytes, bytes]:
    """(header, whole stream) of an object stream holding objects 3 (the page) and 4."""
    inner = [_PAGE.replace(b"/Contents 4 0 R", b"/Contents 7 0 R"), b"20"]
    header, body = b"", b""
    for num, obj in zip((3, 4), inner, strict=True):
        header += b"%d %d " % (num, len(body))
        body += obj + b"\n"
    return header, header + body


def objstm_loop(length: bytes = b"4 0 R", kind: bytes = b"/ObjStm") -> bytes:
    """Objects 3 and 4 live in object stream 6, whose /Length is object 4: to read the
    stream, the reader needs the stream (plus a cross-reference stream saying so)."""
    header, objstm = _objstm_body()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"null",
        b"null",
        _FONT,
        b"<< /Type %s /N 2 /First %d /Length %s >>\nstream\n" % (kind, len(header), length)
        + objstm
        + b"\nendstream",
        stream(_TEXT),
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for i, body_ in enumerate(objects, start=1):
        if i in (3, 4):
            continue
        offsets[i] = len(out)
        out += b"%d 0 obj\n" % i + body_ + b"\nendobj\n"
    # A cross-reference stream: type 2 entries put 3 and 4 into object stream 6.
    rows = [b"\x00\x00\x00\x00\xff\xff"]
    for i in range(1, 8):
        if i in (3, 4):
            rows.append(b"\x02\x00\x00\x06" + (i - 3).to_bytes(2, "big"))
        else:
            rows.append(b"\x01" + offsets[i].to_bytes(3, "big") + b"\x00\x00")
    rows.append(b"\x01" + len(out).to_bytes(3, "big") + b"\x00\x00")  # the xref stream, 8
    data = b"".join(rows)
    xref_at = len(out)
    out += (
        b"8 0 obj\n<< /Type /XRef /Size 9 /W [1 3 2] /Root 1 0 R /Length %d >>\nstream\n"
        % len(data)
        + data
        + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    )
    return bytes(out)


def bad_object_stream() -> bytes:
    """A cross-reference stream that puts the page into an object stream that is none."""
    return objstm_loop(b"%d" % len(_objstm_body()[1]), b"/XObjStm")


def huge_image(side: int = 60_000) -> bytes:
    """A page drawing an image that claims ``side`` x ``side`` RGB pixels (10 GB decoded),
    its data a few KB of deflated zeros."""
    data = zlib.compress(bytes(1 << 20), 9)
    content = b"q 500 0 0 500 50 50 cm /Im1 Do Q " + _TEXT
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
            b"<< /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> /Contents 4 0 R >>",
            stream(content),
            _FONT,
            stream(
                data,
                b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                b"/BitsPerComponent 8 /Filter /FlateDecode " % (side, side),
            ),
        ]
    )


def png_bomb(side: int = 12_000) -> bytes:
    """A PNG specimen image of ``side`` x ``side`` RGBA pixels, a few hundred KB deflated."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    z = zlib.compressobj(9)
    row = b"\x00" + bytes(4 * side)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def duplicated_sig_fields(signed: bytes, n: int, copies: bool = False) -> bytes:
    """``signed`` plus an incremental update adding ``n`` signature fields whose value is the
    document's (first) signature — the same object, or with ``copies`` a copy each: each field
    looks like one more signature to validate."""
    reader = PdfFileReader(io.BytesIO(signed))
    first = reader.root["/AcroForm"]["/Fields"][0].get_object()
    sig_ref = first.raw_get("/V")
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    form = w.root["/AcroForm"]
    fields = form["/Fields"]
    page_ref = w.root["/Pages"]["/Kids"].raw_get(0)
    sig_dict = sig_ref.get_object()
    for i in range(n):
        value = w.add_object(generic.DictionaryObject(dict(sig_dict))) if copies else sig_ref
        fields.append(
            w.add_object(
                generic.DictionaryObject(
                    {
                        generic.pdf_name("/FT"): generic.pdf_name("/Sig"),
                        generic.pdf_name("/T"): generic.pdf_string(f"Copy{i}"),
                        generic.pdf_name("/V"): value,
                        generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                        generic.pdf_name("/Subtype"): generic.pdf_name("/Widget"),
                        generic.pdf_name("/Rect"): generic.ArrayObject(
                            [generic.NumberObject(0)] * 4
                        ),
                        generic.pdf_name("/P"): page_ref,
                    }
                )
            )
        )
    w.update_container(form)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@dataclass(frozen=True)
class Hostile:
    """One corpus entry: the document, and whether it is meant for signing with a tag."""

    name: str
    data: bytes
    #: Sign with ``tag_koordinat`` (the text search is what the case attacks).
    tag: str | None = "#"


def corpus(scale: float = 1.0) -> list[Hostile]:
    """Every hostile document that needs no signature of ours. ``scale`` shrinks the costly
    ones (1.0: the sizes of the issue)."""
    return [
        Hostile("count-lie", count_lie()),
        Hostile("count-lie-20000", count_lie(20_000)),
        Hostile("many-pages", many_pages(max(50, int(1000 * scale)))),
        Hostile("flate-bomb", flate_bomb(max(64, int(2048 * scale)))),
        # Small enough to fit the memory budget: it is the deadline that stops this one.
        Hostile("flate-bomb-cpu", flate_bomb(60)),
        Hostile("deep-nesting", deep_nesting()),
        Hostile("deep-page-tree", deep_page_tree()),
        Hostile("kids-loop", kids_loop()),
        Hostile("xref-loop", xref_loop()),
        Hostile("objstm-loop", objstm_loop()),
        Hostile("bad-object-stream", bad_object_stream()),
        Hostile("huge-image", huge_image()),
    ]


def signed_corpus(signed: bytes, scale: float = 1.0) -> list[Hostile]:
    """Hostile updates of a document we signed (``signed``): what verification is attacked
    with. Fields of their own cost a validation each; past ``pdf.max_signature_fields`` the
    document is refused."""
    return [
        Hostile("sig-fields-10", duplicated_sig_fields(signed, 10)),
        Hostile("sig-fields-200", duplicated_sig_fields(signed, 200)),
        Hostile("sig-fields-2000", duplicated_sig_fields(signed, max(300, int(2000 * scale)))),
        Hostile("sig-dict-copies-40", duplicated_sig_fields(signed, 40, copies=True)),
    ]


#: What each corpus case answers when signed with a tag that is not in it, and when signed
#: invisibly: ``too_complex`` (4131), ``invalid`` (4015, not a readable PDF), ``no_tag``
#: (4015, the tag is not found) or ``signed`` (a document that verifies).
SIGN_OUTCOMES: dict[str, tuple[str, str]] = {
    "count-lie": ("too_complex", "too_complex"),
    "count-lie-20000": ("too_complex", "too_complex"),
    "many-pages": ("no_tag", "signed"),
    # pyHanko never inflates a page's content; the text search does.
    "flate-bomb": ("too_complex", "signed"),
    "flate-bomb-cpu": ("too_complex", "signed"),
    "deep-nesting": ("no_tag", "invalid"),
    "deep-page-tree": ("invalid", "invalid"),
    "kids-loop": ("no_tag", "invalid"),
    "xref-loop": ("invalid", "invalid"),
    "objstm-loop": ("invalid", "invalid"),
    "bad-object-stream": ("no_tag", "invalid"),
    "huge-image": ("no_tag", "signed"),
}

#: What verifying each case answers: a summary, ``not_pdf`` or ``too_complex``.
VERIFY_OUTCOMES: dict[str, str] = {
    **{name: "NO_SIGNATURE" for name in SIGN_OUTCOMES},
    "xref-loop": "not_pdf",
    "sig-fields-10": "INVALID",
    "sig-fields-200": "too_complex",
    "sig-fields-2000": "too_complex",
    "sig-dict-copies-40": "INVALID",
}
