"""Which contacts the bot may answer: per-tenant allow and block lists, and group chats."""

from __future__ import annotations

import re
from typing import Any


def canonical_phone(phone: str) -> str:
    """Digits only, Brazilian numbers with country code and the mobile ninth digit."""
    digits = re.sub(r"\D", "", phone.split("@", 1)[0])
    # national format: DDD + 8-digit number, or DDD + 9 + 8 digits (mobile)
    national = len(digits) == 10 or (len(digits) == 11 and digits[2] == "9")
    if national and digits[0] != "0":
        digits = "55" + digits
    # WhatsApp often reports Brazilian mobiles without the ninth digit: 55 DD 8 digits
    if len(digits) == 12 and digits.startswith("55") and digits[4] in "6789":
        digits = digits[:4] + "9" + digits[4:]
    return digits


def _numbers(value: Any) -> set[str]:
    if isinstance(value, str):
        value = re.split(r"[,;\s]+", value)
    if not isinstance(value, list):
        return set()
    return {canonical_phone(str(v)) for v in value if re.sub(r"\D", "", str(v))}


def contact_allowed(
    tools_config: dict[str, Any], contact_phone: str | None, is_group: bool
) -> tuple[bool, str | None]:
    """(True, None) when the bot may answer this contact, else (False, why)."""
    if is_group and not tools_config.get("groups_enabled"):
        return False, "group"
    lists = tools_config.get("security_lists")
    if not isinstance(lists, dict) or lists.get("active") is False:
        return True, None
    phone = canonical_phone(contact_phone) if contact_phone else None
    if phone and phone in _numbers(lists.get("blocked_numbers")):
        return False, "blocked"
    allowed = _numbers(lists.get("allowed_numbers"))
    if allowed and phone not in allowed:
        return False, "not_allowed"
    return True, None
