"""Property tests: every inbound parser and every admin request model, on arbitrary JSON.

A parser may refuse a body only with its declared invalid-payload error, must turn every
message it yields into a valid normalised model, and never loses a valid message because
of the junk around it. An admin request model refuses with pydantic's ValidationError
(FastAPI's 422) and nothing else: any other exception would be a 500.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from meta_gateway.admin.conversations import HandoverIn, ResumeIn
from meta_gateway.admin.knowledge import TextDocument
from meta_gateway.admin.meta_account_models import (
    BusinessProfilePatch,
    EmbeddedSignupIn,
    TemplateIn,
)
from meta_gateway.admin.models import ClientCreate, ClientUpdate, ProviderCreate, ProviderUpdate
from meta_gateway.admin.simulator import SimulateIn
from wacommon.conversation import lead_context
from wacommon.providers.errors import InvalidWebhookPayload
from wacommon.providers.lancepilot.inbound import (
    check_lancepilot_envelope,
    parse_lancepilot_webhook,
)
from wacommon.providers.meta import webhook_checks as meta_webhook_checks
from wacommon.providers.meta.errors import classify_graph_error, error_code
from wacommon.providers.meta.inbound import (
    MetaMessageItem,
    MetaStatusItem,
    parse_meta_webhook,
)
from wacommon.providers.normalised import (
    ParsedMessage,
    as_dict,
    digits,
    epoch_to_datetime,
    number,
    stable_id,
    text_of,
)
from wacommon.providers.uazapi.inbound import check_uazapi_envelope, parse_uazapi_webhook

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text as JSON carries it, NUL and control characters included
texts = st.text(max_size=12) | st.sampled_from(
    ["", " ", "\x00", "a\x00b", "messages", "1700000000"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=30,
)


def corpus(provider: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CORPUS / provider / name).read_text())
    return loaded


def corpus_files(provider: str) -> list[str]:
    return sorted(p.name for p in (CORPUS / provider).glob("*.json"))


@st.composite
def sprinkled(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with some of its keys (at any depth) replaced or joined by arbitrary JSON."""
    payload = copy.deepcopy(base)
    objects = [payload]
    stack: list[Any] = [payload]
    while stack:
        node = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict):
                objects.append(child)
            if isinstance(child, dict | list):
                stack.append(child)
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(objects))
        key = draw(st.sampled_from([*target.keys(), draw(texts)]))
        target[key] = draw(json_values)
    return payload


def check_parsed(message: ParsedMessage) -> None:
    """A yielded message always normalises into the pipeline's model, and survives JSON."""
    inbound = message.to_inbound("tenant", None)
    assert inbound.contact.key and inbound.provider_message_id
    json.dumps(inbound.model_dump(mode="json"))


# --- Uazapi ---------------------------------------------------------------------------


def parse_uazapi(payload: object) -> list[ParsedMessage]:
    try:
        envelope = check_uazapi_envelope(payload)
    except InvalidWebhookPayload as exc:
        assert exc.reason
        return []
    parsed = parse_uazapi_webhook(envelope)
    for message in parsed.messages:
        check_parsed(message)
    return list(parsed.messages)


@PROPERTY
@given(json_values)
def test_uazapi_refuses_arbitrary_json_only_as_an_invalid_payload(payload: object) -> None:
    parse_uazapi(payload)


@PROPERTY
@given(st.sampled_from(corpus_files("uazapi")).flatmap(lambda n: sprinkled(corpus("uazapi", n))))
def test_uazapi_survives_any_field_of_a_real_body_being_junk(payload: dict[str, Any]) -> None:
    parse_uazapi(payload)


@PROPERTY
@given(st.dictionaries(texts, json_values, max_size=4))
def test_uazapi_keeps_a_valid_message_whatever_unknown_fields_surround_it(
    extra: dict[str, Any],
) -> None:
    base = corpus("uazapi", "inbound_text.json")
    expected = parse_uazapi(base)
    payload = {**{k: v for k, v in extra.items() if k not in base}, **base}
    message = {**{k: v for k, v in extra.items() if k not in base["message"]}, **base["message"]}
    payload["message"] = message
    got = parse_uazapi(payload)
    assert [(m.provider_message_id, m.text) for m in got] == [
        (m.provider_message_id, m.text) for m in expected
    ]


# --- LancePilot -----------------------------------------------------------------------


def parse_lancepilot(payload: object) -> list[ParsedMessage]:
    try:
        envelope = check_lancepilot_envelope(payload)
    except InvalidWebhookPayload as exc:
        assert exc.reason
        return []
    parsed = parse_lancepilot_webhook(envelope)
    for message in parsed.messages:
        check_parsed(message)
    return list(parsed.messages)


@PROPERTY
@given(json_values)
def test_lancepilot_refuses_arbitrary_json_only_as_an_invalid_payload(payload: object) -> None:
    parse_lancepilot(payload)


@PROPERTY
@given(
    st.sampled_from(corpus_files("lancepilot")).flatmap(
        lambda n: sprinkled(corpus("lancepilot", n))
    )
)
def test_lancepilot_survives_any_field_of_a_real_body_being_junk(payload: dict[str, Any]) -> None:
    parse_lancepilot(payload)


@PROPERTY
@given(st.dictionaries(texts, json_values, max_size=4))
def test_lancepilot_keeps_a_valid_message_whatever_unknown_fields_surround_it(
    extra: dict[str, Any],
) -> None:
    base = corpus("lancepilot", "INFERRED_webhook_message_incoming_text.json")
    # with an id (a body without one is identified by its whole content, extra fields too)
    base["data"]["attributes"]["message"]["id"] = "wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABIYFDNB"
    expected = parse_lancepilot(base)
    payload = {**{k: v for k, v in extra.items() if k not in base}, **base}
    got = parse_lancepilot(payload)
    assert [(m.provider_message_id, m.text) for m in got] == [
        (m.provider_message_id, m.text) for m in expected
    ]


# --- Meta -----------------------------------------------------------------------------


def parse_meta(payload: object) -> list[str]:
    """The wamids of the messages of a body; refusals only as the envelope error."""
    try:
        envelope = meta_webhook_checks.check_envelope(payload)
    except meta_webhook_checks.InvalidWebhookPayload as exc:
        assert exc.reason
        return []
    ids = []
    for item in parse_meta_webhook(envelope):
        if isinstance(item, MetaMessageItem):
            inbound = item.to_inbound("tenant")
            assert inbound.contact.key
            json.dumps(inbound.model_dump(mode="json"))
            ids.append(item.provider_message_id)
        elif isinstance(item, MetaStatusItem):
            item.to_status("tenant")
    return ids


@PROPERTY
@given(json_values)
def test_meta_refuses_arbitrary_json_only_as_an_invalid_envelope(payload: object) -> None:
    parse_meta(payload)


@PROPERTY
@given(st.sampled_from(corpus_files("meta")).flatmap(lambda n: sprinkled(corpus("meta", n))))
def test_meta_survives_any_field_of_a_real_body_being_junk(payload: dict[str, Any]) -> None:
    parse_meta(payload)


@PROPERTY
@given(
    st.lists(json_values, max_size=3),
    st.lists(json_values, max_size=3),
    st.lists(json_values | st.fixed_dictionaries({"field": json_values}), max_size=2),
    st.lists(json_values, max_size=2),
)
def test_meta_never_loses_a_valid_message_among_invalid_neighbours(
    before: list[Any], after: list[Any], junk_changes: list[Any], junk_entries: list[Any]
) -> None:
    body = corpus("meta", "inbound_text.json")
    good = body["entry"][0]["changes"][0]["value"]["messages"][0]
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"] = [*before, good, *after]
    body["entry"][0]["changes"] = [*junk_changes, body["entry"][0]["changes"][0]]
    body["entry"] = [*junk_entries, body["entry"][0]]
    assert good["id"] in parse_meta(body)


# --- the other parsers of outside input -----------------------------------------------


@PROPERTY
@given(json_values)
def test_form_submissions_are_refused_only_with_the_declared_errors(payload: object) -> None:
    try:
        form = lead_context.parse_submission(payload)
    except (lead_context.FormPayloadInvalid, lead_context.PhoneNotFound) as exc:
        assert str(exc)
        return
    assert form.phone and form.phone.isdigit()
    json.dumps([form.fields, form.utms])


@PROPERTY
@given(st.integers(100, 599), json_values)
def test_graph_error_bodies_always_classify(status: int, body: object) -> None:
    error_code(body)
    classified = classify_graph_error(status, body, secret="s3cr3t-token")
    assert "s3cr3t-token" not in str(classified)


@PROPERTY
@given(json_values)
def test_field_helpers_never_raise(value: object) -> None:
    digits(value)
    text_of(value)
    as_dict(value)
    number(value)
    epoch_to_datetime(value)
    stable_id("x-", value)


# --- admin request models -------------------------------------------------------------

ADMIN_MODELS: list[type[BaseModel]] = [
    ClientCreate,
    ClientUpdate,
    ProviderCreate,
    ProviderUpdate,
    EmbeddedSignupIn,
    TemplateIn,
    BusinessProfilePatch,
    SimulateIn,
    HandoverIn,
    ResumeIn,
    TextDocument,
]


def field_shaped(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects using the model's own field names (so validators run), with any values."""
    names = list(model.model_fields)
    return st.dictionaries(st.sampled_from(names) | texts, json_values, max_size=len(names) + 1)


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m.__name__)
@PROPERTY
@given(data=st.data())
def test_admin_models_refuse_only_with_a_validation_error(
    model: type[BaseModel], data: st.DataObject
) -> None:
    payload = data.draw(field_shaped(model) | json_values)
    for validate in (model.model_validate, lambda p: model.model_validate_json(json.dumps(p))):
        try:
            validate(payload)
        except ValidationError as exc:
            # what FastAPI puts in the 422 must be JSON
            json.dumps(exc.errors(include_url=False, include_input=False, include_context=False))
