-- The console's inbox (issue 12): who wrote a human reply, who holds a conversation,
-- what each user has read, the files attendants send, and the indexes of the inbox reads.
ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS author_user_id uuid;
ALTER TABLE active_conversations ADD COLUMN IF NOT EXISTS assigned_user_id uuid;

-- One row per (user, conversation): the inbound messages after `read_at` are unread.
CREATE TABLE IF NOT EXISTS console_reads (
    user_id          uuid NOT NULL,
    conversation_id  uuid NOT NULL REFERENCES active_conversations(id) ON DELETE CASCADE,
    client_id        uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    read_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, conversation_id)
);

-- The bytes of a file an attendant sent, stored with its outbox row (same transaction):
-- the sender uploads them to the provider, the console serves them back.
CREATE TABLE IF NOT EXISTS outbound_media (
    message_id  bigint PRIMARY KEY REFERENCES chat_messages(id) ON DELETE CASCADE,
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    mime_type   text NOT NULL,
    filename    text,
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The inbox list: a tenant's conversations by latest activity (keyset pagination).
CREATE INDEX IF NOT EXISTS active_conversations_activity
    ON active_conversations (client_id, last_message_at DESC, id DESC);
