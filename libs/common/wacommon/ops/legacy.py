"""Move legacy tenants' provider credentials into `client_providers` (PRODUCT.md section C).

    python -m wacommon.ops.legacy [--dry-run] [--tenant TENANT_ID ...]

Sources, in the precedence credential resolution used: the `clients.api_url`/`token`
pair (each falling back to `tools_config.whatsapp.url`/`.key`), `tools_config.whatsapp`
Meta keys, `tools_config.whatsapp_official`, `tools_config.lancepilot`, `tools_config.uazapi`.
A provider type the tenant already has a row for is left alone, so a second run creates
nothing; legacy fields are never deleted, so rolling back means deleting the new rows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import cast

import asyncpg

from wacommon.infra.crypto import SecretBox, box_from_settings
from wacommon.infra.db import create_pool
from wacommon.infra.errors import RouteTaken
from wacommon.infra.settings import Settings
from wacommon.ops.legacy_plan import TenantPlan, plan_tenant
from wacommon.ops.tenant_args import add_tenant_option
from wacommon.repositories import providers as providers_repo


async def migrate_tenant(
    pool: asyncpg.Pool, box: SecretBox, tenant_id: str, *, dry_run: bool
) -> TenantPlan | None:
    """Plan and (unless dry_run) create one tenant's rows in one transaction; None if gone."""
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        # the row lock serialises concurrent runs for a tenant
        row = await conn.fetchrow(
            "SELECT id, name, token, api_url, whatsapp_provider, tools_config FROM clients"
            " WHERE id = $1 FOR UPDATE",
            tenant_id,
        )
        if row is None:
            return None
        client = dict(row)
        client["tools_config"] = box.open(client.get("tools_config") or {})
        if client.get("token"):
            client["token"] = box.decrypt(str(client["token"]))  # sealed by the admin API
        types = await conn.fetch(
            "SELECT DISTINCT provider_type FROM client_providers WHERE client_id = $1", tenant_id
        )
        plan = plan_tenant(client, {r["provider_type"] for r in types})
        if not dry_run:
            for p in plan.create:
                await providers_repo.create_provider(
                    conn,
                    box,
                    tenant_id,
                    {
                        "provider_type": p.provider_type,
                        "instance_name": p.instance_name,
                        "config": p.config,
                        "is_active": p.is_active,
                        "is_default": p.is_default,
                    },
                )
    return plan


async def migrate_legacy(
    pool: asyncpg.Pool,
    box: SecretBox,
    *,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
    tenant_ids: list[str] | None = None,
    batch: int = 500,
) -> list[TenantPlan]:
    """Migrate every tenant (or only `client_ids`), printing one line each; returns the plans."""
    plans: list[TenantPlan] = []
    after = "00000000-0000-0000-0000-000000000000"
    while True:
        # operational sweep over tenants: each later query is scoped to one of them
        rows = await pool.fetch(
            "SELECT id FROM clients WHERE id > $1 AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))"
            " ORDER BY id LIMIT $3",
            after,
            tenant_ids,
            batch,
        )
        if not rows:
            return plans
        for r in rows:
            try:
                plan = await migrate_tenant(pool, box, str(r["id"]), dry_run=dry_run)
            except RouteTaken as exc:
                # the tenant's legacy number is another tenant's active instance: a person decides
                out(f"{r['id']}: not migrated: {exc}")
                continue
            if plan is not None:
                plans.append(plan)
                out(plan.line(dry_run=dry_run))
        after = str(rows[-1]["id"])


async def run(settings: Settings, *, dry_run: bool, tenant_ids: list[str] | None = None) -> int:
    """The command: refuses to write secrets unencrypted."""
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    if not key and not dry_run:
        print(
            "ENCRYPTION_KEY is not set: provider secrets would be stored in plaintext",
            file=sys.stderr,
        )
        return 2
    box = box_from_settings(settings)
    pool = await create_pool(settings, min_size=1, max_size=2)
    try:
        plans = await migrate_legacy(pool, box, dry_run=dry_run, tenant_ids=tenant_ids)
    finally:
        await pool.close()
    created = sum(len(p.create) for p in plans)
    verb = "would create" if dry_run else "created"
    print(f"{len(plans)} tenants, {verb} {created} provider instances")
    return 0


def main(argv: list[str] | None = None) -> None:
    """`python -m wacommon.ops.legacy [--dry-run] [--tenant ID ...]`."""
    parser = argparse.ArgumentParser(
        prog="python -m wacommon.ops.legacy",
        description="Create client_providers rows from legacy credential fields (left in place).",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    add_tenant_option(parser, "only this tenant (repeatable); default: every tenant")
    args = parser.parse_args(argv)
    sys.exit(asyncio.run(run(Settings(), dry_run=args.dry_run, tenant_ids=args.tenant)))


if __name__ == "__main__":
    main()
