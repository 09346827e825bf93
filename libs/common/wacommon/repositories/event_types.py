"""Event types of `conversation_events` and the keys their `data` carries.

Every service writes through `wacommon.repositories.events`; the metrics service reads these names.
"""

MSG_RECEIVED = "msg_received"  # {provider, kind, role}
MSG_SENT = "msg_sent"  # {provider, kind, role: bot|human|followup|reminder|operator}
AI_RESPONDED = "ai_responded"  # {model, tokens_in, tokens_out, latency_ms, bubbles}
TOOL_USED = "tool_used"  # {tool, ok, error?}
HUMAN_TAKEOVER = "human_takeover"  # {cause, until?}
HUMAN_RESPONDED = "human_responded"  # {provider}
BOT_RESUMED = "bot_resumed"  # {cause}
FOLLOWUP_SENT = "followup_sent"  # {stage}
FOLLOWUP_SKIPPED = "followup_skipped"  # {stage, why}
FOLLOWUP_CONVERTED = "followup_converted"  # {stage}
RESOLVED = "resolved"  # {by: ai|human, cause, duration_ms?, resolved_by?, resolution?, user_id?}
REPLY_DROPPED = "reply_dropped"  # {why}
SEND_FAILED = "send_failed"  # {provider, code, retryable}
# a send whose outcome nobody knows (no delivery callback), never resent: a person decides
MSG_SEND_UNKNOWN = "msg_send_unknown"  # {provider, outbound_id, why: timeout|sender_died}
MEDIA_PROCESSED = "media_processed"  # {kind: audio|image|document, seconds?, images?, ok, model?}
OPTED_OUT = "opted_out"  # {cause}
OPT_OUT_CLEARED = "opt_out_cleared"  # {cause}
CONVERSATION_STARTED = "conversation_started"  # {provider}
CONVERSATION_RESET = "conversation_reset"  # {cause}
CONVERSATION_CLOSED = "conversation_closed"  # {cause} (console: closed not resolved)
CONVERSATION_ASSIGNED = "conversation_assigned"  # {user_id, by} (console)
WEBHOOK_EVENT = "webhook_event"  # non-message provider events {provider, field|event}
OFF_HOURS_REPLIED = "off_hours_replied"  # {period}
BUDGET_LIMIT_REACHED = "budget_limit_reached"  # {level, month, spent_brl, limit_brl, action}
LLM_USAGE = "llm_usage"  # {model, tokens_in, tokens_out, purpose}
# the tenant's model cannot work (bad provider, no key, 401/403/404): the turn was answered
# by the offline bot instead
LLM_MISCONFIGURED = "llm_misconfigured"  # {reason, vendor?, model?, status?, detail}
# one per AI turn, in the transaction of the reply (or of its drop): `waai.turn_quality`.
# {passages, documents, grounded: bool|null, tools, tokens_in, tokens_out, cost_brl,
#  silent: empty_reply|stale|opted_out|handed_over|budget|bot_off|error|other|null,
#  handover: customer_asked|no_answer|complaint|tool_failure|model_decided|budget|staff|other|null,
#  repeated_info: bool}
TURN_QUALITY = "turn_quality"
LEAD_FORM_RECEIVED = "lead_form_received"  # {fields, source?}
