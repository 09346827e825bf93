"""An attendant's reply from the console: stored as a `human` outbox row, sent by the sender.

`queue_human_reply` does it in one transaction: the conversation row locked, the
idempotency key looked up (per tenant and user), the reply refused when it cannot go
(opted out; free text on a Meta number outside the 24-hour customer-service window),
the outbox row with its author (and, for a file, its bytes) inserted, and the
conversation taken over for the attendant through the state machine
(`human_reply.on_human_message`: `human_responded`, then `human_takeover` when the bot
had it). The caller publishes `reply.send.v1` with origin `human` after the commit; the
sender's bot-state re-check only drops bot-written replies, and its outbox relay sends a
row whose publish was lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wacommon.conversation.human_reply import on_human_message
from wacommon.infra.dbtypes import Conn
from wacommon.repositories.messages import COLUMNS

# WhatsApp's limit for a text body and a caption
MAX_TEXT_CHARS = 4096
WINDOW = timedelta(hours=24)
# what Meta accepts per kind (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media)
MEDIA_TYPES: dict[str, str] = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/webp": "image",
    "audio/aac": "audio",
    "audio/amr": "audio",
    "audio/mpeg": "audio",
    "audio/mp4": "audio",
    "audio/ogg": "audio",
    "video/mp4": "video",
    "video/3gpp": "video",
    "application/pdf": "document",
    "text/plain": "document",
    "application/msword": "document",
    "application/vnd.ms-excel": "document",
    "application/vnd.ms-powerpoint": "document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "document",
}
# the provider's cap per kind; the console's own upload cap applies on top
KIND_MAX_BYTES: dict[str, int] = {
    "image": 5 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "document": 100 * 1024 * 1024,
}
# providers whose sender client can send the stored bytes (Meta uploads them, Uazapi takes base64)
MEDIA_PROVIDERS = frozenset({"meta", "uazapi"})


class ReplyRefused(Exception):
    """The reply cannot be sent; `status` and the Portuguese `detail` go to the caller."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    mime_type: str
    filename: str | None


@dataclass(frozen=True)
class HumanReply:
    """What the attendant sends: a text, a template, or a file with an optional caption."""

    kind: str  # text | template | image | audio | video | document
    text: str = ""
    template: dict[str, Any] | None = None
    file: StoredFile | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def idempotency_key(tenant_id: str, user_id: str, key: str) -> str:
    """The outbox key: one namespace per tenant and user, so two users never collide."""
    return f"console:{tenant_id}:{user_id}:{key}"


def template_payload(template: dict[str, Any]) -> dict[str, Any]:
    """The sender's template object from the console's {name, language, parameters}."""
    params = template.get("parameters") or []
    out: dict[str, Any] = {"name": template["name"], "language": template["language"]}
    if isinstance(params, dict):
        out["components"] = [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": str(k), "text": str(v)}
                    for k, v in params.items()
                ],
            }
        ]
    elif params:
        out["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": str(v)} for v in params]}
        ]
    return out


def window_open(provider: str | None, last_customer_at: datetime | None, now: datetime) -> bool:
    """Meta's customer-service window: 24 h since the customer's last message (other providers: always)."""
    if provider != "meta":
        return True
    return last_customer_at is not None and now - last_customer_at < WINDOW


_LOCK = """
SELECT a.id, a.state, a.provider, a.provider_instance_id, a.last_customer_message_at,
       c.tools_config, c.human_attendant_timeout, now() AS now
  FROM active_conversations a JOIN clients c ON c.id = a.client_id
 WHERE a.client_id = $1 AND a.id = $2
   FOR UPDATE OF a
"""

_INSERT = f"""
INSERT INTO chat_messages
  (client_id, conversation_id, direction, role, provider, provider_instance_id, kind, content,
   payload, status, idempotency_key, author_user_id)
VALUES ($1, $2, 'out', 'human', $3, $4, $5, $6, $7, 'pending', $8, $9)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING {COLUMNS}, author_user_id
"""


async def queue_human_reply(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    user_id: str,
    key: str,
    reply: HumanReply,
) -> tuple[dict[str, Any], bool, str] | None:
    """(outbox row, created, state after) or None when the conversation is not the tenant's.

    An existing key returns its row unchanged (created False), whatever this call carries.
    Raises `ReplyRefused` (nothing written) when the reply cannot go.
    """
    full_key = idempotency_key(tenant_id, user_id, key)
    async with conn.transaction():
        conv = await conn.fetchrow(_LOCK, tenant_id, conversation_id)
        if conv is None:
            return None
        existing = await conn.fetchrow(
            f"SELECT {COLUMNS}, author_user_id FROM chat_messages"
            " WHERE client_id = $1 AND idempotency_key = $2",
            tenant_id,
            full_key,
        )
        if existing is not None:
            if str(existing["conversation_id"]) != str(conversation_id):
                raise ReplyRefused(409, "Esta Idempotency-Key já foi usada para outra conversa.")
            return dict(existing), False, str(conv["state"])
        if conv["state"] == "opted_out":
            raise ReplyRefused(
                409,
                "O cliente pediu para não receber mensagens (opt-out); a resposta não foi enviada.",
            )
        now: datetime = conv["now"]
        if reply.kind != "template" and not window_open(
            conv["provider"], conv["last_customer_message_at"], now
        ):
            raise ReplyRefused(
                409,
                "A janela de 24 horas do WhatsApp está fechada: o cliente não escreve há mais"
                " de 24 horas. Fora dela só é possível enviar um modelo de mensagem aprovado"
                " (template).",
            )
        if reply.file is not None and conv["provider"] not in MEDIA_PROVIDERS:
            raise ReplyRefused(
                409, f"O envio de arquivos não é suportado pelo provedor {conv['provider']}."
            )
        payload: dict[str, Any] = {"origin": "human", **reply.extra}
        if reply.template is not None:
            payload["template"] = template_payload(reply.template)
        if reply.file is not None:
            payload.update(
                stored_media=True,
                mime_type=reply.file.mime_type,
                filename=reply.file.filename,
                caption=reply.text or None,
            )
        row = await conn.fetchrow(
            _INSERT,
            tenant_id,
            conversation_id,
            conv["provider"],
            conv["provider_instance_id"],
            reply.kind,
            reply.text,
            payload,
            full_key,
            user_id,
        )
        if row is None:  # a concurrent request with the same key won (it held the lock first)
            again = await conn.fetchrow(
                f"SELECT {COLUMNS}, author_user_id FROM chat_messages"
                " WHERE client_id = $1 AND idempotency_key = $2",
                tenant_id,
                full_key,
            )
            assert again is not None
            return dict(again), False, str(conv["state"])
        if reply.file is not None:
            await conn.execute(
                "INSERT INTO outbound_media (message_id, client_id, mime_type, filename, data)"
                " VALUES ($1, $2, $3, $4, $5)",
                row["id"],
                tenant_id,
                reply.file.mime_type,
                reply.file.filename,
                reply.file.data,
            )
        state = await on_human_message(
            conn,
            tenant_id,
            conversation_id,
            tenant_tools_config=dict(conv["tools_config"] or {}),
            human_timeout_s=conv["human_attendant_timeout"],
            text=reply.text if reply.kind == "text" else None,
            provider="console",
        )
        await conn.execute(
            "UPDATE active_conversations SET assigned_user_id = coalesce(assigned_user_id, $3)"
            " WHERE client_id = $1 AND id = $2",
            tenant_id,
            conversation_id,
            user_id,
        )
        return dict(row), True, state
