"""What a replay-lab run costs besides the model: reading the turns and answering them again.

On a fresh database: one tenant with `--conversations` real conversations of `--turns`
customer turns each (every turn answered by the bot, with its `ai_responded` event) and a
small knowledge base; the model is the fake OpenAI server on loopback (a few ms per call), so
the time measured is the lab's own: loading the turns and their events, retrieval, the prompt,
the responder and the figures. Printed: the turns loaded and the time to load them, the whole
run, turns per second and the time per turn per concurrency slot.

    .venv/bin/python -m bench.replay_lab --conversations 200 --turns 5 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal
from typing import Any

from bench.common import bench_env

KB = (
    "# Entregas\n\nEntregamos no bairro Centro das 18h às 23h, taxa de R$ 5.\n\n"
    "# Wi-Fi\n\nA senha do wifi da loja é pizza2024.\n"
)
QUESTIONS = ("qual a taxa de entrega?", "qual a senha do wifi?", "vocês abrem domingo?")


async def seed(pool: Any, conversations: int, turns: int) -> str:
    """The tenant and its conversations, written in bulk (one statement per table)."""
    from waai.knowledge.ingest import ingest_document

    tenant = str(
        await pool.fetchval(
            "INSERT INTO clients (name, system_prompt) VALUES ('Forno', 'Persona.') RETURNING id"
        )
    )
    await ingest_document(pool, tenant, "loja.md", KB.encode())
    conv_ids = await pool.fetch(
        """INSERT INTO active_conversations
             (client_id, contact_key, provider, last_customer_message_at)
           SELECT $1, '5511' || lpad(n::text, 9, '0'), 'uazapi', now()
           FROM generate_series(1, $2) n RETURNING id""",
        tenant,
        conversations,
    )
    rows: list[tuple[Any, ...]] = []
    for conv in conv_ids:
        for t in range(turns):
            rows.append((conv["id"], "in", "customer", QUESTIONS[t % len(QUESTIONS)], "received"))
            rows.append((conv["id"], "out", "bot", f"Resposta {t}.", "sent"))
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
            " content, status) VALUES ($1, $2, $3, $4, 'uazapi', $5, $6)",
            [(tenant, *row) for row in rows],
        )
        await conn.execute(
            """INSERT INTO conversation_events (client_id, conversation_id, event_type, data,
                                                created_at)
               SELECT client_id, conversation_id, 'ai_responded',
                      '{"model": "gpt-4o", "tokens_in": 300, "tokens_out": 40}', created_at
               FROM chat_messages WHERE client_id = $1 AND direction = 'out'""",
            tenant,
        )
    return tenant


async def run(conversations: int, turns: int, concurrency: int) -> None:
    from tests.fakes.openai_server import FakeOpenAI, text
    from waai.llm.config import AISettings
    from waai.replay_lab.candidate import Candidate
    from waai.replay_lab.figures import Pricing
    from waai.replay_lab.runner import LabDeps, LabLimits, run_lab
    from waai.replay_lab.turns import load_turns
    from wacommon.infra.crypto import SecretBox
    from wacommon.infra.db import create_pool
    from wacommon.metrics.prices import default_prices

    async with bench_env("replaylab") as env:
        settings = env.settings()
        pool = await create_pool(settings, min_size=1, max_size=concurrency + 2)
        try:
            tenant = await seed(pool, conversations, turns)
            with FakeOpenAI.serve() as model:
                model.default = text("Entregamos no Centro das 18h às 23h, taxa de R$ 5.")
                ai = AISettings(
                    llm_provider="openai", openai_api_key="sk-b", openai_base_url=model.base_url
                )
                box = SecretBox(None)
                deps = LabDeps(ai, box.open, box.decrypt, Pricing(default_prices(), Decimal(5)))
                start = time.perf_counter()
                loaded = await load_turns(
                    pool, tenant, conversations=conversations, turns_per_conversation=turns
                )
                load_s = time.perf_counter() - start
                limits = LabLimits(
                    conversations=conversations,
                    turns_per_conversation=turns,
                    concurrency=concurrency,
                )
                start = time.perf_counter()
                report = await run_lab(pool, tenant, Candidate(prompt="Ana."), limits, deps)
                run_s = time.perf_counter() - start
                calls = len(model.requests)
        finally:
            await pool.close()
    done = sum(turn.error is None for turn in report.turns)
    print(
        f"conversations {conversations}, turns each {turns}, concurrency {concurrency}:"
        f" {len(loaded)} turns loaded in {load_s * 1000:.0f} ms"
    )
    print(
        f"run {run_s:.2f} s for {len(report.turns)} turns ({done} answered, {calls} model"
        f" calls): {len(report.turns) / run_s:.1f} turns/s,"
        f" {run_s * concurrency / max(1, len(report.turns)) * 1000:.0f} ms per turn and slot"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.conversations, args.turns, args.concurrency))


if __name__ == "__main__":
    main()
