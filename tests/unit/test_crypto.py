"""Secrets at rest: Fernet keys, old formats still read, rotation, header maps, start-up refusal."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from unittest import mock

import pytest
from cryptography.fernet import Fernet

from wacommon.infra.crypto import (
    MASK,
    SecretBox,
    box_from_settings,
    generate_key,
    is_fernet_key,
    mask,
)
from wacommon.infra.settings import Settings
from wacommon.infra.startup_checks import InsecureConfiguration, check_secrets, problems
from wacommon.service.runtime import Runtime

GOOD_TOKEN = "a-long-random-operator-token-0123456789"


def old_format(passphrase: str, value: str) -> str:
    """How versions before this one sealed a value with a passphrase ENCRYPTION_KEY."""
    key = base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())
    return "enc:" + Fernet(key).encrypt(value.encode()).decode()


def settings(**env: str) -> Settings:
    with mock.patch.dict(os.environ, env, clear=True):
        return Settings(_env_file=None)  # type: ignore[call-arg]


def test_new_values_carry_the_version_and_need_the_key() -> None:
    key = generate_key()
    sealed = SecretBox(key).encrypt("segredo")
    assert sealed.startswith("enc:v2:") and SecretBox(key).decrypt(sealed) == "segredo"
    with pytest.raises(ValueError):
        SecretBox(generate_key()).decrypt(sealed)


def test_values_sealed_by_older_versions_with_a_passphrase_are_still_read() -> None:
    old = old_format("minha-frase-antiga", "tok-123")
    # the old passphrase as the key (a local .env from before), or as an old key after upgrading
    assert SecretBox("minha-frase-antiga").decrypt(old) == "tok-123"
    assert SecretBox(generate_key(), ["minha-frase-antiga"]).decrypt(old) == "tok-123"
    # a Fernet key was used as given by older versions: "enc:" without version opens too
    key = generate_key()
    assert SecretBox(key).decrypt("enc:" + Fernet(key.encode()).encrypt(b"x").decode()) == "x"


def test_rotation_reseals_with_the_new_key_and_leaves_sealed_values_alone() -> None:
    old_key, new_key = generate_key(), generate_key()
    config = {
        "token": SecretBox(old_key).encrypt("t1"),
        "legacy": {"api_key": old_format("frase", "k2")},
        "headers": {"X-Plain": "p3"},  # stored in plaintext before header maps were secrets
        "url": "https://x",
    }
    rotating = SecretBox(new_key, [old_key, "frase"])
    fresh = rotating.reseal(config)
    assert fresh["url"] == "https://x"
    assert all(
        v.startswith("enc:v2:")
        for v in (fresh["token"], fresh["legacy"]["api_key"], fresh["headers"]["X-Plain"])
    )
    assert SecretBox(new_key).open(fresh) == {
        "token": "t1",
        "legacy": {"api_key": "k2"},
        "headers": {"X-Plain": "p3"},
        "url": "https://x",
    }
    assert rotating.reseal(fresh) == fresh  # a second run changes nothing


def test_every_header_value_is_a_secret_whatever_its_name() -> None:
    box = SecretBox(generate_key())
    tools = {
        "custom_tools": [{"name": "t", "headers": {"X-Loja": "abc", "Accept": "json"}}],
        "crm": {"webhook_headers": {"Authorization": "Bearer zzz"}, "webhook_url": "https://c"},
    }
    sealed = box.seal(tools)
    assert sealed["custom_tools"][0]["headers"]["X-Loja"].startswith("enc:v2:")
    assert sealed["crm"]["webhook_headers"]["Authorization"].startswith("enc:v2:")
    assert sealed["crm"]["webhook_url"] == "https://c"
    assert box.open(sealed) == tools
    shown = mask(tools)
    assert shown["custom_tools"][0]["headers"] == {"X-Loja": MASK, "Accept": MASK}
    assert shown["crm"]["webhook_headers"] == {"Authorization": MASK}


def test_production_refuses_missing_placeholder_or_passphrase_secrets() -> None:
    assert problems(settings(ENCRYPTION_KEY=generate_key(), ADMIN_TOKEN=GOOD_TOKEN)) == []
    for env in (
        {},
        {"ENCRYPTION_KEY": "change-me", "ADMIN_TOKEN": "change-me"},
        {"ENCRYPTION_KEY": "uma frase qualquer", "ADMIN_TOKEN": GOOD_TOKEN},
        {"ENCRYPTION_KEY": generate_key(), "ADMIN_TOKEN": "short"},
        {
            "ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": GOOD_TOKEN,
            "META_APP_SECRET": "change-me",
        },
    ):
        with pytest.raises(InsecureConfiguration) as exc:
            check_secrets(settings(**env))
        assert "refusing to start" in str(exc.value)
    # every service opens a Runtime: it stops there before touching anything
    with pytest.raises(InsecureConfiguration):
        Runtime(settings(ENCRYPTION_KEY="change-me"))


def test_local_and_test_modes_only_warn() -> None:
    for mode in ("local", "test", "LOCAL"):
        check_secrets(settings(WA_ENV=mode, ENCRYPTION_KEY="frase antiga"))
    assert settings(WA_ENV="local").local_mode and not settings().local_mode


def test_the_box_of_a_deployment_reads_its_old_keys() -> None:
    old = generate_key()
    s = settings(ENCRYPTION_KEY=generate_key(), ENCRYPTION_OLD_KEYS=f" {old} , frase ")
    box = box_from_settings(s)
    assert box.decrypt(SecretBox(old).encrypt("a")) == "a"
    assert box.decrypt(old_format("frase", "b")) == "b"


def test_the_generate_command_prints_a_fernet_key() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wacommon.infra.crypto", "generate"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert is_fernet_key(out) and not is_fernet_key("frase de senha")
