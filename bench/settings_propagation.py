"""How long a console settings change takes to reach a service's TenantDirectory.

On a fresh database: the console app (in this process, over ASGI) and `--services`
PgTenantDirectory instances LISTENing as the services' do, each on its own connection.
Each round PATCHes `/api/settings/debounce` with a new quiet window as an owner and
times, from the PATCH's answer, until every directory's `get` returns the new value
(polled every 1 ms). Printed: the PATCH round trip and the propagation p50/p95/max.

    .venv/bin/python bench/settings_propagation.py --rounds 200 --services 4
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import time  # noqa: E402
from contextlib import AsyncExitStack  # noqa: E402

import httpx  # noqa: E402

from bench.common import bench_env, percentile  # noqa: E402


async def run(rounds: int, services: int) -> None:
    import redis.asyncio as aioredis

    from console.app import build_app
    from console.deps import ConsoleDeps
    from console.settings import ConsoleSettings
    from wacommon.console import passwords
    from wacommon.infra.crypto import SecretBox
    from wacommon.infra.db import create_pool
    from wacommon.repositories import users as users_repo
    from wacommon.tenants.directory import PgTenantDirectory

    async with bench_env("settings") as env, AsyncExitStack() as stack:
        settings = ConsoleSettings(
            _env_file=None,  # type: ignore[call-arg]
            **env.settings().model_dump(),
            console_insecure_cookies=True,
        )
        pool = await create_pool(settings, min_size=1, max_size=4)
        stack.push_async_callback(pool.close)
        redis = aioredis.from_url(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        box = SecretBox(env.env["ENCRYPTION_KEY"])
        tenant = str(await pool.fetchval("INSERT INTO clients (name) VALUES ('b') RETURNING id"))
        await users_repo.create_user(
            pool,
            tenant_id=tenant,
            email="bench-owner@example.com",
            name="Bench",
            role="owner",
            password_hash=passwords.hash_password_sync("senha-do-bench-1"),
        )
        directories = [
            await stack.enter_async_context(
                PgTenantDirectory(pool, box, dsn=env.database_url, retry_s=0.1)
            )
            for _ in range(services)
        ]
        app = build_app(ConsoleDeps.build(settings, pool, redis))
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            resp = await c.post(
                "/api/auth/login",
                json={"email": "bench-owner@example.com", "password": "senha-do-bench-1"},
            )
            c.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
            patch_ms, seen_ms = [], []
            for i in range(rounds):
                for d in directories:
                    await d.get(tenant)  # cached: only a NOTIFY can refresh it
                quiet = 1.0 + (i % 50) / 10 + (0.05 if i % 100 >= 50 else 0)
                start = time.perf_counter()
                resp = await c.patch("/api/settings/debounce", json={"quiet_seconds": quiet})
                answered = time.perf_counter()
                assert resp.status_code == 200, resp.text
                pending = list(directories)
                while pending:
                    still = []
                    for d in pending:
                        cfg = await d.get(tenant)
                        if not (cfg and cfg.debounce and cfg.debounce.quiet_seconds == quiet):
                            still.append(d)
                    pending = still
                    if pending:
                        await asyncio.sleep(0.001)
                patch_ms.append((answered - start) * 1000)
                seen_ms.append((time.perf_counter() - answered) * 1000)
    print(f"rounds {rounds}, directories {services}")
    for name, values in (("PATCH answered", patch_ms), ("seen by every directory", seen_ms)):
        print(
            f"{name:26s} p50 {percentile(values, 50):6.2f} ms  p95 {percentile(values, 95):6.2f} ms"
            f"  max {max(values):6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--services", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.services))


if __name__ == "__main__":
    main()
