"""Download inbound Uazapi media through `POST /message/download`, with a size cap.

Webhook media URLs are encrypted WhatsApp CDN links; Uazapi decrypts by message id and
answers `{"mimetype", "base64Data", "fileURL"}`: the bytes inline, or a link to fetch.
The instance token travels only in the `token` header and never in errors.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

import httpx

from wacommon.providers.media_link import fetch_media_link
from wacommon.providers.meta.media import (
    DownloadedMedia,
    MediaDownloadFailed,
    MediaTemporarilyUnavailable,
    MediaTooLarge,
)

__all__ = ["DownloadedMedia", "download_uazapi_media"]


async def download_uazapi_media(
    http: httpx.AsyncClient,
    *,
    base_url: str,
    token: str,
    message_id: str,
    max_bytes: int,
    links: httpx.AsyncClient,
    link_hosts: Iterable[str] = (),
) -> DownloadedMedia:
    """The decrypted bytes of message `message_id` (MediaTooLarge above `max_bytes`).

    `http` talks to the tenant's Uazapi server; a `fileURL` in its answer is fetched with
    `links` (a `public_only_client`), never with the token, and only on https public addresses
    unless its host is in `link_hosts`.
    """
    body = {
        "id": message_id,
        "return_base64": True,
        "return_link": False,
        "generate_mp3": False,
        "transcribe": False,
    }
    try:
        resp = await http.post(
            f"{base_url.rstrip('/')}/message/download", json=body, headers={"token": token}
        )
    except httpx.HTTPError as exc:
        raise MediaTemporarilyUnavailable(
            f"uazapi media {message_id}: download failed ({type(exc).__name__})"
        ) from None
    _raise_for_status(resp.status_code, f"uazapi media {message_id}")
    try:
        answer = resp.json()
    except ValueError:
        raise MediaDownloadFailed(f"uazapi media {message_id}: non-JSON answer") from None
    if not isinstance(answer, dict):
        raise MediaDownloadFailed(f"uazapi media {message_id}: unexpected answer")
    mime = _str(answer.get("mimetype"))
    filename = _str(answer.get("fileName")) or _str(answer.get("filename"))
    encoded = _str(answer.get("base64Data"))
    if encoded:
        return DownloadedMedia(_decode(encoded, max_bytes, message_id), mime, filename)
    link = _str(answer.get("fileURL"))
    if link:
        data, link_mime = await fetch_media_link(
            links,
            link,
            allowed_hosts=link_hosts,
            max_bytes=max_bytes,
            what=f"uazapi media {message_id} link",
        )
        return DownloadedMedia(data, mime or link_mime, filename)
    raise MediaDownloadFailed(
        f"uazapi media {message_id}: answer has neither base64Data nor fileURL"
    )


def _decode(encoded: str, max_bytes: int, message_id: str) -> bytes:
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    # 4 base64 characters carry 3 bytes: refuse before decoding a huge string
    if (len(encoded) // 4) * 3 - encoded.count("=") > max_bytes:
        raise MediaTooLarge(f"uazapi media {message_id} is larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raise MediaDownloadFailed(f"uazapi media {message_id}: bad base64Data") from None
    if len(data) > max_bytes:
        raise MediaTooLarge(f"uazapi media {message_id} is larger than {max_bytes} bytes")
    return data


def _raise_for_status(status: int, what: str) -> None:
    if status < 400:
        return
    if status >= 500 or status in (408, 429):
        raise MediaTemporarilyUnavailable(f"{what}: HTTP {status}")
    raise MediaDownloadFailed(f"{what}: HTTP {status}")


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
