"""Credential resolution: provider rows first, then the legacy fields, else CredentialNotFound."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wacommon.infra.errors import CredentialNotFound
from wacommon.providers.credentials import resolve_credentials

TENANT_ID = "11111111-1111-1111-1111-111111111111"


def client(**fields: object) -> dict[str, object]:
    return {"id": TENANT_ID, "api_url": None, "token": None, "tools_config": {}, **fields}


def row(
    provider: str, config: dict[str, str], *, default: bool = False, active: bool = True, n: int = 1
) -> dict[str, object]:
    return {
        "id": f"p{n}",
        "client_id": TENANT_ID,
        "provider_type": provider,
        "config": config,
        "is_active": active,
        "is_default": default,
        "created_at": datetime(2026, 1, n, tzinfo=UTC),
    }


def test_provider_row_only() -> None:
    creds = resolve_credentials(
        "uazapi", client(), [row("uazapi", {"url": "https://u", "token": "t"})]
    )
    assert (creds.source, creds.instance_id, creds.url, creds.token) == (
        "client_providers",
        "p1",
        "https://u",
        "t",
    )


def test_default_row_wins_over_older_rows_and_inactive_rows_are_skipped() -> None:
    rows = [
        row("uazapi", {"url": "a", "token": "1"}, n=1),
        row("uazapi", {"url": "b", "token": "2"}, default=True, n=2),
        row("uazapi", {"url": "c", "token": "3"}, default=True, active=False, n=3),
    ]
    assert resolve_credentials("uazapi", client(), rows).url == "b"


def test_legacy_columns_only() -> None:
    creds = resolve_credentials("uazapi", client(api_url="https://legacy", token="tok"), [])
    assert (creds.source, creds.instance_id, creds.url, creds.token) == (
        "legacy",
        None,
        "https://legacy",
        "tok",
    )


def test_legacy_tools_config_whatsapp_only() -> None:
    tc = {"whatsapp": {"url": "https://tc", "key": "k"}}
    creds = resolve_credentials("uazapi", client(tools_config=tc), [])
    assert (creds.source, creds.url, creds.token) == ("legacy", "https://tc", "k")


def test_columns_take_precedence_over_tools_config_and_mix_when_partial() -> None:
    tc = {"whatsapp": {"url": "https://tc", "key": "k"}}
    both = resolve_credentials(
        "uazapi", client(api_url="https://col", token="ct", tools_config=tc), []
    )
    assert (both.url, both.token) == ("https://col", "ct")
    mixed = resolve_credentials("uazapi", client(api_url="https://col", tools_config=tc), [])
    assert (mixed.url, mixed.token) == ("https://col", "k")


def test_provider_row_beats_legacy_fields_when_both_exist() -> None:
    creds = resolve_credentials(
        "uazapi",
        client(api_url="https://legacy", token="x"),
        [row("uazapi", {"url": "https://row", "token": "r"})],
    )
    assert (creds.source, creds.url) == ("client_providers", "https://row")


def test_rows_of_another_provider_type_are_not_used() -> None:
    with pytest.raises(CredentialNotFound):
        resolve_credentials(
            "lancepilot",
            client(whatsapp_provider="uazapi", api_url="u", token="t"),
            [row("uazapi", {"url": "u", "token": "t"})],
        )


def test_neither_raises_credential_not_found() -> None:
    with pytest.raises(CredentialNotFound, match="no active uazapi provider"):
        resolve_credentials("uazapi", client(), [])
