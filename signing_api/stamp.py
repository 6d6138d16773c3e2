"""Visible signature appearances: where the stamp goes and what it shows.

Placement is by page + box, or by ``tag_koordinat``: the first occurrence of a piece of text
on the page (searched on the stamp's page first, then on the other pages in order), with the
stamp centred on it. pyHanko does not extract text, so pdfminer.six reads the page's characters
and their positions — only the pages searched are laid out, and without layout analysis.

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
) -> Appearance:
    """The field to create and its style; invisible (a zero box) without ``stamp``."""
    if stamp is None:
        return Appearance(SigFieldSpec(sig_field_name=field_name), None, {})
    if stamp.tag:
        page, box = _box_at_tag(data, page_count, stamp, password)
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


def _image(data: bytes) -> PdfImage:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as ex:
        raise PdfSignError("the specimen image is not a readable PNG or JPEG") from ex
    return PdfImage(img)


def _page_index(page: int, count: int) -> int:
    """0-based index of a 1-based page number; -1 is the last page, -2 the one before."""
    index = page - 1 if page > 0 else count + page
    if page == 0 or not 0 <= index < count:
        raise StampPlacementError(f"page {page} is out of range: the document has {count}")
    return index


def _box_at_tag(
    data: bytes, count: int, stamp: Stamp, password: str | None
) -> tuple[int, tuple[float, float, float, float]]:
    assert stamp.tag
    first = _page_index(stamp.page, count)
    order = [first, *(i for i in range(count) if i != first)]
    from pdfminer.psexceptions import PSException  # base of every pdfminer error

    for index in order:
        try:
            found = find_text(data, index, stamp.tag, password)
        except (PSException, ValueError, KeyError, TypeError, IndexError) as ex:
            raise InvalidPdfError("the page text cannot be read to find the tag") from ex
        if found is not None:
            x1, y1, x2, y2 = found
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            w, h = stamp.width, stamp.height
            return index, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    raise StampPlacementError(f"the text {stamp.tag!r} does not appear in the document")


def find_text(
    data: bytes, page_index: int, needle: str, password: str | None = None
) -> tuple[float, float, float, float] | None:
    """Bounding box (user space) of the first occurrence of ``needle`` on a page, or None."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    rsrc = PDFResourceManager()
    device = PDFPageAggregator(rsrc, laparams=None)  # characters only, no layout analysis
    interp = PDFPageInterpreter(rsrc, device)
    pages = PDFPage.get_pages(
        io.BytesIO(data), pagenos={page_index}, password=password or "", check_extractable=False
    )
    for page in pages:
        interp.process_page(page)
        chars = list(_chars(device.get_result()))
        text = "".join(c for c, _ in chars)
        at = text.find(needle)
        if at < 0:
            return None
        boxes = [b for _, b in chars[at : at + len(needle)]]
        ox, oy = page.mediabox[0], page.mediabox[1]  # pdfminer reports from the MediaBox corner
        return (
            min(b[0] for b in boxes) + ox,
            min(b[1] for b in boxes) + oy,
            max(b[2] for b in boxes) + ox,
            max(b[3] for b in boxes) + oy,
        )
    return None


def _chars(item: object) -> Iterator[tuple[str, tuple[float, float, float, float]]]:
    """Every character of a laid-out page in content order, one entry per text character."""
    from pdfminer.layout import LTChar

    if isinstance(item, LTChar):
        for ch in item.get_text():  # a ligature is one LTChar with several characters
            yield ch, item.bbox
        return
    for child in getattr(item, "_objs", ()):
        yield from _chars(child)
