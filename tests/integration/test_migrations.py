"""Migrations: idempotent, and safe when several services start at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import asyncpg

from tests.conftest import PG_BASE
from wacommon.migrations import apply_migrations, ensure_database, migration_files


async def _fresh_db() -> str:
    dsn = f"{PG_BASE}/wa_mig_{uuid.uuid4().hex[:8]}"
    await ensure_database(dsn)
    return dsn


async def _drop(dsn: str) -> None:
    conn = await asyncpg.connect(f"{PG_BASE}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_applying_twice_is_a_no_op() -> None:
    dsn = await _fresh_db()
    try:
        first = await apply_migrations(dsn)
        second = await apply_migrations(dsn)
        assert first == [v for v, _ in migration_files()]
        assert second == []
        conn = await asyncpg.connect(dsn)
        try:
            count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
            tables = {
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            }
        finally:
            await conn.close()
        assert count == len(first)
        assert {
            "clients",
            "client_providers",
            "active_conversations",
            "chat_messages",
            "conversation_events",
            "metrics_daily",
        } <= tables
    finally:
        await _drop(dsn)


async def test_concurrent_migrators_do_not_collide() -> None:
    dsn = await _fresh_db()
    code = (
        "import asyncio,sys; from wacommon.migrations import apply_migrations as a; "
        "print(len(asyncio.run(a(sys.argv[1]))))"
    )
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", code, dsn, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(4)
        ]
        results = [await p.communicate() for p in procs]
        assert all(p.returncode == 0 for p in procs), [r[1].decode()[-500:] for r in results]
        applied = sorted(int(out.decode().strip().splitlines()[-1]) for out, _ in results)
        # exactly one process applied everything; the others found nothing to do
        assert applied == [0, 0, 0, len(migration_files())]
    finally:
        await _drop(dsn)
