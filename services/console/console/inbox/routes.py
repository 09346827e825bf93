"""The inbox API under /api/: the URL of each handler, in the order they are matched."""

from __future__ import annotations

from fastapi import APIRouter

from console.inbox import actions, reads, replies

CONVERSATION = "/conversations/{conversation_id}"


def inbox_router() -> APIRouter:
    """Every route of the inbox API (handlers in reads, replies and actions)."""
    router = APIRouter(prefix="/api")
    router.add_api_route("/conversations", reads.list_conversations, methods=["GET"])
    router.add_api_route(CONVERSATION, reads.get_conversation, methods=["GET"])
    router.add_api_route(f"{CONVERSATION}/messages", reads.list_messages, methods=["GET"])
    router.add_api_route(
        f"{CONVERSATION}/messages", replies.send_message, methods=["POST"], status_code=201
    )
    router.add_api_route(f"{CONVERSATION}/templates", replies.list_templates, methods=["GET"])
    router.add_api_route(f"{CONVERSATION}/takeover", actions.takeover, methods=["POST"])
    router.add_api_route(f"{CONVERSATION}/release", actions.release, methods=["POST"])
    router.add_api_route(f"{CONVERSATION}/close", actions.close, methods=["POST"])
    router.add_api_route(f"{CONVERSATION}/assign", actions.assign, methods=["POST"])
    router.add_api_route(f"{CONVERSATION}/read", actions.mark_read, methods=["POST"])
    router.add_api_route("/media/{message_id}", reads.media, methods=["GET"])
    return router
