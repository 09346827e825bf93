"""Shaping a reply's rows, the contact's voice wish, the misconfiguration log limit."""

from __future__ import annotations

from rag_worker.rich_reply import reply_rows, with_options
from rag_worker.voice_reply import VoiceNote, contact_wish, wants_voice
from waai.llm.misconfig import OncePerTenant, rejection_reason
from waai.responders.responder import ResponderOutput


def test_a_long_body_or_too_many_options_fall_back_to_numbered_text() -> None:
    long_body = "x" * 1100
    assert with_options(long_body, ["a", "b"]).kind == "text"
    eleven = [f"opção {i}" for i in range(11)]
    plain = with_options("Escolha:", eleven)
    assert plain.kind == "text" and plain.content.endswith("11. opção 10")


def test_four_short_options_make_a_list_with_the_default_button() -> None:
    bubble = with_options("Escolha:", ["a", "b", "c", "d"])
    assert bubble.kind == "interactive"
    action = bubble.extra["interactive"]["action"]
    assert action["button"] == "Ver opções" and len(action["sections"][0]["rows"]) == 4


def test_lancepilot_gets_no_reaction_and_voice_replaces_the_text() -> None:
    out = ResponderOutput(messages=["Oi!", "Tudo bem?"], reaction="👍")
    assert [b.kind for b in reply_rows(out, provider="lancepilot", react_to="m1")] == [
        "text",
        "text",
    ]
    voice = VoiceNote("Oi! Tudo bem?", b"OggS")
    rows = reply_rows(out, provider="meta", react_to="m1", voice=voice)
    assert [(b.kind, b.content) for b in rows] == [
        ("audio", "Oi! Tudo bem?"),
        ("reaction", "👍"),
    ]
    assert rows[0].extra == {"stored_media": True, "voice": True, "filename": "resposta.ogg"}


def test_contact_wish() -> None:
    assert contact_wish(["Pode mandar áudio? tô dirigindo"]) is True
    assert contact_wish(["prefiro audio"]) is True
    assert contact_wish(["pode escrever, estou numa reunião"]) is False
    assert contact_wish(["não precisa mandar áudio"]) is False
    assert contact_wish(["qual o horário?"]) is None


def test_wants_voice() -> None:
    on = {"voice_replies": {"active": True}}
    assert wants_voice(on, {}, ["audio"]) is True
    assert wants_voice(on, {}, ["text"]) is False
    assert wants_voice(on, {"voice_replies": True}, ["text"]) is True
    assert wants_voice(on, {"voice_replies": False}, ["audio"]) is False
    assert wants_voice({"voice_replies": {"active": True, "mode": "always"}}, {}, ["text"])
    assert wants_voice({}, {"voice_replies": True}, ["audio"]) is False
    assert wants_voice({"voice_replies": True}, {}, ["audio"]) is True
    assert wants_voice({"voice_replies": {"active": False}}, {}, ["audio"]) is False


def test_the_error_line_is_due_once_per_tenant_per_hour() -> None:
    now = [0.0]
    limit = OncePerTenant(3600, clock=lambda: now[0])
    assert limit.due("t1") and not limit.due("t1") and limit.due("t2")
    now[0] = 3599
    assert not limit.due("t1")
    now[0] = 3600
    assert limit.due("t1")
    assert [rejection_reason(s) for s in (401, 403, 404, 400, None)] == [
        "unauthorized",
        "forbidden",
        "model_not_found",
        "rejected_http_400",
        "rejected",
    ]
