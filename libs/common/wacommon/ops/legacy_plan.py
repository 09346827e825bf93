"""What the legacy migration would create for one tenant, read from its legacy credential
fields alone (no I/O): the provider instances, in the precedence credential resolution used,
minus the provider types the tenant already has."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROVIDER_TYPES = ("meta", "lancepilot", "uazapi")
# provider config keys as the system we replace stored them
REQUIRED: dict[str, tuple[str, ...]] = {
    "meta": ("phone_id", "access_token"),
    "uazapi": ("url", "token"),
    "lancepilot": ("token", "workspace_id", "number"),
}
_META_KEYS = ("phone_id", "access_token", "waba_id", "app_id", "display_phone_number")
_NO_PROVIDER = (None, "", "none", "uazapi")


@dataclass(frozen=True)
class Candidate:
    """One provider instance found in a tenant's legacy fields."""

    provider_type: str
    source: str
    config: dict[str, Any] = field(repr=False)
    is_active: bool = True


@dataclass(frozen=True)
class Planned:
    """A `client_providers` row the migration creates."""

    provider_type: str
    instance_name: str
    source: str
    config: dict[str, Any] = field(repr=False)
    is_active: bool
    is_default: bool


@dataclass
class TenantPlan:
    """What the migration does for one tenant, and why it leaves the rest."""

    tenant_id: str
    name: str
    create: list[Planned] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def line(self, *, dry_run: bool) -> str:
        """The one line printed for this tenant (no secret in it)."""
        verb = "would create" if dry_run else "created"
        parts = [
            f"{verb} {p.provider_type} {p.instance_name!r}"
            f"{' default' if p.is_default else ''}{'' if p.is_active else ' inactive'}"
            f" from {p.source}"
            for p in self.create
        ]
        if not parts:
            parts = ["skipped: " + ("; ".join(self.skipped) or "no legacy credentials")]
        elif self.skipped:
            parts.append("skipped: " + "; ".join(self.skipped))
        return f"{self.tenant_id} {self.name!r}: " + "; ".join(parts)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _active(section: dict[str, Any]) -> bool:
    return section.get("active") is not False


def _pair(client: dict[str, Any], whatsapp: dict[str, Any]) -> tuple[Candidate | None, str | None]:
    """The legacy gateway url/token pair, read as credential resolution reads it."""
    official = whatsapp.get("mode") == "official"
    url = _text(client.get("api_url")) or (None if official else _text(whatsapp.get("url")))
    token = _text(client.get("token")) or (None if official else _text(whatsapp.get("key")))
    if not url:
        return None, None
    source = "clients.api_url" if _text(client.get("api_url")) else "tools_config.whatsapp.url"
    source += "/token" if _text(client.get("token")) else "/key"
    provider = client.get("whatsapp_provider") or whatsapp.get("provider")
    if provider not in _NO_PROVIDER:
        return None, f"legacy url/token ignored (whatsapp_provider is {provider})"
    if not token:
        return None, f"{source}: no token"
    return Candidate("uazapi", source, {"url": url, "token": token}), None


def _meta(section: dict[str, Any], source: str) -> tuple[Candidate | None, str | None]:
    config = {k: _text(section.get(k)) for k in _META_KEYS}
    config = {k: v for k, v in config.items() if v}
    if not (config.get("phone_id") or config.get("access_token")):
        return None, None
    missing = [k for k in REQUIRED["meta"] if not config.get(k)]
    if missing:
        return None, f"{source}: meta config lacks {', '.join(missing)}"
    return Candidate("meta", source, config, _active(section)), None


def _lancepilot(section: dict[str, Any]) -> tuple[Candidate | None, str | None]:
    config = {k: _text(section.get(k)) for k in ("token", "workspace_id", "number")}
    config = {k: v for k, v in config.items() if v}
    if not config:
        return None, None
    missing = [k for k in REQUIRED["lancepilot"] if not config.get(k)]
    if missing:
        return None, f"tools_config.lancepilot lacks {', '.join(missing)}"
    return Candidate("lancepilot", "tools_config.lancepilot", config, _active(section)), None


def _uazapi(section: dict[str, Any]) -> tuple[Candidate | None, str | None]:
    url = _text(section.get("url"))
    token = _text(section.get("token")) or _text(section.get("api_key"))
    if not (url or token):
        return None, None
    if not (url and token):
        return None, "tools_config.uazapi lacks " + ("token" if url else "url")
    config = {"url": url, "token": token}
    return Candidate("uazapi", "tools_config.uazapi", config, _active(section)), None


def candidates(client: dict[str, Any]) -> tuple[list[Candidate], list[str]]:
    """The provider instances a tenant's (decrypted) legacy fields describe, by precedence."""
    tools = _dict(client.get("tools_config"))
    whatsapp = _dict(tools.get("whatsapp"))
    found: list[Candidate] = []
    reasons: list[str] = []
    for cand, why in (
        _pair(client, whatsapp),
        _meta(whatsapp, "tools_config.whatsapp"),
        _meta(_dict(tools.get("whatsapp_official")), "tools_config.whatsapp_official"),
        _lancepilot(_dict(tools.get("lancepilot"))),
        _uazapi(_dict(tools.get("uazapi"))),
    ):
        if cand is not None:
            found.append(cand)
        if why is not None:
            reasons.append(why)
    wanted = client.get("whatsapp_provider")
    if wanted in PROVIDER_TYPES and not any(c.provider_type == wanted for c in found):
        reasons.append(f"whatsapp_provider is {wanted} but no {wanted} credentials were found")
    return found, reasons


def _identity(cand: Candidate) -> tuple[str, ...]:
    keys = {"meta": ("phone_id",), "lancepilot": ("workspace_id", "number")}.get(
        cand.provider_type, ("url", "token")
    )
    return (cand.provider_type, *(str(cand.config.get(k)) for k in keys))


def plan_tenant(client: dict[str, Any], existing_types: set[str]) -> TenantPlan:
    """The rows to create (pure): one per distinct legacy instance of a type the tenant lacks."""
    plan = TenantPlan(str(client["id"]), str(client.get("name") or ""))
    found, plan.skipped = candidates(client)
    seen: set[tuple[str, ...]] = set()
    already: set[str] = set()
    for cand in found:
        if cand.provider_type in existing_types:
            already.add(cand.provider_type)
            continue
        if _identity(cand) in seen:
            continue
        seen.add(_identity(cand))
        same_type = [p for p in plan.create if p.provider_type == cand.provider_type]
        name = "Principal" if not same_type else f"Principal {len(same_type) + 1}"
        # the first active instance of a type is the one resolution used before: it stays default
        default = cand.is_active and not any(p.is_default for p in same_type)
        plan.create.append(
            Planned(cand.provider_type, name, cand.source, cand.config, cand.is_active, default)
        )
    plan.skipped += [f"{t} already in client_providers" for t in sorted(already)]
    return plan
