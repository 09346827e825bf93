"""Text out of uploaded documents (txt, md, pdf, docx, csv of question/answer rows, html), as
sections."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from waai.knowledge.pdf_text import read_pdf
from wacommon.infra.sandbox import ParseFailed, ParseLimits, parse_limits, run_bounded
from wacommon.infra.settings import Settings
from wacommon.infra.textclean import clean_text
from wacommon.repositories.knowledge import SourceKind

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_KINDS: dict[str, SourceKind] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
}
_CONTENT_TYPES: dict[str, SourceKind] = {
    "text/plain": "txt",
    "text/markdown": "md",
    "application/pdf": "pdf",
    "text/csv": "csv",
    "text/html": "html",
    DOCX_MIME: "docx",
}
_QA_HEADERS = {"pergunta", "perguntas", "question", "questao", "q", "p"}
_END_OF_SENTENCE = (".", "!", "?", ";", ":", ",")


class DocumentNotSupported(ValueError):
    """The file is not one of the supported kinds (txt, md, pdf, docx, csv, html)."""


class DocumentUnreadable(ValueError):
    """The file claims a supported kind but its content cannot be read.

    `reason` says why in one word a caller can translate: "unreadable" (the parser failed),
    "parse_failed" (the bounded PDF reader gave up: broken, hostile, too slow or too big in
    memory), "too_many_pages", "too_long" (characters) or "empty" (no text at all).
    """

    def __init__(self, message: str, reason: str = "unreadable") -> None:
        super().__init__(message)
        self.reason = reason


class DocumentEmpty(DocumentUnreadable):
    """The file holds no text to search (an empty file, a scanned PDF without text)."""

    def __init__(self, message: str = "the document has no text") -> None:
        super().__init__(message, "empty")


@dataclass(frozen=True)
class Section:
    """Text under one heading; an atomic section (a Q/A row) is never merged with others."""

    heading: str
    text: str
    atomic: bool = False


@dataclass(frozen=True)
class ExtractedDocument:
    """A document's kind, content hash (sha256 of the bytes) and sections."""

    name: str
    kind: SourceKind
    content_hash: str
    sections: list[Section]


def source_kind(name: str, content_type: str | None = None) -> SourceKind:
    """The kind of a file from its extension, else its content type; no extension means txt."""
    lowered = name.lower()
    for ext, kind in _KINDS.items():
        if lowered.endswith(ext):
            return kind
    if content_type:
        kind_by_type = _CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
        if kind_by_type:
            return kind_by_type
    if "." not in lowered.rsplit("/", 1)[-1]:
        return "txt"
    raise DocumentNotSupported(name)


@dataclass(frozen=True)
class DocumentLimits:
    """Caps of one document: the parse bounds, and pages and characters kept (else refused)."""

    parse: ParseLimits = field(default_factory=ParseLimits)
    max_pages: int = 2000
    max_chars: int = 5_000_000


def document_limits(settings: Settings) -> DocumentLimits:
    """KNOWLEDGE_MAX_PAGES, KNOWLEDGE_MAX_CHARS and the PARSE_* bounds."""
    return DocumentLimits(
        parse=parse_limits(settings),
        max_pages=settings.knowledge_max_pages,
        max_chars=settings.knowledge_max_chars,
    )


async def extract(
    name: str,
    data: bytes,
    kind: SourceKind | None = None,
    *,
    limits: DocumentLimits | None = None,
) -> ExtractedDocument:
    """Read `data` as a `kind` document (guessed from `name` when not given).

    PDFs and Word files are read in a bounded child process; text kinds in-process. Whatever fails
    is `DocumentUnreadable` (a 422 for the admin API, a skipped file for the CLI).
    """
    kind = kind or source_kind(name)
    limits = limits or DocumentLimits()
    if kind == "pdf":
        sections = await _pdf_document(data, limits)
    elif kind == "docx":
        sections = await _docx_document(data, limits)
    else:
        try:
            sections = {
                "txt": lambda: _plain_sections(decode_text(data)),
                "md": lambda: markdown_sections(decode_text(data)),
                "csv": lambda: csv_sections(decode_text(data)),
                "html": lambda: html_sections(decode_text(data)),
            }[kind]()
        except Exception as exc:  # a parser's failure on this file is the file's problem
            raise DocumentUnreadable(f"{kind}: {type(exc).__name__}: {exc}"[:300]) from exc
    sections = [Section(clean_text(s.heading), clean_text(s.text), s.atomic) for s in sections]
    if sum(len(s.text) for s in sections) > limits.max_chars:
        raise DocumentUnreadable(f"document over {limits.max_chars} characters", "too_long")
    digest = hashlib.sha256(data).hexdigest()
    # PostgreSQL text cannot hold NUL, which binary-ish files and PDFs carry as noise
    sections = [
        Section(s.heading.replace("\x00", ""), s.text.replace("\x00", ""), s.atomic)
        for s in sections
    ]
    return ExtractedDocument(name=name, kind=kind, content_hash=digest, sections=sections)


async def _pdf_document(data: bytes, limits: DocumentLimits) -> list[Section]:
    try:
        pdf = await read_pdf(
            data, max_pages=limits.max_pages, max_chars=limits.max_chars + 1, limits=limits.parse
        )
    except ParseFailed as exc:
        raise DocumentUnreadable(f"pdf could not be read ({exc.reason})", "parse_failed") from exc
    if pdf.page_count > limits.max_pages:
        raise DocumentUnreadable(
            f"pdf of {pdf.page_count} pages, over {limits.max_pages}", "too_many_pages"
        )
    if pdf.truncated:
        raise DocumentUnreadable(f"document over {limits.max_chars} characters", "too_long")
    return pdf_text_sections(pdf.pages)


async def _docx_document(data: bytes, limits: DocumentLimits) -> list[Section]:
    try:
        answer = await run_bounded(
            "waai.knowledge.docx_child:docx_blocks",
            data,
            limits.parse,
            max_chars=limits.max_chars + 1,
        )
    except ParseFailed as exc:
        raise DocumentUnreadable(f"docx could not be read ({exc.reason})", "parse_failed") from exc
    blocks = answer.get("blocks") if isinstance(answer, dict) else None
    if not isinstance(blocks, list):
        raise DocumentUnreadable("docx could not be read (bad_output)", "parse_failed")
    if answer.get("truncated"):
        raise DocumentUnreadable(f"document over {limits.max_chars} characters", "too_long")
    return docx_sections(blocks)


def docx_sections(blocks: list[Any]) -> list[Section]:
    """A Word body's ["h"|"p", text] blocks: one section per heading paragraph."""
    return _under_headings(
        (b[0] == "h", b[1])
        for b in blocks
        if isinstance(b, list) and len(b) == 2 and isinstance(b[1], str)
    )


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 as Brazilian office files often are."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _is_heading(line: str) -> bool:
    """A short line without closing punctuation reads as a title."""
    line = line.strip()
    return (
        0 < len(line) <= 70
        and len(line.split()) <= 8
        and not line.endswith(_END_OF_SENTENCE)
        and any(ch.isalpha() for ch in line)
    )


def _plain_sections(text: str) -> list[Section]:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return _under_headings(("\n" not in b and _is_heading(b), b) for b in blocks)


def _under_headings(blocks: Iterable[tuple[bool, str]]) -> list[Section]:
    """(is a heading, text) blocks in order: one section per heading, its paragraphs joined."""
    sections: list[Section] = []
    heading = ""
    paragraphs: list[str] = []
    for is_heading, block in blocks:
        if is_heading:
            if paragraphs:
                sections.append(Section(heading, "\n\n".join(paragraphs)))
            heading, paragraphs = block, []
        else:
            paragraphs.append(block)
    if paragraphs:
        sections.append(Section(heading, "\n\n".join(paragraphs)))
    return sections


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")


def markdown_sections(text: str) -> list[Section]:
    """One section per heading; links keep their text, emphasis markers go."""
    sections: list[Section] = []
    heading = ""
    lines: list[str] = []
    for line in text.split("\n"):
        match = _MD_HEADING.match(line)
        if match:
            body = "\n".join(lines).strip()
            if body:
                sections.append(Section(heading, body))
            heading, lines = _md_inline(match.group(2)), []
        else:
            lines.append(_md_inline(line))
    body = "\n".join(lines).strip()
    if body:
        sections.append(Section(heading, body))
    return sections


def _md_inline(line: str) -> str:
    return _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", line)).rstrip()


def pdf_text_sections(pages: list[str]) -> list[Section]:
    """The text of a PDF's pages, wrapped lines joined back into paragraphs."""
    blocks: list[str] = []
    current: list[str] = []
    for line in "\n".join(pages).split("\n"):
        line = line.strip()
        if not line:
            continue
        if not current and _is_heading(line):
            blocks.append(line)
            continue
        current.append(line)
        if line.endswith((".", "!", "?")):
            blocks.append(" ".join(current))
            current = []
    if current:
        blocks.append(" ".join(current))
    return _plain_sections("\n\n".join(blocks))


def csv_sections(text: str) -> list[Section]:
    """Rows of question,answer become one atomic section each; a header row is skipped."""
    sections: list[Section] = []
    for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=csv_delimiter(text))):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or (i == 0 and cells[0].lower() in _QA_HEADERS):
            continue
        if len(cells) == 1:
            sections.append(Section("", cells[0], atomic=True))
        else:
            question, answer = cells[0], " ".join(cells[1:])
            sections.append(
                Section(question, f"Pergunta: {question}\nResposta: {answer}", atomic=True)
            )
    return sections


def csv_delimiter(text: str) -> str:
    """The delimiter that splits the rows into the most consistent number of cells (2 or more).

    The csv sniffer takes the commas inside the answers of a semicolon-separated file (what
    Excel saves in Portuguese) for delimiters; a delimiter that gives every row the same count
    is the one the file was written with. Ties go to ";" then tab, the rarer ones in prose.
    """
    best, best_score = ",", -1.0
    for delimiter in (";", "\t", ","):
        rows = [r for r in csv.reader(io.StringIO(text[:16384]), delimiter=delimiter) if r]
        counts = [len(r) for r in rows[:-1] or rows]  # the sample may cut the last row
        if not counts:
            continue
        modal = max(set(counts), key=counts.count)
        if modal < 2:
            continue
        score = counts.count(modal) / len(counts)
        if score > best_score:
            best, best_score = delimiter, score
    return best


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
