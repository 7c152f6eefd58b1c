"""Reading a printed document back: its text per page (pypdf), its pages as pixels (pypdfium2), how
much ink a region holds, and the fonts it embeds."""
from __future__ import annotations

import io

import pypdf
import pypdfium2


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def fonts(pdf: bytes) -> set[str]:
    """The base font names the pages use (a subset's "ABCDEF+" prefix dropped)."""
    names = set()
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]).lstrip("/").split("+")[-1])
    return names


def page_image(pdf: bytes, index: int = 0, scale: float = 2.0):
    """A page as a greyscale PIL image (white paper, black ink)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[index].render(scale=scale, grayscale=True).to_pil().convert("L")
    finally:
        document.close()


def ink(image, box=None, threshold: int = 128) -> float:
    """The share of dark pixels in `box` (left, top, right, bottom; the whole image by default)."""
    region = image.crop(box) if box else image
    histogram = region.histogram()
    return sum(histogram[:threshold]) / max(1, region.width * region.height)


def inked_box(image, threshold: int = 128):
    """The bounding box of the dark pixels."""
    return image.point(lambda v: 255 if v < threshold else 0).getbbox()
