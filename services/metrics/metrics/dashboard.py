"""Serves the dashboard page and its vendored assets (Chart.js, no CDN at runtime)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException, Response

_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "chart.umd.min.js": "text/javascript; charset=utf-8",
}
# no inline script or style, no third-party origin: only this service's own files
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}


def dashboard_router() -> APIRouter:
    """`/dashboard` and `/dashboard/assets/{name}`, read once from the package."""
    folder = resources.files("metrics") / "static"
    page = (folder / "dashboard.html").read_bytes()
    assets = {name: (folder / name).read_bytes() for name in _TYPES}
    router = APIRouter(tags=["dashboard"])

    @router.get("/dashboard", include_in_schema=False)
    async def dashboard() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=_HEADERS)

    @router.get("/dashboard/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(404, "not found")
        return Response(
            assets[name],
            media_type=_TYPES[name],
            headers={**_HEADERS, "Cache-Control": "public, max-age=3600"},
        )

    return router
