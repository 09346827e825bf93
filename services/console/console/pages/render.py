"""Rendering pages and fragments: the Jinja environment, the catalog, and the headers every
page answer carries (no caching of private data, one Vary for page-or-fragment URLs, CSP)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from console.auth.models import CurrentUser
from console.i18n import Translator, negotiate

# only this service's own files: no inline script, no third-party origin
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none';"
    " base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # customer conversations never go to a shared or back-forward cache; a URL answers a
    # whole page or a fragment depending on HX-Request, so caches must key on it
    "Cache-Control": "no-store",
    "Vary": "HX-Request, Cookie, Accept-Language",
}


def clock(value: object) -> str:
    """Server-side fallback for a `<time>` (the script rewrites it in the reader's zone)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        return ""
    return moment.strftime("%d/%m %H:%M")


@cache
def asset_version(name: str) -> str:
    data = (resources.files("console") / "static" / name).read_bytes()
    return hashlib.sha256(data).hexdigest()[:10]


def static_url(name: str) -> str:
    """A URL that changes with the file, so assets can be cached for long."""
    return f"/static/{name}?v={asset_version(name)}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("console", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clock"] = clock
    env.globals["static"] = static_url
    return env


def translator_for(request: Request, user: CurrentUser | None) -> Translator:
    return Translator(
        negotiate(user.locale if user else None, request.headers.get("accept-language"))
    )


def is_htmx(request: Request) -> bool:
    """A fragment request made by htmx (never a history restore: that asks for the page)."""
    return request.headers.get("hx-request") == "true" and (
        request.headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    template: str,
    user: CurrentUser | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    sound_on: bool = True,
) -> HTMLResponse:
    """Render `template` with the catalog, the user and the session's CSRF token."""
    t = translator_for(request, user)
    session = getattr(request.state, "session", None)
    values: dict[str, Any] = {
        "t": t,
        "lang": t.html_lang,
        "user": user,
        "csrf_token": session.csrf_token if session is not None and user is not None else "",
        # the tenant an operator works in: the banner on every page names it
        "acting": session.acting if session is not None and user is not None else None,
        "js_strings": t.js_strings(),
        "nav": "",
        "sound_on": sound_on,
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
