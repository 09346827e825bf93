"""Text out of uploaded documents (txt, md, pdf, docx, csv of question/answer rows, html), as
sections."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from waai.knowledge.html_sections import html_sections
from waai.knowledge.pdf_text import read_pdf
from waai.knowledge.sections import (
    Section,
    csv_sections,
    decode_text,
    docx_sections,
    markdown_sections,
    pdf_text_sections,
    plain_sections,
)
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
                "txt": lambda: plain_sections(decode_text(data)),
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
