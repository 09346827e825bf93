"""A fake of the Graph account-management endpoints (Embedded Signup, templates, profile).

In tests: `state = GraphAdminState(app_id="1", app_secret="s")`, add a WABA and numbers,
`state.add_code("CODE", "TOKEN", waba_id)`, then
`with serve_in_thread(make_graph_admin_app(state)) as srv:` and point the client at
`srv.url`. `combined_graph_app(state, GraphState())` also serves the send/media fake
of `walocal.graph` on the same port. Codes are single use, like Meta's.

`POST /_sandbox/embedded_signup` plays the part of Facebook's Embedded Signup popup for
the offline sandbox (`make run`): it creates a WABA with one number and answers what the
popup hands the page, `{code, waba_id, phone_number_id, business_id}`. Nothing on the
real Graph answers there.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from walocal import graph_admin_edges as edges
from walocal import graph_admin_templates as templates
from walocal.graph import make_graph_app, parse_args
from walocal.graph_admin_state import GraphAdminState
from walocal.graph_state import GraphState

SANDBOX_SIGNUP = "/_sandbox/embedded_signup"

_ADMIN_EDGES = re.compile(
    r"^/[^/]+/(oauth/access_token|\d+/(subscribed_apps|register|"
    r"message_templates|whatsapp_business_profile))$"
)
_OBJECT = re.compile(r"^/[^/]+/(\d+)$")
TEMPLATES = "/{version}/{waba_id}/message_templates"
PROFILE = "/{version}/{phone_id}/whatsapp_business_profile"


def make_graph_admin_app(state: GraphAdminState) -> FastAPI:
    """The fake account-management endpoints as an ASGI app bound to `state`."""
    app = FastAPI(title="fake-graph-admin")
    app.state.graph_admin = state
    app.add_api_route("/{version}/oauth/access_token", edges.exchange, methods=["GET"])
    app.add_api_route("/{version}/{waba_id}/subscribed_apps", edges.subscribe, methods=["POST"])
    app.add_api_route("/{version}/{phone_id}/register", edges.register, methods=["POST"])
    app.add_api_route("/{version}/{phone_id}", edges.phone_info, methods=["GET"])
    app.add_api_route(TEMPLATES, templates.list_templates, methods=["GET"])
    app.add_api_route(TEMPLATES, templates.create_template, methods=["POST"])
    app.add_api_route(TEMPLATES, templates.delete_template, methods=["DELETE"])
    app.add_api_route(SANDBOX_SIGNUP, edges.sandbox_signup, methods=["POST"])
    app.add_api_route(PROFILE, edges.get_profile, methods=["GET"])
    app.add_api_route(PROFILE, edges.update_profile, methods=["POST"])
    return app


def combined_graph_app(admin: GraphAdminState, graph: GraphState) -> Any:
    """One ASGI app serving both fakes: account management here, sends and media in graph.py."""
    admin_app, graph_app = make_graph_admin_app(admin), make_graph_app(graph)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        obj = _OBJECT.match(path)
        mine = (
            path == SANDBOX_SIGNUP
            or bool(_ADMIN_EDGES.match(path))
            or (scope.get("method") == "GET" and obj is not None and obj.group(1) in admin.phones)
        )
        await (admin_app if mine else graph_app)(scope, receive, send)

    return app


def sandbox_states(
    tokens: dict[str, str], *, accept_any_token: bool, demo: tuple[str, str, str, str] | None
) -> tuple[GraphAdminState, GraphState]:
    """The two fakes as the offline sandbox runs them; `demo` is the seeded tenant's number
    `(waba_id, phone_number_id, display_phone_number, token)`, so its account pages work."""
    admin = GraphAdminState(accept_any_app=True)
    if demo is not None:
        waba_id, phone_id, display, token = demo
        admin.add_waba(waba_id, {phone_id: display}, verified_name="Pizzaria Demo")
        admin.add_token(token, waba_id)
    return admin, GraphState(tokens=tokens, accept_any_token=accept_any_token)


def main(argv: list[str] | None = None) -> None:
    """Run both fakes on one port (the local sandbox `make run` starts)."""
    import uvicorn

    from walocal import localdev

    args, tokens = parse_args(argv, "Fake Meta Graph API (sends and account)")
    demo = (
        localdev.DEMO_WABA_ID,
        localdev.DEMO_PHONE_ID,
        localdev.DEMO_DISPLAY,
        localdev.DEMO_TOKEN,
    )
    admin, graph = sandbox_states(tokens, accept_any_token=args.accept_any_token, demo=demo)
    app = combined_graph_app(admin, graph)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
