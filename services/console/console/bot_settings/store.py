"""Reading and saving a section: one transaction with the `clients` row locked, the change
recorded in `settings_changes` in the same transaction (a refused field writes nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from console.auth.models import CurrentUser
from console.bot_settings.base import SectionForm, SettingsInvalid, Stored
from wacommon.infra.crypto import MASK, SecretBox, mask

_COLUMNS = "system_prompt, timezone, human_attendant_timeout, tools_config, followup_config"


def stored_of(row: asyncpg.Record, box: SecretBox) -> Stored:
    tools = row["tools_config"]
    followup = row["followup_config"]
    return Stored(
        system_prompt=row["system_prompt"] or "",
        timezone=row["timezone"] or "America/Sao_Paulo",
        human_attendant_timeout=row["human_attendant_timeout"],
        tools=dict(box.open(tools)) if isinstance(tools, dict) else {},
        followup=dict(followup) if isinstance(followup, dict) else {},
    )


async def load(pool: asyncpg.Pool, tenant: UUID, box: SecretBox) -> Stored | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE id = $1", tenant)
    return stored_of(row, box) if row is not None else None


@dataclass(frozen=True)
class Saved:
    view: dict[str, Any]
    changed: bool


def _secret_leaves(value: Any, shown: Any, path: str, out: dict[str, Any]) -> None:
    """Every secret of `value` by dotted path (`shown` is `mask(value)`: a secret is masked)."""
    if isinstance(value, dict) and isinstance(shown, dict):
        for k, v in value.items():
            _secret_leaves(v, shown.get(k), f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list) and isinstance(shown, list):
        for i, (v, m) in enumerate(zip(value, shown, strict=False)):
            _secret_leaves(v, m, f"{path}.{i}", out)
    elif shown == MASK and value != MASK:
        out[path] = value


def _secrets_changed(before: Stored, after: Stored) -> list[str]:
    """`tools_config` paths whose secret was set, changed or cleared (never the values)."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _secret_leaves(before.tools, mask(before.tools), "", old)
    _secret_leaves(after.tools, mask(after.tools), "", new)
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


async def save(
    pool: asyncpg.Pool,
    tenant: UUID,
    box: SecretBox,
    form: SectionForm,
    user: CurrentUser,
) -> Saved | None:
    """Apply `form` to the tenant; None when the tenant is gone. Raises SettingsInvalid."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM clients WHERE id = $1 FOR UPDATE", tenant
        )
        if row is None:
            return None
        before = stored_of(row, box)
        after = before.copy()
        form.apply(after)
        errors = form.check(after)
        if errors:
            raise SettingsInvalid(errors)
        old_view, new_view = form.view(before), form.view(after)
        secrets = _secrets_changed(before, after)
        if old_view == new_view and not secrets and after == before:
            return Saved(new_view, changed=False)
        await conn.execute(
            "UPDATE clients SET system_prompt = $2, timezone = $3, tools_config = $4,"
            " followup_config = $5, updated_at = now() WHERE id = $1",
            tenant,
            after.system_prompt,
            after.timezone,
            box.seal(after.tools),
            after.followup,
        )
        await conn.execute(
            "INSERT INTO settings_changes (client_id, section, changed_by, changed_by_name,"
            " changed_by_role, before, after, secrets_changed)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            tenant,
            form.section,
            user.id,
            user.name,
            user.role,
            old_view,
            new_view,
            secrets,
        )
        return Saved(new_view, changed=True)


async def history(
    pool: asyncpg.Pool, tenant: UUID, *, section: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, section, changed_by, changed_by_name, changed_by_role, before, after,"
        " secrets_changed, created_at FROM settings_changes"
        " WHERE client_id = $1 AND ($2::text IS NULL OR section = $2)"
        " ORDER BY created_at DESC, id DESC LIMIT $3",
        tenant,
        section,
        limit,
    )
    return [
        {
            "id": r["id"],
            "section": r["section"],
            "changed_by": str(r["changed_by"]) if r["changed_by"] else None,
            "changed_by_name": r["changed_by_name"],
            "changed_by_role": r["changed_by_role"],
            "before": r["before"],
            "after": r["after"],
            "changed_fields": sorted(
                k for k in {*r["before"], *r["after"]} if r["before"].get(k) != r["after"].get(k)
            ),
            "secrets_changed": list(r["secrets_changed"]),
            "at": r["created_at"].isoformat(),
        }
        for r in rows
    ]
