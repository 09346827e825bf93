"""4xx answers in one shape: FastAPI's 422 body (`detail: [{loc, msg, type}]`) naming the field.

Handlers that validate by hand (a raw body, a rule across fields) raise these instead of
an `HTTPException(422, "text")`, so every 422 matches the `HTTPValidationError` schema the
OpenAPI documents and a client can point at the field it got wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError


def invalid(
    loc: Sequence[str | int], msg: str, kind: str = "value_error"
) -> RequestValidationError:
    """A 422 for one field: `loc` as FastAPI writes it (`("body", "name")`, `("query", "to")`)."""
    return RequestValidationError([{"type": kind, "loc": tuple(loc), "msg": msg}])


def invalid_model(exc: ValidationError, where: str = "body") -> RequestValidationError:
    """A 422 for a model validated by hand; the input is left out (it may be bytes or secret)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return RequestValidationError(
        [{"type": e["type"], "loc": (where, *e["loc"]), "msg": e["msg"]} for e in errors]
    )


class ErrorOut(BaseModel):
    """The body of every other 4xx/5xx: a reason, or an object for upstream failures."""

    detail: str | dict[str, Any]


def error_responses(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for these status codes, each with the `ErrorOut` body."""
    return {code: {"model": ErrorOut, "description": text} for code, text in described.items()}
