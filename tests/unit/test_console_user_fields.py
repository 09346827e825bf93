"""Console account fields: email rules (with the local demo exception) and alert numbers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wacommon.console.users import UserCreate, normalize_email


def test_emails_are_lower_cased_and_checked_for_syntax_only() -> None:
    assert normalize_email("  Ana.Souza@Loja.COM.br ") == "ana.souza@loja.com.br"
    # no DNS lookups: a domain that does not resolve is still an address
    assert normalize_email("x@no-such-domain-for-sure.com.br") == "x@no-such-domain-for-sure.com.br"
    for bad in ("semarroba", "a@b", "a b@loja.com", "@loja.com", "a@loja..com"):
        with pytest.raises(ValueError, match="e-mail inválido"):
            normalize_email(bad)


def test_localhost_only_when_the_caller_allows_it() -> None:
    with pytest.raises(ValueError):
        normalize_email("demo@localhost")
    assert normalize_email("Demo@LocalHost", allow_local=True) == "demo@localhost"
    assert normalize_email("x@example.com", allow_local=True) == "x@example.com"
    # the local part is still checked
    for bad in ("a b@localhost", "@localhost"):
        with pytest.raises(ValueError, match="e-mail inválido"):
            normalize_email(bad, allow_local=True)


def test_the_api_body_refuses_local_and_weak_values() -> None:
    good = {"email": "a@loja.com", "name": "A", "role": "agent", "password": "0123456789"}
    assert UserCreate(**good).email == "a@loja.com"
    for field, value in (("email", "demo@localhost"), ("password", "012345678")):
        with pytest.raises(ValidationError) as info:
            UserCreate(**{**good, field: value})
        assert info.value.errors()[0]["loc"] == (field,)
