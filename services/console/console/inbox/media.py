"""`GET /api/media/{message_id}`: a message's file, streamed with its content type.

Files an attendant sent come from `outbound_media`; a customer's are downloaded from the
provider (Meta's Media API, Uazapi's download) with the tenant's credentials and the
service's size cap, never stored by the console.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import HTTPException, Response

from console.deps import ConsoleDeps
from wacommon.infra.errors import CredentialNotFound
from wacommon.infra.netguard import public_only_client
from wacommon.providers.meta.media import (
    DownloadedMedia,
    MediaDownloadFailed,
    MediaTemporarilyUnavailable,
    MediaTooLarge,
    download_meta_media,
)
from wacommon.providers.uazapi.media import download_uazapi_media
from wacommon.repositories import providers as providers_repo

NO_MEDIA = "esta mensagem não tem arquivo"


async def media_response(
    deps: ConsoleDeps, http: httpx.AsyncClient, tenant: str, message_id: int
) -> Response:
    """A message's file: the attendant's, stored; else the customer's, from the provider."""
    row = await deps.pool.fetchrow(
        "SELECT m.id, m.direction, m.kind, m.provider, m.provider_instance_id,"
        " m.provider_message_id, m.media, o.mime_type AS out_mime, o.filename AS out_name,"
        " o.data AS out_data FROM chat_messages m"
        " LEFT JOIN outbound_media o ON o.message_id = m.id AND o.client_id = m.client_id"
        " WHERE m.client_id = $1 AND m.id = $2",
        tenant,
        message_id,
    )
    if row is None:
        raise HTTPException(404, "mensagem não encontrada")
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if row["out_data"] is not None:
        return Response(
            bytes(row["out_data"]),
            media_type=row["out_mime"],
            headers=headers | _disposition(row["out_name"]),
        )
    ref: dict[str, Any] = dict(row["media"] or {})
    if row["direction"] != "in" or not ref:
        raise HTTPException(404, NO_MEDIA)
    got = await _download(deps, http, tenant, row, ref)
    mime = (got.mime_type or ref.get("mime_type") or "application/octet-stream").split(";")[0]
    return Response(got.data, media_type=mime, headers=headers | _disposition(ref.get("filename")))


async def _download(
    deps: ConsoleDeps, http: httpx.AsyncClient, tenant: str, row: Any, ref: dict[str, Any]
) -> DownloadedMedia:
    """A customer's file from the provider, with the tenant's credentials and the size cap."""
    try:
        creds = await providers_repo.load_credentials(
            deps.pool,
            deps.secrets,
            tenant,
            row["provider"],
            str(row["provider_instance_id"]) if row["provider_instance_id"] else None,
        )
        settings = deps.settings
        if row["provider"] == "meta":
            got = await download_meta_media(
                http,
                graph_url=settings.meta_graph_url,
                version=settings.meta_graph_version,
                media_id=str(ref.get("media_id") or ""),
                access_token=str(creds.config.get("access_token") or ""),
                max_bytes=settings.media_max_bytes,
            )
        elif row["provider"] == "uazapi":
            hosts = settings.link_hosts()
            # a `fileURL` is the provider's to choose: fetched only through the guard
            async with public_only_client(hosts) as links:
                got = await download_uazapi_media(
                    http,
                    base_url=creds.url or "",
                    token=creds.token or "",
                    message_id=str(ref.get("media_id") or row["provider_message_id"]),
                    max_bytes=settings.media_max_bytes,
                    links=links,
                    link_hosts=hosts,
                )
        else:
            raise HTTPException(404, NO_MEDIA)
    except CredentialNotFound as exc:
        raise HTTPException(409, "o canal desta conversa não está configurado") from exc
    except MediaTooLarge as exc:
        raise HTTPException(413, "arquivo maior que o limite para exibição") from exc
    except MediaTemporarilyUnavailable as exc:
        raise HTTPException(502, "o provedor não entregou o arquivo agora; tente de novo") from exc
    except MediaDownloadFailed as exc:
        raise HTTPException(410, "o provedor não tem mais este arquivo") from exc
    return got


def _disposition(filename: object) -> dict[str, str]:
    if not filename:
        return {}
    safe = "".join(ch for ch in str(filename) if ch.isalnum() or ch in "._- ")[:120] or "arquivo"
    return {"Content-Disposition": f'inline; filename="{safe}"'}
