"""Provider secrets at rest: Fernet, values stored as "enc:<token>"; plaintext read as legacy."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "enc:"
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


class SecretBox:
    """Encrypts and decrypts secret values with the deployment's key."""

    def __init__(self, key: str | None) -> None:
        self._fernet = Fernet(derive_key(key)) if key else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def encrypt(self, value: str) -> str:
        if self._fernet is None or value.startswith(PREFIX):
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        if self._fernet is None:
            raise ValueError("an encrypted secret needs ENCRYPTION_KEY")
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this ENCRYPTION_KEY") from exc

    def seal(self, config: Any) -> Any:
        """Encrypt every secret-named string value in a JSON-like structure."""
        return _walk(config, self.encrypt)

    def open(self, config: Any) -> Any:
        """Decrypt every secret-named string value in a JSON-like structure."""
        return _walk(config, self.decrypt)


def derive_key(key: str) -> bytes:
    """Accept a Fernet key as is, or derive one from any passphrase."""
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return key.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())


def _walk(value: Any, fn: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, fn, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn, key) for v in value]
    if isinstance(value, str) and key in SECRET_KEYS and value:
        return fn(value)
    return value


def mask(config: Any) -> Any:
    """A copy safe to show in API answers: secret values replaced by a hint."""

    def hide(v: str) -> str:
        return "****" if v.startswith(PREFIX) or len(v) < 8 else f"****{v[-4:]}"

    return _walk(config, hide)
