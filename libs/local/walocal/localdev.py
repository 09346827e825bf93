"""Local set-up for `make run`: `.env` with generated secrets, database, migrations, demo tenant.

With no Meta credentials configured, the stack talks to the local Graph sandbox
(`walocal.graph`, which the tests use too) and a demo tenant is seeded, so the whole
loop works offline; `make chat` then plays a customer.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

import asyncpg

from wacommon.console import passwords
from wacommon.console.users import normalize_email
from wacommon.infra.crypto import box_from_settings, generate_key, is_fernet_key
from wacommon.infra.settings import Settings
from wacommon.migrations import apply_migrations, ensure_database
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import providers as providers_repo
from wacommon.repositories import users as users_repo

ENV_FILE = Path(".env")
SANDBOX_PORT = 9100
DEMO_NAME = "Pizzaria Demo (sandbox)"
DEMO_PHONE_ID = "100000000000001"
DEMO_DISPLAY = "5511900000001"
DEMO_TOKEN = "sandbox-access-token"  # noqa: S105 - the local sandbox accepts any token
DEMO_WABA_ID = "100000000000002"
CONSOLE_URL = "http://127.0.0.1:8006/"
# (email, name, role, .env variable holding the generated password)
DEMO_USERS = (
    ("demo@localhost", "Dona da Pizzaria", "owner", "CONSOLE_DEMO_OWNER_PASSWORD"),
    ("atendente@localhost", "Atendente", "agent", "CONSOLE_DEMO_AGENT_PASSWORD"),
)
# a second tenant with nothing set up: its owner walks the console's set-up alone
NEW_NAME = "Loja Nova (sandbox)"
NEW_USERS = (("nova@localhost", "Dona da Loja Nova", "owner", "CONSOLE_NEW_OWNER_PASSWORD"),)
DEMO_PROMPT = (
    "Você é a assistente virtual da Pizzaria Demo. Responda em português, curto e simpático, "
    "apenas com informações da base de conhecimento."
)


def read_env(path: Path = ENV_FILE) -> dict[str, str]:
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def ensure_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """Add the local secrets `make run` needs to `.env` (kept across runs, never committed)."""
    values = read_env(path)
    generated = {
        # `make run` is a developer's machine: local mode tolerates what production refuses
        "WA_ENV": "local",
        "ADMIN_TOKEN": secrets.token_urlsafe(32),
        "ENCRYPTION_KEY": generate_key(),
        "META_APP_SECRET": secrets.token_hex(16),
        "META_VERIFY_TOKEN": secrets.token_urlsafe(16),
        # the console is reached over plain http://127.0.0.1: a `Secure` cookie would be dropped
        "CONSOLE_INSECURE_COOKIES": "1",
    }
    if "META_GRAPH_URL" not in values:
        generated["META_GRAPH_URL"] = f"http://127.0.0.1:{SANDBOX_PORT}"
        generated["WA_SANDBOX"] = "1"
    added = {k: v for k, v in generated.items() if k not in values}
    if added:
        with path.open("a") as fh:
            fh.write("# written by `make run` (local defaults; edit freely)\n")
            for key, value in added.items():
                fh.write(f"{key}={value}\n")
        values.update(added)
    key = values.get("ENCRYPTION_KEY", "")
    if key and not is_fernet_key(key):
        # an older `make run` wrote a passphrase: it keeps opening what it sealed
        print(
            "warning: ENCRYPTION_KEY in .env is a passphrase, not a Fernet key; it still works"
            " locally. To upgrade: ENCRYPTION_OLD_KEYS=<that value>, ENCRYPTION_KEY=<output of"
            " `python -m wacommon.infra.crypto generate`>, then `python -m wacommon.ops.reseal`.",
            file=sys.stderr,
        )
    return values


async def seed_demo(settings: Settings) -> str:
    """The demo tenant with a sandbox Meta number and a small knowledge base; idempotent."""
    box = box_from_settings(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        existing = await conn.fetchval("SELECT id FROM clients WHERE name = $1", DEMO_NAME)
        if existing:
            return str(existing)
        from wacommon.infra.db import _init_connection

        await _init_connection(conn)
        client = await clients_repo.create_client(
            conn,
            {
                "name": DEMO_NAME,
                "system_prompt": DEMO_PROMPT,
                # set up as an owner would on the console's Ajustes (persona, waiting,
                # handover), so the demo shows every section filled in
                "tools_config": {
                    "debounce": {"quiet_seconds": 1.5},
                    "persona": {
                        "business_type": "food",
                        "tone": "simpático e direto",
                        "greeting": "Oi! Aqui é a assistente da Pizzaria Demo 🍕",
                    },
                    "atendimento_humano": {
                        "instructions": "Passe para uma pessoa quando o cliente reclamar de um"
                        " pedido ou pedir desconto."
                    },
                },
            },
        )
        await providers_repo.create_provider(
            conn,
            box,
            str(client["id"]),
            {
                "provider_type": "meta",
                "instance_name": "Sandbox",
                "is_default": True,
                "config": {
                    "phone_id": DEMO_PHONE_ID,
                    "display_phone_number": DEMO_DISPLAY,
                    "access_token": DEMO_TOKEN,
                    "waba_id": DEMO_WABA_ID,
                },
            },
        )
        await _seed_knowledge(conn, str(client["id"]))
        return str(client["id"])
    finally:
        await conn.close()


async def seed_empty_tenant(settings: Settings) -> str:
    """The second sandbox tenant: a name and nothing else (no number, no knowledge); idempotent."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        existing = await conn.fetchval("SELECT id FROM clients WHERE name = $1", NEW_NAME)
        if existing:
            return str(existing)
        from wacommon.infra.db import _init_connection

        await _init_connection(conn)
        client = await clients_repo.create_client(conn, {"name": NEW_NAME})
        return str(client["id"])
    finally:
        await conn.close()


async def seed_console_users(
    settings: Settings,
    tenant_id: str,
    path: Path = ENV_FILE,
    users: tuple[tuple[str, str, str, str], ...] = DEMO_USERS,
) -> dict[str, str]:
    """A sandbox tenant's accounts (the demo's owner and agent by default); returns the
    passwords generated by this call.

    Each password lives in `.env` (generated once). An account whose password is not in
    `.env` any more gets a new one, so what `.env` says always signs in.
    """
    values = read_env(path)
    generated: dict[str, str] = {}
    conn = await asyncpg.connect(settings.database_url)
    try:
        for email, name, role, variable in users:
            # `localhost` is not a deliverable domain; these two local accounts are the exception
            address = normalize_email(email, allow_local=True)
            password = values.get(variable)
            if not password:
                password = generated[variable] = passwords.generate_password()
            existing = await users_repo.credentials_by_email(conn, address)
            if existing is None:
                await users_repo.create_user(
                    conn,
                    tenant_id=tenant_id,
                    email=address,
                    name=name,
                    role=role,
                    password_hash=await passwords.hash_password(password),
                )
            elif variable in generated or not await passwords.verify_password(
                existing["password_hash"], password
            ):
                await users_repo.update_user(
                    conn,
                    str(existing["id"]),
                    {"password_hash": await passwords.hash_password(password), "is_active": True},
                )
    finally:
        await conn.close()
    if generated:
        with path.open("a") as fh:
            fh.write("# console sandbox users (written by `make run`)\n")
            for key, value in generated.items():
                fh.write(f"{key}={value}\n")
    return generated


def _demo_documents(folder: Path = Path("tests/data/kb")) -> list[tuple[str, bytes]]:
    """The demo knowledge base shipped with the tests (a fictional pizzeria)."""
    if not folder.is_dir():
        return []
    suffixes = (".md", ".txt", ".csv", ".html", ".pdf")
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.suffix in suffixes]


async def _seed_knowledge(conn: asyncpg.Connection, tenant_id: str) -> None:
    from waai.knowledge.ingest import ingest_document

    for name, data in await asyncio.to_thread(_demo_documents):
        await ingest_document(conn, tenant_id, name, data)


def main() -> None:
    """Prepare the local environment (idempotent)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--sandbox-flag",
        action="store_true",
        help="print the supervisor flag for the sandbox, nothing else",
    )
    args = parser.parse_args()
    if args.sandbox_flag:
        print("--sandbox" if read_env().get("WA_SANDBOX") == "1" else "")
        return
    values = ensure_env_file()
    settings = Settings()

    async def run() -> tuple[str, dict[str, str]]:
        await ensure_database(settings.database_url)
        await apply_migrations(settings.database_url)
        if values.get("WA_SANDBOX") != "1":
            return "", {}
        demo = await seed_demo(settings)
        generated = await seed_console_users(settings, demo)
        new = await seed_empty_tenant(settings)
        generated |= await seed_console_users(settings, new, users=NEW_USERS)
        return demo, generated

    demo, new_passwords = asyncio.run(run())
    print(
        f"local set-up done: secrets in {ENV_FILE.resolve()} (ADMIN_TOKEN is there)",
        file=sys.stderr,
    )
    if demo:
        print(
            f"sandbox mode: demo tenant {demo}; run `make chat` in another terminal",
            file=sys.stderr,
        )
        for email, _name, role, variable in (*DEMO_USERS, *NEW_USERS):
            if variable in new_passwords:
                print(
                    f"console {role}: {email} / {new_passwords[variable]} (shown once; in .env)",
                    file=sys.stderr,
                )
    print(f"console: {CONSOLE_URL}", file=sys.stderr)


if __name__ == "__main__":
    main()
