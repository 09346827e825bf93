"""What the sandbox child runs for a PDF (see `waai.knowledge.pdf_text`): nothing else imported.

Every child is a fresh interpreter, so this module stays light: pypdf and the standard
library only (importing the service's modules would double the start-up of each parse).
"""

from __future__ import annotations

import io
from typing import Any

import pypdf


def pdf_pages(data: bytes, max_pages: int, max_chars: int) -> dict[str, Any]:
    """The text of the first `max_pages` pages, at most `max_chars` in all."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")
    count = len(reader.pages)
    pages: list[str] = []
    total = 0
    truncated = count > max_pages
    for page in reader.pages[:max_pages]:
        text = page.extract_text() or ""
        if total + len(text) > max_chars:
            pages.append(text[: max_chars - total])
            truncated = True
            break
        pages.append(text)
        total += len(text)
    return {"pages": pages, "page_count": count, "truncated": truncated}
