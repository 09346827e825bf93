-- Conversation control: reminders the AI schedules, and what the follow-up scans need.
CREATE TABLE reminders (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id        uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    conversation_id  uuid NOT NULL REFERENCES active_conversations(id) ON DELETE CASCADE,
    due_at           timestamptz NOT NULL,
    text             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'cancelled', 'failed')),
    -- what the customer asked for ("amanhã às 15h"), for the model and the operator
    when_text        text,
    -- a scan owns a pending row until then (crash-safe claim)
    locked_until     timestamptz,
    outbound_id      bigint,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'pending';
CREATE INDEX reminders_conversation ON reminders (client_id, conversation_id, status);

-- Scheduled outbound rows (follow-ups, reminders) still waiting for the sender: republished
-- after a lost publish.
CREATE INDEX chat_messages_pending_out ON chat_messages (created_at)
    WHERE status = 'pending' AND direction = 'out';
