"""WhatsApp alerts to owners when the bot hands a conversation over.

An owner who set `console_users.alert_whatsapp` gets one text through the tenant's own
channel (the conversation's provider instance). The outbox rows are written in the
transaction that commits the handover, keyed by the handover (the burst that caused it)
and the owner: a redelivered burst, a replayed command or a second replica finds the
key and writes nothing, so each handover alerts each owner exactly once. The row lives
in the customer's conversation as a `system` message (the thread shows that the owner
was alerted) with `payload.alert_to`: the sender sends it to that number instead of the
customer, and the model's history leaves it out.

On a Meta number a free text only reaches an owner who wrote to the business number in
the last 24 hours (Meta's customer-service window); otherwise Meta refuses it and the
row ends `failed` with Meta's code, visible in the thread.
"""

from __future__ import annotations

from wacommon.infra.dbtypes import Conn

_QUEUE = """
INSERT INTO chat_messages
  (client_id, conversation_id, direction, role, provider, provider_instance_id, kind, content,
   payload, status, idempotency_key)
SELECT a.client_id, a.id, 'out', 'system', a.provider, a.provider_instance_id, 'text',
       '🔔 Atendimento humano solicitado por ' || coalesce(a.contact_name, a.contact_phone,
       a.contact_key) || coalesce(' (' || a.contact_phone || ')', '') || '. Motivo: ' || $3
       || '. Abra o console para responder.',
       jsonb_build_object('origin', 'system', 'alert_to', u.alert_whatsapp,
                          'alert', 'handover', 'alert_user_id', u.id),
       'pending', 'alert:' || $4 || ':' || u.id
  FROM active_conversations a
  JOIN console_users u ON u.client_id = a.client_id
 WHERE a.client_id = $1 AND a.id = $2 AND u.role = 'owner' AND u.is_active
   AND coalesce(u.alert_whatsapp, '') <> ''
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""


# the offline responder's handover codes, as an owner reads them (a model's reason is its own text)
_CAUSES = {
    "customer_asked_for_human": "o cliente pediu um atendente",
    "no_answer_in_knowledge_base": "o assistente não encontrou a resposta",
    "budget_exhausted": "o limite de gastos do mês com IA foi atingido",
}


def cause_text(cause: str) -> str:
    """The handover's reason in the owner's words."""
    return _CAUSES.get(cause.strip(), cause.strip() or "não informado")


async def queue_alerts(
    conn: Conn, tenant_id: str, conversation_id: str, *, cause: str, reply_key: str
) -> list[int]:
    """Queue one alert per owner with an alert number; ids of the rows new now.

    `reply_key` names the handover (the burst id of the reply that made it).
    """
    rows = await conn.fetch(_QUEUE, tenant_id, conversation_id, cause_text(cause), reply_key)
    return [int(r["id"]) for r in rows]
