"""The hot path's statements: tenant-scoped, and found by key even without statistics.

Without column statistics PostgreSQL rates `client_id = $1` as selective as a key; a
generic plan cached while the tables were small then scanned every row of the tenant per
statement (see `wacommon.repositories.conversations`). The plans are checked on a fresh
database that was never analyzed, with the generic plan forced.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.conftest import PG_BASE, RUN_ID
from wacommon.broker.schemas import Contact, InboundMessage, MessageKind, Provider
from wacommon.infra.db import _init_connection
from wacommon.migrations import apply_migrations, ensure_database
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import inbound as inbound_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import outbox as outbox_repo
from wacommon.repositories.clients import create_client

# the access paths a message's statements may take on the two big tables
KEY_INDEXES = {
    "active_conversations_pkey",
    "chat_messages_pkey",
    "chat_messages_conversation",
    "chat_messages_idempotency_key_key",
}
SCAN = re.compile(
    r"(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan|Bitmap Index Scan)"
    r"(?: Backward)?(?: using (\S+))? on (\S+)"
)


def inbound(tenant: str) -> InboundMessage:
    return InboundMessage(
        provider=Provider.META,
        tenant_id=tenant,
        contact=Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}"),
        provider_message_id=f"wamid.{uuid.uuid4().hex}",
        kind=MessageKind.TEXT,
        text="oi",
        sent_at=datetime.now(UTC),
    )


async def answered_conversation(conn: Any, tenant: str) -> tuple[str, int, int, str]:
    """A customer message and its queued reply: (conversation, inbound id, outbound id, burst)."""
    conv, _, stored, _ = await inbound_repo.store_inbound_in_conversation(
        conn,
        inbound(tenant),
        buffer_if_bot=True,
        burst_on_store=True,
        correlation_id="c",
    )
    assert stored is not None
    cid = str(conv["id"])
    burst = uuid.uuid4().hex
    _, why, new_ids = await conv_repo.lock_and_queue_reply(
        conn,
        tenant,
        cid,
        after_id=stored,
        overdue=False,
        bubbles=[("olá", f"reply:{burst}:0")],
        burst_id=burst,
        payload={"origin": "bot"},
        event=("ai_responded", {}),
        drop_event_type="reply_dropped",
        correlation_id="c",
        followup_delays_s=[],
        followup_from=datetime.now(UTC),
    )
    assert why is None and len(new_ids) == 1
    return cid, stored, new_ids[0], burst


def hot_path_calls(
    tenant: str, cid: str, in_id: int, out_id: int, burst: str
) -> list[Callable[[Any], Awaitable[Any]]]:
    """Every statement one answered customer message runs, as calls on a connection."""
    now = datetime.now(UTC)
    return [
        lambda c: inbound_repo.store_inbound_in_conversation(
            c,
            inbound(tenant),
            buffer_if_bot=True,
            burst_on_store=True,
            correlation_id="c",
        ),
        lambda c: conv_repo.burst_context(c, tenant, cid, f"reply:{burst}:0"),
        lambda c: inbound_repo.burst_context_with_history(
            c,
            tenant,
            cid,
            f"reply:{burst}:0",
            up_to_id=in_id,
            history_since=now - timedelta(hours=72),
            history_limit=20,
        ),
        lambda c: inbound_repo.burst_with_history(
            c,
            tenant,
            cid,
            up_to_id=in_id,
            since=None,
            history_since=now - timedelta(hours=72),
            history_limit=20,
        ),
        lambda c: conv_repo.lock_and_queue_reply(
            c,
            tenant,
            cid,
            after_id=in_id,
            overdue=False,
            bubbles=[("olá", f"reply:{burst}:1")],
            burst_id=burst,
            payload={"origin": "bot"},
            event=("ai_responded", {}),
            drop_event_type="reply_dropped",
            correlation_id="c",
            followup_delays_s=[60.0],
            followup_from=now,
        ),
        lambda c: outbox_repo.send_context(c, tenant, out_id, cid),
        lambda c: outbox_repo.send_context(c, tenant, out_id, cid, claim_first=True),
        lambda c: outbox_repo.claim_for_bot_send(c, tenant, out_id, cid),
        lambda c: outbox_repo.mark_sent_recorded(
            c,
            tenant,
            out_id,
            "wamid.out",
            conversation_id=cid,
            role="bot",
            at=now,
            event_type="msg_sent",
            event_data={},
            correlation_id="c",
        ),
    ]


class Recorded(Exception):
    """Raised by `Recorder` once it has the statement (each call runs one)."""


class Recorder:
    """Stands in for a connection: keeps the statement instead of running it."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def _keep(self, sql: str) -> Any:
        self.sql.append(sql)
        raise Recorded

    async def fetch(self, sql: str, *args: Any) -> Any:
        return self._keep(sql)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return self._keep(sql)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return self._keep(sql)

    async def execute(self, sql: str, *args: Any) -> Any:
        return self._keep(sql)


@pytest.fixture()
async def fresh_db() -> AsyncIterator[asyncpg.Connection]:
    """A database of its own with a few rows and no statistics (never analyzed)."""
    name = f"wa_test_{RUN_ID}_plans"
    url = f"{PG_BASE}/{name}"
    await ensure_database(url)
    await apply_migrations(url)
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    try:
        yield conn
    finally:
        await conn.close()
        admin = await asyncpg.connect(f"{PG_BASE}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def generic_plan(conn: asyncpg.Connection, sql: str) -> list[str]:
    """EXPLAIN of the plan a prepared statement caches after its fifth run."""
    oids = [t.oid for t in (await conn.prepare(sql)).get_parameters()]
    types = [await conn.fetchval("SELECT format_type($1, NULL)", oid) for oid in oids]
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE hot({', '.join(types)}) AS {sql}")
        try:
            nulls = ", ".join("NULL" for _ in types)
            rows = await conn.fetch(
                f"EXPLAIN EXECUTE hot({nulls})" if types else "EXPLAIN EXECUTE hot"
            )
        finally:
            await conn.execute("DEALLOCATE hot")
    return [str(r[0]) for r in rows]


async def test_hot_path_statements_find_rows_by_key_without_statistics(
    fresh_db: asyncpg.Connection,
) -> None:
    tenant = str((await create_client(fresh_db, {"name": "Plans"}))["id"])
    # a small table, as when the bench's warm-up (or a new deployment) prepares the statements
    for _ in range(20):
        cid, in_id, out_id, burst = await answered_conversation(fresh_db, tenant)
    recorder = Recorder()
    for call in hot_path_calls(tenant, cid, in_id, out_id, burst):
        with pytest.raises(Recorded):
            await call(recorder)
    assert len(recorder.sql) == 9
    for sql in recorder.sql:
        plan = await generic_plan(fresh_db, sql)
        for line in plan:
            scan = SCAN.search(line)
            if scan is None or scan.group(3) not in ("chat_messages", "active_conversations"):
                continue
            kind, index, table = scan.groups()
            assert kind == "Index Scan" and index in KEY_INDEXES, (
                f"{table} scanned by {kind} {index or ''} in:\n" + "\n".join(plan)
            )


async def test_hot_path_statements_never_touch_another_tenants_rows(pool: asyncpg.Pool) -> None:
    owner = str((await create_client(pool, {"name": "Owner"}))["id"])
    other = str((await create_client(pool, {"name": "Other"}))["id"])
    async with pool.acquire() as conn:
        cid, in_id, out_id, burst = await answered_conversation(conn, owner)
        before_msg = await msg_repo.get_message(conn, owner, out_id)
        before_conv = await conv_repo.get_conversation(conn, owner, cid)
        calls = hot_path_calls(other, cid, in_id, out_id, burst)[1:]
        context, together, history, queued, send, send_claiming, claim, _ = [
            await call(conn) for call in calls
        ]
        assert context is None
        assert together == (None, [], [])
        assert history == ([], [])
        assert queued == (None, None, [])
        assert send == ([], None, None, None, None)
        assert send_claiming == ([], None, None, None, None)
        assert claim is None
        # nothing of the owner's changed: no reply queued, not claimed, not marked sent
        assert await msg_repo.get_message(conn, owner, out_id) == before_msg
        assert await conv_repo.get_conversation(conn, owner, cid) == before_conv
        assert await msg_repo.get_by_idempotency_key(conn, owner, f"reply:{burst}:1") is None


@pytest.mark.parametrize("reset", [False, True])
@pytest.mark.parametrize("limit", [1, 20])
async def test_context_with_history_reads_what_the_two_reads_read(
    pool: asyncpg.Pool, reset: bool, limit: int
) -> None:
    tenant = str((await create_client(pool, {"name": "Together"}))["id"])
    async with pool.acquire() as conn:
        # two answered messages, then a burst of three the rag-worker is answering now
        cid, _, _, _ = await answered_conversation(conn, tenant)
        conv_row = await conv_repo.get_conversation(conn, tenant, cid)
        assert conv_row is not None
        contact = conv_row["contact_key"]
        for _ in range(2):
            msg = inbound(tenant).model_copy(
                update={"contact": Contact(key=contact), "sent_at": datetime.now(UTC)}
            )
            await inbound_repo.store_inbound_in_conversation(
                conn,
                msg,
                buffer_if_bot=True,
                burst_on_store=False,
                correlation_id=None,
            )
        if reset:
            await conn.execute(
                "UPDATE active_conversations SET context_reset_at = now() WHERE id = $1", cid
            )
        last = await conn.fetchval(
            "SELECT max(id) FROM chat_messages WHERE conversation_id = $1 AND direction = 'in'",
            cid,
        )
        key = f"reply:{uuid.uuid4().hex}:0"
        since = datetime.now(UTC) - timedelta(hours=72)
        context = await conv_repo.burst_context(conn, tenant, cid, key)
        assert context is not None
        burst, history = await inbound_repo.burst_with_history(
            conn,
            tenant,
            cid,
            up_to_id=last,
            since=context[1]["context_reset_at"],
            history_since=max(since, context[1]["context_reset_at"] or since),
            history_limit=limit,
        )
        together = await inbound_repo.burst_context_with_history(
            conn, tenant, cid, key, up_to_id=last, history_since=since, history_limit=limit
        )
    assert together[0] is not None
    # the same tenant, conversation, reply and gate (but for the clock)
    for part in (0, 1, 2):
        assert together[0][part] == context[part]
    assert {k: v for k, v in together[0][3].items() if k != "now"} == {
        k: v for k, v in context[3].items() if k != "now"
    }
    assert (together[1], together[2]) == (burst, history)
    assert len(burst) == (0 if reset else 2)
    assert len(history) == (0 if reset else min(limit, 2))
