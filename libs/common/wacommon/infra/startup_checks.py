"""Refuse to start a deployment whose secrets are missing or placeholders (outside local mode)."""

from __future__ import annotations

import structlog

from wacommon.infra.crypto import is_fernet_key
from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)

MIN_ADMIN_TOKEN = 24
# values shipped in examples and manifests, or typed when in a hurry
_PLACEHOLDERS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "replace-me",
        "replace_me",
        "secret",
        "password",
        "admin",
        "token",
        "test",
        "todo",
        "xxx",
    }
)


class InsecureConfiguration(SystemExit):
    """A service must not start: the message says which setting and how to fix it."""


def _placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in _PLACEHOLDERS or v.startswith(("<", "your-", "your_", "${")) or "change" in v


def problems(settings: Settings) -> list[str]:
    """What is wrong with this deployment's secrets (empty when it may start)."""
    found: list[str] = []
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    if not key or _placeholder(key):
        found.append("ENCRYPTION_KEY is missing or a placeholder")
    elif not is_fernet_key(key):
        found.append(
            "ENCRYPTION_KEY is not a Fernet key: generate one with"
            " `python -m wacommon.infra.crypto generate`, move the old value to ENCRYPTION_OLD_KEYS and"
            " run `python -m wacommon.ops.reseal`"
        )
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token or _placeholder(token) or len(token) < MIN_ADMIN_TOKEN:
        found.append(
            f"ADMIN_TOKEN is missing, a placeholder or shorter than {MIN_ADMIN_TOKEN} characters"
        )
    # optional, but a guessable one is worse than none: anyone could sign Meta webhooks
    for name in ("meta_app_secret", "meta_verify_token"):
        value = getattr(settings, name)
        if (
            value is not None
            and value.get_secret_value()
            and _placeholder(value.get_secret_value())
        ):
            found.append(f"{name.upper()} is a placeholder")
    return found


def check_secrets(settings: Settings) -> None:
    """Raise InsecureConfiguration outside local mode; in local mode only warn."""
    found = problems(settings)
    if not found:
        return
    if settings.local_mode:
        for problem in found:
            log.warning("insecure_local_configuration", problem=problem, wa_env=settings.wa_env)
        return
    raise InsecureConfiguration(
        "refusing to start (WA_ENV=" + settings.wa_env + "): " + "; ".join(found)
    )
