"""Migrations: idempotent, and safe when several services start at once."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid

import asyncpg
import pytest

import wacommon.migrations as migrations
from tests.conftest import PG_BASE
from wacommon.infra.settings import Settings
from wacommon.migrations import (
    apply_migrations,
    ensure_database,
    migration_files,
    pending_migrations,
    wait_until_current,
)
from wacommon.repositories.knowledge_vectors import unit
from wacommon.service.runtime import Runtime


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


async def test_existing_shared_numbers_keep_the_routed_instance_and_switch_off_the_rest() -> None:
    # a database from before 0096 may hold two active owners of one number: the deploy must not
    # fail, routing must not change, and the loser must say why it was switched off
    dsn = await _fresh_db()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for version, sql in migration_files():
                if version >= "0096":
                    break
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            a, b = [
                await conn.fetchval("INSERT INTO clients (name) VALUES ($1) RETURNING id", n)
                for n in ("A", "B")
            ]
            insert = (
                "INSERT INTO client_providers (client_id, provider_type, instance_name,"
                " external_id, phone_number, is_default, created_at)"
                " VALUES ($1, 'meta', $2, $3, $4, $5, now() - make_interval(mins => $6))"
                " RETURNING id"
            )
            routed = await conn.fetchval(insert, b, "X", "900", "5511", True, 1)
            lost = await conn.fetchval(insert, a, "X", "900", "5522", False, 5)
            shown_first = await conn.fetchval(insert, a, "Y", "901", "5533", False, 9)
            shown_second = await conn.fetchval(insert, b, "Y", "902", "5533", False, 2)
        finally:
            await conn.close()

        applied = await apply_migrations(dsn)
        assert "0096_one_route_per_number" in applied

        conn = await asyncpg.connect(dsn)
        try:
            rows = {
                r["id"]: r
                for r in await conn.fetch("SELECT id, is_active, last_error FROM client_providers")
            }
            assert rows[routed]["is_active"] and rows[shown_first]["is_active"]
            assert not rows[lost]["is_active"] and "0096" in rows[lost]["last_error"]
            assert not rows[shown_second]["is_active"]
            with_index = "INSERT INTO client_providers (client_id, provider_type, external_id)"
            try:
                await conn.execute(f"{with_index} VALUES ($1, 'meta', '900')", a)
                raise AssertionError("a second active owner of 900 was accepted")
            except asyncpg.UniqueViolationError as exc:
                assert exc.constraint_name == "client_providers_route_unique"
        finally:
            await conn.close()
    finally:
        await _drop(dsn)


async def test_pending_lists_what_is_missing_and_wait_returns_once_applied() -> None:
    dsn = await _fresh_db()
    try:
        every = [v for v, _ in migration_files()]
        assert await pending_migrations(dsn) == every
        # nobody applies them: the wait gives up and says what is missing
        assert await wait_until_current(dsn, timeout_s=0.3, poll_s=0.1) == every
        # the Job applies them while pods wait
        waiter = asyncio.create_task(wait_until_current(dsn, timeout_s=120, poll_s=0.1))
        await apply_migrations(dsn)
        assert await waiter == []
        assert await pending_migrations(dsn) == []
    finally:
        await _drop(dsn)


async def test_wait_flag_exits_1_while_pending_and_0_when_current() -> None:
    dsn = await _fresh_db()
    env = {**os.environ, "DATABASE_URL": dsn, "WA_ENV": "test"}

    async def wait_cli() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wacommon.migrations",
            "--wait",
            "0",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, (out + err).decode()

    try:
        code, text = await wait_cli()
        assert code == 1 and migration_files()[0][0] in text
        await apply_migrations(dsn)
        code, text = await wait_cli()
        assert code == 0 and "schema is current" in text
    finally:
        await _drop(dsn)


async def test_services_skip_migrating_when_the_deployment_runs_a_job(
    settings: Settings,
) -> None:
    dsn = await _fresh_db()
    try:
        job_managed = settings.model_copy(update={"database_url": dsn, "migrate_on_start": False})
        async with Runtime(job_managed, broker=False):
            pass
        assert await pending_migrations(dsn) == [v for v, _ in migration_files()]
        # the local default is unchanged: a service starting on its own migrates
        local = settings.model_copy(update={"database_url": dsn})
        assert local.migrate_on_start is True
        async with Runtime(local, broker=False):
            pass
        assert await pending_migrations(dsn) == []
    finally:
        await _drop(dsn)


async def test_migration_0250_moves_real_array_vectors_to_pgvector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dsn = await _fresh_db()
    every = migrations.migration_files()
    monkeypatch.setattr(migrations, "migration_files", lambda: [f for f in every if f[0] < "0250"])
    try:
        await migrations.apply_migrations(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            tenant_id = await conn.fetchval("INSERT INTO clients (name) VALUES ('v') RETURNING id")
            document_id = await conn.fetchval(
                "INSERT INTO kb_documents (client_id, name, source_kind, content_hash)"
                " VALUES ($1, 'a.md', 'md', 'h') RETURNING id",
                tenant_id,
            )
            before = {}
            for ordinal, dims in enumerate((1536, 768, 3)):
                chunk_id = await conn.fetchval(
                    "INSERT INTO kb_chunks (client_id, document_id, ordinal, heading, text)"
                    " VALUES ($1, $2, $3, '', 'x') RETURNING id",
                    tenant_id,
                    document_id,
                    ordinal,
                )
                vector = unit([random.uniform(-1, 1) for _ in range(dims)])
                await conn.execute(
                    "INSERT INTO kb_embeddings (chunk_id, client_id, model, embedding)"
                    " VALUES ($1, $2, 'm', $3)",
                    chunk_id,
                    tenant_id,
                    vector,
                )
                before[chunk_id] = vector
            monkeypatch.setattr(migrations, "migration_files", lambda: every)
            assert await migrations.apply_migrations(dsn) == [v for v, _ in every if v >= "0250"]
            rows = await conn.fetch(
                "SELECT chunk_id, dims, pg_typeof(embedding)::text AS type,"
                " embedding::real[] AS embedding FROM kb_embeddings"
            )
        finally:
            await conn.close()
        assert {r["chunk_id"]: r["dims"] for r in rows} == {i: len(v) for i, v in before.items()}
        assert {r["type"] for r in rows} == {"vector"}
        for r in rows:
            assert r["embedding"] == pytest.approx(before[r["chunk_id"]], abs=1e-6)
    finally:
        await _drop(dsn)


async def test_migration_0250_says_what_to_run_when_the_server_lacks_pgvector(
    pool: asyncpg.Pool,
) -> None:
    [sql] = [sql for version, sql in migration_files() if version.startswith("0250")]
    check = sql[: sql.index("CREATE EXTENSION IF NOT EXISTS vector")]
    # the same check, asked about an extension no server has
    absent = check.replace("'vector'", "'vector_not_installed_anywhere'")
    assert absent != check
    with pytest.raises(asyncpg.FeatureNotSupportedError) as refused:
        await pool.execute(absent)
    message = str(refused.value)
    assert "pgvector" in message
    assert "make infra" in message
    assert "postgresql-15-pgvector" in message
    await pool.execute(check)  # this server has it: the check lets the migration go on
