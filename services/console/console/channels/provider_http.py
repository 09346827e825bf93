"""One call to a provider from the channels page, its failures as Portuguese sentences.

Every URL here is one a tenant typed or a provider answered, so the calls go through the
guarded client (`wacommon.infra.netguard`). Tokens are sent in headers and never appear in a
message raised here.
"""

from __future__ import annotations

from typing import Any

import httpx

from wacommon.infra.netguard import AddressBlocked, HostNotFound

# netguard's reasons (English, for logs and the admin API) as the owner reads them
_GUARD_REASONS = {
    "the URL is not valid": "o endereço não é válido",
    "the URL has no host": "o endereço não tem servidor",
    "only https URLs are allowed": "use um endereço https://",
    "URLs with credentials are not allowed": "tire o usuário e a senha do endereço",
    "the URL points to a private or reserved address": "o endereço aponta para uma rede interna",
}


def guard_reason(exc: AddressBlocked | HostNotFound) -> str:
    """Why the guard refused a URL, in Portuguese."""
    if isinstance(exc, HostNotFound):
        return "o servidor do endereço não foi encontrado"
    return _GUARD_REASONS.get(str(exc), "endereço não permitido")


class ProviderFailure(Exception):
    """A provider call that did not succeed; `status` is what the console answers with."""

    def __init__(self, detail: str, *, status: int = 502, provider_status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.provider_status = provider_status

    @property
    def timed_out(self) -> bool:
        return self.status == 504

    @property
    def token_refused(self) -> bool:
        return self.provider_status in (401, 403)


def provider_error(resp: httpx.Response) -> str:
    """The provider's own error text (`error` or `message`), cut short; else the status."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:300]
    return f"HTTP {resp.status_code}"


async def call(
    http: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    timeout_s: float,
) -> Any:
    """The JSON the provider answered, or ProviderFailure with a sentence for the owner."""
    try:
        resp = await http.request(method, url, headers=headers, json=body, timeout=timeout_s)
    except httpx.TimeoutException:
        raise ProviderFailure(
            f"{provider} não respondeu em {timeout_s:g} s. Tente de novo em instantes.",
            status=504,
        ) from None
    except (AddressBlocked, HostNotFound) as exc:
        raise ProviderFailure(
            f"endereço recusado para {provider}: {guard_reason(exc)}", status=422
        ) from None
    except httpx.HTTPError as exc:
        raise ProviderFailure(
            f"não foi possível falar com {provider} ({type(exc).__name__}). Tente de novo.",
        ) from None
    if resp.status_code >= 400:
        reason = provider_error(resp)
        if resp.status_code in (401, 403):
            detail = f"{provider} recusou o token ({resp.status_code}: {reason})"
        else:
            detail = f"{provider} respondeu {resp.status_code}: {reason}"
        raise ProviderFailure(detail, provider_status=resp.status_code)
    try:
        return resp.json()
    except ValueError:
        return {}
