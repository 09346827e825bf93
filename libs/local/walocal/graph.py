"""A fake Meta Graph API speaking the real wire format, for tests and the local sandbox.

In tests: `state = GraphState(tokens={"PHONE_ID": "TOKEN"}); app = make_graph_app(state)`,
then `with serve_in_thread(app) as srv:` and point the client at `srv.url`.
Standalone: `python -m walocal.graph --port 9100 --accept-any-token`; the sandbox
chat polls `GET /_sandbox/messages?to=...&after=<seq>` for the bot's replies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fastapi import FastAPI

from walocal import graph_edges as edges
from walocal.graph_state import GraphState


def make_graph_app(state: GraphState) -> FastAPI:
    """The fake Graph API as an ASGI app bound to `state`."""
    app = FastAPI(title="fake-graph")
    app.state.graph = state
    app.add_api_route("/_sandbox/messages", edges.sandbox_messages, methods=["GET"])
    app.add_api_route("/media-download/{media_id}", edges.download, methods=["GET"])
    app.add_api_route("/{version}/{phone_id}/messages", edges.messages, methods=["POST"])
    app.add_api_route("/{version}/{phone_id}/media", edges.upload, methods=["POST"])
    app.add_api_route("/{version}/{media_id}", edges.media_url, methods=["GET"])
    return app


def parse_args(
    argv: list[str] | None, description: str
) -> tuple[argparse.Namespace, dict[str, str]]:
    """The sandbox process's options and its `{phone_number_id: token}` map."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--token-file", help='JSON {"<phone_number_id>": "<token>"}')
    parser.add_argument("--accept-any-token", action="store_true")
    args = parser.parse_args(argv)
    tokens = json.loads(Path(args.token_file).read_text()) if args.token_file else {}
    return args, tokens


def main(argv: list[str] | None = None) -> None:
    """Run the fake as a process (sends and media only; `walocal.graph_admin` adds the
    account endpoints)."""
    import uvicorn

    args, tokens = parse_args(argv, "Fake Meta Graph API")
    state = GraphState(tokens=tokens, accept_any_token=args.accept_any_token)
    uvicorn.run(make_graph_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
