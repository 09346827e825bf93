"""Fetch a media link a provider handed us (Uazapi `fileURL`, LancePilot media URLs).

The link is the provider's (or whoever answered as the provider's) choice, so it goes through
the shared guard: https only, public addresses only (checked when the socket opens), no
redirects, the body streamed and refused past the cap. No credentials travel with it.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from wacommon.infra.netguard import (
    AddressBlocked,
    BodyTooLarge,
    HostNotFound,
    check_url,
    read_capped,
)
from wacommon.providers.meta.media import (
    MediaDownloadFailed,
    MediaTemporarilyUnavailable,
    MediaTooLarge,
)


async def fetch_media_link(
    links: httpx.AsyncClient,
    url: str,
    *,
    allowed_hosts: Iterable[str],
    max_bytes: int,
    what: str,
) -> tuple[bytes, str | None]:
    """(bytes, content type) of `url`; `links` must be a `public_only_client`."""
    try:
        target = await check_url(url, allowed_hosts)
        async with links.stream("GET", target, follow_redirects=False) as resp:
            if resp.status_code >= 500 or resp.status_code in (408, 429):
                raise MediaTemporarilyUnavailable(f"{what}: HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise MediaDownloadFailed(f"{what}: HTTP {resp.status_code}")
            data, _ = await read_capped(resp, max_bytes, truncate=False)
            return data, resp.headers.get("content-type")
    except AddressBlocked as exc:
        raise MediaDownloadFailed(f"{what}: link refused ({exc})") from None
    except HostNotFound:
        raise MediaDownloadFailed(f"{what}: link host does not resolve") from None
    except BodyTooLarge:
        raise MediaTooLarge(f"{what} is larger than {max_bytes} bytes") from None
    except httpx.HTTPError as exc:
        raise MediaTemporarilyUnavailable(
            f"{what}: link fetch failed ({type(exc).__name__})"
        ) from None
