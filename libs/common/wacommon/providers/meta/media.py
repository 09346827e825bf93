"""Download inbound media through the Graph Media API, with a size cap.

Flow (Meta docs): `GET /{version}/{media_id}` returns a short-lived URL; `GET url`
with the same bearer token returns the bytes. A 404 on the URL means it expired:
fetch a fresh URL once. The token travels only in headers and never in errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from wacommon.infra.errors import PermanentError, RetryableError
from wacommon.infra.netguard import UnsafePathSegment, path_segment


class MediaTooLarge(PermanentError):
    """The media is bigger than the configured cap."""


class MediaDownloadFailed(PermanentError):
    """Meta refused the media request (bad id, expired media, bad token)."""


class MediaTemporarilyUnavailable(RetryableError):
    """A 5xx, 429 or network failure while fetching media: try again later."""


@dataclass(frozen=True)
class DownloadedMedia:
    """The bytes of one media object."""

    data: bytes
    mime_type: str | None
    filename: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


_FILENAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)


async def download_meta_media(
    client: httpx.AsyncClient,
    *,
    graph_url: str,
    version: str,
    media_id: str,
    access_token: str,
    max_bytes: int,
) -> DownloadedMedia:
    """Fetch the media URL for `media_id`, then its bytes (refetching the URL once on 404)."""
    headers = {"Authorization": f"Bearer {access_token}"}
    for _ in range(2):
        meta = await _media_url(client, graph_url, version, media_id, headers)
        _check_declared_size(meta.get("file_size"), max_bytes)
        result = await _download(client, str(meta["url"]), headers, max_bytes)
        if result is not None:
            mime = result.mime_type or _str(meta.get("mime_type"))
            return DownloadedMedia(result.data, mime, result.filename)
    raise MediaDownloadFailed(f"media {media_id}: download URL answered 404 twice")


async def _media_url(
    client: httpx.AsyncClient,
    graph_url: str,
    version: str,
    media_id: str,
    headers: dict[str, str],
) -> dict[str, object]:
    try:
        # the id comes from a webhook: one path segment, never a walk to another Graph node
        segment = path_segment(media_id)
    except UnsafePathSegment:
        raise MediaDownloadFailed(f"media id {media_id!r} is not usable") from None
    url = f"{graph_url.rstrip('/')}/{version}/{segment}"
    try:
        resp = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise MediaTemporarilyUnavailable(
            f"media {media_id}: URL lookup failed ({type(exc).__name__})"
        ) from None
    _raise_for_status(resp, f"media {media_id}: URL lookup")
    try:
        body = resp.json()
    except ValueError:
        raise MediaDownloadFailed(f"media {media_id}: URL lookup returned non-JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        raise MediaDownloadFailed(f"media {media_id}: URL lookup returned no url")
    return body


async def _download(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], max_bytes: int
) -> DownloadedMedia | None:
    """The bytes, or None when the URL answered 404 (expired)."""
    try:
        async with client.stream("GET", url, headers=headers) as resp:
            if resp.status_code == 404:
                return None
            _raise_for_status(resp, "media download")
            _check_declared_size(resp.headers.get("content-length"), max_bytes)
            chunks: list[bytes] = []
            total = 0
            async for chunk in resp.aiter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise MediaTooLarge(f"media larger than {max_bytes} bytes")
                chunks.append(chunk)
            mime = resp.headers.get("content-type")
            disposition = _FILENAME.search(resp.headers.get("content-disposition", ""))
    except httpx.HTTPError as exc:
        raise MediaTemporarilyUnavailable(f"media download failed ({type(exc).__name__})") from None
    return DownloadedMedia(b"".join(chunks), mime, disposition.group(1) if disposition else None)


def _raise_for_status(resp: httpx.Response, what: str) -> None:
    status = resp.status_code
    if status < 400:
        return
    if status >= 500 or status in (408, 429):
        raise MediaTemporarilyUnavailable(f"{what}: HTTP {status}")
    raise MediaDownloadFailed(f"{what}: HTTP {status}")


def _check_declared_size(value: object, max_bytes: int) -> None:
    # Meta documents file_size as a quoted string; pywa shows an int: accept both
    size = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.isdigit():
        size = int(value)
    if size is not None and size > max_bytes:
        raise MediaTooLarge(f"media of {size} bytes is larger than {max_bytes}")


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
