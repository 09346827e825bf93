"""The `--tenant ID` option the operator commands share (repeatable, checked as a UUID)."""

from __future__ import annotations

import argparse
import uuid


def tenant_id(value: str) -> str:
    """An argparse type: the tenant id in canonical form, or a usage error naming the value."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a tenant id: {value!r}") from None


def add_tenant_option(parser: argparse.ArgumentParser, help: str) -> None:
    """`--tenant TENANT_ID`, repeatable; absent means every tenant."""
    parser.add_argument("--tenant", action="append", type=tenant_id, metavar="TENANT_ID", help=help)
