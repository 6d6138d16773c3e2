"""Visible signature appearances: where the stamp goes and what it shows.

Placement is by page + box, or by ``tag_koordinat``: the first occurrence of a piece of text
on the page (searched on the stamp's page first, then on the other pages in order), with the
stamp centred on it. pyHanko does not extract text, so pdfminer.six reads the page's characters
and their positions — only the pages searched are laid out, and without layout analysis. The
document is parsed once and each page interpreted at most once (issue 16: re-parsing the whole
file per page made a 1000-page document take minutes); the pages are those of the real page
tree, not its claimed /Count, and at most ``max_pages`` of them.

Coordinates are PDF user-space units (1/72 inch) from the page's lower-left corner, whatever
the e-sign API's manual calls them. Page rotation is not compensated.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

from pyhanko.pdf_utils.images import PdfImage
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.stamp import QRStampStyle, TextStampStyle
from pyhanko.stamp.base import BaseStampStyle

from signing_api.pdf_pool import DocumentTooComplexError
from signing_api.pdf_sign import InvalidPdfError, PdfSignError, Stamp, StampPlacementError


@dataclass(frozen=True)
class Appearance:
    field_spec: SigFieldSpec
    style: BaseStampStyle | None
    #: Extra interpolation parameters for the stamp text (the QR code's ``url``).
    text_params: dict[str, str]


def stamp_text(signer: str | None, reason: str | None, location: str | None) -> str:
    """The appearance text: signer, time, and reason/location when given."""
    lines = ["Ditandatangani secara elektronik oleh", _literal(signer or ""), "%(ts)s"]
    if reason:
        lines.append(f"Alasan: {_literal(reason)}")
    if location:
        lines.append(f"Lokasi: {_literal(location)}")
    return "\n".join(lines)


def _literal(s: str) -> str:
    """User text for the stamp: the %-template must not read it as a placeholder, and the
    stamp's standard font (Courier) shows Latin-1 only — pyHanko would write any other line as
    UTF-16 and the stamp would show garbage — so other characters become '?'. The signature
    dictionary (/Name, /Reason, /Location) keeps the full Unicode text."""
    text = s.encode("latin-1", errors="replace").decode("latin-1")
    return "".join(c if c.isprintable() else "?" for c in text).replace("%", "%%")


def appearance(
    data: bytes,
    page_count: int,
    field_name: str,
    stamp: Stamp | None,
    *,
    signer: str | None,
    reason: str | None,
    location: str | None,
    password: str | None,
    max_pages: int = 5000,
) -> Appearance:
    """The field to create and its style; invisible (a zero box) without ``stamp``."""
    if stamp is None:
        return Appearance(SigFieldSpec(sig_field_name=field_name), None, {})
    if stamp.tag:
        page, box = _box_at_tag(data, stamp, password, max_pages)
    else:
        page = _page_index(stamp.page, page_count)
        if stamp.box is None:
            raise StampPlacementError("a visible stamp needs a box or a tag")
        box = stamp.box
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        raise StampPlacementError("the stamp box is empty (x2 <= x1 or y2 <= y1)")
    spec = SigFieldSpec(
        sig_field_name=field_name,
        on_page=page,
        box=(round(x1), round(y1), round(x2), round(y2)),
    )
    text = stamp_text(signer, reason, location)
    background = _image(stamp.image) if stamp.image else None
    if stamp.qr_url:
        style: BaseStampStyle = QRStampStyle(stamp_text=text, background=background)
        return Appearance(spec, style, {"url": stamp.qr_url})
    return Appearance(spec, TextStampStyle(stamp_text=text, background=background), {})


#: Largest specimen image (pixels): a signature specimen needs far less, and a PNG of a few
#: hundred KB can claim billions of pixels.
MAX_IMAGE_PIXELS = 16_000_000


def _image(data: bytes) -> PdfImage:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_IMAGE_PIXELS:
            raise DocumentTooComplexError(
                f"the specimen image has {img.width}x{img.height} pixels; "
                f"at most {MAX_IMAGE_PIXELS} are accepted"
            )
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as ex:
        raise PdfSignError("the specimen image is not a readable PNG or JPEG") from ex
    return PdfImage(img)


def _page_index(page: int, count: int) -> int:
    """0-based index of a 1-based page number; -1 is the last page, -2 the one before."""
    index = page - 1 if page > 0 else count + page
    if page == 0 or not 0 <= index < count:
        raise StampPlacementError(f"page {page} is out of range: the document has {count}")
    return index


def _box_at_tag(
    data: bytes, stamp: Stamp, password: str | None, max_pages: int
) -> tuple[int, tuple[float, float, float, float]]:
    assert stamp.tag
    from pdfminer.psexceptions import PSException  # base of every pdfminer error

    try:
        found = _search(data, stamp.tag, stamp.page, password, max_pages)
    except (PSException, ValueError, KeyError, TypeError, IndexError, AssertionError) as ex:
        raise InvalidPdfError("the page text cannot be read to find the tag") from ex
    if found is None:
        raise StampPlacementError(f"the text {stamp.tag!r} does not appear in the document")
    index, (x1, y1, x2, y2) = found
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = stamp.width, stamp.height
    return index, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _search(
    data: bytes, needle: str, first_page: int, password: str | None, max_pages: int
) -> tuple[int, tuple[float, float, float, float]] | None:
    """(page index, box) of ``needle``: on page ``first_page`` (1-based, -1 the last) first,
    then on the others in order. One parse of the document, each page interpreted once."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    doc = PDFDocument(PDFParser(io.BytesIO(data)), password=password or "")
    pages: list[PDFPage] = []
    for page in PDFPage.create_pages(doc):
        if len(pages) == max_pages:
            raise DocumentTooComplexError(f"the document has more than {max_pages} pages")
        pages.append(page)
    first = _page_index(first_page, len(pages))
    rsrc = PDFResourceManager()  # shared: each font is read once for all pages
    device = PDFPageAggregator(rsrc, laparams=None)  # characters only, no layout analysis
    interp = PDFPageInterpreter(rsrc, device)
    for index in [first, *(i for i in range(len(pages)) if i != first)]:
        page = pages[index]
        interp.process_page(page)
        box = _find(device.get_result(), needle)
        if box is not None:
            x1, y1, x2, y2 = box
            ox, oy = page.mediabox[0], page.mediabox[1]  # pdfminer reports from the MediaBox
            return index, (x1 + ox, y1 + oy, x2 + ox, y2 + oy)
    return None


def _find(layout: object, needle: str) -> tuple[float, float, float, float] | None:
    chars = list(_chars(layout))
    text = "".join(c for c, _ in chars)
    at = text.find(needle)
    if at < 0:
        return None
    boxes = [b for _, b in chars[at : at + len(needle)]]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def find_text(
    data: bytes, page_index: int, needle: str, password: str | None = None
) -> tuple[float, float, float, float] | None:
    """Bounding box (user space) of the first occurrence of ``needle`` on one page, or None
    (whatever other pages say). For tests and tools; unbounded: call it in a PDF worker."""
    found = _search(data, needle, page_index + 1, password, max_pages=1 << 30)
    return found[1] if found is not None and found[0] == page_index else None


def _chars(item: object) -> Iterator[tuple[str, tuple[float, float, float, float]]]:
    """Every character of a laid-out page in content order, one entry per text character."""
    from pdfminer.layout import LTChar

    if isinstance(item, LTChar):
        for ch in item.get_text():  # a ligature is one LTChar with several characters
            yield ch, item.bbox
        return
    for child in getattr(item, "_objs", ()):
        yield from _chars(child)
