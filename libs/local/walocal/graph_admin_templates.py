"""The fake's message template edges: list (paged, by status), create (validated as Meta
does, PENDING) and delete by name."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from walocal.graph_admin_edges import answer, body_of, check, state_of
from walocal.graph_admin_state import graph_error

CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})


async def list_templates(waba_id: str, request: Request) -> Response:
    state = state_of(request)
    state.record(request, None)
    failed = check("message_templates", request, waba_id if waba_id in state.wabas else None)
    if failed:
        return failed
    q = request.query_params
    rows = [
        t
        for t in state.wabas[waba_id].templates
        if not q.get("status") or t["status"] == q["status"]
    ]
    limit, start = int(q.get("limit") or 25), int(q.get("after") or 0)
    page = rows[start : start + limit]
    result: dict[str, Any] = {
        "data": page,
        "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}},
    }
    if start + limit < len(rows):
        base = str(request.url).split("?")[0]
        result["paging"]["next"] = f"{base}?limit={limit}&after={start + limit}"
    return JSONResponse(result)


async def create_template(waba_id: str, request: Request) -> Response:
    state = state_of(request)
    body = await body_of(request)
    state.record(request, body)
    failed = check("message_templates", request, waba_id if waba_id in state.wabas else None)
    if failed:
        return failed
    problem = _template_problem(body, state.wabas[waba_id].templates)
    if problem:
        return answer(
            graph_error(
                400,
                100,
                "Invalid parameter",
                error_user_msg=problem,
                error_data={"details": problem},
            )
        )
    template = {
        **body,
        "id": str(int(time.time() * 1000)) + str(len(state.wabas)),
        "status": "PENDING",
    }
    state.wabas[waba_id].templates.append(template)
    return JSONResponse({"id": template["id"], "status": "PENDING", "category": body["category"]})


async def delete_template(waba_id: str, request: Request) -> Response:
    state = state_of(request)
    state.record(request, None)
    failed = check("message_templates", request, waba_id if waba_id in state.wabas else None)
    if failed:
        return failed
    name = request.query_params.get("name") or ""
    templates = state.wabas[waba_id].templates
    kept = [t for t in templates if t.get("name") != name]
    if not name or len(kept) == len(templates):
        return answer(
            graph_error(
                400,
                100,
                "Invalid parameter",
                error_subcode=2593002,
                error_user_title="Message template not found",
                error_user_msg=f"Message template {name!r} does not exist.",
            )
        )
    state.wabas[waba_id].templates[:] = kept
    return JSONResponse({"success": True})


def _template_problem(body: Any, existing: list[dict[str, Any]]) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    name, language = body.get("name"), body.get("language")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,512}", name):
        return "name must be lowercase letters, digits and underscores"
    if body.get("category") not in CATEGORIES:
        return "category must be MARKETING, UTILITY or AUTHENTICATION"
    if not isinstance(language, str) or not language:
        return "language is required"
    components = body.get("components")
    if not isinstance(components, list) or not any(
        isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY" for c in components
    ):
        return "components must include a BODY"
    if any(t["name"] == name and t["language"] == language for t in existing):
        return f"Content in this language already exists for {name}"
    return None
