"""Files an attendant sent from the console: their bytes wait in `outbound_media`.

Meta sends by media id: the bytes are uploaded once and the id is kept on the row's
payload (a retry does not upload again). Uazapi takes the file as base64 in the send.
"""

from __future__ import annotations

import base64
from typing import Any

import asyncpg

from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import ProviderClient, ProviderSendError


async def attach(
    pool: asyncpg.Pool,
    tenant_id: str,
    row: dict[str, Any],
    client: ProviderClient,
    creds: ProviderCredentials,
) -> dict[str, Any]:
    """The row ready to send: its stored file turned into a media id or a base64 body."""
    payload = dict(row.get("payload") or {})
    if not payload.get("stored_media") or payload.get("media_id") or payload.get("media_url"):
        return row
    stored = await pool.fetchrow(
        "SELECT mime_type, filename, data FROM outbound_media WHERE client_id = $1"
        " AND message_id = $2",
        tenant_id,
        int(row["id"]),
    )
    if stored is None:
        raise ProviderSendError(
            "the file of this message is missing", retryable=False, code="media_missing"
        )
    upload = getattr(client, "upload_media", None)
    if row["provider"] == "meta" and upload is not None:
        media_id = await upload(
            creds,
            bytes(stored["data"]),
            mime_type=stored["mime_type"],
            filename=stored["filename"] or "arquivo",
        )
        await pool.execute(
            "UPDATE chat_messages SET payload = payload || jsonb_build_object('media_id', $3::text)"
            " WHERE client_id = $1 AND id = $2",
            tenant_id,
            int(row["id"]),
            media_id,
        )
        payload["media_id"] = media_id
    else:
        encoded = base64.b64encode(bytes(stored["data"])).decode()
        payload["media_url"] = encoded
    return {**row, "payload": payload}
