"""The console's own static files (CSS, our script, the vendored htmx), read once at start.

No CDN at run time: every asset comes from the package. URLs carry a content hash
(`render.static_url`), so the answers can be cached for a long time.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

from fastapi import APIRouter, HTTPException, Response

_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=31536000, immutable",
}


def _files(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found.update(_files(entry, name + "/"))
        elif any(name.endswith(ext) for ext in _TYPES):
            found[name] = entry.read_bytes()
    return found


def assets_router() -> APIRouter:
    """`GET /static/{name}`: only files that exist in the package; anything else is 404."""
    files = _files(resources.files("console") / "static")
    router = APIRouter(tags=["pages"])

    @router.get("/static/{name:path}", include_in_schema=False)
    async def asset(name: str) -> Response:
        body = files.get(name)
        if body is None:
            raise HTTPException(404, "arquivo não encontrado")
        kind = _TYPES["." + name.rsplit(".", 1)[-1]]
        return Response(body, media_type=kind, headers=_HEADERS)

    return router
