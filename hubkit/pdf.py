"""Printed documents as PDF, one way for every document: HTML + CSS templates (Jinja2) rendered by
WeasyPrint. The shipped templates live in a package folder; a merchant's directory, when set, is
looked in first, so that a file of the same name (a document's template, the base layout or the
stylesheet) replaces the shipped one and the rest stay as shipped.

Templates get two filters, `code128` and `qr`: a document number or SKU as an SVG image (a data URI,
so nothing is fetched). WeasyPrint itself fetches nothing either: a template may name data: URIs
only (a merchant's template is data, not a way to read the server's files or the network).

Chinese text needs a font with CJK glyphs installed (deploy/debian-packages.txt: fonts-wqy-zenhei);
the shipped stylesheet names it first. Noto CJK renders too, but its CFF outlines take WeasyPrint
some 5 s to subset per document, WenQuanYi Zen Hei's TrueType ones a tenth of that."""
from __future__ import annotations

import base64
import mimetypes
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

# jinja2, the barcode and QR code makers (~5 MiB) and weasyprint are imported by the first print: a
# process that never prints (the gateway until someone does) does not keep them
if TYPE_CHECKING:
    import jinja2

__all__ = ["Renderer", "TemplateMissing", "code128_uri", "data_uri", "qr_uri"]


class TemplateMissing(LookupError):
    """Neither the merchant's directory nor the shipped folder has the template."""


def _svg_uri(svg: bytes | str) -> str:
    data = svg.encode() if isinstance(svg, str) else svg
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")


def code128_uri(value: str, height_mm: float = 9.0) -> str:
    """A Code 128 barcode of `value` as an SVG data URI, without its text (the template prints the
    number under it in its own font). Code 128 holds ASCII only: anything else becomes a QR code."""
    if not value or not value.isascii():
        return qr_uri(value)
    import barcode
    from barcode.writer import SVGWriter
    symbol = barcode.Code128(value, writer=SVGWriter())
    return _svg_uri(symbol.render({"write_text": False, "module_height": height_mm, "quiet_zone": 2.0,
                                   "module_width": 0.25}))


def qr_uri(value: str, scale: int = 3) -> str:
    """A QR code of `value` (UTF-8, so Chinese too) as an SVG data URI."""
    import segno
    return _svg_uri(segno.make(value or "-", error="m").svg_inline(scale=scale, border=2))


def data_uri(path: Path | str | None) -> str:
    """A file (the merchant's logo) as a data URI; "" when not set or not there."""
    if not path:
        return ""
    file = Path(path)
    if not file.is_file():
        return ""
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"data:{kind};base64," + base64.b64encode(file.read_bytes()).decode("ascii")


class Renderer:
    """Renders the templates of one package folder (`package`, `folder`), overridden by the files of
    `override_dir` (None: the shipped ones only). `context` is what every template sees (the merchant)."""

    def __init__(self, package: str, folder: str, override_dir: Path | str | None = None,
                 context: Mapping[str, Any] | None = None):
        self._package, self._folder, self._override_dir = package, folder, override_dir
        self._env: jinja2.Environment | None = None
        self._making_env = threading.Lock()
        self.context = dict(context or {})
        # one rendering at a time per process: Pango and fontconfig are not documented as thread-safe,
        # and rendering is CPU-bound Python (the GIL) anyway; the gateway's worker threads queue here
        self._rendering = threading.Lock()

    @property
    def env(self) -> jinja2.Environment:
        """The templates' environment, made by the first rendering."""
        with self._making_env:
            if self._env is None:
                import jinja2
                from jinja2.sandbox import SandboxedEnvironment
                from markupsafe import Markup
                loaders: list[jinja2.BaseLoader] = []
                if self._override_dir:
                    loaders.append(jinja2.FileSystemLoader(str(self._override_dir)))
                loaders.append(jinja2.PackageLoader(self._package, self._folder))
                # sandboxed: a merchant's template reaches the values it is given, nothing behind them
                env = SandboxedEnvironment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                                           undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
                env.filters["code128"] = lambda value, height_mm=9.0: Markup(code128_uri(str(value), height_mm))
                env.filters["qr"] = lambda value, scale=3: Markup(qr_uri(str(value), scale))
                self._env = env
            return self._env

    def html(self, template: str, context: Mapping[str, Any]) -> str:
        import jinja2
        try:
            return self.env.get_template(template).render({**self.context, **context})
        except jinja2.TemplateNotFound as exc:
            raise TemplateMissing(f"no print template {exc.name!r}") from None

    def pdf(self, documents: Iterable[tuple[str, Mapping[str, Any]]]) -> bytes:
        """One PDF of the documents ((template, context) each), in order. Each is laid out on its own,
        so that its page numbers ("page 2 of 3") count its own pages, then the pages are joined."""
        from weasyprint import HTML  # imported on the first print: 0.4 s no process should spend at start
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(allowed_protocols={"data"})  # no file: or http(s): from a template
        sources = [self.html(template, context) for template, context in documents]
        if not sources:
            raise ValueError("nothing to print")
        with self._rendering:
            rendered = [HTML(string=source, url_fetcher=fetcher).render() for source in sources]
            pages = [page for document in rendered for page in document.pages]
            return rendered[0].copy(pages).write_pdf()
