"""PDF text, read in a bounded child process (see `wacommon.infra.sandbox`).

`waai.knowledge.pdf_child.pdf_pages` runs in the child: it only reads, stops at the page and
character caps and returns plain JSON. `read_pdf` is the parent's side: every failure is one
`ParseFailed`, and the text comes back cleaned of what PostgreSQL refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from wacommon.infra.sandbox import ParseFailed, ParseLimits, run_bounded
from wacommon.infra.textclean import clean_text


@dataclass(frozen=True)
class PdfText:
    """The text of a PDF's first pages; `truncated` when a cap stopped the reading."""

    pages: list[str]
    page_count: int
    truncated: bool


async def read_pdf(data: bytes, *, max_pages: int, max_chars: int, limits: ParseLimits) -> PdfText:
    """The PDF's text within its bounds; raises `ParseFailed` whatever goes wrong."""
    answer = await run_bounded(
        "waai.knowledge.pdf_child:pdf_pages", data, limits, max_pages=max_pages, max_chars=max_chars
    )
    pages = answer.get("pages") if isinstance(answer, dict) else None
    count = answer.get("page_count") if isinstance(answer, dict) else None
    if not isinstance(pages, list) or not all(isinstance(p, str) for p in pages):
        raise ParseFailed("bad_output")
    if not isinstance(count, int):
        raise ParseFailed("bad_output")
    return PdfText(
        pages=[clean_text(p) for p in pages],
        page_count=count,
        truncated=bool(answer.get("truncated")),
    )
