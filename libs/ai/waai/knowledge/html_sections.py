"""Sections out of an HTML page: visible text, one section per h1-h6 heading, table rows
read against their header row; scripts and styles dropped."""

from __future__ import annotations

from html.parser import HTMLParser

from waai.knowledge.sections import Section

_BLOCK_TAGS = {
    "p",
    "div",
    "li",
    "tr",
    "br",
    "section",
    "article",
    "table",
    "ul",
    "ol",
    "dd",
    "dt",
    "blockquote",
    "pre",
    "header",
    "footer",
    "main",
    "aside",
    "nav",
}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_CELLS = {"td", "th"}
_SKIP = {"script", "style", "head", "template", "noscript", "svg"}


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self._heading = ""
        self._blocks: list[str] = []
        self._buffer: list[str] = []
        self._skip = 0
        self._in_heading = False
        # table rows: cells of the row being read, and the header row's cells of this table
        self._row: list[str] | None = None
        self._header: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _HEADINGS:
            self._end_block()
            self._end_section()
            self._in_heading = True
        elif tag in _CELLS:
            self._end_cell()  # an unclosed cell ends where the next one starts
            self._buffer = []  # the markup's whitespace between cells
            self._in_cell = True
        elif tag == "tr":
            self._end_row()
            self._end_block()
            self._row = []
        elif tag == "table":
            self._end_block()
            self._header = []
        elif tag in _BLOCK_TAGS:
            self._end_block()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _CELLS:
            self._end_cell()
        elif tag == "tr":
            self._end_row()
        elif tag == "table":
            self._end_row()
            self._end_block()
            self._header = []
        elif tag in _HEADINGS and self._in_heading:
            self._heading = " ".join("".join(self._buffer).split())
            self._buffer = []
            self._in_heading = False
        elif tag in _BLOCK_TAGS:
            self._end_block()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buffer.append(data)

    def _end_cell(self) -> None:
        if self._row is None or self._in_heading or not self._in_cell:
            return
        self._in_cell = False
        self._row.append(" ".join("".join(self._buffer).split()))
        self._buffer = []

    def _end_row(self) -> None:
        """A row reads "first cell: header cell, header cell" so each value keeps its column."""
        if self._row is None:
            return
        self._end_cell()
        cells, self._row = self._row, None
        if not any(cells):
            return
        if not self._header:
            self._header = cells
            self._blocks.append(" | ".join(c for c in cells if c))
            return
        if len(cells) == len(self._header) and len(cells) > 1:
            pairs = [
                f"{h} {c}" if h else c
                for h, c in zip(self._header[1:], cells[1:], strict=True)
                if c
            ]
            self._blocks.append(f"{cells[0]}: {', '.join(pairs)}")
        else:
            self._blocks.append(" | ".join(c for c in cells if c))

    def _end_block(self) -> None:
        if self._in_heading or self._row is not None:
            return
        block = " ".join("".join(self._buffer).split())
        self._buffer = []
        if block:
            self._blocks.append(block)

    def _end_section(self) -> None:
        if self._blocks:
            self.sections.append(Section(self._heading, "\n\n".join(self._blocks)))
        self._blocks = []

    def close(self) -> None:
        super().close()
        self._end_block()
        self._end_section()


def html_sections(text: str) -> list[Section]:
    """Visible text, one section per h1-h6 heading; scripts and styles dropped."""
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return parser.sections
