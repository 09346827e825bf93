"""Versioned SQL migrations: files `NNNN_name.sql` applied in order, each once.

An advisory lock serialises concurrent migrators (several services starting at
once); each file runs in its own transaction together with its bookkeeping row.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import resources

import asyncpg
import structlog

from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)

_LOCK_KEY = 0x5741_4D49  # "WAMI"


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every packaged migration, in order."""
    folder = resources.files(__package__)
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), folder.joinpath(name).read_text("utf-8")) for name in files]


async def apply_migrations(dsn: str) -> list[str]:
    """Apply what is missing; returns the versions applied by this call."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                applied.append(version)
                log.info("migration_applied", version=version)
            await conn.execute("SELECT ensure_event_partitions(3, 3)")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    return applied


async def pending_migrations(dsn: str) -> list[str]:
    """Packaged versions the database has not applied yet (all of them on an empty database)."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
            done: set[str] = set()
        else:
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    finally:
        await conn.close()
    return [version for version, _ in migration_files() if version not in done]


async def wait_until_current(dsn: str, timeout_s: float, poll_s: float = 2.0) -> list[str]:
    """Wait for another process (the deployment's migrations Job) to apply this code's schema.

    Returns what is still pending when `timeout_s` runs out (empty: the schema is current).
    An unreachable database counts as pending: pods wait for it like for the Job.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            pending = await pending_migrations(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            pending = [f"database unreachable: {type(exc).__name__}"]
        if not pending or loop.time() >= deadline:
            return pending
        log.info("migrations_pending", pending=pending[:5])
        await asyncio.sleep(poll_s)


async def ensure_database(dsn: str) -> bool:
    """Create the database named in `dsn` if it does not exist; True when created."""
    base, _, name = dsn.rpartition("/")
    name = name.split("?", 1)[0]
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            # another process created it between the check and the CREATE (replicas start
            # together): PostgreSQL reports that race as a unique violation on pg_database
            return False
        return True
    finally:
        await conn.close()


def main() -> None:
    """`wa-migrate`: create the database if missing and apply migrations."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--create-db", action="store_true", help="create the database first")
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="apply nothing: wait until another process has applied every migration of this "
        "code (exit 1 if still pending after SECONDS); Kubernetes init containers use it",
    )
    args = parser.parse_args()
    settings = Settings()
    from wacommon.infra.logging import configure_logging

    configure_logging(settings)

    async def run() -> None:
        if args.wait is not None:
            pending = await wait_until_current(settings.database_url, args.wait)
            if pending:
                print(f"migrations still pending: {', '.join(pending)}", file=sys.stderr)
                raise SystemExit(1)
            print("migrations: schema is current")
            return
        if args.create_db and await ensure_database(settings.database_url):
            log.info("database_created")
        versions = await apply_migrations(settings.database_url)
        print(f"migrations: {len(versions)} applied ({', '.join(versions) or 'up to date'})")

    asyncio.run(run())
