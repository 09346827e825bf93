"""`make run` writes a local .env: a real Fernet key, local mode; an older .env keeps working."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from tests.unit.test_crypto import old_format
from wacommon.infra.crypto import box_from_settings, is_fernet_key
from wacommon.infra.settings import Settings
from wacommon.infra.startup_checks import check_secrets
from walocal.localdev import ensure_env_file


def settings_from(path: Path) -> Settings:
    with mock.patch.dict(os.environ, {}, clear=True):
        return Settings(_env_file=str(path))  # type: ignore[call-arg]


def test_a_new_env_file_gets_a_fernet_key_and_local_mode(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    values = ensure_env_file(env)
    assert is_fernet_key(values["ENCRYPTION_KEY"]) and values["WA_ENV"] == "local"
    assert len(values["ADMIN_TOKEN"]) >= 24
    s = settings_from(env)
    assert s.local_mode
    check_secrets(s.model_copy(update={"wa_env": "production"}))  # production-grade as written


def test_an_older_env_file_with_a_passphrase_keeps_opening_its_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / ".env"
    env.write_text("ADMIN_TOKEN=abc\nENCRYPTION_KEY=old-local-passphrase-xyz\n")
    values = ensure_env_file(env)
    assert values["ENCRYPTION_KEY"] == "old-local-passphrase-xyz"  # never replaced
    assert "passphrase" in capsys.readouterr().err
    s = settings_from(env)
    check_secrets(s)  # local mode: a warning, not a refusal
    sealed = old_format("old-local-passphrase-xyz", "tok")
    assert box_from_settings(s).decrypt(sealed) == "tok"
