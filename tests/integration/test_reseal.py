"""`python -m wacommon.ops.reseal`: plaintext secrets sealed, old keys' values re-sealed, idempotent."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg

from tests.unit.test_crypto import old_format
from wacommon.infra.crypto import SecretBox, generate_key
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import providers as providers_repo


async def test_rotation_command_reseals_every_secret_with_the_new_key(
    pool: asyncpg.Pool, test_env: dict[str, str]
) -> None:
    old_key, new_key = generate_key(), generate_key()
    # a tenant as older versions left it: header values in plaintext, a passphrase-sealed key
    tools = {
        "custom_tools": [{"name": "t", "url": "https://x", "headers": {"X-Key": "plain-hdr"}}],
        "llm_config": {"api_key": old_format("frase-antiga", "sk-old")},
    }
    # the legacy token as older versions stored it: plaintext, doubling as a webhook secret
    client = await clients_repo.create_client(
        pool, {"name": "Rot", "tools_config": tools, "token": "legacy-rot-token-0001"}
    )
    cid = str(client["id"])
    prov = await providers_repo.create_provider(
        pool,
        SecretBox(old_key),
        cid,
        {"provider_type": "uazapi", "config": {"url": "https://u", "token": "tok-old"}},
    )
    env = {
        **os.environ,
        **test_env,
        "ENCRYPTION_KEY": new_key,
        "ENCRYPTION_OLD_KEYS": f"{old_key},frase-antiga",
    }
    # one tenant: the other tests' rows in this database keep the suite's key
    cmd = [sys.executable, "-m", "wacommon.ops.reseal", "--tenant", cid]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "re-sealed" in first.stdout and " 0 unreadable" in first.stdout

    only_new = SecretBox(new_key)
    stored = await pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", cid)
    assert "plain-hdr" not in str(stored)
    assert only_new.open(stored) == {
        "custom_tools": [{"name": "t", "url": "https://x", "headers": {"X-Key": "plain-hdr"}}],
        "llm_config": {"api_key": "sk-old"},
    }
    config = await pool.fetchval("SELECT config FROM client_providers WHERE id = $1", prov["id"])
    assert only_new.open(config)["token"] == "tok-old"
    token = await pool.fetchval("SELECT token FROM clients WHERE id = $1", cid)
    assert token.startswith("enc:v2:") and only_new.decrypt(token) == "legacy-rot-token-0001"

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout
    assert [line for line in again.stdout.splitlines() if "re-sealed" in line] == [
        f"{column}: {n} rows scanned, 0 re-sealed, 0 unreadable"
        for column, n in (
            ("clients.tools_config", 1),
            ("clients.token", 1),
            ("client_providers.config", 1),
        )
    ]
    assert await pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", cid) == stored


async def test_a_value_no_configured_key_opens_is_reported_and_the_run_fails(
    pool: asyncpg.Pool, test_env: dict[str, str]
) -> None:
    lost = SecretBox(generate_key()).seal({"llm_config": {"api_key": "sk-x"}})
    cid = str((await clients_repo.create_client(pool, {"name": "L", "tools_config": lost}))["id"])
    env = {**os.environ, **test_env, "ENCRYPTION_KEY": generate_key()}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "wacommon.ops.reseal", "--dry-run", "--tenant", cid],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 1 and f"clients {cid}:" in run.stdout
        assert await pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", cid) == lost
    finally:
        # an unreadable row would fail every later run of the command in this database
        await pool.execute("DELETE FROM clients WHERE id = $1", cid)
