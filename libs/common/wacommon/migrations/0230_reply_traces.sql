-- What one reply of the web sandbox ("Testar o bot") was made of: the passages retrieved,
-- the tools called (dry-run or not), the model, its tokens and the time it took. Keyed by
-- the reply's first outbox row and written in the same transaction as the reply, so a
-- reply shown on the page always has its trace. Production replies write none (their hot
-- path stays one statement); the usage they need is in conversation_events.
CREATE TABLE IF NOT EXISTS reply_traces (
    outbound_id      bigint PRIMARY KEY REFERENCES chat_messages(id) ON DELETE CASCADE,
    client_id        uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    conversation_id  uuid NOT NULL,
    burst_id         text NOT NULL,
    trace            jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reply_traces_conversation ON reply_traces (client_id, conversation_id);
