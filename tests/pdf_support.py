"""Small, valid PDFs made in the tests themselves (no fixtures files to go stale)."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter


def minimal_pdf(text: str = "psre test document") -> bytes:
    """A one-page PDF with a line of text, with a correct cross-reference table."""
    content = f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode()
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
            stream(content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def stream(data: bytes, extra: bytes = b"") -> bytes:
    """A stream object's body: ``data`` with its /Length (and ``extra`` dictionary entries)."""
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def pdf_from_objects(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF whose objects 1..n are ``objects`` (object 1 the catalog), with a correct
    cross-reference table; ``trailer`` adds entries to the trailer dictionary."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        xref,
    )
    return bytes(out)


def with_changed_page(pdf: bytes, content: bytes) -> bytes:
    """``pdf`` with its first page's content replaced in an incremental update (the classic
    "edit after signing")."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = w.root["/Pages"]["/Kids"][0]
    page["/Contents"] = w.add_object(generic.StreamObject(stream_data=content))
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()
