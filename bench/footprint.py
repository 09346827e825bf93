"""Memory and CPU of followup, metrics and console under their own load: the sizing inputs of
deploy/k8s/base (docs/operations.md#resources; the pipeline services' come from bench/e2e.py).

The three run as processes the way Kubernetes runs them (MIGRATE_ON_START=false: the bench
migrates first, as the Job does) on a fresh database and random broker/Redis prefixes, with
their loops at a 5 s interval. Load for `--seconds`: console sign-ins (argon2, the console's
costliest request; throttle limits raised for the bench) from `--clients` concurrent clients,
and the metrics dashboard and readiness polls. Prints RSS now / peak and CPU per process.

    .venv/bin/python -m bench.footprint --seconds 20 --clients 4
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

import httpx  # noqa: E402

from bench.common import bench_env, cpu_seconds, rss_mb  # noqa: E402

SERVICES = ("followup", "metrics", "console")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    extra = {
        "MIGRATE_ON_START": "false",
        "CONSOLE_LOGIN_MAX_PER_ADDRESS": "1000000",
        "CONSOLE_LOGIN_MAX_PER_EMAIL": "1000000",
        "CONSOLE_INSECURE_COOKIES": "1",
        "FOLLOWUP_INTERVAL_S": "5",
        "AGGREGATION_INTERVAL_S": "5",
    }
    async with bench_env("footprint", extra) as env:
        from console.settings import ConsoleSettings
        from console.users import add_user

        settings = ConsoleSettings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=env.database_url,
            redis_url=env.env["REDIS_URL"],
            redis_prefix=env.env["REDIS_PREFIX"],
        )
        email = "footprint@example.com"
        _row, password = await add_user(
            settings, email=email, name="Bench", role="operator", tenant=None
        )
        procs = {name: env.service(name).start() for name in SERVICES}
        for proc in procs.values():
            await proc.wait_http()
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        logins = polls = 0
        deadline = time.monotonic() + args.seconds

        async def sign_in(client: httpx.AsyncClient) -> None:
            nonlocal logins
            while time.monotonic() < deadline:
                r = await client.post(
                    procs["console"].url + "/api/auth/login",
                    json={"email": email, "password": password},
                )
                r.raise_for_status()
                logins += 1

        async def poll(client: httpx.AsyncClient) -> None:
            nonlocal polls
            while time.monotonic() < deadline:
                for path in ("/readyz",):
                    for proc in procs.values():
                        (await client.get(proc.url + path)).raise_for_status()
                (await client.get(procs["metrics"].url + "/dashboard")).raise_for_status()
                polls += 1
                await asyncio.sleep(0.05)

        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(*(sign_in(client) for _ in range(args.clients)), poll(client))
        elapsed = time.monotonic() - started
        print(f"{elapsed:.1f} s: {logins} console sign-ins, {polls} rounds of polls")
        print("process        RSS now / peak      CPU (% of a core)")
        for name, proc in procs.items():
            now, peak = rss_mb(proc.pid)
            cpu = cpu_seconds(proc.pid) - cpu0[name]
            print(f"  {name:<12} {now:6.1f} / {peak:6.1f} MB   {100 * cpu / elapsed:5.1f} %")
            if name == "console" and logins:
                print(f"  {'':<12} {1000 * cpu / logins:.1f} ms CPU per sign-in")


if __name__ == "__main__":
    asyncio.run(main())
