"""`python -m console.users add --email E --role operator`: console accounts from the shell.

The operator account (every tenant) has no admin route: it is created here, on a
machine that can reach the database. The password is generated and printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from console.settings import ConsoleSettings
from wacommon.console import passwords
from wacommon.console.users import normalize_email
from wacommon.migrations import apply_migrations
from wacommon.repositories import users as users_repo


async def add_user(
    settings: ConsoleSettings, *, email: str, name: str, role: str, tenant: str | None
) -> tuple[dict[str, object], str]:
    """Create the account; returns it with its generated password."""
    await apply_migrations(settings.database_url)
    password = passwords.generate_password()
    conn = await asyncpg.connect(settings.database_url)
    try:
        row = await users_repo.create_user(
            conn,
            tenant_id=tenant,
            email=email,
            name=name,
            role=role,
            password_hash=await passwords.hash_password(password),
        )
    finally:
        await conn.close()
    return row, password


def main(argv: list[str] | None = None) -> None:
    """Manage console accounts."""
    parser = argparse.ArgumentParser(prog="console.users", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account and print its generated password once")
    add.add_argument("--email", required=True)
    add.add_argument("--role", choices=("operator", "owner", "agent"), default="operator")
    add.add_argument("--name", help="display name (default: the part of the email before @)")
    add.add_argument("--tenant", help="client id (required for owner and agent)")
    args = parser.parse_args(argv)
    if (args.role == "operator") != (args.tenant is None):
        parser.error("operators belong to no tenant; owners and agents need --tenant")
    try:
        email = normalize_email(args.email)
    except ValueError as exc:
        parser.error(str(exc))
    settings = ConsoleSettings()
    try:
        row, password = asyncio.run(
            add_user(
                settings,
                email=email,
                name=args.name or email.split("@", 1)[0],
                role=args.role,
                tenant=args.tenant,
            )
        )
    except users_repo.EmailTaken:
        print(f"error: {email} is already used by a console account", file=sys.stderr)
        raise SystemExit(1) from None
    except (asyncpg.ForeignKeyViolationError, asyncpg.DataError):
        print(f"error: no tenant {args.tenant}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"created {row['role']} {row['email']} (id {row['id']})")
    print(f"password (shown once, store it now): {password}")


if __name__ == "__main__":
    main()
