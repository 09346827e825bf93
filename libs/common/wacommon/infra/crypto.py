"""Secrets at rest: Fernet keys (MultiFernet for rotation), values stored as "enc:v2:<token>".

Formats read:
- "enc:v2:<token>": written by this version with ENCRYPTION_KEY (a Fernet key);
- "enc:<token>": written by older versions with ENCRYPTION_KEY used as given when it was a
  Fernet key, else with a key hashed from it (a passphrase); still read, re-sealed by
  `python -m wacommon.ops.reseal`;
- anything else: plaintext from before encryption (legacy), read as is.
Decryption tries ENCRYPTION_KEY, then each key of ENCRYPTION_OLD_KEYS (rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

if TYPE_CHECKING:
    from wacommon.infra.settings import Settings

PREFIX = "enc:"
V2 = "enc:v2:"
# config keys whose values are secrets, at any depth of a provider config or tools_config
SECRET_KEYS = frozenset(
    {
        "access_token",
        "token",
        "api_key",
        "app_secret",
        "secret",
        "password",
        "client_secret",
        "secret_token",
        "key",
    }
)
# maps whose every value is a secret, whatever the name: HTTP headers a tenant configures
# (custom tools, the CRM webhook, an HTTP calendar) carry API keys under names of its choosing
SECRET_MAPS = frozenset({"headers", "webhook_headers"})
MASK = "****"


class SecretBox:
    """Encrypts with the deployment's key; decrypts with it or any old key."""

    def __init__(self, key: str | None, old_keys: Sequence[str] = ()) -> None:
        keys = [k for k in (key, *old_keys) if k]
        self._primary = Fernet(derive_key(key)) if key else None
        self._all = MultiFernet([Fernet(derive_key(k)) for k in keys]) if keys else None

    @property
    def enabled(self) -> bool:
        return self._primary is not None

    def encrypt(self, value: str) -> str:
        if self._primary is None or value.startswith(PREFIX):
            return value
        return V2 + self._primary.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        if self._all is None:
            raise ValueError("an encrypted secret needs ENCRYPTION_KEY")
        token = value[len(V2) :] if value.startswith(V2) else value[len(PREFIX) :]
        try:
            return self._all.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "secret cannot be decrypted with ENCRYPTION_KEY or an old key"
            ) from exc

    def reseal_value(self, value: str) -> str:
        """The value sealed with the current key: unchanged when it already is."""
        if self._primary is None:
            return value
        if value.startswith(V2):
            try:
                self._primary.decrypt(value[len(V2) :].encode())
                return value
            except InvalidToken:
                pass
        return self.encrypt(self.decrypt(value))

    def seal(self, config: Any) -> Any:
        """Encrypt every secret string value in a JSON-like structure."""
        return _walk(config, self.encrypt)

    def open(self, config: Any) -> Any:
        """Decrypt every secret string value in a JSON-like structure."""
        return _walk(config, self.decrypt)

    def reseal(self, config: Any) -> Any:
        """Every secret sealed with the current key (plaintext and old keys' values re-sealed)."""
        return _walk(config, self.reseal_value)


def derive_key(key: str) -> bytes:
    """A Fernet key as is; a passphrase (older versions, local .env files) hashed into one."""
    return key.encode() if is_fernet_key(key) else _hashed(key)


def _hashed(key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())


def is_fernet_key(key: str) -> bool:
    """A urlsafe-base64 encoding of 32 bytes, as `Fernet.generate_key()` makes."""
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, TypeError, binascii.Error):
        return False


def generate_key() -> str:
    return Fernet.generate_key().decode()


def box_from_settings(settings: Settings) -> SecretBox:
    """The deployment's box: ENCRYPTION_KEY seals, it and ENCRYPTION_OLD_KEYS open."""
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    old = [k.strip() for k in settings.encryption_old_keys.get_secret_value().split(",")]
    return SecretBox(key, [k for k in old if k])


def _walk(value: Any, fn: Any, key: str = "", every: bool = False) -> Any:
    if isinstance(value, dict):
        inner = key in SECRET_MAPS
        return {k: _walk(v, fn, k, inner) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn, key, every) for v in value]
    if isinstance(value, str) and value and (every or key in SECRET_KEYS):
        return fn(value)
    return value


def mask(config: Any) -> Any:
    """A copy safe to show in API answers: every secret value replaced by the same mark.

    No suffix of the value is shown: a short header value or PIN would be half given away.
    """
    return _walk(config, lambda _v: MASK)


def keep_masked(new: Any, stored: Any) -> Any:
    """`new` with every secret still equal to the mask taken from `stored` (same path).

    An editor that GETs a config and sends it back must not replace secrets with "****".
    """
    if isinstance(new, dict):
        old = stored if isinstance(stored, dict) else {}
        return {k: keep_masked(v, old.get(k)) for k, v in new.items()}
    if isinstance(new, list):
        old_list = stored if isinstance(stored, list) else []
        named = {o.get("name"): o for o in old_list if isinstance(o, dict) and o.get("name")}
        return [
            # list items (custom tools) are matched by name, so a reordered list keeps its secrets
            keep_masked(
                v,
                named.get(v.get("name"))
                if isinstance(v, dict) and v.get("name")
                else (old_list[i] if i < len(old_list) else None),
            )
            for i, v in enumerate(new)
        ]
    if new == MASK and isinstance(stored, str):
        return stored
    return new


def main(argv: list[str] | None = None) -> None:
    """`python -m wacommon.infra.crypto generate`: print a new ENCRYPTION_KEY."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wacommon.infra.crypto")
    parser.add_argument("command", choices=["generate"], help="generate: print a new Fernet key")
    parser.parse_args(argv)
    print(generate_key())


if __name__ == "__main__":
    main()
