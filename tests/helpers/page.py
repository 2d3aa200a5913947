"""An HTML page read back: its tables, images and list items (mer.bin.report's pages, as written
or as a browser rendered them)."""
from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """The tables (rows of (class, cell texts)), images and list items of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: list[list[tuple[str, list[str]]]] = []
        self.images: list[dict] = []
        self.items: list[str] = []
        self._cell: list[str] | None = None
        self._item: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append((a.get("class") or "", []))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(a)
        elif tag == "li":
            self._item = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1][1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "li":
            self.items.append("".join(self._item).strip())
            self._item = None

    def handle_data(self, data):
        for part in (self._cell, self._item):
            if part is not None:
                part.append(data)

    def tables_headed(self, *header: str) -> list[list[tuple[str, list[str]]]]:
        """The body rows of each table whose header row starts with `header`."""
        return [t[1:] for t in self.tables if t and tuple(t[0][1][:len(header)]) == header]
