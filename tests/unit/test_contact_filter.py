"""Allow and block lists per tenant, Brazilian number variants, and group chats."""

from __future__ import annotations

from typing import Any

from wacommon.tenants import contact_filter
from wacommon.tenants.config import parse_tenant
from wacommon.tenants.contact_filter import canonical_phone


def contact_allowed(tools: dict[str, Any], phone: str | None, is_group: bool) -> Any:
    """The filter on the tenant's typed sections, as the ingest pipeline calls it."""
    tenant = parse_tenant({"id": "t", "tools_config": tools})
    return contact_filter.contact_allowed(
        tenant.contact_filter, tenant.groups_enabled, phone, is_group
    )


def test_no_lists_allows_everyone_but_groups() -> None:
    assert contact_allowed({}, "5511999990000", False) == (True, None)
    assert contact_allowed({}, "120363000000@g.us", True) == (False, "group")
    assert contact_allowed({"groups_enabled": True}, "120363000000@g.us", True) == (True, None)


def test_block_list_matches_number_variants() -> None:
    tools = {"security_lists": {"blocked_numbers": ["+55 (11) 99999-0000"]}}
    assert contact_allowed(tools, "5511999990000", False) == (False, "blocked")
    assert contact_allowed(tools, "551199990000", False) == (False, "blocked")
    assert contact_allowed(tools, "5511999990000@s.whatsapp.net", False) == (False, "blocked")
    assert contact_allowed(tools, "5511988880000", False) == (True, None)


def test_allow_list_admits_only_its_numbers() -> None:
    tools = {"security_lists": {"allowed_numbers": "11999990000, 5521988887777"}}
    assert contact_allowed(tools, "5511999990000", False) == (True, None)
    assert contact_allowed(tools, "5521988887777", False) == (True, None)
    assert contact_allowed(tools, "5511977776666", False) == (False, "not_allowed")
    assert contact_allowed(tools, None, False) == (False, "not_allowed")


def test_block_wins_over_allow_and_lists_can_be_switched_off() -> None:
    lists = {"allowed_numbers": ["5511999990000"], "blocked_numbers": ["5511999990000"]}
    assert contact_allowed({"security_lists": lists}, "5511999990000", False) == (False, "blocked")
    off = {"security_lists": {**lists, "active": False}}
    assert contact_allowed(off, "5511999990000", False) == (True, None)


def test_canonical_phone() -> None:
    assert canonical_phone("(11) 99999-0000") == "5511999990000"
    assert canonical_phone("551133334444") == "551133334444"  # landline: no ninth digit
    assert canonical_phone("14155550100") == "14155550100"
    assert canonical_phone("55999990000") == "5555999990000"  # DDD 55
