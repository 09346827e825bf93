"""Re-encrypt every stored secret with the current key: key rotation and plaintext clean-up.

    python -m wacommon.ops.reseal [--dry-run] [--tenant TENANT_ID ...]

Reads each tenant's `tools_config` and legacy `token`, and each instance's `config`, opens
every secret (values
sealed with ENCRYPTION_KEY or any key of ENCRYPTION_OLD_KEYS, and plaintext left by older
versions, such as tool header values before they were treated as secrets) and seals them again
with ENCRYPTION_KEY. A row is rewritten only when something changes, under a row lock, one row
per transaction, so it can run while the services serve traffic and can be re-run at will.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import asyncpg

from wacommon.infra.crypto import SecretBox, box_from_settings
from wacommon.infra.db import create_pool
from wacommon.infra.settings import Settings
from wacommon.ops.tenant_args import add_tenant_option

# (table, column, tenant column, whole value is the secret): jsonb columns hold secrets under
# secret keys; the legacy token column is one secret (its webhook lookup hash stays as it is)
_TARGETS = (
    ("clients", "tools_config", "id", False),
    ("clients", "token", "id", True),
    ("client_providers", "config", "client_id", False),
)


@dataclass
class ResealReport:
    scanned: int = 0
    rewritten: int = 0
    unreadable: int = 0

    def line(self, table: str) -> str:
        return (
            f"{table}: {self.scanned} rows scanned, {self.rewritten} re-sealed,"
            f" {self.unreadable} unreadable"
        )


async def _reseal_row(
    pool: asyncpg.Pool,
    box: SecretBox,
    table: str,
    column: str,
    whole: bool,
    row_id: Any,
    *,
    dry_run: bool,
) -> bool:
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        value = await conn.fetchval(
            f"SELECT {column} FROM {table} WHERE id = $1 FOR UPDATE", row_id
        )
        if value is None:
            return False
        fresh = box.reseal_value(value) if whole else box.reseal(value)
        if fresh == value:
            return False
        if not dry_run:
            await conn.execute(
                f"UPDATE {table} SET {column} = $2, updated_at = now() WHERE id = $1",
                row_id,
                fresh,
            )
        return True


async def reseal_all(
    pool: asyncpg.Pool,
    box: SecretBox,
    *,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
    batch: int = 500,
    tenant_ids: list[str] | None = None,
) -> dict[str, ResealReport]:
    """Re-seal every row of every target (or only `client_ids`' rows); a report per column."""
    reports: dict[str, ResealReport] = {}
    for table, column, tenant_column, whole in _TARGETS:
        report = reports.setdefault(f"{table}.{column}", ResealReport())
        after: Any = None
        while True:
            # operational sweep over all tenants' rows (or the ones named): one row per write
            rows = await pool.fetch(
                f"SELECT id FROM {table} WHERE ($1::uuid IS NULL OR id > $1)"
                f" AND ($3::uuid[] IS NULL OR {tenant_column} = ANY($3::uuid[]))"
                " ORDER BY id LIMIT $2",
                after,
                batch,
                tenant_ids,
            )
            if not rows:
                break
            for r in rows:
                report.scanned += 1
                try:
                    changed = await _reseal_row(
                        pool, box, table, column, whole, r["id"], dry_run=dry_run
                    )
                except ValueError as exc:
                    # a key is missing from ENCRYPTION_OLD_KEYS: say which row, keep going
                    report.unreadable += 1
                    out(f"{table} {r['id']}: {exc}")
                    continue
                report.rewritten += changed
            after = rows[-1]["id"]
        out(report.line(f"{table}.{column}"))
    return reports


async def run(settings: Settings, *, dry_run: bool, tenant_ids: list[str] | None = None) -> int:
    """The command: without a key there is nothing to seal with."""
    if settings.encryption_key is None:
        print("ENCRYPTION_KEY is not set: nothing to seal secrets with", file=sys.stderr)
        return 2
    box = box_from_settings(settings)
    pool = await create_pool(settings, min_size=1, max_size=2)
    try:
        reports = await reseal_all(pool, box, dry_run=dry_run, tenant_ids=tenant_ids)
    finally:
        await pool.close()
    # keep the old keys configured until a run reports nothing unreadable
    return 1 if any(r.unreadable for r in reports.values()) else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m wacommon.ops.reseal",
        description="Re-encrypt every stored secret with ENCRYPTION_KEY (rotation, plaintext).",
    )
    parser.add_argument("--dry-run", action="store_true", help="count, write nothing")
    add_tenant_option(parser, "only this tenant's rows (repeatable); default: every tenant")
    args = parser.parse_args(argv)
    sys.exit(asyncio.run(run(Settings(), dry_run=args.dry_run, tenant_ids=args.tenant)))


if __name__ == "__main__":
    main()
