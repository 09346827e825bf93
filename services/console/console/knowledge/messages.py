"""Why an upload was refused, in Portuguese, from the knowledge library's exceptions."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from console.knowledge.views import size_label
from waai.knowledge.extract import DocumentLimits, DocumentNotSupported, DocumentUnreadable
from waai.knowledge.library import DocumentNameInvalid, DocumentTooLarge

KINDS = ".txt, .md, .pdf, .docx, .csv ou .html"
NOT_FOUND = "documento não encontrado"
FILE_REQUIRED = "envie o arquivo no campo `file` (multipart/form-data)"


def too_large(limit: int) -> str:
    return f"arquivo grande demais: o limite é {size_label(limit)}"


def _unreadable(exc: DocumentUnreadable, limits: DocumentLimits) -> str:
    return {
        "empty": "o arquivo está vazio: não há texto para o robô consultar"
        " (um PDF só de imagens também não tem texto)",
        "parse_failed": "não foi possível ler o PDF: arquivo danificado, protegido por senha"
        " ou pesado demais para abrir",
        "too_many_pages": f"o PDF passa de {limits.max_pages} páginas",
        "too_long": f"o documento passa de {limits.max_chars:,} caracteres".replace(",", "."),
    }.get(exc.reason, "não foi possível ler o arquivo: confira se ele abre no computador")


def _field(loc: str, msg: str, kind: str) -> list[dict[str, Any]]:
    return [{"loc": ["body", loc], "msg": msg, "type": kind}]


def refused(exc: Exception, limits: DocumentLimits) -> HTTPException:
    """The 4xx of a refused upload, naming the field (`file` or `name`) and the reason."""
    if isinstance(exc, DocumentTooLarge):
        return HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, _field("file", too_large(exc.limit), "too_large")
        )
    if isinstance(exc, DocumentNotSupported):
        return HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            _field("file", f"tipo de arquivo não suportado: envie {KINDS}", "unsupported"),
        )
    if isinstance(exc, DocumentNameInvalid):
        return HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            _field("name", "o nome precisa ter de 1 a 200 caracteres", "value_error"),
        )
    if isinstance(exc, DocumentUnreadable):
        return HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            _field("file", _unreadable(exc, limits), exc.reason),
        )
    raise TypeError(f"not an upload refusal: {exc!r}")
