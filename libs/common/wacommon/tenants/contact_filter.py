"""Which contacts the bot may answer: per-tenant allow and block lists, and group chats."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wacommon.tenants.sections.inbound import ContactFilterSection


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


def phone_set(value: Any) -> set[str]:
    """The canonical numbers of a list (or a comma/space separated string) of phones."""
    if isinstance(value, str):
        value = re.split(r"[,;\s]+", value)
    if not isinstance(value, list | tuple):
        return set()
    return {canonical_phone(str(v)) for v in value if re.sub(r"\D", "", str(v))}


def contact_allowed(
    lists: ContactFilterSection | None,
    groups_enabled: bool,
    contact_phone: str | None,
    is_group: bool,
) -> tuple[bool, str | None]:
    """(True, None) when the bot may answer this contact, else (False, why)."""
    if is_group and not groups_enabled:
        return False, "group"
    if lists is None or not lists.active:
        return True, None
    phone = canonical_phone(contact_phone) if contact_phone else None
    if phone and phone in lists.blocked_numbers:
        return False, "blocked"
    if lists.allowed_numbers and phone not in lists.allowed_numbers:
        return False, "not_allowed"
    return True, None
