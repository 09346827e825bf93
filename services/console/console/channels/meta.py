"""`/api/channels/meta`: an owner connects and runs their WhatsApp Cloud API number.

Embedded Signup (the page's FB.login hands over a code and the session-info ids; the
server finishes it with `wacommon.console.meta_signup`), registration with the two-step PIN, the
business profile and the message templates. Owners and operators only (agents 403),
every number looked up inside the session's tenant (another tenant's id is 404), every
Graph call through the guarded client, Graph's refusals shown with Meta's code.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from console.auth.deps import require_owner
from console.channels import meta_numbers, meta_profile, meta_templates

NUMBER = "/numbers/{provider_id}"


def meta_channels_router() -> APIRouter:
    """Every route of `/api/channels/meta` (handlers in meta_numbers, meta_profile and
    meta_templates)."""
    router = APIRouter(
        prefix="/api/channels/meta",
        tags=["channels"],
        dependencies=[Depends(require_owner)],
    )
    created, no_content = status.HTTP_201_CREATED, status.HTTP_204_NO_CONTENT
    add = router.add_api_route
    add("", meta_numbers.overview, methods=["GET"])
    add("/signup", meta_numbers.signup, methods=["POST"], status_code=created)
    add("/sandbox-signup", meta_numbers.sandbox_signup, methods=["POST"])
    add(f"{NUMBER}/register", meta_numbers.register, methods=["POST"])
    add(f"{NUMBER}/profile", meta_profile.get_profile, methods=["GET"])
    add(f"{NUMBER}/profile", meta_profile.update_profile, methods=["POST"])
    add(f"{NUMBER}/templates", meta_templates.list_templates, methods=["GET"])
    add(
        f"{NUMBER}/templates", meta_templates.create_template, methods=["POST"], status_code=created
    )
    add(
        f"{NUMBER}/templates/{{name}}",
        meta_templates.delete_template,
        methods=["DELETE"],
        status_code=no_content,
    )
    return router
