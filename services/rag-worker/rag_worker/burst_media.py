"""Media in a burst: text for each media message, and what to ask when none was understood."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from waai.responders.responder import Turn, turn_from_row


@dataclass(frozen=True)
class MediaText:
    """What media processing stored on a message: its text, or why the customer must write."""

    content: str
    # set when the media could not be understood: what to ask the customer
    polite_reply: str | None = None


class MediaProcessor(Protocol):
    """Turns a stored inbound media message into text and stores it on the row."""

    def __call__(
        self, client: dict[str, Any], row: dict[str, Any], retry_count: int = 0
    ) -> Awaitable[MediaText | None]: ...


async def process_media_rows(
    process: MediaProcessor, client: dict[str, Any], rows: list[dict[str, Any]], retry_count: int
) -> None:
    """Media rows get their text; a row processed by an earlier delivery is not paid twice."""
    for row in rows:
        payload = row["payload"] or {}
        if not row["media"] or payload.get("media_processed"):
            continue
        result = await process(client, row, retry_count)
        if result is not None:
            row["content"] = result.content
            row["payload"] = {
                **payload,
                "media_processed": True,
                "polite_reply": result.polite_reply,
            }


def polite_only(rows: list[dict[str, Any]]) -> list[str]:
    """The polite requests when every message is media nobody understood, else nothing."""
    asks = [(r["payload"] or {}).get("polite_reply") for r in rows]
    if not all(asks) or any((r["content"] or "").strip() for r in rows):
        return []
    return list(dict.fromkeys(str(a) for a in asks))


def burst_turn(row: dict[str, Any]) -> Turn:
    """A burst message as the model sees it; media not understood carries a note saying so."""
    turn = turn_from_row(row)
    ask = (row["payload"] or {}).get("polite_reply")
    if not ask:
        return turn
    note = f"[{row['kind']} não compreendido; se precisar dele, diga ao cliente: {ask}]"
    caption = (row["content"] or "").strip()
    return replace(turn, text=f"{caption}\n{note}" if caption else note)
