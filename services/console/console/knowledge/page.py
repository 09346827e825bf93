"""`/conhecimento`: the knowledge base page (owners only; an agent gets a 403 page).

`?fragment=list` answers the document list alone: the page script swaps it in after an
upload or a delete, and it polls itself while a File Search sync is pending.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.knowledge.api import knowledge_of
from console.knowledge.messages import KINDS
from console.knowledge.views import any_pending, knowledge_out, size_label
from console.pages.common import owner_page
from console.pages.render import render

API = "/api/knowledge"


def knowledge_page_router() -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False)

    @router.get("/conhecimento")
    async def knowledge_page(
        request: Request,
        fragment: str | None = None,
        user: CurrentUser | None = Depends(optional_user),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        found = await owner_page(request, deps, user)
        if isinstance(found, Response):
            return found
        who, tenant = found
        out = await knowledge_out(knowledge_of(deps), str(tenant))
        query = f"?tenant_id={tenant}" if who.user.role == "operator" else ""
        context = {
            "nav": "knowledge",
            "kb": out,
            "pending": any_pending(out),
            "size_label": size_label,
            "api": API,
            "query": query,
            "kinds": KINDS,
            "max_label": size_label(out.max_bytes),
        }
        template = "_kb_docs.html" if fragment == "list" else "knowledge.html"
        return render(request, template, who.user, context, sound_on=who.sound_on)

    return router
