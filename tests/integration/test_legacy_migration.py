"""Legacy credential migration: every legacy shape becomes a client_providers row, once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import asyncpg
import pytest

from tests.conftest import TEST_ENCRYPTION_KEY
from wacommon.infra.crypto import SecretBox
from wacommon.ops.legacy import migrate_legacy
from wacommon.repositories import providers as providers_repo

BOX = SecretBox(TEST_ENCRYPTION_KEY)


async def legacy_tenant(pool: asyncpg.Pool, **fields: Any) -> str:
    """A tenant as the system we replace left it (no client_providers rows)."""
    value = await pool.fetchval(
        "INSERT INTO clients (name, token, api_url, whatsapp_provider, tools_config)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        fields.get("name", "Legado"),
        fields.get("token"),
        fields.get("api_url"),
        fields.get("whatsapp_provider"),
        fields.get("tools_config", {}),
    )
    return str(value)


async def rows(pool: asyncpg.Pool, cid: str) -> list[dict[str, Any]]:
    return await providers_repo.list_providers(pool, BOX, cid)


async def run(pool: asyncpg.Pool, *ids: str, dry_run: bool = False) -> list[str]:
    lines: list[str] = []
    await migrate_legacy(pool, BOX, dry_run=dry_run, out=lines.append, tenant_ids=list(ids))
    return lines


def token() -> str:
    return f"tok-{uuid.uuid4().hex}"


async def test_clients_api_url_and_token_become_the_default_uazapi_instance(
    pool: asyncpg.Pool,
) -> None:
    tok = token()
    cid = await legacy_tenant(pool, api_url="https://a.uazapi.com", token=tok)
    lines = await run(pool, cid)
    assert (
        len(lines) == 1
        and "created uazapi 'Principal' default from clients.api_url/token" in lines[0]
    )
    assert tok not in lines[0]
    (row,) = await rows(pool, cid)
    assert row["provider_type"] == "uazapi" and row["is_default"] and row["is_active"]
    assert row["config"] == {"url": "https://a.uazapi.com", "token": tok}
    sealed = await pool.fetchval(
        "SELECT config->>'token' FROM client_providers WHERE client_id = $1", cid
    )
    assert sealed.startswith("enc:") and tok not in sealed
    # legacy fields stay for a rollback
    kept = await pool.fetchrow("SELECT api_url, token FROM clients WHERE id = $1", cid)
    assert kept["api_url"] == "https://a.uazapi.com" and kept["token"] == tok


async def test_tools_config_whatsapp_url_and_key_migrate_even_when_sealed(
    pool: asyncpg.Pool,
) -> None:
    cid = await legacy_tenant(
        pool,
        tools_config=BOX.seal({"whatsapp": {"url": "https://b.uazapi.com", "key": "k-123456"}}),
    )
    lines = await run(pool, cid)
    assert "from tools_config.whatsapp.url/key" in lines[0]
    (row,) = await rows(pool, cid)
    assert row["config"] == {"url": "https://b.uazapi.com", "token": "k-123456"}


async def test_whatsapp_meta_keys_become_a_routable_meta_instance(pool: asyncpg.Pool) -> None:
    phone_id = f"pn{uuid.uuid4().hex[:12]}"
    cid = await legacy_tenant(
        pool,
        whatsapp_provider="meta",
        tools_config={
            "whatsapp": {
                "mode": "official",
                "phone_id": phone_id,
                "access_token": "EAAG-secret",
                "waba_id": "w1",
            }
        },
    )
    await run(pool, cid)
    (row,) = await rows(pool, cid)
    assert row["provider_type"] == "meta" and row["is_default"]
    assert row["config"] == {"phone_id": phone_id, "access_token": "EAAG-secret", "waba_id": "w1"}
    found = await providers_repo.find_meta_instance(pool, BOX, phone_id, None)
    assert found is not None and str(found["client_id"]) == cid


async def test_whatsapp_official_section_migrates_as_meta(pool: asyncpg.Pool) -> None:
    cid = await legacy_tenant(
        pool,
        tools_config={
            "whatsapp_official": {
                "phone_id": f"pn{uuid.uuid4().hex[:12]}",
                "access_token": "EAAG-2",
            }
        },
    )
    await run(pool, cid)
    assert [r["provider_type"] for r in await rows(pool, cid)] == ["meta"]


async def test_lancepilot_and_uazapi_sections_migrate_side_by_side(pool: asyncpg.Pool) -> None:
    cid = await legacy_tenant(
        pool,
        whatsapp_provider="lancepilot",
        tools_config={
            "lancepilot": {
                "active": True,
                "token": "lp-tok",
                "workspace_id": "ws9",
                "number": "+55 11 98888-7777",
            },
            "uazapi": {"url": "https://c.uazapi.com", "api_key": "uz-key"},
        },
    )
    lines = await run(pool, cid)
    assert "lancepilot 'Principal' default from tools_config.lancepilot" in lines[0]
    assert "uazapi 'Principal' default from tools_config.uazapi" in lines[0]
    by_type = {r["provider_type"]: r for r in await rows(pool, cid)}
    assert by_type["lancepilot"]["config"] == {
        "token": "lp-tok",
        "workspace_id": "ws9",
        "number": "+55 11 98888-7777",
    }
    assert by_type["lancepilot"]["phone_number"] == "5511988887777"
    assert by_type["uazapi"]["config"] == {"url": "https://c.uazapi.com", "token": "uz-key"}


async def test_two_different_uazapi_instances_keep_the_one_resolution_used_as_default(
    pool: asyncpg.Pool,
) -> None:
    tok = token()
    cid = await legacy_tenant(
        pool,
        api_url="https://main.uazapi.com",
        token=tok,
        tools_config={"uazapi": {"url": "https://other.uazapi.com", "token": "other"}},
    )
    await run(pool, cid)
    got = {r["instance_name"]: r for r in await rows(pool, cid)}
    assert set(got) == {"Principal", "Principal 2"}
    assert got["Principal"]["is_default"] and got["Principal"]["config"]["token"] == tok
    assert not got["Principal 2"]["is_default"]


async def test_incomplete_or_absent_credentials_are_skipped_with_the_reason(
    pool: asyncpg.Pool,
) -> None:
    bare = await legacy_tenant(pool, token=token())
    partial = await legacy_tenant(pool, tools_config={"lancepilot": {"token": "x"}})
    lines = await run(pool, bare, partial)
    by_id = {line.split(" ", 1)[0]: line for line in lines}
    assert by_id[bare].endswith("skipped: no legacy credentials")
    assert "tools_config.lancepilot lacks workspace_id, number" in by_id[partial]
    assert await rows(pool, bare) == [] and await rows(pool, partial) == []


async def test_dry_run_writes_nothing(pool: asyncpg.Pool) -> None:
    cid = await legacy_tenant(pool, api_url="https://d.uazapi.com", token=token())
    lines = await run(pool, cid, dry_run=True)
    assert "would create uazapi 'Principal'" in lines[0]
    assert await rows(pool, cid) == []


async def test_a_second_run_creates_nothing(pool: asyncpg.Pool) -> None:
    cid = await legacy_tenant(
        pool,
        api_url="https://e.uazapi.com",
        token=token(),
        tools_config={"lancepilot": {"token": "t", "workspace_id": "w", "number": "5511977776666"}},
    )
    await run(pool, cid)
    before = await rows(pool, cid)
    lines = await run(pool, cid)
    after = await rows(pool, cid)
    assert [r["id"] for r in after] == [r["id"] for r in before] and len(after) == 2
    assert "created" not in lines[0]
    assert "lancepilot already in client_providers" in lines[0]
    assert "uazapi already in client_providers" in lines[0]


async def test_a_type_already_configured_is_left_alone(pool: asyncpg.Pool) -> None:
    cid = await legacy_tenant(pool, api_url="https://f.uazapi.com", token=token())
    await providers_repo.create_provider(
        pool,
        BOX,
        cid,
        {
            "provider_type": "uazapi",
            "instance_name": "Nova",
            "config": {"url": "https://new.uazapi.com", "token": "n"},
        },
    )
    await run(pool, cid)
    assert [r["instance_name"] for r in await rows(pool, cid)] == ["Nova"]


async def test_resolution_afterwards_uses_the_provider_row(pool: asyncpg.Pool) -> None:
    tok = token()
    cid = await legacy_tenant(pool, api_url="https://g.uazapi.com", token=tok)
    before = await providers_repo.load_credentials(pool, BOX, cid, "uazapi")
    assert before.source == "legacy"
    await run(pool, cid)
    after = await providers_repo.load_credentials(pool, BOX, cid, "uazapi")
    (row,) = await rows(pool, cid)
    assert after.source == "client_providers" and after.instance_id == str(row["id"])
    assert (after.url, after.token) == (before.url, before.token) == ("https://g.uazapi.com", tok)


@pytest.mark.parametrize("dry_run", [True, False])
async def test_the_command_prints_one_line_per_tenant(
    pool: asyncpg.Pool, test_env: dict[str, str], dry_run: bool
) -> None:
    cid = await legacy_tenant(pool, api_url="https://h.uazapi.com", token=token())
    args = [sys.executable, "-m", "wacommon.ops.legacy", "--tenant", cid]
    proc = subprocess.run(
        [*args, "--dry-run"] if dry_run else args,
        env={**os.environ, **test_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip().splitlines()
    assert out[0].startswith(f"{cid} 'Legado': {'would create' if dry_run else 'created'} uazapi")
    assert out[-1] == f"1 tenants, {'would create' if dry_run else 'created'} 1 provider instances"
    assert len(await rows(pool, cid)) == (0 if dry_run else 1)


def test_the_command_refuses_to_store_plaintext_secrets(test_env: dict[str, str]) -> None:
    env = {k: v for k, v in {**os.environ, **test_env}.items() if k != "ENCRYPTION_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "wacommon.ops.legacy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    assert proc.returncode == 2 and "ENCRYPTION_KEY" in proc.stderr
